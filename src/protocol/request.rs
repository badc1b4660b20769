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
}

impl RawRequest {
    /// Decodes an `application/x-www-form-urlencoded` string (a query string or a POST body).
    pub fn from_urlencoded(input: &[u8]) -> Self {
        RawRequest {
            pairs: form_urlencoded::parse(input).into_owned().collect(),
        }
    }

    /// The pairs in arrival order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
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
        let verbs: Vec<&str> = raw
            .pairs
            .iter()
            .filter(|(k, _)| k == "verb")
            .map(|(_, v)| v.as_str())
            .collect();
        let verb = match verbs.as_slice() {
            [] => return Err(OaiError::BadVerb("the verb argument is missing".into()).into()),
            [v] => Verb::parse(v).ok_or_else(|| {
                OaiError::BadVerb(format!("\"{}\" is not an OAI-PMH verb", printable(v)))
            })?,
            _ => return Err(OaiError::BadVerb("the verb argument is repeated".into()).into()),
        };
        let rule = ARGUMENT_RULES
            .iter()
            .find(|r| r.verb == verb)
            .expect("Every verb has a rule.");

        let mut errors = Vec::new();
        let mut args: Vec<(&str, &str)> = Vec::new();
        let mut repeated: Vec<&str> = Vec::new();
        for (name, value) in raw.pairs.iter().filter(|(k, _)| k != "verb") {
            let known = rule.required.contains(&name.as_str())
                || rule.optional.contains(&name.as_str())
                || rule.exclusive == Some(name.as_str());
            if !known {
                errors.push(OaiError::BadArgument(format!(
                    "\"{}\" is not an argument of {verb}",
                    printable(name)
                )));
            } else if args.iter().any(|(n, _)| n == name) {
                if !repeated.contains(&name.as_str()) {
                    repeated.push(name);
                    errors.push(OaiError::BadArgument(format!(
                        "the {name} argument is repeated"
                    )));
                }
            } else {
                args.push((name, value));
            }
        }
        let get = |name: &str| args.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);

        if let Some(exclusive) = rule.exclusive {
            if let Some(token_text) = get(exclusive) {
                if args.len() > 1 {
                    errors.push(OaiError::BadArgument(format!(
                        "{exclusive} is an exclusive argument: no other argument may come with it"
                    )));
                }
                if !errors.is_empty() {
                    return Err(OaiErrors::from_vec(errors).expect("not empty"));
                }
                let kind = match verb {
                    Verb::ListIdentifiers => ListKind::Identifiers,
                    Verb::ListRecords => ListKind::Records,
                    _ => ListKind::Sets,
                };
                let token = tokens
                    .decode(token_text, kind, now)
                    .map_err(|e| OaiError::BadResumptionToken(e.to_string()))?;
                return Ok(match verb {
                    Verb::ListIdentifiers => Request::ListIdentifiers(ListRequest::Resume(token)),
                    Verb::ListRecords => Request::ListRecords(ListRequest::Resume(token)),
                    _ => Request::ListSets {
                        resumption_token: Some(token),
                    },
                });
            }
        }
        for required in rule.required {
            if get(required).is_none() {
                errors.push(OaiError::BadArgument(format!(
                    "the {required} argument is required"
                )));
            }
        }

        let identifier = get("identifier").and_then(|v| {
            OaiIdentifier::parse(v).or_else(|| {
                errors.push(OaiError::BadArgument(format!(
                    "\"{}\" is not a valid identifier (a URI such as oai:example.org:1)",
                    printable(v)
                )));
                None
            })
        });
        let metadata_prefix = get("metadataPrefix").and_then(|v| {
            MetadataPrefix::parse(v).or_else(|| {
                errors.push(OaiError::BadArgument(format!(
                    "\"{}\" is not a valid metadataPrefix",
                    printable(v)
                )));
                None
            })
        });
        let set = get("set").and_then(|v| {
            SetSpec::parse(v).or_else(|| {
                errors.push(OaiError::BadArgument(format!(
                    "\"{}\" is not a valid setSpec",
                    printable(v)
                )));
                None
            })
        });
        let mut date = |name: &str| {
            get(name).and_then(|v| {
                DateArgument::parse(v).or_else(|| {
                    errors.push(OaiError::BadArgument(format!(
                        "{name} \"{}\" is not a date of the form YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ",
                        printable(v)
                    )));
                    None
                })
            })
        };
        let from = date("from");
        let until = date("until");
        if let (Some(f), Some(u)) = (from, until) {
            if f.granularity != u.granularity {
                errors.push(OaiError::BadArgument(
                    "from and until must have the same granularity".into(),
                ));
            } else if f.start > u.start {
                errors.push(OaiError::BadArgument("from is later than until".into()));
            }
        }

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
