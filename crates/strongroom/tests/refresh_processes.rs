//! Refresh across real `strongroom serve` processes sharing one database, against the real
//! upstream OpenID provider: two processes and a thousand readers cause one refresh; a process
//! that dies between the provider's answer and the commit leaves the stored set intact.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use strongroom_core::ExposeSecret;
use strongroom_core::token_sets::TokenSets;
use strongroom_core::{ManualClock, SystemClock};
use strongroom_store::{IdentityKey, Store, UserId};
use strongroom_testkit::TestDb;
use strongroom_testkit::browser::{Browser, param};
use strongroom_testkit::upstream::{CLIENT_ID, CLIENT_SECRET, Upstream};
use strongroom_vault::{Kek, Keyring};

const APP_REDIRECT: &str = "http://127.0.0.1:9/cb";
const TOKEN_PATH: &str = "/api/my-account/identities/oidc/access-token";
/// Upstream access tokens live this many seconds; skew 0, so they expire for real.
const TTL: u64 = 3;

/// A running `strongroom serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strongroom(dir: &Path, db: &TestDb, kek: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strongroom"));
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("STRONGROOM_LOG", "warn")
        .env("DATABASE_URL", &db.url)
        .env("SECRET_VAULT_KEK", kek)
        .env("STRONGROOM_REFRESH_SKEW", "0")
        .env("STRONGROOM_PROVIDER_TIMEOUT", "2");
    cmd
}

/// Starts `serve`; the `Server` kills and waits for it when dropped.
#[allow(clippy::zombie_processes)]
fn serve(mut cmd: Command) -> Server {
    let mut child = cmd
        .arg("serve")
        .env("STRONGROOM_BIND", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100))
            && let Some(addr) = line.strip_prefix("Strongroom is listening on http://")
        {
            return Server {
                child,
                base: format!("http://{}", addr.trim()),
            };
        }
        assert!(
            child.try_wait().expect("poll").is_none(),
            "serve exited early"
        );
    }
    panic!("serve did not start");
}

/// One process signed a user in through the upstream; returns the user's bearer token.
struct World {
    db: TestDb,
    dir: tempfile::TempDir,
    kek: String,
    upstream: Upstream,
    first: Server,
    user: UserId,
    bearer: String,
}

impl World {
    async fn new(crash_before_commit: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = TestDb::new().await;
        let kek = Kek::generate().expect("kek").to_base64().to_string();
        let mut cmd = strongroom(dir.path(), &db, &kek);
        if crash_before_commit {
            cmd.env("STRONGROOM_TEST_CRASH_BEFORE_REFRESH_COMMIT", "1");
        }
        let first = serve(cmd);
        let upstream = Upstream::start(
            &[format!("{}/callback/up", first.base)],
            json!({"accessTokenTtl": TTL}),
        );
        let out = strongroom(dir.path(), &db, &kek)
            .args(["apps", "create-m2m", "--name", "ops"])
            .output()
            .expect("create-m2m");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m2m: Value = serde_json::from_slice(&out.stdout).expect("json");
        let http = strongroom_testkit::http().build().expect("client");
        let token: Value = http
            .post(format!("{}/oidc/token", first.base))
            .basic_auth(m2m["id"].as_str().expect("id"), m2m["secret"].as_str())
            .form(&[
                ("grant_type", "client_credentials"),
                ("resource", &format!("{}/api", first.base)),
                ("scope", "all"),
            ])
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let management = token["access_token"]
            .as_str()
            .expect("management token")
            .to_owned();
        let api = |path: &str, body: Value| {
            http.post(format!("{}{path}", first.base))
                .bearer_auth(&management)
                .json(&body)
                .send()
        };
        let response = api(
            "/api/connectors",
            json!({"id": "up", "connectorId": "oidc", "enableTokenStorage": true,
                "config": {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "issuer": upstream.issuer, "scope": "openid offline_access"}}),
        )
        .await
        .expect("connector");
        assert_eq!(response.status(), 200);
        let app: Value = api("/api/applications", json!({"name": "web", "type": "Traditional", "oidcClientMetadata": {"redirectUris": [APP_REDIRECT]}}))
            .await
            .expect("application")
            .json()
            .await
            .expect("json");
        let client_id = app["id"].as_str().expect("client id").to_owned();
        let verifier = "a-verifier-of-more-than-forty-three-characters-0123456789";
        let challenge = {
            use base64::Engine as _;
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
        };
        let mut auth = url::Url::parse(&format!("{}/oidc/auth", first.base)).expect("url");
        auth.query_pairs_mut().extend_pairs([
            ("client_id", client_id.as_str()),
            ("redirect_uri", APP_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid identities"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("direct_sign_in", "social:oidc"),
        ]);
        let landing = Browser::new()
            .follow(auth.as_str(), APP_REDIRECT)
            .await
            .app();
        let tokens: Value = http
            .post(format!("{}/oidc/token", first.base))
            .basic_auth(&client_id, app["secret"].as_str())
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &param(&landing, "code").expect("code")),
                ("redirect_uri", APP_REDIRECT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .expect("redeem")
            .json()
            .await
            .expect("json");
        let bearer = tokens["access_token"].as_str().expect("bearer").to_owned();
        let me: Value = http
            .get(format!("{}/oidc/me", first.base))
            .bearer_auth(&bearer)
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        let user = UserId::from(me["sub"].as_str().expect("sub").to_owned());
        Self {
            db,
            dir,
            kek,
            upstream,
            first,
            user,
            bearer,
        }
    }

    fn second(&self) -> Server {
        serve(strongroom(self.dir.path(), &self.db, &self.kek))
    }

    async fn refreshes(&self) -> i64 {
        self.upstream.stats().await["tokenRequests"]["refresh_token"]
            .as_i64()
            .unwrap_or(0)
    }

    /// The stored set, opened with the KEK (as the test's own store and keyring).
    async fn stored(&self) -> (strongroom_store::SecretRow, String, Option<String>) {
        let store = Store::connect(&self.db.url).await.expect("connect");
        let keyring = std::sync::Arc::new(Keyring::new(
            Kek::from_base64(&self.kek).expect("kek"),
            vec![],
        ));
        let sets = TokenSets::new(
            store.clone(),
            keyring,
            std::sync::Arc::new(ManualClock::new(0)),
        );
        let row = store
            .find_secret(&self.user, &IdentityKey::Social("oidc".to_owned()))
            .await
            .expect("find")
            .expect("the set is stored");
        let set = sets.open(&row).expect("the stored set opens");
        let out = (
            row,
            set.access_token.expose_secret().to_owned(),
            set.refresh_token.map(|r| r.expose_secret().to_owned()),
        );
        store.close().await;
        out
    }
}

async fn read(base: &str, bearer: &str) -> Result<(u16, Value), reqwest::Error> {
    let response = strongroom_testkit::http()
        .build()
        .expect("client")
        .get(format!("{base}{TOKEN_PATH}"))
        .bearer_auth(bearer)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn wait_for_expiry() {
    tokio::time::sleep(Duration::from_secs(TTL + 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_and_a_thousand_readers_cause_one_refresh() {
    let w = World::new(false).await;
    let second = w.second();
    let (status, first) = read(&w.first.base, &w.bearer).await.expect("read");
    assert_eq!(status, 200, "{first}");
    let first_token = first["access_token"].as_str().expect("token").to_owned();

    wait_for_expiry().await;
    w.upstream.fault("delay", 1).await;
    let mut readers = tokio::task::JoinSet::new();
    let client = strongroom_testkit::http().build().expect("client");
    for i in 0..1000 {
        let base = if i % 2 == 0 {
            w.first.base.clone()
        } else {
            second.base.clone()
        };
        let request = client
            .get(format!("{base}{TOKEN_PATH}"))
            .bearer_auth(&w.bearer)
            .send();
        readers.spawn(async move {
            let response = request.await.expect("request");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
    }
    let mut tokens = std::collections::HashSet::new();
    while let Some(result) = readers.join_next().await {
        let (status, body) = result.expect("reader");
        assert_eq!(status, 200, "{body}");
        tokens.insert(body["access_token"].as_str().expect("token").to_owned());
    }
    assert_eq!(
        tokens.len(),
        1,
        "every reader, in both processes, gets the same new token"
    );
    assert!(!tokens.contains(&first_token));
    assert_eq!(
        w.refreshes().await,
        1,
        "exactly one refresh at the provider"
    );

    // The grant lives on: the next expiry refreshes again without any replay.
    wait_for_expiry().await;
    let (status, body) = read(&second.base, &w.bearer).await.expect("read");
    assert_eq!(status, 200, "{body}");
    let stats = w.upstream.stats().await;
    assert_eq!(w.refreshes().await, 2);
    assert_eq!(
        (
            stats["refreshTokenReuse"].as_i64(),
            stats["grantsRevoked"].as_i64()
        ),
        (Some(0), Some(0)),
        "{stats}"
    );
    let _ = SystemClock;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_providers_answer_and_the_commit_leaves_the_set_intact() {
    let mut w = World::new(true).await;
    let (before, access, refresh) = w.stored().await;
    wait_for_expiry().await;
    // The process aborts after the provider answered the refresh and before the commit.
    assert!(
        read(&w.first.base, &w.bearer).await.is_err(),
        "the process should have died"
    );
    assert!(
        w.first.child.wait().expect("wait").code().is_none(),
        "killed by abort, not a clean exit"
    );
    assert_eq!(w.refreshes().await, 1);
    let (during, access_after, refresh_after) = w.stored().await;
    assert_eq!(
        (access_after.as_str(), refresh_after.as_deref()),
        (access.as_str(), refresh.as_deref()),
        "nothing was lost"
    );
    assert_eq!(
        (during.version, &during.envelope),
        (before.version, &before.envelope),
        "nothing was half-written"
    );
    assert!(
        during.lease_owner.is_some(),
        "the dead holder's lease stays until it expires"
    );

    // Another process takes over once the lease has expired (provider timeout 2 s: lease 5 s).
    let second = w.second();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, body) = read(&second.base, &w.bearer).await.expect("read");
    // The provider had rotated the refresh token in the answer that died with the process, so
    // it refuses the old one: the user must re-authorize, and the stored set is kept, marked.
    assert_eq!(
        (status, body["code"].as_str()),
        (
            401,
            Some("secrets.third_party_token_set.refresh_token_revoked")
        ),
        "{body}"
    );
    let (after, access_kept, refresh_kept) = w.stored().await;
    assert_eq!(
        (access_kept.as_str(), refresh_kept.as_deref()),
        (access.as_str(), refresh.as_deref())
    );
    assert_eq!(
        after.metadata.refresh_error.as_deref(),
        Some("refresh_token_revoked")
    );
    assert!(after.lease_owner.is_none());
}
