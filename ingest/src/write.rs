//! The write service: one request or raw-topic record in, acknowledged
//! records out. Shared by HTTP `/write` and the raw-topic consumer.

use std::sync::Arc;
use std::time::Instant;

use line_protocol::{parse_batch_bytes, LineError, Point, Precision};
use meta_client::{Follower, MetaClient};
use schemas::meta::{MetaData, ShardGroup};
use tracing::{debug, instrument};

use crate::metrics::Metrics;
use crate::produce::{ProduceError, Producer};
use crate::route::{
    route, split_oversized, timestamps_needing_groups, unsettled_fields, FieldTypes, Rejected,
};

/// One write: a body of line protocol for one database.
#[derive(Debug, Clone, Copy)]
pub struct WriteRequest<'a> {
    /// Database name.
    pub database: &'a str,
    /// Retention policy; `None` or empty: the database's default.
    pub retention_policy: Option<&'a str>,
    /// Unit of the timestamps in the body.
    pub precision: Precision,
    /// Line protocol.
    pub body: &'a [u8],
    /// Timestamp of points that have none, ns (the request's arrival, or
    /// the Kafka record's timestamp for raw topics).
    pub default_time_ns: i64,
}

/// What a write did. Points not listed in `parse_errors` or `rejected` were
/// acknowledged by Kafka.
#[derive(Debug, Default)]
pub struct WriteOutcome {
    /// Points written.
    pub points: usize,
    /// Field values written.
    pub values: usize,
    /// Lines that did not parse.
    pub parse_errors: Vec<LineError>,
    /// Points that parsed but were refused.
    pub rejected: Vec<Rejected>,
}

impl WriteOutcome {
    /// InfluxDB's message for a write that lost some lines, or `None`:
    /// every parse error on its own line and, as InfluxDB's
    /// `PartialWriteError` does, the first refusal's reason, then
    /// `dropped=N` when some points were written or refused (`partial
    /// write: ...`).
    pub fn error_message(&self) -> Option<String> {
        let dropped = self.parse_errors.len() + self.rejected.len();
        if dropped == 0 {
            return None;
        }
        let mut reasons: Vec<String> = self.parse_errors.iter().map(ToString::to_string).collect();
        reasons.extend(self.rejected.first().map(|r| r.reason.to_string()));
        let reasons = reasons.join("\n");
        Some(if self.points == 0 && self.rejected.is_empty() {
            reasons
        } else {
            format!("partial write: {reasons} dropped={dropped}")
        })
    }
}

/// A database and retention policy that exist, with the meta data they
/// were found in.
#[derive(Debug, Clone)]
pub struct Target {
    /// Database name.
    pub database: String,
    /// Retention policy name (the default one resolved).
    pub retention_policy: String,
    meta: Arc<MetaData>,
}

/// Why a whole write failed; nothing of it is acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// No such database.
    #[error("database not found: \"{0}\"")]
    DatabaseNotFound(String),
    /// No such retention policy (or the database has no default one).
    #[error("retention policy not found: {0}")]
    RetentionPolicyNotFound(String),
    /// metad refused or could not be reached.
    #[error("meta service: {0}")]
    Meta(#[from] meta_client::Error),
    /// Kafka did not acknowledge every record.
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

/// Parses, routes and produces writes.
pub struct WriteService {
    meta: Arc<MetaClient>,
    follower: Arc<Follower>,
    producer: Arc<Producer>,
    field_types: FieldTypes,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for WriteService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteService")
            .field("meta", &self.meta.addrs())
            .field("producer", &self.producer)
            .finish_non_exhaustive()
    }
}

impl WriteService {
    /// A service writing through `producer`, with shard groups from metad.
    pub fn new(
        meta: Arc<MetaClient>,
        follower: Arc<Follower>,
        producer: Arc<Producer>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            meta,
            follower,
            producer,
            field_types: FieldTypes::default(),
            metrics,
        }
    }

    /// The meta data, refreshed from metad when `database` is not in the
    /// local copy yet (it may have been created a moment ago).
    pub async fn meta_with(&self, database: &str) -> Result<Arc<MetaData>, WriteError> {
        let md = self.follower.current();
        if md.database(database).is_some() {
            return Ok(md);
        }
        let fresh = self.meta.snapshot_linearizable().await?;
        self.follower.offer(fresh);
        Ok(self.follower.current())
    }

    /// Writes one request; returns once Kafka acknowledged every record.
    #[instrument(skip_all, fields(db = req.database, bytes = req.body.len()))]
    pub async fn write(
        &self,
        req: WriteRequest<'_>,
        now_ns: i64,
    ) -> Result<WriteOutcome, WriteError> {
        let target = self.target(req.database, req.retention_policy).await?;
        let parsed = parse_batch_bytes(req.body, req.precision, req.default_time_ns);
        self.metrics.rejected("parse", parsed.errors.len());
        let mut outcome = self.write_points(&target, parsed.points, now_ns).await?;
        outcome.parse_errors = parsed.errors;
        Ok(outcome)
    }

    /// Checks that the database and retention policy exist.
    pub async fn target(
        &self,
        database: &str,
        retention_policy: Option<&str>,
    ) -> Result<Target, WriteError> {
        let md = self.meta_with(database).await?;
        if md.database(database).is_none() {
            return Err(WriteError::DatabaseNotFound(database.to_owned()));
        }
        let rp_name = retention_policy.filter(|r| !r.is_empty());
        let rp = md.retention_policy(database, rp_name).ok_or_else(|| {
            WriteError::RetentionPolicyNotFound(rp_name.unwrap_or_default().to_owned())
        })?;
        Ok(Target {
            database: database.to_owned(),
            retention_policy: rp.name.clone(),
            meta: md,
        })
    }

    /// Routes and produces parsed points of one target; returns once Kafka
    /// acknowledged every record. Rejected points carry the `line_number`
    /// they came with.
    pub async fn write_points(
        &self,
        target: &Target,
        points: Vec<Point<'_>>,
        now_ns: i64,
    ) -> Result<WriteOutcome, WriteError> {
        let started = Instant::now();
        let mut outcome = WriteOutcome::default();
        if points.is_empty() {
            return Ok(outcome);
        }
        let rp = target
            .meta
            .retention_policy(&target.database, Some(&target.retention_policy))
            .ok_or_else(|| WriteError::RetentionPolicyNotFound(target.retention_policy.clone()))?;

        // Groups these points need: the ones that exist, plus any metad
        // creates for windows that have none yet.
        let (min, max) = points.iter().fold((i64::MAX, i64::MIN), |(lo, hi), p| {
            (lo.min(p.timestamp_ns), hi.max(p.timestamp_ns))
        });
        let mut groups: Vec<ShardGroup> = rp.shard_groups_overlapping(min, max).cloned().collect();
        let mut made = std::collections::HashSet::new();
        {
            let existing: Vec<&ShardGroup> = groups.iter().collect();
            let missing = timestamps_needing_groups(rp, &existing, &points, now_ns);
            if !missing.is_empty() {
                let created = self
                    .meta
                    .create_shard_groups(&target.database, Some(&rp.name), missing)
                    .await?;
                debug!(groups = created.len(), "shard groups from metad");
                made.extend(created.iter().map(|g| g.id));
                groups.retain(|g| created.iter().all(|c| c.id != g.id));
                groups.extend(created);
            }
        }
        let group_refs: Vec<&ShardGroup> = groups.iter().collect();
        // New fields take their type in their group through metad, first
        // writer wins, before any point is judged: every router then
        // refuses the same points, whichever saw the field first.
        let claims = unsettled_fields(
            rp,
            &group_refs,
            &points,
            now_ns,
            &target.meta,
            &self.field_types,
        );
        if !claims.is_empty() {
            let types = self.meta.register_field_types(claims.clone()).await?;
            self.field_types.remember(&claims, &types);
        }
        let routed = route(
            &target.database,
            rp,
            &group_refs,
            points,
            now_ns,
            &target.meta,
            &self.field_types,
        );
        for r in &routed.rejected {
            self.metrics.rejected(r.reason.metric_label(), 1);
        }
        outcome.rejected = routed.rejected;

        // One round for all topics: a write that opens many shard groups
        // waits for one creation request, not one per group. A group made
        // for this write gets its topic even if every point for it was
        // refused: a group in the meta data always has one, so a query
        // finds its (empty) partitions.
        let used: std::collections::HashSet<&str> =
            routed.batches.iter().map(|b| b.topic.as_str()).collect();
        let topics: Vec<(&str, usize)> = groups
            .iter()
            .filter(|g| used.contains(g.topic.as_str()) || made.contains(&g.id))
            .map(|g| (g.topic.as_str(), g.shards.len()))
            .collect();
        if !topics.is_empty() {
            self.producer.ensure_topics(&topics).await?;
        }
        if routed.batches.is_empty() {
            return Ok(outcome);
        }
        let batches = split_oversized(routed.batches, self.producer.config().max_record_bytes);
        let produce_started = Instant::now();
        let sent = self.producer.send(&batches).await?;
        self.metrics
            .produced(sent.records, sent.bytes, produce_started.elapsed());
        outcome.points = routed.points;
        outcome.values = routed.values;
        self.metrics.accepted(routed.points, routed.values);
        debug!(
            points = outcome.points,
            values = outcome.values,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "write acknowledged"
        );
        Ok(outcome)
    }

    /// Checks (creating what is missing) the topic of every live shard
    /// group, so that a topic with the wrong partition count, fewer
    /// replicas or a limited retention is reported at start (logged, and
    /// listed by `/health`), not at the first write into it.
    pub async fn check_topics(&self) -> Result<(), ProduceError> {
        let md = self.follower.current();
        let topics: Vec<(&str, usize)> = md
            .shard_groups()
            .map(|g| (g.topic.as_str(), g.shards.len()))
            .collect();
        if topics.is_empty() {
            return Ok(());
        }
        self.producer.ensure_topics(&topics).await.map(drop)
    }

    /// Waits for records still in flight (at shutdown).
    pub fn flush(&self, timeout: std::time::Duration) {
        self.producer.flush(timeout);
    }

    /// The metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The Kafka producer.
    pub fn producer(&self) -> &Arc<Producer> {
        &self.producer
    }

    /// The metad client.
    pub fn meta_client(&self) -> &Arc<MetaClient> {
        &self.meta
    }

    /// The watched meta data.
    pub fn follower(&self) -> &Arc<Follower> {
        &self.follower
    }

    /// Forgets metad's answers about groups that no longer exist.
    pub fn prune(&self) {
        self.field_types.prune(&self.follower.current());
    }
}
