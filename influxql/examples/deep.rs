//! Measures how deep an `a OR b OR ...` chain each stage handles on a 2 MiB
//! thread stack (tokio's default for worker threads).
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let stage: String = std::env::args().nth(2).unwrap();
    let q = format!(
        "SELECT x FROM m WHERE {}",
        vec!["host = 'a'"; n].join(" OR ")
    );
    let h = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let t = std::time::Instant::now();
            let parsed = influxql::parse_query(&q).unwrap();
            println!("parsed {:?}", t.elapsed());
            if stage.contains('d') {
                let s = parsed.to_string();
                println!("displayed {} {:?}", s.len(), t.elapsed());
            }
            if stage.contains('c') {
                if let influxql::Statement::Select(sel) = &parsed.statements[0] {
                    let info = influxql::select::compile_select(sel, 0).unwrap();
                    println!("compiled {:?} {:?}", info.kind, t.elapsed());
                }
            }
            if stage.contains('x') {
                drop(parsed);
                println!("dropped");
            } else {
                std::mem::forget(parsed);
            }
        })
        .unwrap();
    h.join().unwrap();
}
