//! What monitoring systems read (`GET /metrics`, OpenMetrics text): token reads, exchanges and
//! refreshes by connection and outcome, refresh latency, the audit queue, the events set aside
//! and the database pools. Every label value comes from configuration (connector targets and
//! ids of stored sets) or from a fixed list of outcomes, never from what a caller sends, so the
//! number of series is bounded by the configuration.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::token_access::Via;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    connector: String,
    via: &'static str,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    connector: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectorLabels {
    connector: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

type Latency = Family<ConnectorLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 10 ms to about 40 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 13))
}

/// The label of a connection nobody stored a set for: what a caller names there is not used.
pub const NO_CONNECTION: &str = "none";

/// The process's metrics. Cloning shares them.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    reads: Family<ReadLabels, Counter>,
    exchanges: Family<OutcomeLabels, Counter>,
    refreshes: Family<RefreshLabels, Counter>,
    refresh_seconds: Latency,
    audit_queue: Gauge,
    audit_set_aside: Gauge,
    db_connections: Family<PoolLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// What a database pool is doing when the metrics are read.
#[derive(Debug, Clone, Copy)]
pub struct PoolUse {
    pub pool: &'static str,
    pub in_use: i64,
    pub idle: i64,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("strongroom");
        let reads = Family::<ReadLabels, Counter>::default();
        registry.register(
            "token_reads",
            "Provider token reads by connection, way (account_api, token_exchange, worker) and outcome",
            reads.clone(),
        );
        let exchanges = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "token_exchanges",
            "Token exchange requests by outcome (success, or the refusal's code)",
            exchanges.clone(),
        );
        let refreshes = Family::<RefreshLabels, Counter>::default();
        registry.register(
            "token_refreshes",
            "Refreshes at the provider by connection and outcome",
            refreshes.clone(),
        );
        let refresh_seconds = Latency::new_with_constructor(latency_histogram);
        registry.register(
            "token_refresh_duration_seconds",
            "Time the provider took to answer a refresh, by connection",
            refresh_seconds.clone(),
        );
        let audit_queue = Gauge::default();
        registry.register(
            "audit_queue_depth",
            "Token reads queued for the audit trail and not yet written",
            audit_queue.clone(),
        );
        let audit_set_aside = Gauge::default();
        registry.register(
            "audit_events_set_aside",
            "Audit events the database refused, kept in audit_rejected for an operator",
            audit_set_aside.clone(),
        );
        let db_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "Database connections by pool (main, audit) and state (in_use, idle)",
            db_connections.clone(),
        );
        Self(Arc::new(Inner {
            registry,
            reads,
            exchanges,
            refreshes,
            refresh_seconds,
            audit_queue,
            audit_set_aside,
            db_connections,
        }))
    }

    /// A provider token read. `connector` is the target or SSO connector id of a stored set;
    /// [`NO_CONNECTION`] when none was found.
    pub fn read(&self, connector: &str, via: Via, outcome: &str) {
        self.0
            .reads
            .get_or_create(&ReadLabels {
                connector: connector.to_owned(),
                via: via.as_str(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A token exchange request: `success` or a fixed refusal code.
    pub fn exchange(&self, outcome: &str) {
        self.0
            .exchanges
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A refresh at the provider of a stored set's connection, and how long it took.
    pub fn refresh(&self, connector: &str, outcome: &str, seconds: f64) {
        self.0
            .refreshes
            .get_or_create(&RefreshLabels {
                connector: connector.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.0
            .refresh_seconds
            .get_or_create(&ConnectorLabels {
                connector: connector.to_owned(),
            })
            .observe(seconds);
    }

    /// The text of `GET /metrics`, with the gauges read now (one statement: the events set
    /// aside).
    pub async fn scrape(
        &self,
        audit: &crate::audit::Audit,
        store: &strongroom_store::Store,
    ) -> crate::Result<String> {
        let set_aside = store.count_rejected_audit_events().await?;
        let pools: Vec<PoolUse> = store
            .pool_use()
            .into_iter()
            .map(|(pool, open, idle)| {
                let idle = i64::try_from(idle).unwrap_or(i64::MAX);
                PoolUse {
                    pool,
                    in_use: i64::from(open) - idle,
                    idle,
                }
            })
            .collect();
        Ok(self.render(audit.queue_depth(), set_aside, &pools))
    }

    /// The OpenMetrics text, with the gauges set to these values.
    pub fn render(&self, audit_queue: usize, audit_set_aside: i64, pools: &[PoolUse]) -> String {
        self.0
            .audit_queue
            .set(i64::try_from(audit_queue).unwrap_or(i64::MAX));
        self.0.audit_set_aside.set(audit_set_aside);
        for pool in pools {
            for (state, value) in [("in_use", pool.in_use), ("idle", pool.idle)] {
                self.0
                    .db_connections
                    .get_or_create(&PoolLabels {
                        pool: pool.pool,
                        state,
                    })
                    .set(value);
            }
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.0.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_are_written_with_their_labels() {
        let metrics = Metrics::new();
        metrics.read("github", Via::Exchange, "success");
        metrics.read("github", Via::Exchange, "success");
        metrics.exchange("token_exchange.not_enabled");
        metrics.refresh("google", "provider_unavailable", 0.25);
        let text = metrics.render(
            3,
            1,
            &[PoolUse {
                pool: "main",
                in_use: 2,
                idle: 5,
            }],
        );
        for line in [
            r#"strongroom_token_reads_total{connector="github",via="token_exchange",outcome="success"} 2"#,
            r#"strongroom_token_exchanges_total{outcome="token_exchange.not_enabled"} 1"#,
            r#"strongroom_token_refreshes_total{connector="google",outcome="provider_unavailable"} 1"#,
            r#"strongroom_token_refresh_duration_seconds_count{connector="google"} 1"#,
            "strongroom_audit_queue_depth 3",
            "strongroom_audit_events_set_aside 1",
            r#"strongroom_db_connections{pool="main",state="idle"} 5"#,
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
    }
}
