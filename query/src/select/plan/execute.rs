//! Running a plan: the scan phase on every shard through `dispatch` (or
//! over a subquery's answer), and raw answers read page by page for
//! chunked responses.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use schemas::meta::{Shard as MetaShard, ShardId};

use super::{OutExpr, Plan};
use crate::result::Series;
use crate::select::dispatch;
use crate::select::scan::{CallScan, GroupBody, MeasurementScan, ScanMode, ScanRequest};
use crate::select::value::{Ex, Op, Val};
use crate::select::{QueryContext, QueryError};
use crate::shards::ShardReader;
use crate::shards::{ShardOp, ShardOut};

impl Plan {
    /// Scans every shard and finishes the result.
    pub async fn execute(
        &self,
        reader: &dyn ShardReader,
        ctx: &QueryContext,
    ) -> Result<Vec<Series>, QueryError> {
        if self.measurements.is_empty() || (self.shards.is_empty() && self.inner.is_none()) {
            return Ok(Vec::new());
        }
        let mode = match &self.calls {
            None => ScanMode::Raw {
                limit: if self.limit > 0 {
                    Some(self.limit + self.offset)
                } else {
                    None
                },
                desc: self.desc,
            },
            Some(calls) => ScanMode::Agg {
                calls: calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| CallScan {
                        kind: c.kind,
                        col: c.col,
                        aux: if Some(i) == self.primary {
                            self.aux.clone()
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
            },
        };
        // Transformations over raw rows need every row: no limit pushdown.
        let mode = match mode {
            ScanMode::Raw { desc, .. }
                if self
                    .outs
                    .iter()
                    .any(|o| matches!(o, OutExpr::Transform { .. })) =>
            {
                ScanMode::Raw { limit: None, desc }
            }
            m => m,
        };
        let measurements = self.measurement_scans(&self.measurements, self.cond.clone());
        let outs = match &self.inner {
            Some(series) => vec![ShardOut::Scan(self.scan_inner(
                series,
                measurements,
                mode,
            )?)],
            None => {
                let wait = dispatch::watermarks(reader, &self.shards, ctx.read_your_writes).await?;
                let range = (self.min, self.max);
                let mut limits = ScanLimits::of(ctx);
                self.scan_shards(reader, &wait, measurements, range, mode, &mut limits)
                    .await?
            }
        };
        self.merge_and_finish(outs)
    }

    fn measurement_scans(&self, names: &[String], cond: Option<Ex>) -> Vec<MeasurementScan> {
        names
            .iter()
            .map(|m| MeasurementScan {
                name: m.clone(),
                cols: self.cols.clone(),
                cond: cond.clone(),
                present: self.present.clone(),
            })
            .collect()
    }

    /// Whether [`Self::execute_paged`] can answer: raw rows from shards,
    /// with no transformation that needs a whole series at once.
    pub fn pages(&self) -> bool {
        self.calls.is_none()
            && self.inner.is_none()
            && !self
                .outs
                .iter()
                .any(|o| matches!(o, OutExpr::Transform { .. }))
    }

    /// Runs a raw query for a chunked answer, sending its series in pieces
    /// of at most `page` rows as they are final. Groups (output series) are
    /// read one after the other in answer order, each from every shard
    /// `page` rows per shard at a time, so memory is bounded by the page
    /// size rather than by the answer. Stops early when the receiver is
    /// gone (the client went away).
    pub async fn execute_paged(
        &self,
        reader: &dyn ShardReader,
        ctx: &QueryContext,
        page: usize,
        tx: &tokio::sync::mpsc::Sender<Series>,
    ) -> Result<(), QueryError> {
        if self.measurements.is_empty() || self.shards.is_empty() {
            return Ok(());
        }
        let page = page.max(1);
        let wait = dispatch::watermarks(reader, &self.shards, ctx.read_your_writes).await?;
        let all = self.measurement_scans(&self.measurements, self.cond.clone());
        let range = (self.min, self.max);
        let outs = self
            .scan_shards(
                reader,
                &wait,
                all,
                range,
                ScanMode::Groups,
                &mut ScanLimits::of(ctx),
            )
            .await?;
        let groups: BTreeSet<(String, Vec<String>)> = outs
            .into_iter()
            .filter_map(|o| match o {
                ShardOut::Scan(r) => Some(r.groups),
                _ => None,
            })
            .flatten()
            .map(|g| (g.measurement, g.key))
            .collect();
        // SLIMIT/SOFFSET count, in ascending order, the series that have
        // rows left after OFFSET, as `merge_and_finish` does; a listed
        // group may have none in the time range.
        let mut groups: Vec<_> = groups.into_iter().collect();
        if self.slimit > 0 || self.soffset > 0 {
            let take = if self.slimit > 0 {
                self.slimit as usize
            } else {
                usize::MAX
            };
            let mut kept = Vec::new();
            let mut seen = 0;
            for g in groups {
                if kept.len() >= take {
                    break;
                }
                if self.has_rows_past_offset(reader, &wait, &g).await? {
                    if seen >= self.soffset {
                        kept.push(g);
                    }
                    seen += 1;
                }
            }
            groups = kept;
        }
        if self.desc {
            groups.reverse();
        }
        let columns: Vec<String> = std::iter::once("time".to_owned())
            .chain(self.columns.iter().cloned())
            .collect();
        // The series were counted by the groups pass; points add up over
        // the pages.
        let mut limits = ScanLimits {
            series: 0,
            ..ScanLimits::of(ctx)
        };
        for (name, key) in groups {
            let scans = self.measurement_scans(std::slice::from_ref(&name), self.group_cond(&key));
            let tags: BTreeMap<String, String> = self.group_by.iter().cloned().zip(key).collect();
            let (mut lo, mut hi) = range;
            let mut skip = self.offset as usize;
            let mut left = if self.limit > 0 {
                self.limit as usize
            } else {
                usize::MAX
            };
            // Grows while one timestamp holds more rows than a page.
            let mut stall = 1usize;
            while left > 0 {
                let want = page.min(left.saturating_add(skip)).saturating_mul(stall);
                let mode = ScanMode::Raw {
                    limit: Some(want as u64),
                    desc: self.desc,
                };
                let outs = self
                    .scan_shards(reader, &wait, scans.clone(), (lo, hi), mode, &mut limits)
                    .await?;
                let mut rows = Vec::new();
                // The nearest last time among shards that may have more.
                let mut frontier: Option<i64> = None;
                for o in outs {
                    let ShardOut::Scan(resp) = o else { continue };
                    for g in resp.groups {
                        let GroupBody::Raw { series, rows: r } = g.body else {
                            continue;
                        };
                        if let Some(edge) = r.last().filter(|_| r.len() >= want).map(|r| r.time) {
                            frontier = Some(match frontier {
                                Some(f) if self.desc => f.max(edge),
                                Some(f) => f.min(edge),
                                None => edge,
                            });
                        }
                        rows.extend(
                            r.into_iter()
                                .map(|r| (r.time, series[r.series as usize].clone(), r.vals)),
                        );
                    }
                }
                if let Some(f) = frontier {
                    // A shard may have more rows at the frontier's time:
                    // they all come with the next page.
                    rows.retain(|r| if self.desc { r.0 > f } else { r.0 < f });
                    if rows.is_empty() {
                        stall = stall.saturating_mul(2);
                        continue;
                    }
                    if self.desc {
                        hi = f;
                    } else {
                        lo = f;
                    }
                }
                stall = 1;
                let mut values = self.raw_rows(rows)?;
                let skipped = skip.min(values.len());
                values.drain(..skipped);
                skip -= skipped;
                values.truncate(left);
                left -= values.len();
                let mut values = values.into_iter().peekable();
                while values.peek().is_some() {
                    let piece = Series {
                        name: name.clone(),
                        tags: tags.clone(),
                        columns: columns.clone(),
                        values: values.by_ref().take(page).collect(),
                        partial: false,
                    };
                    if tx.send(piece).await.is_err() {
                        return Ok(());
                    }
                }
                if frontier.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Whether a group has more rows than the statement's OFFSET skips.
    async fn has_rows_past_offset(
        &self,
        reader: &dyn ShardReader,
        wait: &HashMap<ShardId, i64>,
        (name, key): &(String, Vec<String>),
    ) -> Result<bool, QueryError> {
        let scans = self.measurement_scans(std::slice::from_ref(name), self.group_cond(key));
        let mode = ScanMode::Raw {
            limit: Some(self.offset + 1),
            desc: false,
        };
        let outs = self
            .scan_shards(
                reader,
                wait,
                scans,
                (self.min, self.max),
                mode,
                &mut ScanLimits::default(),
            )
            .await?;
        let rows: usize = outs
            .iter()
            .filter_map(|o| match o {
                ShardOut::Scan(r) => Some(&r.groups),
                _ => None,
            })
            .flatten()
            .map(|g| match &g.body {
                GroupBody::Raw { rows, .. } => rows.len(),
                GroupBody::Agg(_) => 0,
            })
            .sum();
        Ok(rows as u64 > self.offset)
    }

    /// The condition narrowed to the series of one group.
    fn group_cond(&self, key: &[String]) -> Option<Ex> {
        self.group_by
            .iter()
            .zip(key)
            .fold(self.cond.clone(), |c, (k, v)| {
                let eq = Ex::Bin(
                    Op::Eq,
                    Box::new(Ex::Tag(k.clone())),
                    Box::new(Ex::Lit(Some(Val::Str(v.clone())))),
                );
                Some(match c {
                    Some(c) => Ex::Bin(Op::And, Box::new(c), Box::new(eq)),
                    None => eq,
                })
            })
    }

    async fn scan_shards(
        &self,
        reader: &dyn ShardReader,
        wait: &HashMap<ShardId, i64>,
        measurements: Vec<MeasurementScan>,
        (min_time, max_time): (i64, i64),
        mode: ScanMode,
        limits: &mut ScanLimits,
    ) -> Result<Vec<ShardOut>, QueryError> {
        let (max_series, max_points) = (limits.series, limits.points);
        let md = reader.meta();
        let calls: Vec<(MetaShard, ShardOp)> = self
            .shards
            .iter()
            .map(|(_, s)| {
                (
                    s.clone(),
                    ShardOp::Scan(ScanRequest {
                        shard_id: s.id,
                        wait_offset: None,
                        min_time,
                        max_time,
                        group_by: self.group_by.clone(),
                        window: self.window,
                        measurements: measurements.clone(),
                        mode: mode.clone(),
                        max_series,
                        max_points,
                    }),
                )
            })
            .collect();
        let outs = dispatch::call_all(reader, &md, calls, wait).await?;
        // InfluxDB's max-select-series and max-select-point, over every shard.
        let (series, points) = outs.iter().fold((0, 0), |(series, points), o| match o {
            ShardOut::Scan(r) => (series + r.series, points + r.points),
            _ => (series, points),
        });
        limits.points_read += points;
        let points = limits.points_read;
        if max_series > 0 && series > max_series as u64 {
            return Err(QueryError::TooManySeries {
                series,
                limit: max_series,
            });
        }
        if max_points > 0 && points > max_points {
            return Err(QueryError::TooManyPoints {
                points,
                limit: max_points,
            });
        }
        Ok(outs)
    }
}

/// The `[coordinator]` limits a statement's scans enforce (0: none), and
/// what they have read towards them.
#[derive(Debug, Clone, Copy, Default)]
struct ScanLimits {
    /// `max-select-series`.
    series: usize,
    /// `max-select-point`, over every scan of the statement.
    points: u64,
    /// Points the statement's scans have read so far.
    points_read: u64,
}

impl ScanLimits {
    fn of(ctx: &QueryContext) -> Self {
        Self {
            series: ctx.max_select_series,
            points: ctx.max_select_point,
            points_read: 0,
        }
    }
}
