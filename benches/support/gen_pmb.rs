//! Writes N PMB bulletin displays modelled on the seed bulletin, 1,000 per file, into DIR:
//! each with its own bulletin id, numbering and title.
//!
//! Usage: `cargo run --release --example gen_pmb -- 100000 target/bench-pmb/input`

use std::io::Write;

const SEED: &str = include_str!("../../tests/fixtures/pmb/bulletin-44933-seed.txt");

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = std::path::PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/bench-pmb/input".into()),
    );
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = None;
    for i in 0..n {
        if i % 1000 == 0 {
            let path = dir.join(format!("bulletins-{:04}.txt", i / 1000));
            file = Some(std::io::BufWriter::new(
                std::fs::File::create(path).unwrap(),
            ));
        }
        let id = 100_000 + i;
        let text = SEED
            .replace("id=44933", &format!("id={id}"))
            .replace("< 79/93 >", &format!("< {}/{} >", i % 97, i / 97))
            .replace(
                "NTIC et travail social",
                &format!("NTIC et travail social ({i})"),
            );
        file.as_mut().unwrap().write_all(text.as_bytes()).unwrap();
    }
}
