//! Raw request arguments → a typed [`Request`] (§3.1: verbs, arguments, and their rules).
//!
//! All argument rules (required, optional, exclusive, repeated, unknown) sit in one table,
//! `ARGUMENT_RULES`, and every problem found is reported, not just the first.

use super::error::{OaiError, OaiErrors};
use super::token::{ListKind, ResumptionToken, TokenCodec};
use super::types::{DateArgument, Datestamp, MetadataPrefix, OaiIdentifier, SetSpec, Verb};

/// The arguments one verb takes (§4).
struct Rule {
    verb: Verb,
    required: &'static [&'static str],
    optional: &'static [&'static str],
    exclusive: Option<&'static str>,
}

const ARGUMENT_RULES: [Rule; 6] = [
    Rule {
        verb: Verb::GetRecord,
        required: &["identifier", "metadataPrefix"],
        optional: &[],
        exclusive: None,
    },
    Rule {
        verb: Verb::Identify,
        required: &[],
        optional: &[],
        exclusive: None,
    },
    Rule {
        verb: Verb::ListIdentifiers,
        required: &["metadataPrefix"],
        optional: &["from", "until", "set"],
        exclusive: Some("resumptionToken"),
    },
    Rule {
        verb: Verb::ListMetadataFormats,
        required: &[],
        optional: &["identifier"],
        exclusive: None,
    },
    Rule {
        verb: Verb::ListRecords,
        required: &["metadataPrefix"],
        optional: &["from", "until", "set"],
        exclusive: Some("resumptionToken"),
    },
    Rule {
        verb: Verb::ListSets,
        required: &[],
        optional: &[],
        exclusive: Some("resumptionToken"),
    },
];

/// A request exactly as it arrived: the decoded `name=value` pairs of the query or form body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRequest {
    pairs: Vec<(String, String)>,
    /// Indexes of the pairs whose name or value was not UTF-8 once percent-decoded.
    not_utf8: Vec<usize>,
}

impl RawRequest {
    /// Decodes an `application/x-www-form-urlencoded` string (a query string or a POST body).
    ///
    /// Bytes that are not UTF-8 (among them the encoded surrogates `%ED%A0%80`…) are kept as
    /// U+FFFD for messages, and the pair is marked, so that [`Request::parse`] refuses it
    /// instead of looking up a value the client never sent.
    pub fn from_urlencoded(input: &[u8]) -> Self {
        let mut raw = RawRequest::default();
        for piece in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &piece[piece.len()..]),
            };
            let (name, name_ok) = decode_component(name);
            let (value, value_ok) = decode_component(value);
            if !(name_ok && value_ok) {
                raw.not_utf8.push(raw.pairs.len());
            }
            raw.pairs.push((name, value));
        }
        raw
    }

    /// The pairs in arrival order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// True when the pair at `index` was not UTF-8.
    fn is_utf8(&self, index: usize) -> bool {
        self.not_utf8.binary_search(&index).is_err()
    }
}

/// Percent-decodes one name or value (`+` is a space); false when the bytes are not UTF-8.
fn decode_component(bytes: &[u8]) -> (String, bool) {
    let plus_as_space: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    match String::from_utf8(decoded) {
        Ok(s) => (s, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    }
}

/// The filter arguments of a first ListIdentifiers or ListRecords request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListArguments {
    /// Required metadataPrefix.
    pub metadata_prefix: MetadataPrefix,
    /// Optional lower bound, inclusive.
    pub from: Option<DateArgument>,
    /// Optional upper bound, inclusive.
    pub until: Option<DateArgument>,
    /// Optional set.
    pub set: Option<SetSpec>,
}

/// A first request or the continuation of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListRequest {
    /// The first request, with its filter.
    Start(ListArguments),
    /// A later request, with its checked token.
    Resume(ResumptionToken),
}

/// A valid OAI-PMH request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// §4.1
    GetRecord {
        /// The item.
        identifier: OaiIdentifier,
        /// The format.
        metadata_prefix: MetadataPrefix,
    },
    /// §4.2
    Identify,
    /// §4.3
    ListIdentifiers(ListRequest),
    /// §4.4
    ListMetadataFormats {
        /// The item whose formats are asked for, or all formats.
        identifier: Option<OaiIdentifier>,
    },
    /// §4.5
    ListRecords(ListRequest),
    /// §4.6
    ListSets {
        /// The continuation of the list of sets.
        resumption_token: Option<ResumptionToken>,
    },
}

impl Request {
    /// The verb of this request.
    pub fn verb(&self) -> Verb {
        match self {
            Request::GetRecord { .. } => Verb::GetRecord,
            Request::Identify => Verb::Identify,
            Request::ListIdentifiers(_) => Verb::ListIdentifiers,
            Request::ListMetadataFormats { .. } => Verb::ListMetadataFormats,
            Request::ListRecords(_) => Verb::ListRecords,
            Request::ListSets { .. } => Verb::ListSets,
        }
    }

    /// Applies the argument rules of §3.1 and §4 and parses every value.
    ///
    /// # Errors
    /// Every badVerb, badArgument or badResumptionToken condition found.
    pub fn parse(
        raw: &RawRequest,
        tokens: &TokenCodec,
        now: Datestamp,
    ) -> Result<Request, OaiErrors> {
        let verb = parse_verb(raw)?;
        let rule = ARGUMENT_RULES
            .iter()
            .find(|r| r.verb == verb)
            .expect("Every verb has a rule.");
        let Arguments {
            mut errors,
            args,
            seen,
        } = Arguments::collect(raw, rule);
        let get = |name: &str| args.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);

        if let Some(token_text) = rule.exclusive.and_then(get) {
            if args.len() > 1 {
                errors.push(OaiError::BadArgument(format!(
                    "{} is an exclusive argument: no other argument may come with it",
                    rule.exclusive.unwrap_or_default()
                )));
            }
            if let Some(errors) = OaiErrors::from_vec(errors) {
                return Err(errors);
            }
            return resume(verb, tokens, token_text, now);
        }
        for required in rule.required {
            if !seen.contains(required) {
                errors.push(OaiError::BadArgument(format!(
                    "the {required} argument is required"
                )));
            }
        }
        let identifier = get("identifier").and_then(|v| {
            value(&mut errors, v, OaiIdentifier::parse, || {
                format!(
                    "\"{}\" is not a valid identifier (a URI such as oai:example.org:1)",
                    printable(v)
                )
            })
        });
        let metadata_prefix = get("metadataPrefix").and_then(|v| {
            value(&mut errors, v, MetadataPrefix::parse, || {
                format!("\"{}\" is not a valid metadataPrefix", printable(v))
            })
        });
        let set = get("set").and_then(|v| {
            value(&mut errors, v, SetSpec::parse, || {
                format!("\"{}\" is not a valid setSpec", printable(v))
            })
        });
        let mut date = |name: &str| {
            get(name).and_then(|v| {
                value(&mut errors, v, DateArgument::parse, || {
                    format!(
                        "{name} \"{}\" is not a date of the form YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ",
                        printable(v)
                    )
                })
            })
        };
        let from = date("from");
        let until = date("until");
        check_range(&mut errors, from, until);
        if let Some(errors) = OaiErrors::from_vec(errors) {
            return Err(errors);
        }
        let list = || {
            ListRequest::Start(ListArguments {
                metadata_prefix: metadata_prefix.clone().expect("required and checked"),
                from,
                until,
                set: set.clone(),
            })
        };
        Ok(match verb {
            Verb::GetRecord => Request::GetRecord {
                identifier: identifier.clone().expect("required and checked"),
                metadata_prefix: metadata_prefix.clone().expect("required and checked"),
            },
            Verb::Identify => Request::Identify,
            Verb::ListIdentifiers => Request::ListIdentifiers(list()),
            Verb::ListMetadataFormats => Request::ListMetadataFormats { identifier },
            Verb::ListRecords => Request::ListRecords(list()),
            Verb::ListSets => Request::ListSets {
                resumption_token: None,
            },
        })
    }
}

/// The one `verb` argument, parsed.
fn parse_verb(raw: &RawRequest) -> Result<Verb, OaiErrors> {
    let mut verbs = raw.pairs.iter().filter(|(k, _)| k == "verb");
    match (verbs.next(), verbs.next()) {
        (None, _) => Err(OaiError::BadVerb("the verb argument is missing".into()).into()),
        (Some((_, v)), None) => Verb::parse(v).ok_or_else(|| {
            OaiError::BadVerb(format!("\"{}\" is not an OAI-PMH verb", printable(v))).into()
        }),
        (Some(_), Some(_)) => Err(OaiError::BadVerb("the verb argument is repeated".into()).into()),
    }
}

/// The arguments of a request other than the verb, sorted out by the verb's rule.
struct Arguments<'a> {
    /// Unknown, repeated and undecodable arguments.
    errors: Vec<OaiError>,
    /// The first occurrence of each known argument whose value decoded.
    args: Vec<(&'a str, &'a str)>,
    /// Every known argument given, decoded or not.
    seen: Vec<&'a str>,
}

impl<'a> Arguments<'a> {
    fn collect(raw: &'a RawRequest, rule: &Rule) -> Self {
        let mut errors = Vec::new();
        let mut args: Vec<(&str, &str)> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let mut repeated: Vec<&str> = Vec::new();
        for (index, (name, value)) in raw.pairs.iter().enumerate() {
            if name == "verb" {
                continue;
            }
            let known = rule.required.contains(&name.as_str())
                || rule.optional.contains(&name.as_str())
                || rule.exclusive == Some(name.as_str());
            if !known {
                errors.push(OaiError::BadArgument(format!(
                    "\"{}\" is not an argument of {}",
                    printable(name),
                    rule.verb
                )));
            } else if seen.contains(&name.as_str()) {
                if !repeated.contains(&name.as_str()) {
                    repeated.push(name);
                    errors.push(OaiError::BadArgument(format!(
                        "the {name} argument is repeated"
                    )));
                }
            } else {
                seen.push(name);
                if raw.is_utf8(index) {
                    args.push((name, value));
                } else {
                    // Decoding it with replacement characters would look up a value the client
                    // never sent, and two different requests would get the same answer.
                    errors.push(OaiError::BadArgument(format!(
                        "the value of the {name} argument is not UTF-8 once percent-decoded"
                    )));
                }
            }
        }
        Arguments { errors, args, seen }
    }
}

/// Parses one value with `parse`, recording `message()` as a badArgument when it fails.
fn value<T>(
    errors: &mut Vec<OaiError>,
    text: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    message: impl FnOnce() -> String,
) -> Option<T> {
    let parsed = parse(text);
    if parsed.is_none() {
        errors.push(OaiError::BadArgument(message()));
    }
    parsed
}

/// `from` and `until` must have one granularity and be in order.
fn check_range(
    errors: &mut Vec<OaiError>,
    from: Option<DateArgument>,
    until: Option<DateArgument>,
) {
    if let (Some(f), Some(u)) = (from, until) {
        if f.granularity != u.granularity {
            errors.push(OaiError::BadArgument(
                "from and until must have the same granularity".into(),
            ));
        } else if f.start > u.start {
            errors.push(OaiError::BadArgument("from is later than until".into()));
        }
    }
}

/// The continuation of a list, from its token.
fn resume(
    verb: Verb,
    tokens: &TokenCodec,
    token_text: &str,
    now: Datestamp,
) -> Result<Request, OaiErrors> {
    let kind = match verb {
        Verb::ListIdentifiers => ListKind::Identifiers,
        Verb::ListRecords => ListKind::Records,
        _ => ListKind::Sets,
    };
    let token = tokens
        .decode(token_text, kind, now)
        .map_err(|e| OaiError::BadResumptionToken(e.to_string()))?;
    Ok(match verb {
        Verb::ListIdentifiers => Request::ListIdentifiers(ListRequest::Resume(token)),
        Verb::ListRecords => Request::ListRecords(ListRequest::Resume(token)),
        _ => Request::ListSets {
            resumption_token: Some(token),
        },
    })
}

/// A short, printable form of a client's value for an error message.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| crate::dc::is_xml_char(*c) && !c.is_control())
        .take(100)
        .collect();
    if s.chars().count() > 100 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<Request, Vec<&'static str>> {
        let codec = TokenCodec::new(b"k");
        Request::parse(
            &RawRequest::from_urlencoded(q.as_bytes()),
            &codec,
            Datestamp::from_unix(0),
        )
        .map_err(|e| e.as_slice().iter().map(OaiError::code).collect())
    }

    #[test]
    fn verb_missing_repeated_or_unknown_is_bad_verb() {
        assert_eq!(parse(""), Err(vec!["badVerb"]));
        assert_eq!(parse("verb=Identify&verb=Identify"), Err(vec!["badVerb"]));
        assert_eq!(parse("verb=identify"), Err(vec!["badVerb"]));
        assert_eq!(parse("verb=Nonsense&foo=bar"), Err(vec!["badVerb"]));
    }

    #[test]
    fn identify_takes_no_argument() {
        assert_eq!(parse("verb=Identify"), Ok(Request::Identify));
        assert_eq!(parse("verb=Identify&set=a"), Err(vec!["badArgument"]));
    }

    #[test]
    fn every_argument_problem_is_reported() {
        assert_eq!(
            parse("verb=ListRecords&from=2001-13-01&set=a&set=b&foo=1"),
            Err(vec![
                "badArgument",
                "badArgument",
                "badArgument",
                "badArgument"
            ])
        );
    }

    #[test]
    fn resumption_token_is_exclusive() {
        assert_eq!(
            parse("verb=ListRecords&resumptionToken=x&metadataPrefix=oai_dc"),
            Err(vec!["badArgument"])
        );
        assert_eq!(
            parse("verb=ListRecords&resumptionToken=x"),
            Err(vec!["badResumptionToken"])
        );
        assert_eq!(
            parse("verb=ListSets&resumptionToken="),
            Err(vec!["badResumptionToken"])
        );
    }

    #[test]
    fn until_before_from_is_a_bad_argument() {
        assert_eq!(
            parse("verb=ListIdentifiers&metadataPrefix=oai_dc&from=2002-01-02&until=2002-01-01"),
            Err(vec!["badArgument"])
        );
        assert!(parse(
            "verb=ListIdentifiers&metadataPrefix=oai_dc&from=2002-01-01&until=2002-01-01"
        )
        .is_ok());
    }

    #[test]
    fn mixed_granularities_are_a_bad_argument() {
        assert_eq!(
            parse(
                "verb=ListRecords&metadataPrefix=oai_dc&from=2002-01-01&until=2002-01-02T00:00:00Z"
            ),
            Err(vec!["badArgument"])
        );
    }

    #[test]
    fn get_record_needs_both_arguments() {
        assert_eq!(
            parse("verb=GetRecord&identifier=oai:x:1"),
            Err(vec!["badArgument"])
        );
        assert_eq!(
            parse("verb=GetRecord"),
            Err(vec!["badArgument", "badArgument"])
        );
        assert_eq!(
            parse("verb=GetRecord&identifier=not%20a%20uri&metadataPrefix=oai_dc"),
            Err(vec!["badArgument"])
        );
        assert!(parse("verb=GetRecord&identifier=oai:x:1&metadataPrefix=oai_dc").is_ok());
    }

    #[test]
    fn values_that_are_not_utf8_are_bad_arguments_not_replacement_characters() {
        // A lone surrogate (CESU-8 / WTF-8), an overlong form, a stray continuation byte.
        for bad in ["%ED%A0%80", "%C0%AF", "%80", "%ED%BF%BF"] {
            assert_eq!(
                parse(&format!(
                    "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:x:{bad}"
                )),
                Err(vec!["badArgument"]),
                "{bad}"
            );
        }
        assert_eq!(parse("verb=Identify%ED%A0%80"), Err(vec!["badVerb"]));
        assert_eq!(
            parse("verb=ListRecords&metadataPrefix=oai_dc&%ED%A0%80=1"),
            Err(vec!["badArgument"])
        );
        // Encoded U+FFFD itself is UTF-8, and a valid identifier.
        assert!(parse("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:x:%EF%BF%BD").is_ok());
    }

    #[test]
    fn identifiers_with_noncharacters_or_controls_are_bad_arguments() {
        for bad in ["%EF%BF%BE", "%EF%BF%BF", "%C2%85", "%01", "%7F"] {
            assert_eq!(
                parse(&format!(
                    "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:x:1{bad}"
                )),
                Err(vec!["badArgument"]),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_leap_second_is_a_bad_argument() {
        assert_eq!(
            parse("verb=ListRecords&metadataPrefix=oai_dc&from=2016-12-31T23:59:60Z"),
            Err(vec!["badArgument"])
        );
    }

    #[test]
    fn form_decoding_reads_plus_as_space_and_keeps_empty_values() {
        let raw = RawRequest::from_urlencoded(b"a=x+y%2B&b&&c=");
        assert_eq!(
            raw.pairs(),
            [
                ("a".to_owned(), "x y+".to_owned()),
                ("b".to_owned(), String::new()),
                ("c".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn empty_values_are_bad_arguments() {
        assert_eq!(
            parse("verb=ListRecords&metadataPrefix="),
            Err(vec!["badArgument"])
        );
        assert_eq!(
            parse("verb=ListMetadataFormats&identifier="),
            Err(vec!["badArgument"])
        );
    }
}
