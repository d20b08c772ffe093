//! The real upstream OpenID provider (npm `oidc-provider`, see e2e/README.md) and the real
//! relying party (npm `openid-client`), run as child processes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

/// The e2e folder at the workspace root.
pub fn e2e_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e");
    assert!(
        dir.join("node_modules/oidc-provider").is_dir()
            && dir.join("node_modules/openid-client").is_dir(),
        "the e2e npm packages are not installed: run `npm ci --prefix e2e` (./scripts/test does)"
    );
    dir
}

/// A running `e2e/upstream.mjs`; killed on drop.
#[derive(Debug)]
pub struct Upstream {
    pub issuer: String,
    child: Child,
    _config: tempfile::NamedTempFile,
    /// What the provider wrote to stderr (shown when it does not start).
    _stderr: tempfile::NamedTempFile,
}

pub const CLIENT_ID: &str = "strongroom";
pub const CLIENT_SECRET: &str = "upstream-client-secret-upstream-client-secret";

impl Upstream {
    /// Starts an upstream whose client `strongroom` may redirect to `redirect_uris`. Accounts:
    /// `alice` (alice@example.com, verified) and `bob` (bob@example.com). `extra` is merged into
    /// the config (`accessTokenTtl`, ...).
    pub fn start(redirect_uris: &[String], extra: Value) -> Self {
        let mut config = json!({
            "clients": [{
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "redirect_uris": redirect_uris,
            }],
            "accounts": {
                "alice": {"email": "alice@example.com", "email_verified": true, "name": "Alice Liddell"},
                "bob": {"email": "bob@example.com", "email_verified": true, "name": "Bob"},
            },
            "exitOnStdinClose": true,
        });
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let file = tempfile::NamedTempFile::new().expect("config file");
        std::fs::write(file.path(), config.to_string()).expect("write config");
        let stderr = tempfile::NamedTempFile::new().expect("stderr file");
        let mut child = Command::new("node")
            .arg(e2e_dir().join("upstream.mjs"))
            .arg(file.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen().expect("stderr file"))
            .spawn()
            .expect("start node e2e/upstream.mjs");
        // The READY line, read on a thread of its own so that a provider that never starts
        // fails this test within ANSWER_WITHIN instead of blocking it for good.
        let stdout = child.stdout.take().expect("stdout");
        let (ready, line) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = ready.send(line);
        });
        let line = line.recv_timeout(crate::ANSWER_WITHIN).unwrap_or_default();
        let Some(issuer) = line.trim().strip_prefix("READY ").map(str::to_owned) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "upstream did not start within {:?}: {line:?} / {}",
                crate::ANSWER_WITHIN,
                std::fs::read_to_string(stderr.path()).unwrap_or_default()
            );
        };
        Self {
            issuer,
            child,
            _config: file,
            _stderr: stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub async fn stats(&self) -> Value {
        crate::http()
            .build()
            .expect("client")
            .get(self.url("/__control/stats"))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("json")
    }

    /// Arms a token-endpoint fault (`timeout`, `status500`, `garbage`, `invalid_grant`, `delay`;
    /// `delay` holds the answer one second, `timeout` never answers).
    pub async fn fault(&self, mode: &str, count: u32) {
        let delay_ms = if mode == "delay" { 1000 } else { 60_000 };
        let status = crate::http()
            .build()
            .expect("client")
            .post(self.url("/__control/faults"))
            .json(&json!({"mode": mode, "count": count, "delayMs": delay_ms}))
            .send()
            .await
            .expect("fault")
            .status();
        assert!(status.is_success());
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `e2e/rp.mjs` with `config`; returns its one JSON line.
pub async fn run_rp(config: Value) -> Value {
    run_script("rp.mjs", config).await
}

/// The longest a script may run: the browser scripts drive several sign-ins.
const SCRIPT_WITHIN: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs `node e2e/<script> <config>` to its end (killed, and the test failed, if it runs longer
/// than [`SCRIPT_WITHIN`]).
pub async fn run_node(script: &str, config: &std::path::Path) -> std::process::Output {
    let run = tokio::process::Command::new("node")
        .arg(e2e_dir().join(script))
        .arg(config)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(SCRIPT_WITHIN, run)
        .await
        .unwrap_or_else(|_| panic!("node e2e/{script} did not finish within {SCRIPT_WITHIN:?}"))
        .unwrap_or_else(|e| panic!("run node e2e/{script}: {e}"))
}

/// Runs `e2e/<script>` with `config` (as a file) and returns the one JSON line it prints.
pub async fn run_script(script: &str, config: Value) -> Value {
    let file = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(file.path(), config.to_string()).expect("write config");
    let out = run_node(script, file.path()).await;
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!(
            "{script} printed no JSON: {text} / {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
