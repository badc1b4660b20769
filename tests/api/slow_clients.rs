//! Clients that never read, and clients that send their body a byte at a time: the server
//! closes their connections, keeps its memory bounded, and answers everyone else meanwhile.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::*;
use moisson::store::Store;

/// The value of an integer series in a `/metrics` exposition.
fn metric(exposition: &str, series: &str) -> u64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{exposition}"))
}

/// `n` records of about 5 KB each, so that a page of 100 is about 500 KB: more than the
/// kernel's socket buffers (4 MB on loopback) hold once a few are pipelined.
fn seed_large(app: &TestApp, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({
                "id": format!("oai:test:{i:04}"),
                "datestamp": "2020-01-01T00:00:00Z",
                "dc": {"title": [format!("Record {i}")], "description": ["x".repeat(5000)]},
            })
            .to_string()
        })
        .collect();
    app.seed(&lines.iter().map(String::as_str).collect::<Vec<_>>());
}

async fn metrics(app: &TestApp) -> String {
    app.path("/metrics").await.body
}

/// A connection with a small receive window, so that a response it does not read stays
/// in the server rather than in the kernel.
async fn small_window(app: &TestApp) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect(([127, 0, 0, 1], app.port).into())
        .await
        .unwrap()
}

/// A normal client's request, retried on 503 as a harvester does; how long it took.
async fn answered_in(app: &TestApp, query: &str) -> Duration {
    let started = Instant::now();
    loop {
        let answer = app.get(query).await;
        if answer.status == 200 {
            assert_valid(&answer.body);
            return started.elapsed();
        }
        assert_eq!(answer.status, 503, "{}", answer.body);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never answered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads until the server closes; true when it did within `within`.
async fn closed_by_server(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn clients_that_pipeline_lists_and_never_read_are_dropped_and_others_are_answered() {
    // 4 MiB of response buffer; pages of about 500 KB: a few non-readers fill it.
    let app = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.server.response_buffer_mb = 4;
        s.server.write_timeout_secs = 60;
        s.server.max_concurrent_lists = 64;
    })
    .await;
    seed_large(&app, 300);
    let request = "GET /oai?verb=ListRecords&metadataPrefix=oai_dc HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut idle = Vec::new();
    for _ in 0..24 {
        let mut conn = small_window(&app).await;
        conn.write_all(request.repeat(16).as_bytes()).await.unwrap();
        idle.push(conn);
    }
    let exposition = metrics(&app).await;
    assert!(
        metric(&exposition, "moisson_http_connections") >= 24,
        "{exposition}"
    );
    let mut most = 0u64;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let exposition = metrics(&app).await;
        most = most.max(metric(&exposition, "moisson_http_response_buffer_bytes"));
    }
    assert!(most <= 4 << 20, "{most} bytes buffered");
    // Everyone else is answered, while the non-readers are still connected.
    let took = answered_in(&app, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert!(took < Duration::from_secs(5), "ListRecords took {took:?}");
    let took = answered_in(
        &app,
        "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:test:0001",
    )
    .await;
    assert!(took < Duration::from_secs(5), "GetRecord took {took:?}");

    // The non-readers' responses (12 MB asked for) fill the buffer; under that pressure a
    // connection whose client reads nothing goes after 2 s, not 60.
    for conn in &mut idle {
        assert!(closed_by_server(conn, Duration::from_secs(15)).await);
    }
    let exposition = metrics(&app).await;
    assert!(metric(&exposition, "moisson_http_write_timeouts_total") >= 1);
    assert_eq!(metric(&exposition, "moisson_http_response_buffer_bytes"), 0);
}

#[tokio::test]
async fn a_client_that_reads_nothing_is_dropped_after_the_write_timeout() {
    let app = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.server.write_timeout_secs = 2;
    })
    .await;
    seed_large(&app, 100);
    let mut conn = small_window(&app).await;
    let request = "GET /oai?verb=ListRecords&metadataPrefix=oai_dc HTTP/1.1\r\nHost: x\r\n\r\n";
    conn.write_all(request.repeat(16).as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let exposition = metrics(&app).await;
    assert_eq!(
        metric(&exposition, "moisson_http_write_timeouts_total"),
        1,
        "{exposition}"
    );
    assert!(closed_by_server(&mut conn, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn bodies_sent_a_byte_at_a_time_time_out_and_others_are_answered() {
    let app = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.server.request_timeout_secs = 2;
    })
    .await;
    app.seed(&[r#"{"id":"oai:x:1","datestamp":"2020-01-01T00:00:00Z","dc":{"title":"t"}}"#]);
    let head = "POST /oai HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nverb=";
    let mut slow = Vec::new();
    for _ in 0..100 {
        let mut conn = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        slow.push(conn);
    }
    let started = Instant::now();
    // The slow clients go on sending, one byte every half second each.
    let trickle = async {
        while started.elapsed() < Duration::from_secs(4) {
            for conn in &mut slow {
                let _ = conn.write_all(b"I").await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let normal = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let took = answered_in(&app, "verb=Identify").await;
        let post = app.post("verb=Identify").await;
        (took, post.status)
    };
    let ((), (took, post)) = tokio::join!(trickle, normal);
    assert!(took < Duration::from_secs(2), "Identify took {took:?}");
    assert_eq!(post, 200);
    for conn in &mut slow {
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the server keeps a slow body's connection");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
}
