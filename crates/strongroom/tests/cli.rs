//! The `strongroom` binary, run as a user would: quick start, configuration errors, KEK checks,
//! rotation with `vault status` / `vault rewrap`, and a rewrap killed with SIGKILL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use strongroom_core::token_sets::TokenSets;
use strongroom_core::{ManualClock, keys};
use strongroom_store::Store;
use strongroom_testkit::{TestDb, seed};
use strongroom_vault::{Kek, Keyring};

/// The binary with a clean environment: none of Strongroom's variables leak in from the
/// developer's shell or from the test run.
fn strongroom(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strongroom"));
    cmd.current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("STRONGROOM_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run strongroom")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running `strongroom serve`, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    stdout: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` and waits for its "listening" line; on early exit returns the output.
fn serve(mut cmd: Command) -> Result<Server, Output> {
    let mut child = cmd
        .arg("serve")
        .env("STRONGROOM_BIND", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    let mut seen = String::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if let Some(addr) = line.strip_prefix("Strongroom is listening on http://") {
                    return Ok(Server {
                        child,
                        addr: addr.trim().to_owned(),
                        stdout: seen,
                    });
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if child.try_wait().expect("poll").is_some() {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("wait");
    Err(Output {
        stdout: seen.into_bytes(),
        ..output
    })
}

/// A minimal HTTP/1.1 GET, returning the status code.
fn http_status(addr: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn quick_start_serves_with_no_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = serve(strongroom(dir.path()))
        .unwrap_or_else(|o| panic!("serve failed: {}{}", stdout(&o), stderr(&o)));
    assert_eq!(http_status(&server.addr, "/api/status"), 204);
    assert!(
        server
            .stdout
            .contains("Created the console administrator `admin`"),
        "{}",
        server.stdout
    );
    assert!(server.stdout.contains("/console"), "{}", server.stdout);
    let data = dir.path().join("strongroom-data");
    assert!(data.join("strongroom.db").exists());
    let kek_file = data.join("secret-vault.kek");
    #[cfg(unix)]
    {
        assert_eq!(mode(&kek_file), 0o600);
        assert_eq!(mode(&data), 0o700);
    }
    let kek = std::fs::read_to_string(&kek_file).expect("kek file");
    Kek::from_base64(&kek).expect("the generated key is a valid KEK");
    assert!(
        !server.stdout.contains(kek.trim()),
        "the KEK must never be printed"
    );
    drop(server);

    // A second start reuses the key and the administrator: no new password is printed.
    let server =
        serve(strongroom(dir.path())).unwrap_or_else(|o| panic!("restart failed: {}", stderr(&o)));
    assert!(
        !server.stdout.contains("Created the console administrator"),
        "{}",
        server.stdout
    );
    assert_eq!(std::fs::read_to_string(&kek_file).expect("kek file"), kek);
    assert_eq!(http_status(&server.addr, "/api/status"), 204);
}

#[test]
fn metrics_are_served_to_the_configured_token_and_a_short_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(strongroom(dir.path())
        .arg("serve")
        .env("STRONGROOM_METRICS_TOKEN", "too-short"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("STRONGROOM_METRICS_TOKEN") && !err.contains("too-short"),
        "{err}"
    );
    let token = "m".repeat(40);
    let mut cmd = strongroom(dir.path());
    cmd.env("STRONGROOM_METRICS_TOKEN", &token);
    let server = serve(cmd).unwrap_or_else(|o| panic!("serve failed: {}", stderr(&o)));
    assert_eq!(http_status(&server.addr, "/metrics"), 401, "no bearer");
    assert_eq!(http_status(&server.addr, "/api/status/ready"), 204);
    let mut stream = TcpStream::connect(&server.addr).expect("connect");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("strongroom_db_connections"), "{response}");
    assert!(
        !server.stdout.contains(&token),
        "the token is never printed"
    );
}

#[test]
fn configured_admin_password_is_used_and_not_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = strongroom(dir.path());
    cmd.env("STRONGROOM_ADMIN_PASSWORD", "correct horse battery");
    let server = serve(cmd).unwrap_or_else(|o| panic!("serve failed: {}", stderr(&o)));
    assert!(
        server.stdout.contains("STRONGROOM_ADMIN_PASSWORD"),
        "{}",
        server.stdout
    );
    assert!(!server.stdout.contains("correct horse battery"));
}

#[test]
fn a_malformed_kek_is_refused_naming_the_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (value, expect) in [
        ("not base64 at all!", "not valid base64"),
        ("c2l4dGVlbiBieXRlcyBrZXk=", "exactly 32 bytes"),
    ] {
        let out = run(strongroom(dir.path())
            .arg("serve")
            .env("SECRET_VAULT_KEK", value));
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("SECRET_VAULT_KEK") && err.contains(expect),
            "{err}"
        );
        assert!(
            !err.contains(value),
            "the rejected key must not be echoed: {err}"
        );
    }
    let good = Kek::generate().expect("kek").to_base64();
    let out = run(strongroom(dir.path())
        .arg("serve")
        .env("SECRET_VAULT_KEK", good.as_str())
        .env(
            "SECRET_VAULT_PREVIOUS_KEKS",
            format!("{},short", good.as_str()),
        ));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SECRET_VAULT_PREVIOUS_KEKS: entry 2"),
        "{}",
        stderr(&out)
    );
    // Nothing was created by a refused start.
    assert!(
        !dir.path()
            .join("strongroom-data")
            .join("secret-vault.kek")
            .exists()
    );
}

#[test]
fn postgres_without_a_kek_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(strongroom(dir.path())
        .arg("serve")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SECRET_VAULT_KEK is not set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn configuration_errors_name_their_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &str, &str); 8] = [
        (
            "STRONGROOM_BINDD",
            "127.0.0.1:1",
            "unknown environment variable STRONGROOM_BINDD",
        ),
        (
            "STRONGROOM_BIND",
            "localhost",
            "STRONGROOM_BIND: `localhost` is not a socket address",
        ),
        (
            "DATABASE_URL",
            "mysql://x",
            "DATABASE_URL: expected a sqlite://path or postgres://",
        ),
        (
            "STRONGROOM_ENDPOINT",
            "ftp://x",
            "STRONGROOM_ENDPOINT: `ftp://x` is not an http(s) base URL",
        ),
        (
            "STRONGROOM_EGRESS_DENY",
            "10.0.0.0/33",
            "STRONGROOM_EGRESS_DENY: `10.0.0.0/33`",
        ),
        (
            "STRONGROOM_TRUSTED_PROXIES",
            "the-load-balancer",
            "STRONGROOM_TRUSTED_PROXIES: `the-load-balancer`",
        ),
        (
            "STRONGROOM_MAX_CONNECTIONS",
            "3",
            "STRONGROOM_MAX_CONNECTIONS: expected a number of connections",
        ),
        (
            "STRONGROOM_MAX_CONNECTIONS_PER_IP",
            "many",
            "STRONGROOM_MAX_CONNECTIONS_PER_IP: expected a number of connections",
        ),
    ];
    for (var, value, expect) in cases {
        let out = run(strongroom(dir.path()).arg("migrate").env(var, value));
        assert!(!out.status.success(), "{var}={value} was accepted");
        assert!(stderr(&out).contains(expect), "{var}: {}", stderr(&out));
    }

    let file = dir.path().join("strongroom.toml");
    std::fs::write(&file, "bind = \"127.0.0.1:4000\"\nlisten = \"x\"\n").expect("write");
    let out = run(strongroom(dir.path()).args(["--config", "strongroom.toml", "migrate"]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("strongroom.toml") && err.contains("unknown field `listen`"),
        "{err}"
    );

    std::fs::write(&file, "bind = \"nowhere\"\n").expect("write");
    let out = run(strongroom(dir.path())
        .arg("migrate")
        .env("STRONGROOM_CONFIG", &file));
    assert!(
        stderr(&out).contains("bind in ") && stderr(&out).contains("strongroom.toml"),
        "{}",
        stderr(&out)
    );

    // A valid file is used, and the environment wins over it.
    std::fs::write(
        &file,
        format!(
            "data_dir = \"{}\"\nbind = \"nowhere\"\n",
            dir.path().join("from-file").display()
        ),
    )
    .expect("write");
    let out = run(strongroom(dir.path())
        .arg("migrate")
        .env("STRONGROOM_CONFIG", &file)
        .env("STRONGROOM_BIND", "127.0.0.1:9"));
    assert!(out.status.success(), "{}", stderr(&out));
    let version = format!(
        "schema version {}",
        strongroom_store::latest_schema_version()
    );
    assert!(stdout(&out).contains(&version), "{}", stdout(&out));
    assert!(dir.path().join("from-file").join("strongroom.db").exists());
}

#[test]
fn kek_generate_prints_fresh_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = stdout(&run(strongroom(dir.path()).args(["kek", "generate"])));
    let b = stdout(&run(strongroom(dir.path()).args(["kek", "generate"])));
    Kek::from_base64(a.trim()).expect("valid KEK");
    assert_ne!(a, b);
}

/// A database of the engine under test with `count` token sets sealed under a fresh KEK, which
/// is registered as a server start would. Returns the KEK in base64.
async fn seeded(db: &TestDb, count: u64) -> String {
    let store = Store::connect_and_migrate(&db.url).await.expect("store");
    let kek = Kek::generate().expect("kek").to_base64().to_string();
    let keyring = Arc::new(Keyring::new(Kek::from_base64(&kek).expect("kek"), vec![]));
    let clock = Arc::new(ManualClock::new(0));
    keys::verify_and_register(&store, &keyring, clock.as_ref())
        .await
        .expect("register");
    seed::token_sets(
        &store,
        &TokenSets::new(store.clone(), keyring, clock),
        0,
        count,
    )
    .await;
    store.close().await;
    kek
}

/// Opens every secret with the given keys, checking its content.
async fn assert_all_readable(db: &TestDb, active: &str, previous: Option<&str>, expected: usize) {
    let store = Store::connect(&db.url).await.expect("store");
    let previous = previous
        .map(|p| vec![Kek::from_base64(p).expect("kek")])
        .unwrap_or_default();
    let keyring = Arc::new(Keyring::new(
        Kek::from_base64(active).expect("kek"),
        previous,
    ));
    let sets = TokenSets::new(store.clone(), keyring, Arc::new(ManualClock::new(0)));
    let ids = seed::secret_ids(&store).await;
    assert_eq!(ids.len(), expected);
    for id in ids {
        let row = store.get_secret(&id).await.expect("get").expect("row");
        let n = id
            .as_str()
            .trim_start_matches("seed-secret-")
            .parse::<u64>()
            .expect("n");
        let set = sets
            .open(&row)
            .unwrap_or_else(|e| panic!("secret {id} does not open: {e}"));
        assert_eq!(set.access_token.expose_secret(), format!("at-{n}"));
    }
    store.close().await;
}

fn status_json(dir: &Path, db: &TestDb, kek: &str, previous: Option<&str>) -> serde_json::Value {
    let mut cmd = strongroom(dir);
    cmd.args(["vault", "status", "--json"])
        .env("DATABASE_URL", &db.url)
        .env("SECRET_VAULT_KEK", kek);
    if let Some(p) = previous {
        cmd.env("SECRET_VAULT_PREVIOUS_KEKS", p);
    }
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("status JSON")
}

/// Token sets (the `secrets` table) wrapped by `kek_id`; `serve` also seals its own signing key.
fn count_for(status: &serde_json::Value, kek_id: &str) -> i64 {
    status["keks"]
        .as_array()
        .expect("keks")
        .iter()
        .find(|k| k["kekId"] == kek_id)
        .map_or(0, |k| k["tables"]["secrets"].as_i64().unwrap_or(0))
}

fn kek_id(kek: &str) -> String {
    Kek::from_base64(kek).expect("kek").id().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_kek_is_refused_and_previous_keks_keep_data_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDb::new().await;
    let old = seeded(&db, 30).await;
    let new = Kek::generate().expect("kek").to_base64().to_string();

    let mut cmd = strongroom(dir.path());
    cmd.env("DATABASE_URL", &db.url)
        .env("SECRET_VAULT_KEK", &new);
    let refused = serve(cmd).err().expect("a wrong KEK must not start");
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains("SECRET_VAULT_KEK does not open the existing data"),
        "{err}"
    );
    assert!(err.contains(&kek_id(&old)) && !err.contains(&old), "{err}");

    let mut cmd = strongroom(dir.path());
    cmd.env("DATABASE_URL", &db.url)
        .env("SECRET_VAULT_KEK", &new)
        .env("SECRET_VAULT_PREVIOUS_KEKS", &old);
    let server = serve(cmd).unwrap_or_else(|o| panic!("rotated start failed: {}", stderr(&o)));
    assert_eq!(http_status(&server.addr, "/api/status"), 204);
    drop(server);
    assert_all_readable(&db, &new, Some(&old), 30).await;

    let status = status_json(dir.path(), &db, &new, Some(&old));
    assert_eq!(status["activeKekId"], kek_id(&new));
    assert_eq!(count_for(&status, &kek_id(&old)), 30);
    let old_entry = status["keks"]
        .as_array()
        .expect("keks")
        .iter()
        .find(|k| k["kekId"] == kek_id(&old))
        .cloned();
    assert_eq!(old_entry.expect("old")["role"], "previous");

    let out = run(strongroom(dir.path())
        .args(["vault", "rewrap", "--batch-size", "7"])
        .env("DATABASE_URL", &db.url)
        .env("SECRET_VAULT_KEK", &new)
        .env("SECRET_VAULT_PREVIOUS_KEKS", &old));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("30 records re-wrapped"),
        "{}",
        stdout(&out)
    );
    let status = status_json(dir.path(), &db, &new, None);
    assert_eq!(
        (
            count_for(&status, &kek_id(&new)),
            count_for(&status, &kek_id(&old))
        ),
        (30, 0)
    );

    // The old key is no longer needed: the new one alone starts and reads everything.
    let mut cmd = strongroom(dir.path());
    cmd.env("DATABASE_URL", &db.url)
        .env("SECRET_VAULT_KEK", &new);
    let server = serve(cmd).unwrap_or_else(|o| panic!("start after rewrap failed: {}", stderr(&o)));
    drop(server);
    assert_all_readable(&db, &new, None, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrap_killed_at_random_instants_then_rerun_leaves_every_secret_readable() {
    const COUNT: u64 = 20_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = TestDb::new().await;
    let old = seeded(&db, COUNT).await;
    let new = Kek::generate().expect("kek").to_base64().to_string();
    let rewrap = || {
        let mut cmd = strongroom(dir.path());
        cmd.args(["vault", "rewrap", "--batch-size", "25"])
            .env("DATABASE_URL", &db.url)
            .env("SECRET_VAULT_KEK", &new)
            .env("SECRET_VAULT_PREVIOUS_KEKS", &old)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        cmd
    };

    let mut killed_midway = 0;
    for delay_ms in [50u64, 20, 90] {
        let mut child = rewrap().spawn().expect("spawn rewrap");
        let err = child.stderr.take().expect("stderr");
        // Wait for the first progress line so the kill lands while batches are committing.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.starts_with("rewrap:") && tx.send(()).is_err() {
                    break;
                }
            }
        });
        let _ = rx.recv_timeout(Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(
            !status.success(),
            "rewrap finished before it could be killed"
        );
        let counts = status_json(dir.path(), &db, &new, Some(&old));
        let moved = count_for(&counts, &kek_id(&new));
        assert_eq!(moved + count_for(&counts, &kek_id(&old)), COUNT as i64);
        if moved > 0 && moved < COUNT as i64 {
            killed_midway += 1;
        }
        assert_all_readable(&db, &new, Some(&old), COUNT as usize).await;
    }
    assert!(
        killed_midway > 0,
        "no kill landed in the middle of a rewrap"
    );

    let out = rewrap().stderr(Stdio::piped()).output().expect("rerun");
    assert!(out.status.success(), "{}", stderr(&out));
    let counts = status_json(dir.path(), &db, &new, None);
    assert_eq!(count_for(&counts, &kek_id(&new)), COUNT as i64);
    assert_all_readable(&db, &new, None, COUNT as usize).await;
}

/// Security review finding 18: with `SECRET_VAULT_KEK` set (no key file), the data folder was
/// 0755 and the databases 0644. Now the folder is 0700 and every database file 0600 whatever
/// the KEK's source, and a folder left loose by an older version is tightened.
#[cfg(unix)]
#[test]
fn the_data_folder_and_databases_are_private_whatever_the_kek_source() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let kek = Kek::generate().expect("kek").to_base64();
    for (name, existing) in [("fresh", false), ("loose", true)] {
        let data = dir.path().join(name);
        if existing {
            std::fs::create_dir(&data).expect("create");
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let out = run(strongroom(dir.path())
            .arg("migrate")
            .env("STRONGROOM_DATA_DIR", &data)
            .env("SECRET_VAULT_KEK", kek.as_str()));
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(mode(&data), 0o700, "{name}: the data folder");
        assert!(
            !data.join("secret-vault.kek").exists(),
            "no key file with a KEK set"
        );
        for file in ["strongroom.db", "strongroom-audit.db"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{name}: {file}");
        }
        for entry in std::fs::read_dir(&data).expect("list") {
            let path = entry.expect("entry").path();
            assert_eq!(mode(&path), 0o600, "{name}: {}", path.display());
        }
    }
}
