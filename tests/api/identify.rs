use crate::helpers::*;

#[tokio::test]
async fn identify_describes_the_repository_from_configuration_and_store() {
    let store = moisson::store::Store::temporary().unwrap();
    let app = spawn_app_with(store, |s| {
        s.repository.name = "Bibliothèque & Archives".into();
        s.repository.admin_emails = vec!["a@example.org".into(), "b@example.org".into()];
        s.repository.repository_identifier = "bib.example.org".into();
    })
    .await;
    app.seed(&[
        r#"{"id":"oai:bib.example.org:2","datestamp":"2019-05-01T10:00:00Z","dc":{"title":"b"}}"#,
        r#"{"id":"oai:bib.example.org:1","datestamp":"2003-02-01T00:00:01Z","deleted":true}"#,
    ]);
    let body = app.oai("verb=Identify").await;
    assert_eq!(texts(&body, "repositoryName"), ["Bibliothèque & Archives"]);
    assert_eq!(texts(&body, "baseURL"), [app.base_url()]);
    assert_eq!(texts(&body, "protocolVersion"), ["2.0"]);
    assert_eq!(
        texts(&body, "adminEmail"),
        ["a@example.org", "b@example.org"]
    );
    assert_eq!(texts(&body, "earliestDatestamp"), ["2003-02-01T00:00:01Z"]);
    assert_eq!(texts(&body, "deletedRecord"), ["persistent"]);
    assert_eq!(texts(&body, "granularity"), ["YYYY-MM-DDThh:mm:ssZ"]);
    assert_eq!(texts(&body, "compression"), ["gzip", "deflate"]);
    assert_eq!(texts(&body, "repositoryIdentifier"), ["bib.example.org"]);
    assert_eq!(texts(&body, "sampleIdentifier"), ["oai:bib.example.org:1"]);
    assert_eq!(
        attrs(&body, "request", "verb"),
        [Some("Identify".to_owned())]
    );
}

#[tokio::test]
async fn gzip_and_deflate_are_really_served_when_asked_for() {
    let app = spawn_app().await;
    for encoding in ["gzip", "deflate"] {
        let r = app
            .client
            .get(format!("{}?verb=Identify", app.base_url()))
            .header("Accept-Encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers().get("content-encoding").unwrap(), encoding);
    }
    let plain = app.get("verb=Identify").await;
    assert!(plain.header("content-encoding").is_none());
    assert!(plain.body.starts_with("<?xml"));
}

#[tokio::test]
async fn index_and_health_say_where_the_endpoint_is_and_that_the_store_answers() {
    let app = spawn_app().await;
    let index = app.path("/").await;
    assert_eq!(index.status, 200);
    assert!(index.body.contains(&app.base_url()));
    let health = app.path("/health").await;
    assert_eq!(health.status, 200);
    assert!(health.body.contains("ok"));
}
