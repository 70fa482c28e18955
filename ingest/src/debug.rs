//! `/debug/vars`: a node's metrics in the shape of InfluxDB's expvar
//! endpoint, so that tools reading InfluxDB's (Telegraf's `influxdb` input,
//! dashboards built on it) read Sluice's too.
//!
//! InfluxDB's answer is one JSON object: `cmdline`, `memstats` (Go's), and
//! one entry per statistic, `{"name": ..., "tags": {...}, "values": {...}}`.
//! Here each Prometheus sample is such an entry: its metric name, its
//! labels (plus the node's id) as tags, and its value as `value`
//! (histograms: `count` and `sum`). There are no Go `memstats`, and no
//! `cmdline`: a flag such as `--shared-secret` would show there, and the
//! endpoint is open unless `pprof-auth-enabled`.

use prometheus::proto::{MetricFamily, MetricType};
use serde_json::{json, Map, Value};

/// The expvar document of `families` for node `node_id`.
pub fn vars(families: &[MetricFamily], node_id: u64) -> Value {
    let mut out = Map::new();
    for family in families {
        let name = family.name();
        for m in family.get_metric() {
            let mut tags = Map::new();
            tags.insert("node_id".into(), Value::from(node_id.to_string()));
            for l in m.get_label() {
                tags.insert(l.name().to_owned(), Value::from(l.value()));
            }
            let values = match family.get_field_type() {
                MetricType::COUNTER => json!({ "value": m.get_counter().get_value() }),
                MetricType::GAUGE => json!({ "value": m.get_gauge().get_value() }),
                MetricType::HISTOGRAM => {
                    let h = m.get_histogram();
                    json!({ "count": h.get_sample_count(), "sum": h.get_sample_sum() })
                }
                MetricType::SUMMARY => {
                    let s = m.get_summary();
                    json!({ "count": s.sample_count(), "sum": s.sample_sum() })
                }
                // Sluice registers none.
                MetricType::UNTYPED => continue,
            };
            // Keys are unique per series, as InfluxDB's are per statistic.
            let key = std::iter::once(name.to_owned())
                .chain(
                    m.get_label()
                        .iter()
                        .map(|l| format!("{}={}", l.name(), l.value())),
                )
                .collect::<Vec<_>>()
                .join(",");
            out.insert(key, json!({ "name": name, "tags": tags, "values": values }));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use prometheus::{IntCounterVec, Opts, Registry};

    use super::*;

    #[test]
    fn one_entry_per_series_with_labels_as_tags() {
        let r = Registry::new();
        let c = IntCounterVec::new(Opts::new("points_total", "h"), &["db"]).unwrap();
        r.register(Box::new(c.clone())).unwrap();
        c.with_label_values(&["a"]).inc_by(3);
        c.with_label_values(&["b"]).inc();
        let v = vars(&r.gather(), 7);
        assert_eq!(
            v["points_total,db=a"],
            json!({"name": "points_total", "tags": {"node_id": "7", "db": "a"}, "values": {"value": 3.0}})
        );
        assert_eq!(v["points_total,db=b"]["values"]["value"], 1.0);
        assert_eq!(v.as_object().unwrap().len(), 2);
    }
}
