//! Reads one query per line on stdin and prints `OK <canonical text>`,
//! `ERR <parse error>` or `SELECTERR <validation error>` per line, worded as
//! InfluxDB 1.6 words them; used to compare with a reference influxd.

use std::io::BufRead;

fn main() {
    let now = 1_700_000_000_000_000_000;
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let q = line.replace("\\n", "\n");
        match influxql::parse_query_with_params(q.trim(), &Default::default()) {
            Ok(query) => {
                let err = query.statements.iter().find_map(|s| match s {
                    influxql::Statement::Select(sel) => {
                        influxql::select::compile_select(sel, now).err()
                    }
                    _ => None,
                });
                match err {
                    Some(e) => println!("SELECTERR {e}"),
                    None => println!("OK {}", query.to_string().replace('\n', "\\n")),
                }
            }
            Err(e) => println!("ERR {e}"),
        }
    }
}
