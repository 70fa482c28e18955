//! Prometheus metrics of the apply path, in the node's one registry (the
//! write path's metrics from `ingest` live there too).
//!
//! Counters are bumped by the consumers as they apply; the per-shard gauges
//! are set from the replicas' status when `/metrics` is scraped, so the hot
//! path never touches them.

use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
use schemas::meta::ShardId;
use schemas::node_api::ReplicaState;

use crate::replica::{now_ms, Replica};

/// Why a replica failed, as the `kind` label of the failure counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// A record that is not a valid log record.
    Undecodable,
    /// Records missing from the log before the next one.
    Gap,
    /// The offset to resume from is not in the partition.
    OutOfRange,
    /// A record of another shard in this shard's partition.
    WrongShard,
    /// The storage engine refused a record or failed.
    Apply,
    /// The shard could not be opened in the node's store.
    Open,
    /// The Kafka consumer could not be created.
    Consumer,
}

impl FailureKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Undecodable => "undecodable",
            FailureKind::Gap => "gap",
            FailureKind::OutOfRange => "out_of_range",
            FailureKind::WrongShard => "wrong_shard",
            FailureKind::Apply => "apply",
            FailureKind::Open => "open",
            FailureKind::Consumer => "consumer",
        }
    }
}

const STATES: [&str; 3] = ["catching_up", "healthy", "failed"];

/// The apply path's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    records_applied: IntCounterVec,
    values_applied: IntCounterVec,
    failures: IntCounterVec,
    offset_skips: IntCounterVec,
    points_dropped: IntCounterVec,
    applied_offset: IntGaugeVec,
    high_watermark: IntGaugeVec,
    lag_records: IntGaugeVec,
    lag_seconds: GaugeVec,
    bytes_on_disk: IntGaugeVec,
    state: IntGaugeVec,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: T) -> T {
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn int_counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn int_gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

impl Metrics {
    /// Registers the apply path's metrics in `registry`.
    pub fn new(registry: Registry) -> Self {
        let shard = &["shard"];
        Metrics {
            records_applied: int_counter(
                &registry,
                "sluice_shard_records_applied_total",
                "Log records applied to the shard.",
                shard,
            ),
            values_applied: int_counter(
                &registry,
                "sluice_shard_values_applied_total",
                "Field values applied to the shard.",
                shard,
            ),
            failures: int_counter(
                &registry,
                "sluice_shard_failures_total",
                "Times the replica stopped at a record it would not skip, by kind.",
                &["shard", "kind"],
            ),
            offset_skips: int_counter(
                &registry,
                "sluice_shard_offset_skips_total",
                "Offsets the broker skipped that held no data records (transaction markers).",
                shard,
            ),
            points_dropped: int_counter(
                &registry,
                "sluice_points_dropped_total",
                "Points a replica dropped at apply, by reason (field_type_conflict).",
                &["shard", "reason"],
            ),
            applied_offset: int_gauge(
                &registry,
                "sluice_shard_applied_offset",
                "Offset of the last applied record (-1: none).",
                shard,
            ),
            high_watermark: int_gauge(
                &registry,
                "sluice_shard_high_watermark",
                "The partition's high watermark (-1: unknown).",
                shard,
            ),
            lag_records: int_gauge(
                &registry,
                "sluice_shard_lag_records",
                "Records between the applied offset and the high watermark.",
                shard,
            ),
            lag_seconds: register(
                &registry,
                GaugeVec::new(
                    Opts::new(
                        "sluice_shard_lag_seconds",
                        "Age of the last applied record while behind; 0 when caught up.",
                    ),
                    shard,
                )
                .expect("valid metric"),
            ),
            bytes_on_disk: int_gauge(
                &registry,
                "sluice_shard_bytes_on_disk",
                "Bytes the shard takes on disk (its share of the node's store's SST files).",
                shard,
            ),
            state: int_gauge(
                &registry,
                "sluice_shard_state",
                "1 for the replica's current state (catching_up, healthy, failed).",
                &["shard", "state"],
            ),
            registry,
        }
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn applied(&self, shard: ShardId, records: u64, values: u64) {
        let s = shard.to_string();
        self.records_applied
            .with_label_values(&[&s])
            .inc_by(records);
        self.values_applied.with_label_values(&[&s]).inc_by(values);
    }

    pub(crate) fn failure(&self, shard: ShardId, kind: FailureKind) {
        self.failures
            .with_label_values(&[&shard.to_string(), kind.as_str()])
            .inc();
    }

    pub(crate) fn offset_skips(&self, shard: ShardId, n: u64) {
        self.offset_skips
            .with_label_values(&[&shard.to_string()])
            .inc_by(n);
    }

    pub(crate) fn points_dropped(&self, shard: ShardId, reason: &str, n: u64) {
        self.points_dropped
            .with_label_values(&[&shard.to_string(), reason])
            .inc_by(n);
    }

    /// Drops every series of a shard this node no longer holds.
    pub(crate) fn forget(&self, shard: ShardId) {
        let s = shard.to_string();
        let one = [s.as_str()];
        let _ = self.records_applied.remove_label_values(&one);
        let _ = self.values_applied.remove_label_values(&one);
        let _ = self.offset_skips.remove_label_values(&one);
        let _ = self
            .points_dropped
            .remove_label_values(&[&s, "field_type_conflict"]);
        let _ = self.applied_offset.remove_label_values(&one);
        let _ = self.high_watermark.remove_label_values(&one);
        let _ = self.lag_records.remove_label_values(&one);
        let _ = self.lag_seconds.remove_label_values(&one);
        let _ = self.bytes_on_disk.remove_label_values(&one);
        for state in STATES {
            let _ = self.state.remove_label_values(&[&s, state]);
        }
        for kind in [
            FailureKind::Undecodable,
            FailureKind::Gap,
            FailureKind::OutOfRange,
            FailureKind::WrongShard,
            FailureKind::Apply,
            FailureKind::Open,
            FailureKind::Consumer,
        ] {
            let _ = self.failures.remove_label_values(&[&s, kind.as_str()]);
        }
    }

    /// Sets the per-shard gauges from the replicas and renders everything
    /// in Prometheus' text format.
    pub fn render<'a>(&self, replicas: impl IntoIterator<Item = &'a Replica>) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.gather(replicas), &mut buf)
            .expect("text encoding does not fail");
        String::from_utf8(buf).expect("text format is UTF-8")
    }

    /// Every metric of the node, the replicas' gauges set from `replicas`.
    pub fn gather<'a>(
        &self,
        replicas: impl IntoIterator<Item = &'a Replica>,
    ) -> Vec<prometheus::proto::MetricFamily> {
        let now = now_ms();
        for r in replicas {
            let s = r.spec.shard_id.to_string();
            let st = r.lock_status().clone();
            let one = [s.as_str()];
            self.applied_offset
                .with_label_values(&one)
                .set(st.applied.unwrap_or(-1));
            self.high_watermark
                .with_label_values(&one)
                .set(st.high_watermark.unwrap_or(-1));
            self.lag_records
                .with_label_values(&one)
                .set(st.lag_records().unwrap_or(0));
            self.lag_seconds
                .with_label_values(&one)
                .set(st.lag_seconds(now).unwrap_or(0.0));
            self.bytes_on_disk
                .with_label_values(&one)
                .set(i64::try_from(st.bytes_on_disk).unwrap_or(i64::MAX));
            let current = match st.state {
                ReplicaState::CatchingUp => "catching_up",
                ReplicaState::Healthy => "healthy",
                ReplicaState::Failed { .. } => "failed",
            };
            for state in STATES {
                self.state
                    .with_label_values(&[&s, state])
                    .set(i64::from(state == current));
            }
        }
        self.registry.gather()
    }
}
