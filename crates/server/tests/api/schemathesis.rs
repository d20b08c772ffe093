//! schemathesis against `GET /api/swagger.json`: no 5xx, and no response that contradicts the
//! document, with a Management API token and with a user token.
//!
//! The test suite runs once per engine (`STRONGROOM_TEST_DATABASE`, see scripts/test), so these
//! two tests fuzz SQLite and PostgreSQL. schemathesis comes from PyPI, pinned with hashes by
//! e2e/requirements.txt; scripts/test installs it into `target/schemathesis-venv` and exports
//! `STRONGROOM_TEST_SCHEMATHESIS`. Without it the tests fail: a fuzzing gate that skips itself
//! when its tool is missing is no gate.
//!
//! Each run has a fixed seed and a time budget; schemathesis's whole output is printed, so a
//! failure in CI shows the operation, the check and a curl line that reproduces it.

use crate::support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use support::TestApp;

/// The seed of the robustness report's runs, so its findings reproduce.
const SEED: &str = "20261203";
/// Each run's budget. The two tests of a binary run side by side, so an engine costs about
/// this long, and the suite (two engines) about twice this.
const MAX_TIME_SECS: u64 = 90;

/// What a response is checked for. The first five are the gate of security issue #9: no 5xx,
/// and nothing that contradicts the document (status, content type, headers, body schema).
///
/// `negative_data_rejection` is in too: a request the document calls invalid must be refused
/// with a 4xx. The report found one such failure (F5, `customClientMetadata` that is not an
/// object), a validation bug in the server, not a gap in the document, so it belongs to the gate.
///
/// `positive_data_acceptance` (a request the document calls valid must not get a 400 or 422) is NOT
/// in. The report's F6 lists 25 such failures on both engines, and they are documentation gaps —
/// the schemas say `string` where the server wants a non-empty string, a URI, a known connector id,
/// one of two record ids — that a later issue fixes by typing every schema. Run with it (December
/// 2026, this seed and budget) it failed on 27 of the 58 operations tested: all that take a body,
/// and the browser endpoints. Turning it off for those would leave it on only for the lists and the
/// lookups by id, where it can see nothing but 200 or 404. When the schemas are typed, add it here.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection";

/// The operations that take a user token (security scheme `user`: the Account API, the
/// Verification API, userinfo), by operationId, read from the document itself so that a new one
/// is fuzzed with the right token without a list kept here; and how many operations schemathesis
/// can select.
async fn user_operations(app: &TestApp) -> (Vec<String>, usize) {
    let doc: serde_json::Value = app
        .http
        .get(app.url("/api/swagger.json"))
        .send()
        .await
        .expect("GET /api/swagger.json")
        .json()
        .await
        .expect("the document is JSON");
    let mut user = Vec::new();
    let mut total = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        // schemathesis leaves out the operation that serves the document it fuzzes.
        if path == "/api/swagger.json" {
            continue;
        }
        for (method, op) in item.as_object().expect("path item") {
            if ![
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&method.as_str())
            {
                continue;
            }
            total += 1;
            let takes_user_token = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|requirement| requirement.get("user").is_some());
            if takes_user_token {
                user.push(op["operationId"].as_str().expect("operationId").to_owned());
            }
        }
    }
    assert!(!user.is_empty(), "the document has no user-token operation");
    (user, total)
}

/// The schemathesis executable: `STRONGROOM_TEST_SCHEMATHESIS`, else the venv scripts/test
/// makes. (`STRONGROOM_TEST_*` because the server refuses any other unknown `STRONGROOM_*`
/// variable, and the tests spawn the binary with this environment.)
pub(crate) fn schemathesis() -> PathBuf {
    let path = std::env::var_os("STRONGROOM_TEST_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/schemathesis-venv/bin/schemathesis")
        });
    assert!(
        path.is_file(),
        "schemathesis is not installed at {}: run scripts/test, which installs it from \
         e2e/requirements.txt, or set STRONGROOM_TEST_SCHEMATHESIS to a schemathesis 4.32.5 \
         executable",
        path.display()
    );
    path
}

/// A panic in a handler (the server runs in this process) prints one line, not a backtrace per
/// fuzzed request: with `RUST_BACKTRACE=1` a few hundred of them would bury schemathesis's
/// report. schemathesis reports the request itself (the connection closes without an answer).
fn short_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let thread = std::thread::current();
            // `info` reads "panicked at <file:line:col>:\n<message>".
            eprintln!("thread '{}' {info}", thread.name().unwrap_or("?"));
        }));
    });
}

/// Runs schemathesis against `app` with `token` on the operations `filter` selects (it must
/// select `selected` of them), prints its output, and fails unless it passed.
async fn run(app: &TestApp, label: &str, token: &str, filter: &[String], selected: usize) {
    short_panics();
    let exe = schemathesis();
    // A scratch directory as the working directory: schemathesis reads a `schemathesis.toml`
    // from there and may write reports, and neither should come from or land in the tree.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let max_time = MAX_TIME_SECS.to_string();
    let authorization = format!("Authorization: Bearer {token}");
    let mut args = vec![
        "run",
        "--no-color",
        "--seed",
        SEED,
        "--max-time",
        &max_time,
        "--max-examples",
        "50",
        "--workers",
        "2",
        "--checks",
        CHECKS,
        "--continue-on-failure",
        // Every run starts from the seed alone, not from examples a previous run saved.
        "--generation-database",
        "none",
        // A generator's health check, not a check of an answer: with typed response schemas,
        // hypothesis discards too many drawn path parameters for some operations (two free
        // strings, such as DELETE /api/users/{user_id}/identities/{target}) and would stop the
        // run there instead of testing the operation with fewer examples.
        "--suppress-health-check",
        "filter_too_much",
        // A hung request is a failure too (schemathesis reports it), not a stuck CI job.
        "--request-timeout",
        "10",
        "--header",
        &authorization,
    ];
    args.extend(filter.iter().map(String::as_str));
    let document = app.url("/api/swagger.json");
    args.push(&document);

    eprintln!(
        "== schemathesis, {label}, {:?}: {} {}",
        strongroom_testkit::engine(),
        exe.display(),
        args.iter()
            .map(|a| if a.starts_with("Authorization:") {
                "Authorization: Bearer [token]"
            } else {
                a
            })
            .collect::<Vec<_>>()
            .join(" ")
    );
    let child = tokio::process::Command::new(&exe)
        .args(&args)
        .current_dir(scratch.path())
        .env("NO_COLOR", "1")
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
    // The budget bounds the run; this bounds a schemathesis that hangs anyway.
    let output = tokio::time::timeout(
        Duration::from_secs(MAX_TIME_SECS + 180),
        child.wait_with_output(),
    )
    .await
    .unwrap_or_else(|_| panic!("schemathesis ({label}) did not finish within its budget + 180 s"))
    .expect("schemathesis output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!("-- stderr\n{stderr}");
    }
    assert!(
        output.status.success(),
        "schemathesis ({label}, {:?}) failed ({}); its report is above",
        strongroom_testkit::engine(),
        output.status
    );
    // A run that selected the wrong operations, or tested fewer than it selected, must not pass
    // quietly. The summary reads "Selected: 19/65" and "Tested: 19".
    let summary = |key: &str| {
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(key))
            .and_then(|n| n.split('/').next())
            .and_then(|n| n.trim().parse::<usize>().ok())
    };
    let (got_selected, tested) = (summary("Selected: "), summary("Tested: "));
    assert_eq!(
        got_selected,
        Some(selected),
        "schemathesis ({label}) selected other operations than meant"
    );
    assert_eq!(
        tested,
        Some(selected),
        "schemathesis ({label}) did not test every selected operation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_token_gets_no_5xx_and_nothing_the_document_does_not_say() {
    let app = TestApp::spawn().await;
    let token = app.management_token().await;
    let (user_ops, total) = user_operations(&app).await;
    // The fuzzer lists the applications, finds the token's own machine-to-machine application
    // and deletes it; every later request is then (rightly) a 401 and the rest of the run tests
    // nothing. The user-token operations answer a Management token with 401 only; the other
    // test covers them with a user token. Everything else is in: the Management API and the
    // public operations (OIDC, sign-in, consent, callbacks, status).
    let mut filter = vec!["--exclude-operation-id".into(), "delete_application".into()];
    for id in &user_ops {
        filter.extend(["--exclude-operation-id".into(), id.clone()]);
    }
    run(
        &app,
        "Management API token",
        &token,
        &filter,
        total - user_ops.len() - 1,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_token_gets_no_5xx_and_nothing_the_document_does_not_say() {
    let app = TestApp::spawn().await;
    let user = app.user("fuzzed").await;
    let token = app
        .user_token(&user, "openid profile email offline_access identities")
        .await;
    let (user_ops, _) = user_operations(&app).await;
    let mut filter = Vec::new();
    for id in &user_ops {
        filter.extend(["--include-operation-id".into(), id.clone()]);
    }
    run(&app, "user token", &token, &filter, user_ops.len()).await;
}
