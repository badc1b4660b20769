use crate::helpers::*;

async fn seeded() -> TestApp {
    let app = spawn_app().await;
    app.seed(&[
        r#"{"setSpec":"s","setName":"S"}"#,
        r#"{"id":"oai:x:1","datestamp":"2020-01-01T00:00:00Z","sets":["s"],"dc":{"title":"t"}}"#,
    ]);
    app
}

/// (query, expected error codes, request attributes echoed?)
const CASES: &[(&str, &[&str], bool)] = &[
    ("", &["badVerb"], false),
    ("verb=Nope", &["badVerb"], false),
    ("verb=Identify&verb=Identify", &["badVerb"], false),
    (
        "verb=Identify&metadataPrefix=oai_dc",
        &["badArgument"],
        false,
    ),
    ("verb=GetRecord&identifier=oai:x:1", &["badArgument"], false),
    (
        "verb=GetRecord&identifier=oai:x:1&metadataPrefix=oai_dc&metadataPrefix=oai_dc",
        &["badArgument"],
        false,
    ),
    ("verb=ListRecords", &["badArgument"], false),
    (
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01T00:00:00",
        &["badArgument"],
        false,
    ),
    (
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-02&until=2020-01-01",
        &["badArgument"],
        false,
    ),
    (
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01&until=2020-01-02T00:00:00Z",
        &["badArgument"],
        false,
    ),
    (
        "verb=ListRecords&metadataPrefix=oai_dc&resumptionToken=abc",
        &["badArgument"],
        false,
    ),
    (
        "verb=ListIdentifiers&metadataPrefix=oai_dc&set=bad%20set",
        &["badArgument"],
        false,
    ),
    ("verb=ListSets&set=s", &["badArgument"], false),
    (
        "verb=ListRecords&from=x&set=a&set=b&bogus=1",
        &["badArgument", "badArgument", "badArgument", "badArgument"],
        false,
    ),
    (
        "verb=ListRecords&resumptionToken=abc",
        &["badResumptionToken"],
        true,
    ),
    (
        "verb=ListIdentifiers&resumptionToken=abc",
        &["badResumptionToken"],
        true,
    ),
    (
        "verb=ListSets&resumptionToken=abc",
        &["badResumptionToken"],
        true,
    ),
    (
        "verb=GetRecord&identifier=oai:x:1&metadataPrefix=marc21",
        &["cannotDisseminateFormat"],
        true,
    ),
    (
        "verb=ListRecords&metadataPrefix=marc21",
        &["cannotDisseminateFormat"],
        true,
    ),
    (
        "verb=ListIdentifiers&metadataPrefix=marc21",
        &["cannotDisseminateFormat"],
        true,
    ),
    (
        "verb=GetRecord&identifier=oai:x:999&metadataPrefix=oai_dc",
        &["idDoesNotExist"],
        true,
    ),
    (
        "verb=GetRecord&identifier=oai:x:999&metadataPrefix=marc21",
        &["idDoesNotExist", "cannotDisseminateFormat"],
        true,
    ),
    (
        "verb=ListMetadataFormats&identifier=oai:x:999",
        &["idDoesNotExist"],
        true,
    ),
    (
        "verb=ListRecords&metadataPrefix=oai_dc&set=nothing",
        &["noRecordsMatch"],
        true,
    ),
    (
        "verb=ListRecords&metadataPrefix=oai_dc&from=2030-01-01",
        &["noRecordsMatch"],
        true,
    ),
    (
        "verb=ListIdentifiers&metadataPrefix=oai_dc&until=2000-01-01T00:00:00Z",
        &["noRecordsMatch"],
        true,
    ),
];

#[tokio::test]
async fn every_error_condition_is_a_valid_200_response_with_its_codes() {
    let app = seeded().await;
    for (query, codes, echoed) in CASES {
        for answer in [app.get(query).await, app.post(query).await] {
            assert_eq!(answer.status, 200, "{query}");
            assert_eq!(
                answer.header("content-type"),
                Some("text/xml; charset=UTF-8")
            );
            assert_valid(&answer.body);
            assert_eq!(error_codes(&answer.body), *codes, "{query}");
            let verb_echoed = attrs(&answer.body, "request", "verb")[0].is_some();
            assert_eq!(verb_echoed, *echoed, "request attributes for {query}");
            assert!(
                !answer.body.contains("<ListRecords>") && !answer.body.contains("<GetRecord>"),
                "{query}"
            );
        }
    }
}

#[tokio::test]
async fn no_set_hierarchy_when_the_store_has_no_sets() {
    let app = spawn_app().await;
    app.seed(&[r#"{"id":"oai:x:1","datestamp":"2020-01-01T00:00:00Z","dc":{"title":"t"}}"#]);
    for (query, codes) in [
        ("verb=ListSets", &["noSetHierarchy"][..]),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&set=a",
            &["noSetHierarchy"][..],
        ),
        (
            "verb=ListIdentifiers&metadataPrefix=marc21&set=a",
            &["cannotDisseminateFormat", "noSetHierarchy"][..],
        ),
    ] {
        let body = app.oai(query).await;
        assert_eq!(error_codes(&body), codes, "{query}");
    }
}

#[tokio::test]
async fn no_metadata_formats_for_an_item_without_any() {
    let app = spawn_app().await;
    // A record harvested in another format only has no oai_dc.
    let mut record = moisson::store::RecordInput::dc(
        moisson::protocol::OaiIdentifier::parse("oai:x:raw").unwrap(),
        moisson::dc::DcRecord::default(),
    );
    record.dc = None;
    record.other_formats = vec![(
        moisson::protocol::MetadataPrefix::parse("unknown_fmt").unwrap(),
        b"<x xmlns=\"urn:x\"/>".to_vec(),
    )];
    app.store.put(record).unwrap();
    let body = app
        .oai("verb=ListMetadataFormats&identifier=oai:x:raw")
        .await;
    assert_eq!(error_codes(&body), ["noMetadataFormats"]);
}

#[tokio::test]
async fn illegal_characters_in_arguments_never_reach_the_output() {
    let app = seeded().await;
    for query in [
        "verb=GetRecord&identifier=oai:x:%01&metadataPrefix=oai_dc",
        "verb=ListRecords&resumptionToken=%00%1F%EF%BF%BE",
        "verb=%00",
        "verb=ListRecords&metadataPrefix=%3Cscript%3E",
    ] {
        let body = app.oai(query).await;
        assert!(!error_codes(&body).is_empty(), "{query}");
    }
}

#[tokio::test]
async fn get_and_post_give_the_same_answers() {
    let app = seeded().await;
    for query in [
        "verb=Identify",
        "verb=ListSets",
        "verb=ListMetadataFormats",
        "verb=GetRecord&identifier=oai:x:1&metadataPrefix=oai_dc",
        "verb=ListRecords&metadataPrefix=oai_dc&set=s",
    ] {
        let strip = |s: &str| s.replace(&texts(s, "responseDate")[0], "");
        let get = app.get(query).await;
        let post = app.post(query).await;
        assert_valid(&post.body);
        assert_eq!(strip(&get.body), strip(&post.body), "{query}");
    }
}

#[tokio::test]
async fn post_bodies_must_be_form_encoded() {
    let app = seeded().await;
    let r = app
        .client
        .post(app.base_url())
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
}

#[tokio::test]
async fn an_oversized_query_or_body_gets_an_oai_bad_argument() {
    let app = seeded().await;
    let big = format!("verb=Identify&x={}", "a".repeat(200_000));
    let long = format!("verb=Identify&x={}", "a".repeat(20_000));
    for answer in [app.post(&big).await, app.get(&long).await] {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_valid(&answer.body);
        assert_eq!(error_codes(&answer.body), ["badArgument"]);
        assert_eq!(attrs(&answer.body, "request", "verb"), [None]);
        assert!(texts(&answer.body, "error")[0].contains("bytes long"));
    }
    // The connection stays usable: the oversized body was read to its end.
    assert_eq!(app.post("verb=Identify").await.status, 200);
}

/// Sends `head` (and `body`) on a raw connection, and reads the status line of the answer.
async fn raw_status(app: &TestApp, head: String, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let (mut rd, mut wr) = conn.split();
    let send = async {
        // The server may stop reading; a write that fails then is expected.
        if wr.write_all(head.as_bytes()).await.is_ok() {
            let _ = wr.write_all(body).await;
        }
    };
    let mut answer = Vec::new();
    let read = rd.read_to_end(&mut answer);
    let ((), read) = tokio::join!(send, read);
    read.expect("the connection is closed cleanly, not reset");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn past_the_hard_limits_a_plain_http_error_arrives_without_a_reset() {
    let app = seeded().await;
    // A body over 16 times max_body_bytes: 413, said before the body is read.
    let body = vec![b'a'; 2 << 20];
    let head = format!(
        "POST /oai HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    assert!(raw_status(&app, head, &body).await.contains(" 413 "));
    // A URL over the http crate's 64 KiB: 400; a head over actix's 128 KiB: 431.
    for (len, status) in [(70_000, " 400 "), (200_000, " 431 ")] {
        let head = format!(
            "GET /oai?verb=Identify&x={} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(len)
        );
        let line = raw_status(&app, head, b"").await;
        assert!(line.contains(status), "{len}: {line}");
    }
}

#[tokio::test]
async fn ten_thousand_unknown_arguments_get_a_bounded_list_of_errors() {
    let app = seeded().await;
    let form: String = std::iter::once("verb=Identify".to_owned())
        .chain((0..10_000).map(|_| "x=1".to_owned()))
        .collect::<Vec<_>>()
        .join("&");
    let answer = app.post(&form).await;
    assert_eq!(answer.status, 200);
    assert_valid(&answer.body);
    let messages = texts(&answer.body, "error");
    assert_eq!(messages.len(), 20);
    assert!(answer.body.len() < 10_000, "{} bytes", answer.body.len());
    assert!(
        messages[19].ends_with("9980 more problems were found and are not listed"),
        "{}",
        messages[19]
    );
}
