//! A keep-alive OAI-PMH client that harvests a whole ListRecords list as fast as it can and
//! reports records/s, then measures the latency of the first page and of a deep page.
//!
//! Usage: `cargo run --release --example harvest_client -- http://127.0.0.1:8080/oai [DEEP_PAGE] [REPEAT]`
//! Prints one JSON object. Responses are asked for uncompressed unless `BENCH_GZIP=1`.

use std::time::{Duration, Instant};

fn token(body: &str) -> Option<String> {
    let start = body.find("<resumptionToken")?;
    let rest = &body[start..];
    let gt = rest.find('>')?;
    if rest[..gt].ends_with('/') {
        return None;
    }
    let end = rest.find("</resumptionToken>")?;
    let t = &rest[gt + 1..end];
    (!t.trim().is_empty()).then(|| t.to_owned())
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

#[allow(clippy::cast_precision_loss)] // Rates for a report.
fn main() {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080/oai".into());
    let deep: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(9000);
    let repeat: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let gzip = std::env::var("BENCH_GZIP").is_ok_and(|v| v == "1");
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .gzip(gzip)
        .deflate(false)
        .build()
        .unwrap();
    let first_url = format!("{base}?verb=ListRecords&metadataPrefix=oai_dc");
    let started = Instant::now();
    let mut url = first_url.clone();
    let mut records = 0usize;
    let mut pages = 0usize;
    let mut bytes = 0usize;
    let mut deep_url = None;
    loop {
        let body = client.get(&url).send().unwrap().text().unwrap();
        pages += 1;
        bytes += body.len();
        records += body.matches("<record>").count();
        match token(&body) {
            Some(t) => {
                url = format!("{base}?verb=ListRecords&resumptionToken={t}");
                if pages + 1 == deep {
                    deep_url = Some(url.clone());
                }
            }
            None => break,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let time = |u: &str| {
        (0..repeat)
            .map(|_| {
                let t = Instant::now();
                let body = client.get(u).send().unwrap().text().unwrap();
                assert!(body.contains("<record>"));
                t.elapsed()
            })
            .collect::<Vec<_>>()
    };
    let first_ms = median(time(&first_url));
    let deep_ms = deep_url.as_deref().map(|u| median(time(u)));
    println!(
        "{}",
        serde_json::json!({
            "gzip": gzip,
            "records": records,
            "pages": pages,
            "megabytes": bytes / 1_000_000,
            "seconds": secs,
            "records_per_second": (records as f64 / secs).round(),
            "first_page_median_ms": first_ms,
            "deep_page": deep,
            "deep_page_median_ms": deep_ms,
        })
    );
}
