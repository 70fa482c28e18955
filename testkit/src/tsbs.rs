//! TSBS-shaped data (the Time Series Benchmark Suite's `cpu-only` use case):
//! one `cpu` measurement, ten tags per host, ten integer fields, 10 s apart.
//! Deterministic, so tests and benches see the same data on every run.

const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// Line protocol for `hosts` hosts × `times` intervals of 10 s from `t0`
/// (ns), time-major as TSBS writes it; values are integers in 0..100.
pub fn cpu_lines(hosts: usize, times: usize, t0: i64) -> String {
    let mut out = String::with_capacity(hosts * times * 330);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for t in 0..times {
        for h in 0..hosts {
            out += &format!(
                "cpu,hostname=host_{h},region=eu-west-1,datacenter=eu-west-1a,rack={},\
                 os=Ubuntu16.04LTS,arch=x64,team=NYC,service={},service_version=1,\
                 service_environment=production ",
                h % 7,
                h % 3
            );
            for (i, f) in FIELDS.iter().enumerate() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if i > 0 {
                    out.push(',');
                }
                out += &format!("{f}={}i", rng % 100);
            }
            out += &format!(" {}\n", t0 + t as i64 * 10_000_000_000);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_deterministic_and_shaped() {
        let a = super::cpu_lines(3, 2, 0);
        assert_eq!(a, super::cpu_lines(3, 2, 0));
        assert_eq!(a.lines().count(), 6);
        let first = a.lines().next().unwrap();
        assert!(first.starts_with("cpu,hostname=host_0,"));
        assert_eq!(first.split(' ').nth(1).unwrap().split(',').count(), 10);
        assert!(a.lines().last().unwrap().ends_with(" 10000000000"));
    }
}
