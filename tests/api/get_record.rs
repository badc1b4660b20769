use crate::helpers::*;
use moisson::dc::xml::read_oai_dc;
use moisson::dc::{DcElement, DcValue};

#[tokio::test]
async fn get_record_serves_the_record_with_its_dublin_core_in_order_and_language() {
    let app = spawn_app().await;
    app.seed(&[
        r#"{"id":"oai:x:1","datestamp":"2021-03-04T05:06:07Z","sets":["a:b","c"],"dc":{"title":[{"value":"Titre & <sous-titre>","lang":"fr"}],"creator":["B","A"],"identifier":["https://x.example/?a=1&b=2"]}}"#,
    ]);
    let body = app
        .oai("verb=GetRecord&identifier=oai:x:1&metadataPrefix=oai_dc")
        .await;
    assert_eq!(header_identifiers(&body), ["oai:x:1"]);
    assert_eq!(texts(&body, "datestamp"), ["2021-03-04T05:06:07Z"]);
    assert_eq!(texts(&body, "setSpec"), ["a:b", "c"]);
    let start = body.find("<oai_dc:dc").unwrap();
    let end = body.find("</oai_dc:dc>").unwrap() + "</oai_dc:dc>".len();
    let dc = read_oai_dc(&body[start..end]).unwrap();
    assert_eq!(
        dc.get(DcElement::Title),
        [DcValue::with_lang("Titre & <sous-titre>", "fr")]
    );
    assert_eq!(
        dc.get(DcElement::Creator),
        [DcValue::new("B"), DcValue::new("A")]
    );
    assert_eq!(
        dc.get(DcElement::Identifier),
        [DcValue::new("https://x.example/?a=1&b=2")]
    );
    assert_eq!(
        attrs(&body, "request", "identifier"),
        [Some("oai:x:1".to_owned())]
    );
}

#[tokio::test]
async fn characters_illegal_in_xml_are_stripped_when_written_and_counted() {
    let app = spawn_app().await;
    app.seed(&[r#"{"id":"oai:x:1","dc":{"title":["bad\u0000char\u001b here\ttab"]}}"#]);
    let body = app
        .oai("verb=GetRecord&identifier=oai:x:1&metadataPrefix=oai_dc")
        .await;
    assert_eq!(texts(&body, "title"), ["badchar here\ttab"]);
    assert_eq!(app.store.stripped_characters().unwrap(), 2);
}

#[tokio::test]
async fn rewriting_unchanged_content_keeps_the_datestamp_and_a_change_gets_a_new_one() {
    let app = spawn_app().await;
    let store = &app.store;
    let line = r#"{"id":"oai:x:1","dc":{"title":"same"}}"#;
    seed(store, &[line]);
    let first = store.get("oai:x:1").unwrap().unwrap().datestamp;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    seed(store, &[line]);
    assert_eq!(store.get("oai:x:1").unwrap().unwrap().datestamp, first);
    seed(store, &[r#"{"id":"oai:x:1","dc":{"title":"changed"}}"#]);
    let changed = store.get("oai:x:1").unwrap().unwrap().datestamp;
    assert!(changed > first);
    let body = app.oai("verb=ListIdentifiers&metadataPrefix=oai_dc").await;
    assert_eq!(
        header_identifiers(&body),
        ["oai:x:1"],
        "the old index entry is gone"
    );
    assert!(store.check().unwrap().is_empty());
}

#[tokio::test]
async fn list_sets_gives_names_and_descriptions_and_list_metadata_formats_works_with_and_without_identifier(
) {
    let app = spawn_app_with(moisson::store::Store::temporary().unwrap(), |s| {
        s.server.page_size = 2;
    })
    .await;
    app.seed(&[
        r#"{"setSpec":"a","setName":"Alpha","setDescription":{"description":[{"value":"Première","lang":"fr"}]}}"#,
        r#"{"setSpec":"b","setName":"Beta"}"#,
        r#"{"id":"oai:x:1","datestamp":"2020-01-01T00:00:00Z","sets":["c:d"],"dc":{"title":"t"}}"#,
    ]);
    let (_, pages) = harvest_all(&app, "verb=ListSets", "ListSets").await;
    let specs: Vec<String> = pages.iter().flat_map(|p| texts(p, "setSpec")).collect();
    assert_eq!(specs, ["a", "b", "c", "c:d"]);
    assert_eq!(texts(&pages[0], "setName"), ["Alpha", "Beta"]);
    assert_eq!(texts(&pages[0], "description"), ["Première"]);
    assert_eq!(
        attrs(&pages[0], "resumptionToken", "completeListSize"),
        [Some("4".to_owned())]
    );
    let formats = app.oai("verb=ListMetadataFormats").await;
    assert_eq!(texts(&formats, "metadataPrefix"), ["oai_dc"]);
    assert_eq!(
        texts(&formats, "metadataNamespace"),
        ["http://www.openarchives.org/OAI/2.0/oai_dc/"]
    );
    let formats = app.oai("verb=ListMetadataFormats&identifier=oai:x:1").await;
    assert_eq!(texts(&formats, "metadataPrefix"), ["oai_dc"]);
}
