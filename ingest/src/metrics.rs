//! Prometheus metrics of the write path.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The write path's counters, registered in one registry that `/metrics`
/// renders (data nodes add their own metrics to the same registry).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    points_accepted: IntCounter,
    values_accepted: IntCounter,
    points_rejected: IntCounterVec,
    records_produced: IntCounter,
    bytes_produced: IntCounter,
    produce_seconds: Histogram,
    raw_lag: IntGaugeVec,
    raw_bad_records: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

impl Metrics {
    /// Registers the write-path metrics in `registry`.
    pub fn new(registry: Registry) -> Self {
        let points_rejected = IntCounterVec::new(
            Opts::new(
                "sluice_ingest_points_rejected_total",
                "Points not written, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(points_rejected.clone()))
            .expect("registered once");
        let produce_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "sluice_ingest_produce_seconds",
                "Time from producing a write's records to Kafka acknowledging all of them.",
            )
            .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).expect("valid buckets")),
        )
        .expect("valid metric");
        registry
            .register(Box::new(produce_seconds.clone()))
            .expect("registered once");
        let raw_lag = IntGaugeVec::new(
            Opts::new(
                "sluice_ingest_raw_topic_lag_records",
                "Records of a raw line-protocol partition not yet routed.",
            ),
            &["topic", "partition"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(raw_lag.clone()))
            .expect("registered once");
        let raw_bad_records = IntCounterVec::new(
            Opts::new(
                "sluice_ingest_raw_bad_records_total",
                "Raw-topic records that could not be written, by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(raw_bad_records.clone()))
            .expect("registered once");
        Self {
            points_accepted: counter(
                &registry,
                "sluice_ingest_points_accepted_total",
                "Points acknowledged by Kafka.",
            ),
            values_accepted: counter(
                &registry,
                "sluice_ingest_values_accepted_total",
                "Field values acknowledged by Kafka.",
            ),
            records_produced: counter(
                &registry,
                "sluice_ingest_records_produced_total",
                "Shard-group records produced.",
            ),
            bytes_produced: counter(
                &registry,
                "sluice_ingest_bytes_produced_total",
                "Bytes of shard-group record values produced (before compression).",
            ),
            points_rejected,
            produce_seconds,
            raw_lag,
            raw_bad_records,
            registry,
        }
    }

    pub(crate) fn accepted(&self, points: usize, values: usize) {
        self.points_accepted.inc_by(points as u64);
        self.values_accepted.inc_by(values as u64);
    }

    pub(crate) fn rejected(&self, reason: &str, n: usize) {
        if n > 0 {
            self.points_rejected
                .with_label_values(&[reason])
                .inc_by(n as u64);
        }
    }

    pub(crate) fn produced(&self, records: usize, bytes: usize, took: Duration) {
        self.records_produced.inc_by(records as u64);
        self.bytes_produced.inc_by(bytes as u64);
        self.produce_seconds.observe(took.as_secs_f64());
    }

    pub(crate) fn raw_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.raw_lag
            .with_label_values(&[topic, &partition.to_string()])
            .set(lag);
    }

    pub(crate) fn raw_bad_record(&self, reason: &str) {
        self.raw_bad_records.with_label_values(&[reason]).inc();
    }

    /// The registry, for other parts to add their metrics to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every metric of the registry in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding does not fail");
        String::from_utf8(buf).expect("text format is UTF-8")
    }
}
