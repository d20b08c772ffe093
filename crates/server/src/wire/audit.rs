//! `/api/audit-events`: the audit trail. Never token material.

use serde::Serialize;
use serde_json::{Map, Value};
use strongroom_core::store::AuditEvent;
use utoipa::ToSchema;

use super::object;

/// Who did what to which secret, and how it ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventBody {
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub occurred_at: i64,
    /// `user`, `application`, `admin` or `system`.
    pub actor_type: String,
    #[schema(required)]
    pub actor_id: Option<String>,
    /// `token.read`, `token.refresh`, `token.store`, `token.replace`, `token.delete`, ...
    pub action: String,
    /// `success` or a stable failure code.
    pub outcome: String,
    #[schema(required)]
    pub user_id: Option<String>,
    #[schema(required)]
    pub secret_id: Option<String>,
    #[schema(required)]
    pub target: Option<String>,
    /// The application that read the token (`token.read`).
    #[schema(required)]
    pub application_id: Option<String>,
    /// Action-specific facts (a read's `via`, `actor`, `purpose`, `breakGlass`); repeated events folded into one carry `count`, `firstAt` and
    /// `lastAt`.
    pub detail: Map<String, Value>,
    #[schema(required)]
    pub request_id: Option<String>,
}

impl From<&AuditEvent> for AuditEventBody {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.clone(),
            occurred_at: e.occurred_at,
            actor_type: e.actor_type.clone(),
            actor_id: e.actor_id.clone(),
            action: e.action.clone(),
            outcome: e.outcome.clone(),
            user_id: e.user_id.clone(),
            secret_id: e.secret_id.clone(),
            target: e.target.clone(),
            application_id: e.application_id.clone(),
            detail: object(&e.detail),
            request_id: e.request_id.clone(),
        }
    }
}
