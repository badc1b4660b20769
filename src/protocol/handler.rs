//! Answering a request (§3, §4): parse, check, ask the repository, write the response.
//!
//! Protocol errors become `<error>` elements in a normal response; only repository failures
//! come back as `Err`, for the HTTP layer to turn into a 500 or 503.

use quick_xml::Writer;

use super::error::{OaiError, OaiErrors};
use super::model::RepositoryIdentity;
use super::repository::{Lookup, PageEnd, Repository};
use super::request::{ListArguments, ListRequest, RawRequest, Request};
use super::token::{ListFilter, ListKind, Position, ResumptionToken, TokenCodec};
use super::types::{Datestamp, MetadataPrefix, OaiIdentifier, Verb};
use super::xml::write as xml;

/// What the handler needs besides the repository: configuration and the token secret.
#[derive(Debug, Clone)]
pub struct Context {
    /// What Identify says.
    pub identity: RepositoryIdentity,
    /// Records, headers or sets per page.
    pub page_size: usize,
    /// How long an issued resumption token stays valid, in seconds.
    pub token_lifetime_secs: i64,
    /// Signs and checks resumption tokens.
    pub tokens: TokenCodec,
    /// `href` of an `<?xml-stylesheet?>` to put before the root element, if any.
    pub stylesheet: Option<String>,
}

/// A written response and what it contained, for logs and metrics.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// The complete UTF-8 XML document.
    pub body: Vec<u8>,
    /// The verb, when the request had a valid one.
    pub verb: Option<Verb>,
    /// Records, headers, sets or formats written.
    pub items: usize,
    /// The codes of the errors written, if any.
    pub error_codes: Vec<&'static str>,
    /// True when a (non-empty) resumption token was issued.
    pub token_issued: bool,
}

type Out = Writer<Vec<u8>>;

/// Responses are written to memory, where a write cannot fail.
const VEC_WRITE: &str = "Writing to a Vec cannot fail.";

/// The capacity a new response buffer starts with: enough for every answer but a list page.
pub const RESPONSE_CAPACITY: usize = 16 * 1024;

/// Answers one request.
///
/// # Errors
/// Only when the repository fails; every protocol problem is written into the response.
pub fn handle<R: Repository>(
    repo: &R,
    ctx: &Context,
    raw: &RawRequest,
    now: Datestamp,
) -> Result<Response, R::Error> {
    handle_in(repo, ctx, raw, now, Vec::with_capacity(RESPONSE_CAPACITY))
}

/// Answers one request, writing the response into `buffer` (emptied first): a caller that
/// keeps the buffers of sent responses spares large pages an allocation each.
///
/// # Errors
/// Only when the repository fails; every protocol problem is written into the response.
pub fn handle_in<R: Repository>(
    repo: &R,
    ctx: &Context,
    raw: &RawRequest,
    now: Datestamp,
    mut buffer: Vec<u8>,
) -> Result<Response, R::Error> {
    // A record is stamped when its batch starts and becomes visible when the batch commits.
    // Answering as of the batch's second while one is written keeps the promise harvesters
    // rely on: whatever becomes visible after responseDate is dated at or after it, so
    // `from=<responseDate>` next time finds it.
    let now = repo.visible_until(now);
    buffer.clear();
    let mut w = Writer::new(buffer);
    let stylesheet = ctx.stylesheet.as_deref();
    let base_url = ctx.identity.base_url.as_str();
    let request = match Request::parse(raw, &ctx.tokens, now) {
        Ok(request) => request,
        Err(errors) => {
            let echo = (!errors.hides_request_arguments()).then(|| raw.pairs());
            xml::write_envelope_start(&mut w, now, base_url, echo, stylesheet).expect(VEC_WRITE);
            return Ok(finish_with_errors(w, None, &errors));
        }
    };
    xml::write_envelope_start(&mut w, now, base_url, Some(raw.pairs()), stylesheet)
        .expect(VEC_WRITE);
    let mark = w.get_ref().len();
    let verb = request.verb();
    let outcome = match request {
        Request::Identify => identify(repo, ctx, &mut w),
        Request::GetRecord {
            identifier,
            metadata_prefix,
        } => get_record(repo, &mut w, &identifier, &metadata_prefix),
        Request::ListMetadataFormats { identifier } => {
            list_metadata_formats(repo, &mut w, identifier.as_ref())
        }
        Request::ListSets { resumption_token } => {
            list_sets(repo, ctx, &mut w, resumption_token.as_ref(), now)
        }
        Request::ListIdentifiers(list) => list_records(repo, ctx, &mut w, list, true, now),
        Request::ListRecords(list) => list_records(repo, ctx, &mut w, list, false, now),
    }?;
    match outcome {
        Ok(done) => {
            xml::write_envelope_end(&mut w).expect(VEC_WRITE);
            Ok(Response {
                body: w.into_inner(),
                verb: Some(verb),
                items: done.items,
                error_codes: Vec::new(),
                token_issued: done.token_issued,
            })
        }
        Err(errors) => {
            w.get_mut().truncate(mark);
            Ok(finish_with_errors(w, Some(verb), &errors))
        }
    }
}

/// Answers a request refused before its arguments are read (too long to be parsed): one
/// error, and a `<request>` without attributes, as for any badArgument (§3.2).
pub fn refuse(ctx: &Context, now: Datestamp, error: OaiError) -> Response {
    let mut w = Writer::new(Vec::with_capacity(1024));
    xml::write_envelope_start(
        &mut w,
        now,
        &ctx.identity.base_url,
        None,
        ctx.stylesheet.as_deref(),
    )
    .expect(VEC_WRITE);
    finish_with_errors(w, None, &error.into())
}

fn finish_with_errors(mut w: Out, verb: Option<Verb>, errors: &OaiErrors) -> Response {
    for e in errors.as_slice() {
        xml::write_error(&mut w, e).expect(VEC_WRITE);
    }
    xml::write_envelope_end(&mut w).expect(VEC_WRITE);
    Response {
        body: w.into_inner(),
        verb,
        items: 0,
        error_codes: errors.as_slice().iter().map(OaiError::code).collect(),
        token_issued: false,
    }
}

struct Done {
    items: usize,
    token_issued: bool,
}

type Outcome<E> = Result<Result<Done, OaiErrors>, E>;

fn identify<R: Repository>(repo: &R, ctx: &Context, w: &mut Out) -> Outcome<R::Error> {
    let earliest = repo
        .earliest_datestamp()?
        .unwrap_or(Datestamp::from_unix(0));
    let repo_id = &ctx.identity.repository_identifier;
    let sample = repo
        .sample_identifier()?
        .filter(|id| xml::is_oai_identifier_for(id, repo_id))
        .map_or_else(|| format!("oai:{repo_id}:1"), |id| id.as_ref().to_owned());
    xml::write_identify(
        w,
        &xml::IdentifyBody {
            identity: &ctx.identity,
            earliest_datestamp: earliest,
            sample_identifier: &sample,
        },
    )
    .expect(VEC_WRITE);
    Ok(Ok(Done {
        items: 1,
        token_issued: false,
    }))
}

fn format_supported<R: Repository>(repo: &R, prefix: &MetadataPrefix) -> Result<bool, R::Error> {
    repo.supports_format(prefix)
}

fn cannot_disseminate(prefix: &MetadataPrefix) -> OaiError {
    OaiError::CannotDisseminateFormat(format!(
        "the metadata format \"{prefix}\" is not supported by this repository"
    ))
}

fn get_record<R: Repository>(
    repo: &R,
    w: &mut Out,
    identifier: &OaiIdentifier,
    prefix: &MetadataPrefix,
) -> Outcome<R::Error> {
    let mut errors = Vec::new();
    let supported = format_supported(repo, prefix)?;
    if !supported {
        errors.push(cannot_disseminate(prefix));
    }
    xml::write_verb_start(w, Verb::GetRecord).expect(VEC_WRITE);
    let lookup_prefix = if supported {
        prefix.clone()
    } else {
        MetadataPrefix::oai_dc()
    };
    match repo.write_record(identifier, &lookup_prefix, false, w.get_mut())? {
        Lookup::NoSuchItem => errors.insert(
            0,
            OaiError::IdDoesNotExist(format!("no item has the identifier \"{identifier}\"")),
        ),
        Lookup::NoSuchFormat if supported => errors.push(OaiError::CannotDisseminateFormat(
            format!("the item \"{identifier}\" is not available as \"{prefix}\""),
        )),
        Lookup::NoSuchFormat | Lookup::Written => {}
    }
    if let Some(errors) = OaiErrors::from_vec(errors) {
        return Ok(Err(errors));
    }
    xml::write_verb_end(w, Verb::GetRecord).expect(VEC_WRITE);
    Ok(Ok(Done {
        items: 1,
        token_issued: false,
    }))
}

fn list_metadata_formats<R: Repository>(
    repo: &R,
    w: &mut Out,
    identifier: Option<&OaiIdentifier>,
) -> Outcome<R::Error> {
    let mut formats = repo.metadata_formats()?;
    if let Some(id) = identifier {
        let Some(available) = repo.item_formats(id)? else {
            return Ok(Err(OaiError::IdDoesNotExist(format!(
                "no item has the identifier \"{id}\""
            ))
            .into()));
        };
        formats.retain(|f| available.contains(&f.prefix));
        if formats.is_empty() {
            return Ok(Err(OaiError::NoMetadataFormats(format!(
                "no metadata format is available for \"{id}\""
            ))
            .into()));
        }
    }
    xml::write_verb_start(w, Verb::ListMetadataFormats).expect(VEC_WRITE);
    for f in &formats {
        xml::write_metadata_format(w, f).expect(VEC_WRITE);
    }
    xml::write_verb_end(w, Verb::ListMetadataFormats).expect(VEC_WRITE);
    Ok(Ok(Done {
        items: formats.len(),
        token_issued: false,
    }))
}

fn no_set_hierarchy() -> OaiError {
    OaiError::NoSetHierarchy("this repository has no sets".into())
}

fn list_sets<R: Repository>(
    repo: &R,
    ctx: &Context,
    w: &mut Out,
    token: Option<&ResumptionToken>,
    now: Datestamp,
) -> Outcome<R::Error> {
    if !repo.has_sets()? {
        return Ok(Err(no_set_hierarchy().into()));
    }
    let after = match token {
        Some(ResumptionToken {
            after: Position::Set(spec),
            ..
        }) => Some(spec.as_str()),
        Some(_) => {
            return Ok(Err(OaiError::BadResumptionToken(
                "the resumptionToken is not one of ListSets".into(),
            )
            .into()))
        }
        None => None,
    };
    xml::write_verb_start(w, Verb::ListSets).expect(VEC_WRITE);
    let mut written = 0usize;
    let mut last = None;
    let mut more = repo.sets_page(after, ctx.page_size, &mut |set| {
        xml::write_set(w, set).expect(VEC_WRITE);
        written += 1;
        last = Some(set.spec.as_ref().to_owned());
    })?;
    if written == 0 && after.is_some() {
        // The sets after the token's position were removed in between; like a record list
        // (see `resend_one`), end the list with a set the client already has.
        repo.sets_page(None, 1, &mut |set| {
            xml::write_set(w, set).expect(VEC_WRITE);
            written += 1;
        })?;
        more = false;
    }
    if written == 0 {
        return Ok(Err(OaiError::NoRecordsMatch(
            "the list of sets has no more entries".into(),
        )
        .into()));
    }
    let (cursor, size) = match token {
        Some(t) => (t.cursor, t.complete_list_size),
        None => (0, repo.count_sets()?),
    };
    let next = more.then(|| {
        (
            ListKind::Sets,
            None,
            Position::Set(last.expect("written > 0")),
        )
    });
    let token_issued = finish_page(
        w,
        ctx,
        Verb::ListSets,
        next,
        token.is_some(),
        (cursor, written, size),
        now,
    );
    Ok(Ok(Done {
        items: written,
        token_issued,
    }))
}

/// Ends a list page: a resumptionToken for the `next` page if there is one, an empty one when
/// a resumed list ends (a list that fit one page has none), then the verb's closing tag.
/// `(cursor, written, size)` are the page's first position, its length and the list's size.
/// Returns true when a token was issued.
fn finish_page(
    w: &mut Out,
    ctx: &Context,
    verb: Verb,
    next: Option<(ListKind, Option<ListFilter>, Position)>,
    resumed: bool,
    (cursor, written, size): (u64, usize, u64),
    now: Datestamp,
) -> bool {
    let issued = next.is_some();
    if let Some((kind, filter, after)) = next {
        let token = ResumptionToken {
            kind,
            filter,
            after,
            cursor: cursor + written as u64,
            complete_list_size: size,
            expires: Datestamp::from_unix(now.unix() + ctx.token_lifetime_secs),
        };
        xml::write_resumption_token(
            w,
            Some((&ctx.tokens.encode(&token), token.expires)),
            size,
            cursor,
        )
        .expect(VEC_WRITE);
    } else if resumed {
        xml::write_resumption_token(w, None, size, cursor).expect(VEC_WRITE);
    }
    xml::write_verb_end(w, verb).expect(VEC_WRITE);
    issued
}

fn start_filter<R: Repository>(
    repo: &R,
    args: ListArguments,
    now: Datestamp,
) -> Result<Result<ListFilter, OaiErrors>, R::Error> {
    let mut errors = Vec::new();
    if !format_supported(repo, &args.metadata_prefix)? {
        errors.push(cannot_disseminate(&args.metadata_prefix));
    }
    if args.set.is_some() && !repo.has_sets()? {
        errors.push(no_set_hierarchy());
    }
    if let Some(errors) = OaiErrors::from_vec(errors) {
        return Ok(Err(errors));
    }
    // `until` is pinned at the first request: records changed while the list is harvested get
    // a later datestamp, fall outside this list, and are found by the next incremental harvest.
    let until = args.until.map_or(now, |u| u.end.min(now));
    Ok(Ok(ListFilter {
        metadata_prefix: args.metadata_prefix,
        set: args.set,
        from: args.from.map(|f| f.start),
        until,
    }))
}

fn list_records<R: Repository>(
    repo: &R,
    ctx: &Context,
    w: &mut Out,
    list: ListRequest,
    headers_only: bool,
    now: Datestamp,
) -> Outcome<R::Error> {
    let (filter, previous) = match list {
        ListRequest::Start(args) => match start_filter(repo, args, now)? {
            Ok(filter) => (filter, None),
            Err(errors) => return Ok(Err(errors)),
        },
        ListRequest::Resume(token) => match (&token.filter, &token.after) {
            (Some(filter), Position::Record(..)) => (filter.clone(), Some(token)),
            _ => {
                return Ok(Err(OaiError::BadResumptionToken(
                    "the resumptionToken is not one of this verb".into(),
                )
                .into()))
            }
        },
    };
    let verb = if headers_only {
        Verb::ListIdentifiers
    } else {
        Verb::ListRecords
    };
    let no_match = || -> OaiErrors {
        OaiError::NoRecordsMatch(
            "no record matches the given metadataPrefix, set, from and until".into(),
        )
        .into()
    };
    if filter.from.is_some_and(|from| from > filter.until) {
        return Ok(Err(no_match()));
    }
    xml::write_verb_start(w, verb).expect(VEC_WRITE);
    let after = previous.as_ref().map(|t| match &t.after {
        Position::Record(d, id) => (*d, id.as_str()),
        Position::Set(_) => unreachable!("checked above"),
    });
    let mut page = repo.list_page(&filter, after, ctx.page_size, headers_only, w.get_mut())?;
    if page.written == 0 {
        match after {
            Some(position) => {
                page = resend_one(repo, &filter, position, headers_only, w.get_mut())?;
                if page.written == 0 {
                    return Ok(Err(no_match()));
                }
            }
            None => return Ok(Err(no_match())),
        }
    }
    let (cursor, size) = match &previous {
        Some(t) => (t.cursor, t.complete_list_size),
        None if page.more => (0, repo.count(&filter)?),
        None => (0, page.written as u64),
    };
    let kind = if headers_only {
        ListKind::Identifiers
    } else {
        ListKind::Records
    };
    let next = page.more.then(|| {
        let (datestamp, identifier) = page
            .last
            .clone()
            .expect("a page with items has a last item");
        (kind, Some(filter), Position::Record(datestamp, identifier))
    });
    let token_issued = finish_page(
        w,
        ctx,
        verb,
        next,
        previous.is_some(),
        (cursor, page.written, size),
        now,
    );
    Ok(Ok(Done {
        items: page.written,
        token_issued,
    }))
}

/// The last page of a resumed list whose remaining records all changed in between.
///
/// The token was issued because a record followed the page; if that record (and every one
/// after it) changed since, it now has a datestamp past the list's pinned `until` and left the
/// list, so the page after the token is empty. `noRecordsMatch` would be wrong (the list does
/// match records, and the client already has some of them), and the schema wants at least one
/// record before the empty `<resumptionToken/>` that ends a list. So this re-sends one record
/// the client already has: every record still in the list's range was in the list when it
/// started and lies at or before the token's position, since nothing follows it. Harvesters
/// store records by identifier, so the repeat is harmless. It is, in order of preference:
/// a record of the token's own second (the last one sent, or its neighbours), the first
/// record of the list, or, when every record of the list changed, the last record sent as it
/// is now (its new datestamp tells the harvester it will see it again next time).
fn resend_one<R: Repository>(
    repo: &R,
    filter: &ListFilter,
    (datestamp, identifier): (Datestamp, &str),
    headers_only: bool,
    out: &mut Vec<u8>,
) -> Result<PageEnd, R::Error> {
    let same_second = ListFilter {
        from: Some(datestamp),
        until: datestamp,
        ..filter.clone()
    };
    for narrowed in [&same_second, filter] {
        let mut page = repo.list_page(narrowed, None, 1, headers_only, out)?;
        if page.written > 0 {
            page.more = false;
            return Ok(page);
        }
    }
    let Some(id) = OaiIdentifier::parse(identifier) else {
        return Ok(PageEnd::default());
    };
    Ok(
        match repo.write_record(&id, &filter.metadata_prefix, headers_only, out)? {
            Lookup::Written => PageEnd {
                written: 1,
                last: Some((datestamp, identifier.to_owned())),
                more: false,
            },
            Lookup::NoSuchItem | Lookup::NoSuchFormat => PageEnd::default(),
        },
    )
}
