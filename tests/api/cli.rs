//! The `moisson` binary itself: exit codes, messages, import/export, serve and SIGTERM.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use moisson::store::Store;

fn moisson(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moisson"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("MOISSON_ADMIN_TOKEN")
        .output()
        .expect("Failed to run moisson.")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_bad_line_is_reported_with_its_number_and_the_rest_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let good = dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        "{\"id\":\"oai:x:0\",\"dc\":{\"title\":\"before\"}}\n",
    )
    .unwrap();
    assert!(moisson(&data, &["import", "dc", good.to_str().unwrap()])
        .status
        .success());

    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"id\":\"oai:x:1\",\"dc\":{\"title\":\"one\"}}\n",
            "\n",
            "{\"id\":\"oai:x:2\",\"dc\":{\"title\":\n",
            "{\"id\":\"not an id\",\"dc\":{\"title\":\"x\"}}\n",
            "{\"id\":\"oai:x:3\",\"datestamp\":\"2017-06-01T00:00:00Z\",\"dc\":{\"title\":\"three\"}}\n",
        ),
    )
    .unwrap();
    let out = moisson(&data, &["import", "dc", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("in.jsonl:3: not JSON"), "{err}");
    assert!(
        err.contains("in.jsonl:4: \"not an id\" is not a valid identifier"),
        "{err}"
    );
    assert!(
        err.contains("added 2") && err.contains("rejected 2"),
        "{err}"
    );
    let store = Store::open(&data, 8 << 20).unwrap();
    assert_eq!(store.stats().unwrap().records, 3);
    assert!(
        store.get("oai:x:0").unwrap().is_some(),
        "what was stored before stays"
    );
}

#[test]
fn given_datestamps_are_kept_only_when_loading_a_new_store_and_never_in_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"id\":\"oai:x:3\",\"datestamp\":\"2017-06-01T00:00:00Z\",\"dc\":{\"title\":\"three\"}}\n",
            "{\"id\":\"oai:x:4\",\"datestamp\":\"2999-01-01T00:00:00Z\",\"dc\":{\"title\":\"four\"}}\n",
        ),
    )
    .unwrap();
    let started = chrono::Utc::now().timestamp();
    // A store that is not new: given datestamps are not kept, the record is stamped now.
    let data = dir.path().join("store");
    let out = moisson(&data, &["import", "dc", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("in.jsonl:2: datestamp 2999-01-01T00:00:00Z is in the future"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("1 given datestamps not kept"),
        "{}",
        stderr(&out)
    );
    let store = Store::open(&data, 8 << 20).unwrap();
    assert!(store.get("oai:x:3").unwrap().unwrap().datestamp >= started);
    assert!(store.get("oai:x:4").unwrap().is_none());
    drop(store);

    // Loading a new store: kept; the future one is still refused.
    let fresh = dir.path().join("fresh");
    let out = moisson(
        &fresh,
        &["import", "dc", "--keep-datestamps", input.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let store = Store::open(&fresh, 8 << 20).unwrap();
    assert_eq!(
        store.get("oai:x:3").unwrap().unwrap().datestamp,
        1_496_275_200
    );
    assert!(store.get("oai:x:4").unwrap().is_none());
    drop(store);

    // A store that has been served refuses them.
    drop(ServeProcess::start(&fresh));
    let out = moisson(
        &fresh,
        &["import", "dc", "--keep-datestamps", input.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("has been served"), "{}", stderr(&out));
}

#[test]
fn export_then_import_into_an_empty_store_then_export_is_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let input = dir.path().join("in.jsonl");
    let demo = include_str!("../../src/demo/records.jsonl");
    let extra = "{\"id\":\"oai:x:local\",\"datestamp\":\"2001-01-01T00:00:00Z\",\"dc\":{\"title\":\"t\"},\"local\":[[\"Role\",\"Préfacier\"]]}\n";
    std::fs::write(&input, format!("{demo}{extra}")).unwrap();
    assert!(moisson(
        &a,
        &["import", "dc", "--keep-datestamps", input.to_str().unwrap()]
    )
    .status
    .success());
    let first = moisson(&a, &["export"]);
    assert!(first.status.success());
    let exported = dir.path().join("export.jsonl");
    std::fs::write(&exported, &first.stdout).unwrap();
    assert!(moisson(
        &b,
        &[
            "import",
            "dc",
            "--keep-datestamps",
            exported.to_str().unwrap()
        ]
    )
    .status
    .success());
    let second = moisson(&b, &["export"]);
    assert!(second.status.success());
    assert!(!first.stdout.is_empty());
    assert_eq!(
        String::from_utf8(first.stdout).unwrap(),
        String::from_utf8(second.stdout).unwrap()
    );
}

#[test]
fn import_reads_standard_input_and_stats_counts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let mut child = Command::new(env!("CARGO_BIN_EXE_moisson"))
        .arg("--data")
        .arg(&data)
        .args(["import", "dc", "--keep-datestamps", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"id\":\"oai:x:1\",\"datestamp\":\"2010-01-01T00:00:00Z\",\"sets\":[\"a:b\"],\"dc\":{\"title\":\"t\"}}\n{\"id\":\"oai:x:2\",\"datestamp\":\"2012-01-01T00:00:00Z\",\"deleted\":true}\n",
        )
        .unwrap();
    assert!(child.wait().unwrap().success());
    let out = moisson(&data, &["stats"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("records:  2"), "{text}");
    assert!(text.contains("deleted:  1"), "{text}");
    assert!(text.contains("sets:     2"), "{text}");
    assert!(text.contains("earliest: 2010-01-01T00:00:00Z"), "{text}");
    assert!(text.contains("latest:   2012-01-01T00:00:00Z"), "{text}");
}

#[test]
fn other_commands_say_clearly_when_the_store_is_held_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let server = ServeProcess::start(&data);
    for command in ["stats", "export", "check", "compact"] {
        let out = moisson(&data, &[command]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{command}: {text}");
        assert!(text.contains("in use by another process"), "{text}");
        assert!(
            text.contains(&format!("stop it to run `moisson {command}`")),
            "{text}"
        );
        assert_eq!(
            text.matches("in use").count(),
            1,
            "said once, not twice: {text}"
        );
    }
    // Without an admin token the import cannot be handed over; that is said once.
    let display = dir.path().join("bulletin.txt");
    std::fs::write(&display, "Titre : | Un titre\n").unwrap();
    let out = moisson(&data, &["import", "pmb", display.to_str().unwrap()]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert_eq!(text.matches("in use").count(), 1, "{text}");
    assert!(text.contains("same admin token"), "{text}");
    drop(server);
}

#[test]
fn a_file_not_of_the_format_is_refused_before_the_store_is_opened_or_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let readme = dir.path().join("README.md");
    std::fs::write(&readme, "# A project\n\nSome text.\n").unwrap();
    // No store yet: none is created for a wrong file.
    let fresh = dir.path().join("fresh");
    for format in ["pmb", "unimarc"] {
        let out = moisson(&fresh, &["import", format, readme.to_str().unwrap()]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{format}: {text}");
        assert!(text.contains("README.md: not "), "{text}");
        assert!(text.contains("rejected 1"), "{text}");
        assert!(!fresh.exists(), "{format} created a store for a wrong file");
    }
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    for format in ["dc", "pmb", "unimarc"] {
        let out = moisson(&fresh, &["import", format, empty.to_str().unwrap()]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{format}: {text}");
        assert!(text.contains("nothing to import"), "{text}");
        assert!(
            !fresh.exists(),
            "{format} created a store for an empty file"
        );
    }
    // A served store, and no admin token: the file is still judged first.
    let data = dir.path().join("store");
    let server = ServeProcess::start(&data);
    for format in ["pmb", "unimarc"] {
        let out = moisson(&data, &["import", format, readme.to_str().unwrap()]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{format}: {text}");
        assert!(!text.contains("in use"), "{text}");
    }
    for format in ["dc", "pmb", "unimarc"] {
        let out = moisson(&data, &["import", format, empty.to_str().unwrap()]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{format}: {text}");
        assert!(!text.contains("in use"), "{text}");
    }
    drop(server);
}

#[test]
fn a_large_binary_file_is_refused_from_its_first_bytes_before_any_store_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(moisson::importer::JUDGE_BYTES * 3, 0);
    std::fs::write(&image, bytes).unwrap();
    let fresh = dir.path().join("fresh");
    for (format, says) in [
        ("pmb", "NUL byte at byte offset 8"),
        ("unimarc", "a PNG image"),
    ] {
        let out = moisson(&fresh, &["import", format, image.to_str().unwrap()]);
        let text = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{format}: {text}");
        assert!(text.contains(says), "{text}");
        assert!(text.contains("rejected 1"), "{text}");
        assert!(
            !fresh.exists(),
            "{format} created a store for a binary file"
        );
    }
}

#[test]
fn a_large_text_file_of_another_format_leaves_no_store_behind() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    let line = "These are notes, not a catalogue display: no field label here.\n";
    let text = line.repeat(moisson::importer::JUDGE_BYTES / line.len() * 2);
    std::fs::write(&notes, text).unwrap();
    let fresh = dir.path().join("fresh");
    let out = moisson(&fresh, &["import", "pmb", notes.to_str().unwrap()]);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("not a PMB display"), "{text}");
    assert!(
        !fresh.exists(),
        "a store was left for a file that is no display"
    );
    let kept = dir.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    std::fs::write(kept.join("mine.txt"), "x").unwrap();
    let out = moisson(&kept, &["import", "pmb", notes.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        kept.join("mine.txt").exists(),
        "a directory that was there is kept"
    );
}

#[test]
fn a_bad_configuration_is_refused_with_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("m.toml");
    std::fs::write(&cfg, "[server]\npage_sise = 5\n").unwrap();
    let out = moisson(dir.path(), &["--config", cfg.to_str().unwrap(), "stats"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("page_sise"), "{}", stderr(&out));
    let out = moisson(dir.path(), &["--config", "/nonexistent.toml", "stats"]);
    assert_eq!(out.status.code(), Some(3));
}

struct ServeProcess {
    child: std::process::Child,
    port: u16,
}

impl ServeProcess {
    fn start(data: &Path) -> ServeProcess {
        ServeProcess::start_with(data, &[])
    }

    #[allow(clippy::zombie_processes)] // Drop kills and waits for the child.
    fn start_with(data: &Path, env: &[(&str, &str)]) -> ServeProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_moisson"));
        command
            .arg("--data")
            .arg(data)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("MOISSON_LOG", "warn")
            .env_remove("MOISSON_ADMIN_TOKEN")
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "serve did not start");
            let line = lines.next().expect("serve exited early").unwrap();
            if let Some(rest) = line.split("listening on port ").nth(1) {
                let port = rest.split(';').next().unwrap().parse().unwrap();
                // Keep draining stderr so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return ServeProcess { child, port };
            }
        }
    }

    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_on_a_fresh_directory_serves_sample_records_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = ServeProcess::start(&data);
    let body = reqwest::blocking::get(format!(
        "http://127.0.0.1:{}/oai?verb=ListRecords&metadataPrefix=oai_dc",
        server.port
    ))
    .unwrap()
    .text()
    .unwrap();
    assert!(body.contains("<ListRecords>"), "{body}");
    assert!(body.contains("status=\"deleted\""));
    let status = server.stop();
    assert!(
        status.success(),
        "graceful shutdown exits 0, got {status:?}"
    );
    // The store was released and is intact.
    let store = Store::open(&data, 8 << 20).unwrap();
    assert!(store.check().unwrap().is_empty());
}

/// Kills a writer process with SIGKILL at several moments mid-load, then checks on reopen that
/// every index entry points to its record and every record is indexed.
#[test]
fn a_writer_killed_mid_load_never_leaves_a_half_written_record() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..60_000 {
            let sets = if i % 3 == 0 {
                "[\"a:b\",\"c\"]"
            } else {
                "[\"c\"]"
            };
            writeln!(
                f,
                "{{\"id\":\"oai:x:{i}\",\"datestamp\":\"2020-01-01T00:00:00Z\",\"sets\":{sets},\"dc\":{{\"title\":[\"Record {i}\"],\"description\":[\"{}\"]}}}}",
                "lorem ipsum ".repeat(20)
            )
            .unwrap();
        }
    }
    let data = dir.path().join("store");
    for (round, delay_ms) in [1500u64, 2500, 3500].into_iter().enumerate() {
        let finished = kill_after(&data, &["import", "dc", input.to_str().unwrap()], delay_ms);
        let store = Store::open(&data, 8 << 20).unwrap();
        let problems = store.check().unwrap();
        assert!(problems.is_empty(), "round {round}: {problems:?}");
        let n = store.stats().unwrap().records;
        assert!(
            n > 0,
            "round {round}: the writer wrote nothing before it was killed"
        );
        if !finished {
            eprintln!(
                "round {round}: killed after {delay_ms} ms with {n} records stored, all consistent"
            );
        }
    }
}

#[test]
fn check_finds_a_broken_index_and_repair_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        concat!(
            "{\"id\":\"oai:x:1\",\"datestamp\":\"2020-01-01T00:00:00Z\",\"sets\":[\"a:b\"],\"dc\":{\"title\":\"one\"}}\n",
            "{\"id\":\"oai:x:2\",\"datestamp\":\"2020-01-02T00:00:00Z\",\"sets\":[\"a\"],\"dc\":{\"title\":\"two\"}}\n",
        ),
    )
    .unwrap();
    assert!(moisson(&data, &["import", "dc", input.to_str().unwrap()])
        .status
        .success());
    assert!(moisson(&data, &["check"]).status.success());
    {
        // Break the indexes behind the store's back: lose the identifier map, add a stray set
        // list entry, and change a list-size counter.
        let db = sled::open(&data).unwrap();
        db.open_tree("ids.1").unwrap().clear().unwrap();
        let lists = db.open_tree("lists.1").unwrap();
        let mut key = b"zzz\0".to_vec();
        key.extend_from_slice(&999u64.to_be_bytes());
        lists.insert(key, &[0u8][..]).unwrap();
        let counts = db.open_tree("counts.1").unwrap();
        let (key, _) = counts.iter().next().unwrap().unwrap();
        counts.insert(key, &999i64.to_le_bytes()).unwrap();
        db.flush().unwrap();
    }
    let out = moisson(&data, &["check"]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("record oai:x:1 (#0) is not in the identifier map"),
        "{text}"
    );
    assert!(text.contains("points to no record"), "{text}");
    assert!(text.contains("list-size counters are wrong"), "{text}");

    let repaired = moisson(&data, &["check", "--repair"]);
    assert!(
        repaired.status.success(),
        "{}",
        String::from_utf8_lossy(&repaired.stdout)
    );
    let again = moisson(&data, &["check"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let store = Store::open(&data, 8 << 20).unwrap();
    assert!(store.rendered("oai:x:1", "oai_dc").unwrap().is_some());
}

#[test]
fn command_line_errors_exit_3_and_help_and_version_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--bogus"][..],
        &["import"],
        &["import", "dc"],
        &["harvest", "--from"],
        &["serve", "--nope"],
        &[],
    ] {
        let out = moisson(dir.path(), args);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
    }
    for args in [&["--help"][..], &["--version"], &["import", "dc", "--help"]] {
        let out = moisson(dir.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn a_configuration_error_is_printed_once_without_an_internal_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("m.toml");
    std::fs::write(&cfg, "[server]\npage_sise = 5\n").unwrap();
    let out = moisson(dir.path(), &["--config", cfg.to_str().unwrap(), "stats"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(err.matches("unknown field").count(), 1, "{err}");
    assert!(!err.contains("default."), "{err}");
    assert!(
        err.contains("server.page_sise") && err.contains("m.toml"),
        "{err}"
    );
}

/// Runs `moisson ARGS 2>&1 | head -1` in bash and returns moisson's own exit code and what
/// reached the pipe.
fn through_head(data: &Path, args: &str) -> (i32, String) {
    let script = format!(
        "'{}' --data '{}' {args} 2>&1 | head -1; exit ${{PIPESTATUS[0]}}",
        env!("CARGO_BIN_EXE_moisson"),
        data.display()
    );
    let out = Command::new("bash")
        .args(["-c", &script])
        .env_remove("MOISSON_ADMIN_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_closed_pipe_ends_a_command_quietly_with_a_sensible_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let bad = dir.path().join("bad.jsonl");
    let mut lines = String::new();
    for i in 0..20_000 {
        writeln!(lines, "{{\"id\":\"not an id {i}\"}}").unwrap();
    }
    lines.push_str("{\"id\":\"oai:x:1\",\"dc\":{\"title\":\"kept\"}}\n");
    std::fs::write(&bad, lines).unwrap();
    let (code, first) = through_head(&data, &format!("import dc '{}'", bad.display()));
    assert_eq!(code, 2, "rejected lines, not a panic: {first}");
    assert!(first.contains("bad.jsonl:1:"), "{first}");
    // The import went on to the end although nobody read its messages.
    let store = Store::open(&data, 8 << 20).unwrap();
    assert!(store.get("oai:x:1").unwrap().is_some());
    drop(store);
    let good = dir.path().join("good.jsonl");
    let mut many = String::new();
    for i in 0..5000 {
        writeln!(many, "{{\"id\":\"oai:x:{i}\",\"dc\":{{\"title\":\"t\"}}}}").unwrap();
    }
    std::fs::write(&good, many).unwrap();
    assert!(moisson(&data, &["import", "dc", good.to_str().unwrap()])
        .status
        .success());
    let (code, first) = through_head(&data, "export");
    assert_eq!(code, 0, "{first}");
    assert!(first.starts_with('{'), "{first}");
    let (code, _) = through_head(&data, "stats");
    assert_eq!(code, 0);
}

#[test]
fn a_binary_or_empty_file_or_one_that_is_not_json_lines_is_refused_once_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let png = dir.path().join("logo.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..4000u32).map(|i| u8::try_from(i * 7 % 256).unwrap()));
    bytes.extend(b"\n".repeat(300));
    std::fs::write(&png, &bytes).unwrap();
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    for file in [png.as_path(), readme.as_path()] {
        let out = moisson(&data, &["import", "dc", file.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "refused once: {err}");
        assert!(err.contains(file.to_str().unwrap()), "{err}");
        assert!(err.contains("nothing imported"), "{err}");
        assert!(!data.exists(), "a refused file creates no store");
    }
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    let out = moisson(&data, &["import", "dc", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to import"),
        "{}",
        stderr(&out)
    );
    let missing = dir.path().join("missing.jsonl");
    let out = moisson(&data, &["import", "dc", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
}

#[test]
fn serve_checks_its_address_before_it_creates_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap().to_string();
    for bind in ["not-an-address", taken.as_str()] {
        let out = moisson(&data, &["serve", "--bind", bind]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains(bind), "{}", stderr(&out));
        assert!(
            !data.exists(),
            "serve created a store before binding {bind}"
        );
    }
}

#[test]
fn imports_find_the_server_at_the_address_it_recorded_whatever_its_bind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let server = ServeProcess::start_with(&data, &[("MOISSON_ADMIN_TOKEN", "tok")]);
    let recorded = std::fs::read_to_string(data.join("moisson-serve.address")).unwrap();
    assert_eq!(recorded.trim(), format!("http://127.0.0.1:{}", server.port));
    let lines = dir.path().join("in.jsonl");
    std::fs::write(
        &lines,
        "{\"id\":\"oai:x:handed\",\"dc\":{\"title\":\"h\"}}\n",
    )
    .unwrap();
    let seed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pmb/bulletin-44933-seed.txt");
    for args in [
        vec!["import", "dc", lines.to_str().unwrap()],
        vec!["import", "pmb", seed.to_str().unwrap()],
        vec!["import", "pmb", "--strict", seed.to_str().unwrap()],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_moisson"))
            .arg("--data")
            .arg(&data)
            .args(&args)
            .env("MOISSON_ADMIN_TOKEN", "tok")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("added 1,") || stderr(&out).contains("unchanged 1"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let body = reqwest::blocking::get(format!(
        "http://127.0.0.1:{}/oai?verb=ListIdentifiers&metadataPrefix=oai_dc&set=lang:fre",
        server.port
    ))
    .unwrap()
    .text()
    .unwrap();
    assert!(body.contains("bulletin/44933"), "{body}");
    let status = server.stop();
    assert!(status.success());
    assert!(
        !data.join("moisson-serve.address").exists(),
        "removed on shutdown"
    );
}

#[test]
fn commands_that_read_a_store_refuse_a_directory_that_is_not_one_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("README.md"), "# notes\n").unwrap();
    for command in ["stats", "export", "check", "compact", "upgrade"] {
        let out = moisson(&notes, &[command]);
        let text = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{command}: {text}");
        assert!(text.contains("no store at"), "{command}: {text}");
        let entries: Vec<_> = std::fs::read_dir(&notes).unwrap().collect();
        assert_eq!(
            entries.len(),
            1,
            "{command} wrote into a directory that is not a store"
        );
    }
}

/// Runs `moisson --data DATA ARGS`, kills it with SIGKILL after `delay_ms` unless it ended
/// before; returns whether it had ended.
fn kill_after(data: &Path, args: &[&str], delay_ms: u64) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moisson"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(delay_ms));
    let finished = child.try_wait().unwrap().is_some();
    child.kill().unwrap_or_default();
    child.wait().unwrap();
    finished
}

/// A store in `dir/store` that imported `records` JSON Lines (`line(round, i)`) `rounds`
/// times: every round after the first changes every record.
fn churned_store(
    dir: &Path,
    rounds: usize,
    records: usize,
    line: impl Fn(usize, usize) -> String,
) -> PathBuf {
    let data = dir.join("store");
    let input = dir.join("in.jsonl");
    for round in 0..rounds {
        let lines: String = (0..records).map(|i| line(round, i) + "\n").collect();
        std::fs::write(&input, lines).unwrap();
        let out = moisson(&data, &["import", "dc", input.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    data
}

#[test]
fn compact_gives_back_sleds_space_and_the_store_exports_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let data = churned_store(dir.path(), 4, 300, |round, i| {
        format!("{{\"id\":\"oai:x:{i}\",\"sets\":[\"a:b\"],\"dc\":{{\"title\":\"round {round} {i}\"}}}}")
    });
    let before = moisson(&data, &["export"]).stdout;
    let out = moisson(&data, &["compact", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = &report["compaction"]["sled_files"];
    let (was, is) = (
        files["bytes_before"].as_u64().unwrap(),
        files["bytes_after"].as_u64().unwrap(),
    );
    assert!(is < was, "{report}");
    let out = moisson(&data, &["compact"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sled files: "), "{text}");
    assert_eq!(moisson(&data, &["export"]).stdout, before);
    let check = moisson(&data, &["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(!data.join(".index-new").exists());
}

/// Kills `moisson compact` with SIGKILL at several moments (opening, copying sled's trees,
/// swapping files, reopening), then checks that every command still reads the same
/// records, and that a last compact finishes.
#[test]
fn compact_killed_at_any_moment_leaves_a_store_that_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let data = churned_store(dir.path(), 3, 2000, |round, i| {
        format!(
            "{{\"id\":\"oai:x:{i}\",\"sets\":[\"s{}\"],\"dc\":{{\"title\":\"round {round} {i}\",\"description\":\"{}\"}}}}",
            i % 7,
            "lorem ipsum ".repeat(40)
        )
    });
    let before = moisson(&data, &["export"]).stdout;
    // Killed at fractions of how long a whole compact (of a store it already compacted:
    // sled's rewrite and swap, mostly) takes here.
    let started = Instant::now();
    let out = moisson(&data, &["compact"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let whole = started.elapsed().as_millis();
    for delay_ms in (1..=8).map(|i| u64::try_from(whole * i / 8).unwrap()) {
        let finished = kill_after(&data, &["compact"], delay_ms);
        let left: Vec<String> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".index"))
            .collect();
        eprintln!("killed after {delay_ms} ms (finished: {finished}), left {left:?}");
        let check = moisson(&data, &["check"]);
        assert!(check.status.success(), "{delay_ms} ms: {}", stderr(&check));
        assert!(
            moisson(&data, &["export"]).stdout == before,
            "{delay_ms} ms: the records changed"
        );
    }
    let out = moisson(&data, &["compact"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(moisson(&data, &["export"]).stdout == before);
}
