//! Writes N synthetic records as `moisson import dc` JSON Lines on stdout, about 3 KB of Dublin
//! Core each, spread over ten hierarchical sets and sixteen years of datestamps.
//!
//! Usage: `cargo run --release --example gen_records -- 1000000 > records.jsonl`; with
//! `GEN_NO_DATESTAMPS=1`, records carry no datestamp (the store stamps them as it loads them).

use std::io::{BufWriter, Write};

const WORDS: &[&str] = &[
    "bibliothèque",
    "archive",
    "collection",
    "périodique",
    "numérique",
    "patrimoine",
    "catalogue",
    "notice",
    "métadonnées",
    "moissonnage",
    "recherche",
    "université",
    "thèse",
    "revue",
    "histoire",
    "sociologie",
    "données",
    "ouverte",
    "science",
    "édition",
    "manuscrit",
    "carte",
    "image",
    "son",
];

fn words(seed: u64, n: usize) -> String {
    let mut x = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    let mut out = String::new();
    for i in 0..n {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[usize::try_from(x % WORDS.len() as u64).unwrap()]);
    }
    out
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let out = std::io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let base = 1_262_304_000i64; // 2010-01-01
    let span = 16 * 365 * 86_400i64;
    let stamped = std::env::var_os("GEN_NO_DATESTAMPS").is_none();
    for i in 0..n {
        let ii = i64::try_from(i).unwrap();
        let offset = (ii * 7919 + (ii % 97) * 86_400) % span;
        let d = chrono::DateTime::from_timestamp(base + offset, 0).unwrap();
        let set_a = format!("coll{}", i % 10);
        let set_b = format!("coll{}:sub{}", i % 10, i % 7);
        let mut line = serde_json::json!({
            "id": format!("oai:bench.example.org:{i:08}"),
            "datestamp": d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "sets": [set_a, set_b],
            "dc": {
                "title": [{"value": format!("{} {i}", words(i, 8)), "lang": "fr"}],
                "creator": [format!("Auteur {}", i % 5000), format!("Autrice {}", i % 3001)],
                "contributor": [format!("Directeur {}", i % 701)],
                "subject": (0..6).map(|k| serde_json::json!({"value": words(i * 10 + k, 2), "lang": "fr"})).collect::<Vec<_>>(),
                "description": [
                    {"value": words(i + 7, 180), "lang": "fr"},
                    {"value": words(i + 11, 120), "lang": "fr"}
                ],
                "publisher": ["Presses de l'université"],
                "date": [d.format("%Y").to_string()],
                "type": ["Text", {"value": "article", "lang": "fr"}],
                "format": ["application/pdf"],
                "identifier": [format!("https://bench.example.org/record/{i}"), format!("urn:nbn:bench-{i}")],
                "source": [format!("Revue de test, vol. {}, n° {}", i % 40, i % 12)],
                "language": ["fre"],
                "relation": ["Revue de test"],
                "rights": ["CC BY 4.0"]
            }
        });
        if !stamped {
            line.as_object_mut().unwrap().remove("datestamp");
        }
        serde_json::to_writer(&mut out, &line).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
}
