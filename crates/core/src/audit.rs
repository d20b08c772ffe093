//! The audit trail: who did what to which secret, and how it ended. Never token material.

use std::sync::Arc;

use serde_json::{Value, json};
use strongroom_store::{AuditEvent, Store};

use crate::Clock;

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An end user, through the sign-in flow or the Account API.
    User(String),
    /// An application (the Management API's machine-to-machine caller).
    Application(String),
    /// A console administrator.
    Admin(String),
    /// Strongroom itself.
    System,
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<String>) {
        match self {
            Self::User(id) => ("user", Some(id.clone())),
            Self::Application(id) => ("application", Some(id.clone())),
            Self::Admin(id) => ("admin", Some(id.clone())),
            Self::System => ("system", None),
        }
    }
}

/// One event to record.
#[derive(Debug, Clone)]
pub struct Entry {
    pub actor: Actor,
    /// `token.store`, `token.read`, `token.refresh`, `token.delete`, ...
    pub action: &'static str,
    /// `success` or a stable failure code.
    pub outcome: String,
    pub user_id: Option<String>,
    pub secret_id: Option<String>,
    pub target: Option<String>,
    /// Non-secret detail (connector id, error class...).
    pub detail: Value,
}

impl Entry {
    pub fn new(actor: Actor, action: &'static str, outcome: impl Into<String>) -> Self {
        Self { actor, action, outcome: outcome.into(), user_id: None, secret_id: None, target: None, detail: json!({}) }
    }
}

/// Writes audit events.
#[derive(Debug, Clone)]
pub struct Audit {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl Audit {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Records an event. A failure to write is logged, never passed on: the audited operation
    /// has already happened.
    pub async fn record(&self, entry: Entry) {
        let (actor_type, actor_id) = entry.actor.parts();
        let event = AuditEvent {
            id: strongroom_store::new_id(),
            occurred_at: self.clock.now_ms(),
            actor_type: actor_type.to_owned(),
            actor_id,
            action: entry.action.to_owned(),
            outcome: entry.outcome,
            user_id: entry.user_id,
            secret_id: entry.secret_id,
            target: entry.target,
            detail: entry.detail,
            request_id: None,
        };
        if let Err(e) = self.store.insert_audit_event(&event).await {
            tracing::error!(error = %e, action = event.action, "cannot write the audit event");
        }
    }
}
