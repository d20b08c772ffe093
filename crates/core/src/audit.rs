//! The audit trail: who did what to which secret, and how it ended. Never token material.
//!
//! Token reads are frequent: they are queued to a background writer that folds identical reads
//! (same actor, user, secret, target and outcome) of one [`WINDOW`] into one event whose
//! `detail` holds `count`, `firstAt` and `lastAt`, and writes each window's events at once. The
//! trail so costs a row per reader and secret and second, however fast they read. A crash can
//! lose the reads of the current window and the queue; a shutdown writes them first.
//! Everything else — refreshes, replacements, deletions, revocations — is written before the
//! operation answers.

use std::sync::Arc;

use serde_json::{Value, json};
use strongroom_store::{AuditEvent, AuditFilter, Store};
use tokio::sync::{mpsc, oneshot};

use crate::Clock;

/// Most folded events the writer holds before it writes them, window over or not.
const BATCH: usize = 4096;
/// Queued reads beyond which readers wait for room (back-pressure).
const QUEUE: usize = 2 * BATCH;
/// How long the writer folds reads before it writes them.
const WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

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
    /// `token.store`, `token.read`, `token.refresh`, `token.replace`, `token.delete`,
    /// `token.revoke`.
    pub action: &'static str,
    /// `success` or a stable failure code.
    pub outcome: String,
    pub user_id: Option<String>,
    pub secret_id: Option<String>,
    pub target: Option<String>,
    /// The application a token was read by (the filter of "who read my token").
    pub application_id: Option<String>,
    /// Non-secret detail (connector id, error class...).
    pub detail: Value,
}

impl Entry {
    pub fn new(actor: Actor, action: &'static str, outcome: impl Into<String>) -> Self {
        Self {
            actor,
            action,
            outcome: outcome.into(),
            user_id: None,
            secret_id: None,
            target: None,
            application_id: None,
            detail: json!({}),
        }
    }
}

/// Writes audit events.
#[derive(Debug, Clone)]
pub struct Audit {
    store: Store,
    clock: Arc<dyn Clock>,
    queue: mpsc::Sender<Queued>,
}

/// What the batch writer receives.
#[derive(Debug)]
enum Queued {
    Event(Box<AuditEvent>),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

impl Audit {
    /// Starts the batch writer on the current tokio runtime.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store.clone(), rx));
        Self {
            store,
            clock,
            queue,
        }
    }

    fn event(&self, entry: Entry) -> AuditEvent {
        let (actor_type, actor_id) = entry.actor.parts();
        let now = self.clock.now_ms();
        AuditEvent {
            // Time-ordered: inserts land at the end of the primary key's index.
            id: strongroom_store::time_ordered_id(now),
            occurred_at: now,
            actor_type: actor_type.to_owned(),
            actor_id,
            action: entry.action.to_owned(),
            outcome: entry.outcome,
            user_id: entry.user_id,
            secret_id: entry.secret_id,
            target: entry.target,
            application_id: entry.application_id,
            detail: entry.detail,
            request_id: None,
        }
    }

    /// Token reads queued and not yet written.
    pub fn queue_depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Records an event before returning. A failure to write is logged and the event set
    /// aside, never passed on: the audited operation has already happened.
    pub async fn record(&self, entry: Entry) {
        let event = self.event(entry);
        if let Err(e) = self.store.insert_audit_event(&event).await {
            set_aside(&self.store, &event, &e).await;
        }
    }

    /// Records many events (a bulk deletion), in chunks, before returning.
    pub async fn record_all(&self, entries: impl IntoIterator<Item = Entry>) {
        let events: Vec<AuditEvent> = entries.into_iter().map(|e| self.event(e)).collect();
        write_events(&self.store, &events).await;
    }

    /// Queues an event for the batch writer (token reads). A full queue makes the caller wait
    /// for room: reads are never served unaudited.
    pub async fn record_soon(&self, entry: Entry) {
        if let Err(mpsc::error::SendError(Queued::Event(event))) = self
            .queue
            .send(Queued::Event(Box::new(self.event(entry))))
            .await
            && let Err(e) = self.store.insert_audit_event(&event).await
        {
            set_aside(&self.store, &event, &e).await;
        }
    }

    /// Waits until every event queued so far is written (at shutdown, before the database
    /// closes).
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Queued::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

impl Audit {
    /// A page (1-based) of events, newest first, and the total number matching.
    pub async fn list(
        &self,
        filter: &AuditFilter,
        page: crate::limits::Page,
    ) -> crate::Result<(Vec<AuditEvent>, i64)> {
        Ok(self
            .store
            .list_audit_events(filter, page.page_size, page.offset())
            .await?)
    }
}

/// Batch sizes the writer uses: a few fixed statement shapes, so each connection prepares (and
/// keeps) a handful of statements rather than one per batch length.
const CHUNKS: [usize; 5] = [256, 64, 16, 4, 1];

type FoldKey = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Value,
);

/// Events of one window, identical reads folded into one event counting them, in order of
/// their first occurrence.
#[derive(Debug, Default)]
struct Folded {
    events: Vec<AuditEvent>,
    index: std::collections::HashMap<FoldKey, usize>,
}

impl Folded {
    fn add(&mut self, event: AuditEvent) {
        if event.action != "token.read" {
            self.events.push(event);
            return;
        }
        let key = (
            event.actor_type.clone(),
            event.actor_id.clone(),
            event.user_id.clone(),
            event.secret_id.clone(),
            event.target.clone(),
            event.application_id.clone(),
            event.outcome.clone(),
            event.detail.clone(),
        );
        match self.index.get(&key) {
            Some(&i) => {
                let folded = &mut self.events[i];
                let count = folded.detail["count"].as_i64().unwrap_or(1) + 1;
                folded.detail["count"] = json!(count);
                folded.detail["lastAt"] = json!(event.occurred_at);
                folded.occurred_at = event.occurred_at;
            }
            None => {
                self.index.insert(key, self.events.len());
                let at = event.occurred_at;
                let mut detail = match &event.detail {
                    Value::Object(fields) => fields.clone(),
                    _ => serde_json::Map::new(),
                };
                detail.insert("count".into(), json!(1));
                detail.insert("firstAt".into(), json!(at));
                detail.insert("lastAt".into(), json!(at));
                self.events.push(AuditEvent {
                    detail: Value::Object(detail),
                    ..event
                });
            }
        }
    }

    fn take(&mut self) -> Vec<AuditEvent> {
        self.index.clear();
        std::mem::take(&mut self.events)
    }
}

/// Folds what arrives for a window, then hands the window's events to a write of their own
/// and goes on folding the next: a slow database never stops the queue from draining (readers
/// would wait on a full queue). Writes run one at a time, in order.
async fn write_batches(store: Store, mut rx: mpsc::Receiver<Queued>) {
    let mut queued = Vec::with_capacity(BATCH);
    let mut folded = Folded::default();
    let mut writing: Option<tokio::task::JoinHandle<()>> = None;
    while rx.recv_many(&mut queued, BATCH).await > 0 {
        let deadline = tokio::time::Instant::now() + WINDOW;
        let mut flushes = Vec::new();
        loop {
            for q in queued.drain(..) {
                match q {
                    Queued::Event(event) => folded.add(*event),
                    Queued::Flush(done) => flushes.push(done),
                }
            }
            if !flushes.is_empty() || folded.events.len() >= BATCH {
                break;
            }
            match tokio::time::timeout_at(deadline, rx.recv_many(&mut queued, BATCH)).await {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        if let Some(previous) = writing.take() {
            let _ = previous.await;
        }
        let (store, events) = (store.clone(), folded.take());
        writing = Some(tokio::spawn(async move {
            write_events(&store, &events).await;
            for done in flushes {
                let _ = done.send(());
            }
        }));
    }
    if let Some(last) = writing {
        let _ = last.await;
    }
}

/// Writes a window's events in chunks. A chunk that fails is written again one event at a
/// time, so one bad event (whoever caused it) never costs its neighbours their place in the
/// trail; an event that fails alone is set aside with its error (`audit_rejected`) and logged.
pub(crate) async fn write_events(store: &Store, events: &[AuditEvent]) {
    let mut rest = events;
    while !rest.is_empty() {
        let size = CHUNKS.into_iter().find(|c| *c <= rest.len()).unwrap_or(1);
        let (chunk, tail) = rest.split_at(size);
        if let Err(e) = store.insert_audit_events(chunk).await {
            tracing::warn!(error = %e, events = chunk.len(), "a chunk of audit events failed; writing them one by one");
            for event in chunk {
                if let Err(e) = store.insert_audit_event(event).await {
                    set_aside(store, event, &e).await;
                }
            }
        }
        rest = tail;
    }
}

/// Keeps an event that cannot be written where an operator finds it (`audit_rejected`).
async fn set_aside(store: &Store, event: &AuditEvent, error: &strongroom_store::StoreError) {
    tracing::error!(error = %error, action = event.action, id = event.id, "cannot write an audit event; set aside in audit_rejected");
    // The JSON text escapes every character the audit table could refuse (U+0000 included).
    let text = serde_json::to_string(event).unwrap_or_default();
    if let Err(e) = store
        .insert_rejected_audit_event(&text, &error.to_string(), event.occurred_at)
        .await
    {
        tracing::error!(error = %e, id = event.id, "cannot set the audit event aside either");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(user: &str, at: i64) -> AuditEvent {
        AuditEvent {
            id: strongroom_store::time_ordered_id(at),
            occurred_at: at,
            actor_type: "user".into(),
            actor_id: Some(user.into()),
            action: "token.read".into(),
            outcome: "success".into(),
            user_id: Some(user.into()),
            secret_id: Some(format!("s-{user}")),
            target: Some("github".into()),
            application_id: Some("app".into()),
            detail: json!({}),
            request_id: None,
        }
    }

    /// The fuzzing run's F3: one event the database refuses cost up to 255 neighbours (other
    /// users' reads) their place in the trail. Here the poisoned event is a duplicate id, which
    /// both engines refuse.
    #[tokio::test]
    async fn one_bad_event_never_costs_its_neighbours_their_place() {
        let (_db, store) = strongroom_testkit::TestDb::migrated().await;
        let first = read("a", 1);
        store.insert_audit_event(&first).await.expect("first");
        let poisoned = AuditEvent {
            user_id: Some("mallory".into()),
            ..first.clone()
        };
        let neighbours: Vec<AuditEvent> = (2..20).map(|i| read(&format!("u{i}"), i)).collect();
        let mut window = neighbours.clone();
        window.insert(7, poisoned);
        write_events(&store, &window).await;
        let (listed, total) = store
            .list_audit_events(&AuditFilter::default(), 100, 0)
            .await
            .expect("list");
        assert_eq!(total, 19, "the first event and every neighbour: {listed:?}");
        for n in &neighbours {
            assert!(listed.iter().any(|e| e.id == n.id), "{} lost", n.id);
        }
        let rejected = store.list_rejected_audit_events().await.expect("rejected");
        assert_eq!(rejected.len(), 1, "{rejected:?}");
        assert!(rejected[0].0.contains("mallory"), "{rejected:?}");
    }

    #[test]
    fn identical_reads_of_a_window_fold_into_one_counted_event() {
        let refresh = AuditEvent {
            action: "token.refresh".into(),
            ..read("a", 5)
        };
        let failed = AuditEvent {
            outcome: "token_not_found".into(),
            ..read("a", 6)
        };
        let mut folded = Folded::default();
        for event in [
            read("a", 1),
            read("b", 2),
            read("a", 3),
            refresh,
            failed,
            read("a", 7),
        ] {
            folded.add(event);
        }
        let out = folded.take();
        assert_eq!(out.len(), 4);
        assert_eq!(
            (out[0].user_id.as_deref(), out[0].occurred_at),
            (Some("a"), 7)
        );
        assert_eq!(
            out[0].detail,
            json!({"count": 3, "firstAt": 1, "lastAt": 7})
        );
        assert_eq!(
            out[1].detail,
            json!({"count": 1, "firstAt": 2, "lastAt": 2})
        );
        assert_eq!(
            (out[2].action.as_str(), &out[2].detail),
            ("token.refresh", &json!({}))
        );
        assert_eq!(
            (out[3].outcome.as_str(), out[3].detail["count"].as_i64()),
            ("token_not_found", Some(1))
        );
        // The next window starts empty.
        folded.add(read("a", 8));
        assert_eq!(folded.take()[0].detail["count"], json!(1));
    }
}
