//! `vault rewrap`: move every wrapped data key to the active KEK, online.
//!
//! Each batch is one UPDATE in one transaction, so a kill at any instant leaves every record
//! either wrapped as before or wrapped under the active KEK, both readable. Progress is the data
//! itself (records already under the active KEK are skipped), so a re-run finishes the job.

use strongroom_store::{RewrapItem, SEALED_TABLES, SealedTable, Store};
use strongroom_vault::{KekId, Keyring, VaultError};

use crate::Result;

/// How to run a rewrap.
#[derive(Debug, Clone)]
pub struct RewrapOptions {
    /// Records per batch (one statement, one transaction).
    pub batch_size: usize,
    /// Stop after this many batches (for tests and for throttled runs); `None` runs to the end.
    pub max_batches: Option<u64>,
    /// Batches written concurrently (each on its own connection) while the next is read.
    pub parallel: usize,
}

impl Default for RewrapOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            max_batches: None,
            parallel: 2,
        }
    }
}

/// A record that could not be re-wrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewrapFailure {
    pub table: &'static str,
    pub id: String,
    pub reason: String,
}

/// What a rewrap did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewrapReport {
    pub rewrapped: u64,
    pub batches: u64,
    /// Records changed by someone else between read and write; picked up by a later pass.
    pub raced: u64,
    pub failures: Vec<RewrapFailure>,
    /// False when `max_batches` stopped the run early.
    pub complete: bool,
}

/// Progress after each batch.
#[derive(Debug, Clone, Copy)]
pub struct RewrapProgress<'a> {
    pub table: &'static str,
    pub report: &'a RewrapReport,
}

/// Re-wraps every record of every sealed table under the active KEK.
pub async fn rewrap_all(
    store: &Store,
    keyring: &Keyring,
    options: &RewrapOptions,
    mut on_batch: impl FnMut(RewrapProgress<'_>),
) -> Result<RewrapReport> {
    let mut report = RewrapReport::default();
    let active = keyring.active().id().clone();
    let batch = i64::try_from(options.batch_size.max(1)).unwrap_or(1000);
    let mut started: u64 = 0;
    let mut writes = tokio::task::JoinSet::new();
    // A record that raced with a writer still using an old KEK is retried in another pass.
    for _pass in 0..5 {
        let raced_before = report.raced;
        for table in SEALED_TABLES {
            let mut after = String::new();
            loop {
                if options.max_batches.is_some_and(|max| started >= max) {
                    finish_writes(&mut writes, &mut report, &mut on_batch).await?;
                    return Ok(report);
                }
                let items = store
                    .rewrap_candidates(table, &active, &after, batch)
                    .await?;
                let Some(last) = items.last() else { break };
                after = last.id.clone();
                let fetched = items.len();
                let (rewraps, failures) = rewrap_batch(keyring, table, items);
                report.failures.extend(failures);
                let (store, table_ref) = (store.clone(), *table);
                writes.spawn(async move {
                    let planned = u64::try_from(rewraps.len()).unwrap_or(u64::MAX);
                    let written = store.apply_rewraps(&table_ref, &rewraps).await?;
                    Ok::<_, crate::CoreError>((table_ref.table, planned, written))
                });
                started += 1;
                while writes.len() >= options.parallel.max(1) {
                    join_one(&mut writes, &mut report, &mut on_batch).await?;
                }
                if fetched < options.batch_size {
                    break;
                }
            }
            // Passes and tables stay in order: what is read next never overlaps what is written.
            finish_writes(&mut writes, &mut report, &mut on_batch).await?;
        }
        if report.raced == raced_before {
            break;
        }
    }
    report.complete = true;
    Ok(report)
}

type BatchWrite = crate::Result<(&'static str, u64, u64)>;

async fn join_one(
    writes: &mut tokio::task::JoinSet<BatchWrite>,
    report: &mut RewrapReport,
    on_batch: &mut impl FnMut(RewrapProgress<'_>),
) -> Result<()> {
    let Some(joined) = writes.join_next().await else {
        return Ok(());
    };
    let (table, planned, written) = joined
        .map_err(|e| crate::CoreError::Internal(format!("a rewrap batch task failed: {e}")))??;
    report.rewrapped += written;
    report.raced += planned.saturating_sub(written);
    report.batches += 1;
    on_batch(RewrapProgress { table, report });
    Ok(())
}

async fn finish_writes(
    writes: &mut tokio::task::JoinSet<BatchWrite>,
    report: &mut RewrapReport,
    on_batch: &mut impl FnMut(RewrapProgress<'_>),
) -> Result<()> {
    while !writes.is_empty() {
        join_one(writes, report, on_batch).await?;
    }
    Ok(())
}

/// A record to write back: the item read, and its DEK wrapped under the active KEK.
type Rewrapped = (RewrapItem, KekId, Vec<u8>);

fn rewrap_batch(
    keyring: &Keyring,
    table: &SealedTable,
    items: Vec<RewrapItem>,
) -> (Vec<Rewrapped>, Vec<RewrapFailure>) {
    let mut rewraps = Vec::with_capacity(items.len());
    let mut failures = Vec::new();
    for item in items {
        match keyring.rewrap(table.domain, &item.id, &item.kek_id, &item.encrypted_dek) {
            Ok(Some((kek_id, wrapped))) => rewraps.push((item, kek_id, wrapped)),
            Ok(None) => {}
            Err(e) => failures.push(RewrapFailure {
                table: table.table,
                id: item.id,
                reason: match e {
                    VaultError::UnknownKek(id) => format!(
                        "wrapped by KEK {id}, which is not configured (add it to SECRET_VAULT_PREVIOUS_KEKS)"
                    ),
                    other => other.to_string(),
                },
            }),
        }
    }
    (rewraps, failures)
}
