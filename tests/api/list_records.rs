use crate::helpers::*;
use moisson::store::Store;

async fn app_with_records(n: usize, page_size: usize) -> TestApp {
    let app = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.server.page_size = page_size;
    })
    .await;
    let lines = numbered_records(n, &["a:b"]);
    app.seed(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    app
}

#[tokio::test]
async fn a_list_is_paged_with_exact_size_and_cursor_and_ends_with_an_empty_token() {
    let app = app_with_records(7, 3).await;
    let (ids, pages) = harvest_all(
        &app,
        "verb=ListRecords&metadataPrefix=oai_dc",
        "ListRecords",
    )
    .await;
    assert_eq!(
        ids,
        (0..7)
            .map(|i| format!("oai:test:{i:04}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(pages.len(), 3);
    let cursors: Vec<_> = pages
        .iter()
        .map(|p| attrs(p, "resumptionToken", "cursor")[0].clone().unwrap())
        .collect();
    assert_eq!(cursors, ["0", "3", "6"]);
    for p in &pages {
        assert_eq!(
            attrs(p, "resumptionToken", "completeListSize"),
            [Some("7".to_owned())]
        );
    }
    assert_eq!(token(&pages[2]).as_deref(), Some(""));
    let expiry = attrs(&pages[0], "resumptionToken", "expirationDate")[0]
        .clone()
        .unwrap();
    let expiry = moisson::protocol::Datestamp::parse(&expiry).unwrap();
    assert!(expiry.unix() - moisson::protocol::Datestamp::now().unix() >= 24 * 3600);
    assert!(attrs(&pages[2], "resumptionToken", "expirationDate")[0].is_none());
}

#[tokio::test]
async fn a_list_that_fits_one_page_has_no_resumption_token() {
    let app = app_with_records(3, 3).await;
    let body = app.oai("verb=ListIdentifiers&metadataPrefix=oai_dc").await;
    assert_eq!(header_identifiers(&body).len(), 3);
    assert!(texts(&body, "resumptionToken").is_empty());
    assert!(texts(&body, "metadata").is_empty());
}

#[tokio::test]
async fn page_boundaries_lose_and_repeat_nothing() {
    for (n, page) in [(1, 3), (3, 3), (4, 3), (10, 3), (10, 1)] {
        let app = app_with_records(n, page).await;
        for verb in ["ListRecords", "ListIdentifiers"] {
            let (ids, _) =
                harvest_all(&app, &format!("verb={verb}&metadataPrefix=oai_dc"), verb).await;
            assert_eq!(ids.len(), n, "{verb} n={n} page={page}");
            let mut sorted = ids.clone();
            sorted.dedup();
            assert_eq!(sorted, ids);
        }
    }
}

#[tokio::test]
async fn from_and_until_are_inclusive_at_both_granularities() {
    let app = app_with_records(5, 100).await;
    // Records are at 2020-01-01T00:00Z, 00:01, 00:02, 00:03, 00:04.
    let body = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&from=2020-01-01T00:01:00Z&until=2020-01-01T00:03:00Z")
        .await;
    assert_eq!(
        header_identifiers(&body),
        ["oai:test:0001", "oai:test:0002", "oai:test:0003"]
    );
    let body = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&from=2020-01-01&until=2020-01-01")
        .await;
    assert_eq!(header_identifiers(&body).len(), 5);
    assert_eq!(
        attrs(&body, "request", "from"),
        [Some("2020-01-01".to_owned())]
    );
    let body = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&until=2019-12-31")
        .await;
    assert_eq!(error_codes(&body), ["noRecordsMatch"]);
    let body = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&from=2020-01-02")
        .await;
    assert_eq!(error_codes(&body), ["noRecordsMatch"]);
}

#[tokio::test]
async fn a_record_in_a_subset_is_in_the_parent_set() {
    let app = spawn_app().await;
    app.seed(&[
        r#"{"id":"oai:x:1","datestamp":"2020-01-01T00:00:00Z","sets":["a:b:c"],"dc":{"title":"1"}}"#,
        r#"{"id":"oai:x:2","datestamp":"2020-01-02T00:00:00Z","sets":["a"],"dc":{"title":"2"}}"#,
        r#"{"id":"oai:x:3","datestamp":"2020-01-03T00:00:00Z","sets":["ab"],"dc":{"title":"3"}}"#,
    ]);
    let ids = |set: &'static str| {
        let app = &app;
        async move {
            header_identifiers(
                &app.oai(&format!(
                    "verb=ListIdentifiers&metadataPrefix=oai_dc&set={set}"
                ))
                .await,
            )
        }
    };
    assert_eq!(ids("a").await, ["oai:x:1", "oai:x:2"]);
    assert_eq!(ids("a:b").await, ["oai:x:1"]);
    assert_eq!(ids("ab").await, ["oai:x:3"]);
    let body = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&set=zzz")
        .await;
    assert_eq!(error_codes(&body), ["noRecordsMatch"]);
    let body = app
        .oai("verb=ListRecords&metadataPrefix=oai_dc&set=a:b")
        .await;
    assert_eq!(texts(&body, "setSpec"), ["a:b:c"]);
}

#[tokio::test]
async fn deleted_records_are_listed_with_their_sets_and_status() {
    let app = spawn_app().await;
    app.seed(&[
        r#"{"id":"oai:x:1","datestamp":"2020-01-01T00:00:00Z","sets":["s"],"dc":{"title":"t"}}"#,
    ]);
    app.store
        .put(moisson::store::RecordInput {
            deleted: true,
            dc: None,
            ..moisson::store::RecordInput::dc(
                moisson::protocol::OaiIdentifier::parse("oai:x:1").unwrap(),
                moisson::dc::DcRecord::default(),
            )
        })
        .unwrap();
    let body = app
        .oai("verb=ListRecords&metadataPrefix=oai_dc&set=s")
        .await;
    assert_eq!(
        attrs(&body, "header", "status"),
        [Some("deleted".to_owned())]
    );
    assert_eq!(texts(&body, "setSpec"), ["s"]);
    assert!(texts(&body, "metadata").is_empty());
    let body = app
        .oai("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:x:1")
        .await;
    assert_eq!(
        attrs(&body, "header", "status"),
        [Some("deleted".to_owned())]
    );
}

#[tokio::test]
async fn until_is_pinned_so_records_changed_during_a_harvest_wait_for_the_next_one() {
    let app = app_with_records(4, 2).await;
    let first = app.oai("verb=ListIdentifiers&metadataPrefix=oai_dc").await;
    let started = texts(&first, "responseDate")[0].clone();
    // A record already sent changes and a new one arrives while the list is being harvested.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.seed(&[
        r#"{"id":"oai:test:0000","dc":{"title":"changed"}}"#,
        r#"{"id":"oai:test:new","dc":{"title":"new"}}"#,
    ]);
    let mut ids = header_identifiers(&first);
    let mut page = first;
    while let Some(t) = token(&page).filter(|t| !t.is_empty()) {
        page = app
            .oai(&format!(
                "verb=ListIdentifiers&resumptionToken={}",
                urlencode(&t)
            ))
            .await;
        ids.extend(header_identifiers(&page));
    }
    assert_eq!(
        ids,
        [
            "oai:test:0000",
            "oai:test:0001",
            "oai:test:0002",
            "oai:test:0003"
        ]
    );
    // The next incremental harvest, from the first response's date, gets both.
    let next = app
        .oai(&format!(
            "verb=ListIdentifiers&metadataPrefix=oai_dc&from={started}"
        ))
        .await;
    let mut next_ids = header_identifiers(&next);
    next_ids.sort();
    assert_eq!(next_ids, ["oai:test:0000", "oai:test:new"]);
}

#[tokio::test]
async fn a_token_keeps_working_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let token_text = {
        let store = Store::open(dir.path(), 8 << 20).unwrap();
        let app = spawn_app_with(store, |s| s.server.page_size = 2).await;
        let lines = numbered_records(5, &[]);
        app.seed(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let body = app.oai("verb=ListRecords&metadataPrefix=oai_dc").await;
        app.store.flush().unwrap();
        token(&body).unwrap()
    };
    // Let the first server release the store.
    let mut store = None;
    for _ in 0..50 {
        match Store::open(dir.path(), 8 << 20) {
            Ok(s) => {
                store = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let app = spawn_app_with(store.expect("the store reopens"), |s| {
        s.server.page_size = 2;
    })
    .await;
    let body = app
        .oai(&format!(
            "verb=ListRecords&resumptionToken={}",
            urlencode(&token_text)
        ))
        .await;
    assert_eq!(
        header_identifiers(&body),
        ["oai:test:0002", "oai:test:0003"]
    );
}

#[tokio::test]
async fn tampered_and_foreign_tokens_are_bad_resumption_tokens() {
    let app = app_with_records(5, 2).await;
    let other = app_with_records(5, 2).await;
    let body = app.oai("verb=ListRecords&metadataPrefix=oai_dc").await;
    let t = token(&body).unwrap();
    let foreign = other
        .oai(&format!(
            "verb=ListRecords&resumptionToken={}",
            urlencode(&t)
        ))
        .await;
    assert_eq!(error_codes(&foreign), ["badResumptionToken"]);
    let mut chars: Vec<char> = t.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'x' { 'y' } else { 'x' };
    let tampered: String = chars.into_iter().collect();
    for bad in [
        tampered.as_str(),
        &t[..t.len() - 1],
        "%00%01",
        "0",
        "../../etc/passwd",
    ] {
        let body = app
            .oai(&format!(
                "verb=ListRecords&resumptionToken={}",
                urlencode(bad)
            ))
            .await;
        assert_eq!(error_codes(&body), ["badResumptionToken"], "{bad}");
    }
    let wrong_verb = app
        .oai(&format!(
            "verb=ListIdentifiers&resumptionToken={}",
            urlencode(&t)
        ))
        .await;
    assert_eq!(error_codes(&wrong_verb), ["badResumptionToken"]);
}

#[tokio::test]
async fn a_resumed_list_whose_remaining_records_changed_ends_with_a_record_already_sent() {
    for verb in ["ListIdentifiers", "ListRecords"] {
        let app = app_with_records(4, 2).await;
        let first = app.oai(&format!("verb={verb}&metadataPrefix=oai_dc")).await;
        assert_eq!(
            header_identifiers(&first),
            ["oai:test:0000", "oai:test:0001"]
        );
        let t = token(&first).unwrap();
        // Both records after the first page change: they leave the list (their new
        // datestamps are past its pinned until), so the page after the token is empty.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        app.seed(&[
            r#"{"id":"oai:test:0002","dc":{"title":"changed"}}"#,
            r#"{"id":"oai:test:0003","dc":{"title":"changed"}}"#,
        ]);
        let last = app
            .oai(&format!("verb={verb}&resumptionToken={}", urlencode(&t)))
            .await;
        assert!(error_codes(&last).is_empty(), "{last}");
        assert_eq!(header_identifiers(&last), ["oai:test:0001"], "{verb}");
        assert_eq!(token(&last).as_deref(), Some(""), "{verb}: the list ends");
        assert_eq!(
            attrs(&last, "resumptionToken", "cursor"),
            [Some("2".to_owned())]
        );
    }
}

#[tokio::test]
async fn a_resumed_list_whose_every_record_changed_still_ends_properly() {
    let app = app_with_records(3, 2).await;
    let first = app.oai("verb=ListIdentifiers&metadataPrefix=oai_dc").await;
    let t = token(&first).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.seed(&[
        r#"{"id":"oai:test:0000","dc":{"title":"changed"}}"#,
        r#"{"id":"oai:test:0001","dc":{"title":"changed"}}"#,
        r#"{"id":"oai:test:0002","dc":{"title":"changed"}}"#,
    ]);
    let last = app
        .oai(&format!(
            "verb=ListIdentifiers&resumptionToken={}",
            urlencode(&t)
        ))
        .await;
    assert!(error_codes(&last).is_empty(), "{last}");
    // The last record sent, as it is now.
    assert_eq!(header_identifiers(&last), ["oai:test:0001"]);
    assert_eq!(token(&last).as_deref(), Some(""));
}
