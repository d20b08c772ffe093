use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store};

/// One audit trail entry: who did what to which secret, and how it ended. Never token material.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    /// Epoch milliseconds.
    pub occurred_at: i64,
    /// `user`, `application`, `admin`, `system`.
    pub actor_type: String,
    pub actor_id: Option<String>,
    /// `token.read`, `token.refresh`, `token.store`, `token.replace`, `token.delete`, ...
    pub action: String,
    /// `success` or a stable failure code.
    pub outcome: String,
    pub user_id: Option<String>,
    pub secret_id: Option<String>,
    pub target: Option<String>,
    /// The application a token was read by (or for).
    pub application_id: Option<String>,
    pub detail: serde_json::Value,
    pub request_id: Option<String>,
}

/// Which audit events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub secret_id: Option<String>,
    pub action: Option<String>,
    pub application_id: Option<String>,
}

fn event_from_row(row: &AnyRow) -> Result<AuditEvent> {
    Ok(AuditEvent {
        id: row.try_get("id")?,
        occurred_at: row.try_get("occurred_at")?,
        actor_type: row.try_get("actor_type")?,
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        outcome: row.try_get("outcome")?,
        user_id: row.try_get("user_id")?,
        secret_id: row.try_get("secret_id")?,
        target: row.try_get("target")?,
        application_id: row.try_get("application_id")?,
        detail: crate::json_from(&row.try_get::<String, _>("detail")?, "audit detail")?,
        request_id: row.try_get("request_id")?,
    })
}

impl Store {
    pub async fn insert_audit_event(&self, e: &AuditEvent) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, occurred_at, actor_type, actor_id, action, outcome, user_id, \
             secret_id, target, detail, request_id, application_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(e.id.as_str())
        .bind(e.occurred_at)
        .bind(e.actor_type.as_str())
        .bind(e.actor_id.as_deref())
        .bind(e.action.as_str())
        .bind(e.outcome.as_str())
        .bind(e.user_id.as_deref())
        .bind(e.secret_id.as_deref())
        .bind(e.target.as_deref())
        .bind(e.detail.to_string())
        .bind(e.request_id.as_deref())
        .bind(e.application_id.as_deref())
        .execute(&self.audit)
        .await?;
        Ok(())
    }

    /// Keeps an event that could not be written (its JSON and the error).
    pub async fn insert_rejected_audit_event(
        &self,
        event: &str,
        error: &str,
        occurred_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_rejected (id, event, error, occurred_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(crate::new_id())
        .bind(event)
        .bind(error.chars().take(1000).collect::<String>())
        .bind(occurred_at)
        .execute(&self.audit)
        .await?;
        Ok(())
    }

    /// How many events are set aside.
    pub async fn count_rejected_audit_events(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM audit_rejected")
            .fetch_one(&self.audit)
            .await?
            .try_get("n")?)
    }

    /// The events set aside: `(event JSON, error)`, oldest first.
    pub async fn list_rejected_audit_events(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT event, error FROM audit_rejected ORDER BY occurred_at, id")
            .fetch_all(&self.audit)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("event")?, r.try_get("error")?)))
            .collect()
    }

    /// Inserts several events in one statement.
    pub async fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO audit_events (id, occurred_at, actor_type, actor_id, action, outcome, user_id, \
             secret_id, target, detail, request_id, application_id) VALUES {}",
            self.values_list(events.len(), 12)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in events {
            query = query
                .bind(e.id.as_str())
                .bind(e.occurred_at)
                .bind(e.actor_type.as_str())
                .bind(e.actor_id.as_deref())
                .bind(e.action.as_str())
                .bind(e.outcome.as_str())
                .bind(e.user_id.as_deref())
                .bind(e.secret_id.as_deref())
                .bind(e.target.as_deref())
                .bind(e.detail.to_string())
                .bind(e.request_id.as_deref())
                .bind(e.application_id.as_deref());
        }
        query.execute(&self.audit).await?;
        Ok(())
    }

    /// A page of audit events, newest first (ids are time-ordered), and the total number
    /// matching the filter.
    pub async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AuditEvent>, i64)> {
        const WHERE: &str = "($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR secret_id = $2) \
                             AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR application_id = $4)";
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, occurred_at, actor_type, actor_id, action, outcome, user_id, secret_id, target, \
             detail, request_id, application_id FROM audit_events WHERE {WHERE} \
             ORDER BY id DESC LIMIT $5 OFFSET $6"
        )))
        .bind(filter.user_id.as_deref())
        .bind(filter.secret_id.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.application_id.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.audit)
        .await?;
        let total = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE {WHERE}"
        )))
        .bind(filter.user_id.as_deref())
        .bind(filter.secret_id.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.application_id.as_deref())
        .fetch_one(&self.audit)
        .await?
        .try_get("n")?;
        Ok((
            rows.iter().map(event_from_row).collect::<Result<_>>()?,
            total,
        ))
    }
}
