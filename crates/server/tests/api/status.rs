//! Liveness (`GET /api/status`, Logto's) and readiness (`GET /api/status/ready`): a process whose
//! database does not answer, or whose vault key no longer opens the stored key check, is alive
//! but not ready, so a load balancer stops sending it traffic.

use crate::support;

use std::sync::Arc;

use serde_json::Value;
use strongroom_core::{Clock, ManualClock, SystemClock};
use support::{Options, TestApp};

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.http.get(app.url(path)).send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn readiness_needs_the_database_and_the_vault_key_and_liveness_does_not() {
    let clock = ManualClock::new(SystemClock.now_ms());
    let app = TestApp::spawn_with(Options {
        clock: Arc::new(clock.clone()),
        ..Options::default()
    })
    .await;
    assert_eq!(get(&app, "/api/status/ready").await.0, 204);

    // The database no longer holds this key's check value (another database, or one altered):
    // a passed check is trusted for a second, then the process is not ready.
    sqlx::query("DELETE FROM vault_keys")
        .execute(app.store().pool())
        .await
        .expect("delete the key checks");
    assert_eq!(
        get(&app, "/api/status/ready").await.0,
        204,
        "trusted for a second"
    );
    clock.advance_ms(1_001);
    let (status, body) = get(&app, "/api/status/ready").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("status.not_ready")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("vault key")),
        "{body}"
    );

    // The database does not answer at all.
    app.store().close().await;
    let (status, body) = get(&app, "/api/status/ready").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (503, Some("the database does not answer")),
        "{body}"
    );
    assert_eq!(get(&app, "/api/status").await.0, 204, "still alive");
}

const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef0123456789";

/// The samples of an OpenMetrics text, read by `prometheus_client`'s OpenMetrics parser and by
/// its Prometheus text-format parser (PyPI, the venv of e2e/requirements.txt), which must agree:
/// `{"name{labels}": value}`.
fn parse_metrics(text: &str) -> serde_json::Map<String, Value> {
    let python = crate::schemathesis::schemathesis().with_file_name("python");
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
from prometheus_client.parser import text_string_to_metric_families as prometheus
text = sys.stdin.read()
def samples(parse):
    return {s.name + json.dumps(s.labels, sort_keys=True): s.value
            for family in parse(text) for s in family.samples}
strict = samples(openmetrics)
loose = samples(prometheus)
assert strict == loose, (strict, loose)
print(json.dumps(strict))
"#;
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    use std::io::Write as _;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("parse");
    assert!(
        out.status.success(),
        "the parsers refused the metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test]
async fn metrics_need_their_token_and_count_what_happened() {
    use reqwest::Method;
    use support::vault::{offline_connector, seed, tokens};

    let unset = TestApp::spawn().await;
    assert_eq!(get(&unset, "/metrics").await.0, 404, "off without a token");

    let clock = ManualClock::new(SystemClock.now_ms());
    let app = TestApp::spawn_with(Options {
        clock: Arc::new(clock.clone()),
        metrics_token: Some(METRICS_TOKEN.into()),
        ..Options::default()
    })
    .await;
    let management = app.management_token().await;
    offline_connector(&app, &management, "oidc-offline", "oidc").await;
    // Stored two hours ago, with a refresh token: expired now, and the provider (an address
    // nobody answers) cannot refresh it.
    let stale = app.user("stale").await;
    seed(
        &app,
        "oidc-offline",
        &stale,
        "oidc",
        "stale-upstream",
        tokens(
            "PROVIDER-stale",
            Some("PROVIDER-refresh"),
            None,
            Some(3600),
            None,
            None,
        ),
    )
    .await;
    clock.advance_ms(7_200_000);
    let fresh = app.user("fresh").await;
    seed(
        &app,
        "oidc-offline",
        &fresh,
        "oidc",
        "fresh-upstream",
        tokens("PROVIDER-fresh", None, None, Some(3600), None, None),
    )
    .await;
    let fresh_bearer = app.user_token(&fresh, "openid identities").await;
    let stale_bearer = app.user_token(&stale, "openid identities").await;
    for (bearer, path) in [
        (
            &fresh_bearer,
            "/api/my-account/identities/oidc/access-token",
        ),
        (
            &fresh_bearer,
            "/api/my-account/identities/oidc/access-token",
        ),
        // A name the caller chose: counted under `none`, never as a label of its own.
        (
            &fresh_bearer,
            "/api/my-account/identities/caller-chosen-name/access-token",
        ),
        // Expired, and the provider cannot be reached: one refresh tried, and failed.
        (
            &stale_bearer,
            "/api/my-account/identities/oidc/access-token",
        ),
    ] {
        let _ = app.api(bearer, Method::GET, path, None).await;
    }
    let backend = app.user_tokens(&fresh, "openid identities").await;
    let refused = app
        .http
        .post(app.url("/oidc/token"))
        .basic_auth(backend.client.id.as_str(), Some(&backend.secret))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", backend.access.as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("resource", "urn:strongroom:connector:oidc"),
        ])
        .send()
        .await
        .expect("exchange");
    assert_eq!(refused.status(), 400);

    for bearer in [None, Some("wrong"), Some(management.as_str())] {
        let mut request = app.http.get(app.url("/metrics"));
        if let Some(b) = bearer {
            request = request.bearer_auth(b);
        }
        let response = request.send().await.expect("metrics");
        assert_eq!(response.status(), 401, "{bearer:?}");
        assert!(response.headers().contains_key("www-authenticate"));
    }
    let response = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/openmetrics-text")),
        "{:?}",
        response.headers()
    );
    let text = response.text().await.expect("text");
    assert!(!text.contains("PROVIDER-"), "no token material: {text}");
    assert!(!text.contains("caller-chosen-name"), "{text}");
    let samples = parse_metrics(&text);
    let value = |key: &str| {
        samples
            .get(key)
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{key} missing: {samples:#?}"))
    };
    let reads = |connector: &str, outcome: &str| {
        value(&format!(
            r#"strongroom_token_reads_total{{"connector": "{connector}", "outcome": "{outcome}", "via": "account_api"}}"#
        ))
    };
    assert_eq!(reads("oidc", "success"), 2.0);
    assert_eq!(reads("none", "token_not_found"), 1.0);
    assert_eq!(reads("oidc", "provider_unavailable"), 1.0);
    assert_eq!(
        value(
            r#"strongroom_token_refreshes_total{"connector": "oidc", "outcome": "provider_unavailable"}"#
        ),
        1.0
    );
    assert_eq!(
        value(r#"strongroom_token_refresh_duration_seconds_count{"connector": "oidc"}"#),
        1.0
    );
    assert_eq!(
        value(r#"strongroom_token_exchanges_total{"outcome": "token_exchange.not_enabled"}"#),
        1.0
    );
    assert_eq!(value("strongroom_audit_events_set_aside{}"), 0.0);
    assert!(value(r#"strongroom_db_connections{"pool": "main", "state": "idle"}"#) >= 0.0);
    let _ = value("strongroom_audit_queue_depth{}");
}
