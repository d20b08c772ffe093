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
