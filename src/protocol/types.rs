//! The typed values of OAI-PMH 2.0 requests (§3.1.1, §3.3, §3.4, §3.5): every raw argument is
//! parsed into one of these at the edge, so the rest of the crate never sees a raw string.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// The six OAI-PMH verbs (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// §4.1
    GetRecord,
    /// §4.2
    Identify,
    /// §4.3
    ListIdentifiers,
    /// §4.4
    ListMetadataFormats,
    /// §4.5
    ListRecords,
    /// §4.6
    ListSets,
}

impl Verb {
    /// The verb as written in requests and in the response element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::GetRecord => "GetRecord",
            Verb::Identify => "Identify",
            Verb::ListIdentifiers => "ListIdentifiers",
            Verb::ListMetadataFormats => "ListMetadataFormats",
            Verb::ListRecords => "ListRecords",
            Verb::ListSets => "ListSets",
        }
    }

    /// Parses a verb; verbs are case-sensitive (§3.1.1).
    pub fn parse(s: &str) -> Option<Verb> {
        Some(match s {
            "GetRecord" => Verb::GetRecord,
            "Identify" => Verb::Identify,
            "ListIdentifiers" => Verb::ListIdentifiers,
            "ListMetadataFormats" => Verb::ListMetadataFormats,
            "ListRecords" => Verb::ListRecords,
            "ListSets" => Verb::ListSets,
            _ => return None,
        })
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

/// A metadata format prefix (`metadataPrefixType`: `[A-Za-z0-9\-_\.!~\*'\(\)]+`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MetadataPrefix(String);

impl MetadataPrefix {
    /// Parses a prefix, or `None` when it does not match the schema's pattern.
    pub fn parse(s: &str) -> Option<Self> {
        (!s.is_empty() && s.chars().all(is_unreserved)).then(|| MetadataPrefix(s.to_owned()))
    }

    /// The `oai_dc` prefix every repository must support (§3.4).
    pub fn oai_dc() -> Self {
        MetadataPrefix("oai_dc".into())
    }
}

impl AsRef<str> for MetadataPrefix {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetadataPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set specification (`setSpecType`): colon-separated parts of unreserved characters (§3.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SetSpec(String);

impl SetSpec {
    /// Parses a setSpec, or `None` when it does not match the schema's pattern.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.split(':')
                .all(|part| !part.is_empty() && part.chars().all(is_unreserved));
        ok.then(|| SetSpec(s.to_owned()))
    }

    /// This set and every set above it in the hierarchy: `a:b:c` → `a:b:c`, `a:b`, `a`.
    pub fn with_ancestors(&self) -> impl Iterator<Item = &str> {
        let s = self.0.as_str();
        std::iter::once(s).chain(
            s.char_indices()
                .rev()
                .filter(|(_, c)| *c == ':')
                .map(move |(i, _)| &s[..i]),
        )
    }
}

impl AsRef<str> for SetSpec {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SetSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The unique identifier of an item (§2.4): a URI, such as `oai:example.org:1` or `hdl:1765/315`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OaiIdentifier(String);

impl OaiIdentifier {
    /// Longest identifier accepted; longer ones cannot be stored as index keys sensibly.
    pub const MAX_LEN: usize = 1024;

    /// Parses an identifier: a URI scheme, a colon, then no whitespace, no control character
    /// (C0 or C1), and nothing XML 1.0 forbids or discourages (U+FFFE, U+FFFF and the other
    /// noncharacters).
    ///
    /// Such a character is refused rather than stripped: stripping would merge `oai:x:1` and
    /// `oai:x:1\u{FFFE}` into one record, and keeping it would break every page that holds it.
    pub fn parse(s: &str) -> Option<Self> {
        let (scheme, rest) = s.split_once(':')?;
        let scheme_ok = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        let rest_ok = !rest.is_empty()
            && rest
                .chars()
                .all(|c| is_identifier_char(c) && !"<>\"{}|\\^`".contains(c))
            && valid_percent_escapes(rest)
            && rest.matches('#').count() <= 1;
        (scheme_ok && rest_ok && s.len() <= Self::MAX_LEN).then(|| OaiIdentifier(s.to_owned()))
    }
}

/// True for a character an identifier may hold: allowed by XML 1.0, not whitespace, not a C0
/// or C1 control, not a noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF).
fn is_identifier_char(c: char) -> bool {
    crate::dc::is_xml_char(c) && !c.is_whitespace() && !c.is_control() && !is_noncharacter(c)
}

/// The 66 Unicode noncharacters, which XML 1.0 (§2.2) asks documents to avoid.
pub fn is_noncharacter(c: char) -> bool {
    let n = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&n) || n & 0xFFFE == 0xFFFE
}

/// True when every `%` starts a `%XX` escape, as `xs:anyURI` (and so the schema) requires.
fn valid_percent_escapes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().all(|(i, c)| {
        *c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

impl AsRef<str> for OaiIdentifier {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OaiIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The two datestamp granularities of OAI-PMH (§3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Granularity {
    /// `YYYY-MM-DD`
    Day,
    /// `YYYY-MM-DDThh:mm:ssZ`
    Second,
}

/// A UTC datestamp to the second (§3.3): how records are stamped in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Datestamp(i64);

impl Datestamp {
    /// The datestamp at this many seconds since the Unix epoch.
    pub fn from_unix(secs: i64) -> Self {
        Datestamp(secs)
    }

    /// Now, truncated to the second.
    pub fn now() -> Self {
        Datestamp(Utc::now().timestamp())
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0
    }

    /// As a chrono date-time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.0, 0).single().unwrap_or_default()
    }

    /// Parses `YYYY-MM-DDThh:mm:ssZ` exactly (the storage and response form).
    pub fn parse(s: &str) -> Option<Self> {
        match DateArgument::parse(s)? {
            DateArgument {
                granularity: Granularity::Second,
                start,
                ..
            } => Some(start),
            DateArgument { .. } => None,
        }
    }

    /// Parses the datestamps other software writes: `YYYY-MM-DD`, with seconds, or RFC 3339
    /// with an offset or fraction (converted to UTC and truncated to the second).
    pub fn parse_lenient(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(d) = DateArgument::parse(s) {
            return Some(d.start);
        }
        DateTime::parse_from_rfc3339(s)
            .ok()
            .filter(|d| (1..=9999).contains(&d.with_timezone(&Utc).year()))
            .map(|d| Datestamp(d.timestamp()))
    }
}

impl fmt::Display for Datestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // From the fields, not a format string: every header written formats one, and
        // interpreting `%Y-%m-%d…` each time was over a percent of a harvest's CPU.
        let d = self.to_datetime();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            d.year(),
            d.month(),
            d.day(),
            d.hour(),
            d.minute(),
            d.second()
        )
    }
}

/// A `from` or `until` argument: the instant range it stands for, and how it was written.
///
/// `from` and `until` are inclusive (§3.3.1), so a day-granularity `until` covers the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateArgument {
    /// The granularity the client used.
    pub granularity: Granularity,
    /// The first second the argument covers.
    pub start: Datestamp,
    /// The last second the argument covers.
    pub end: Datestamp,
}

impl DateArgument {
    /// Parses `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`, exactly (no fractions, no offsets; years
    /// 0001 to 9999, as `xs:date` and `xs:dateTime` allow).
    pub fn parse(s: &str) -> Option<Self> {
        if s.starts_with("0000") {
            return None;
        }
        let digits_at = |range: &[usize]| range.iter().all(|&i| s.as_bytes()[i].is_ascii_digit());
        match s.len() {
            10 if digits_at(&[0, 1, 2, 3, 5, 6, 8, 9]) => {
                let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
                let start = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
                Some(DateArgument {
                    granularity: Granularity::Day,
                    start: Datestamp(start),
                    end: Datestamp(start + 86_399),
                })
            }
            20 if digits_at(&[0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]) => {
                let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ").ok()?;
                // chrono reads `:60` as a leap second (a nanosecond count past one second);
                // `xs:dateTime` has no leap seconds, so an echoed one would fail the schema.
                if t.nanosecond() != 0 {
                    return None;
                }
                let secs = t.and_utc().timestamp();
                Some(DateArgument {
                    granularity: Granularity::Second,
                    start: Datestamp(secs),
                    end: Datestamp(secs),
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn day_granularity_covers_the_whole_day() {
        let d = DateArgument::parse("2017-06-01").unwrap();
        assert_eq!(d.granularity, Granularity::Day);
        assert_eq!(d.start.to_string(), "2017-06-01T00:00:00Z");
        assert_eq!(d.end.to_string(), "2017-06-01T23:59:59Z");
    }

    #[test]
    fn malformed_dates_are_refused() {
        for s in [
            "2017-02-30",
            "2017-6-01",
            "2017-06-01T00:00:00",
            "2017-06-01T00:00:00.5Z",
            "2017-06-01T24:00:00Z",
            "2017-06-01t00:00:00z",
            "+017-06-01",
            "",
            "2017-06-01T00:00:00+01:00",
            "0000-01-01",
            "0000-01-01T00:00:00Z",
            "2016-12-31T23:59:60Z",
            "2017-06-30T23:59:60Z",
            "2017-06-01T00:00:61Z",
        ] {
            assert!(DateArgument::parse(s).is_none(), "{s}");
        }
    }

    #[test]
    fn hierarchical_set_lists_itself_and_its_ancestors() {
        let s = SetSpec::parse("a:b:c").unwrap();
        assert_eq!(
            s.with_ancestors().collect::<Vec<_>>(),
            ["a:b:c", "a:b", "a"]
        );
        assert!(SetSpec::parse("a::b").is_none());
        assert!(SetSpec::parse("a b").is_none());
        assert!(SetSpec::parse(":a").is_none());
    }

    #[test]
    fn identifiers_must_look_like_uris() {
        assert!(OaiIdentifier::parse("oai:example.org:1").is_some());
        assert!(OaiIdentifier::parse("hdl:1765/315").is_some());
        assert!(OaiIdentifier::parse("oai:x:a%2Fb#frag").is_some());
        for bad in [
            "",
            "nocolon",
            "oai:",
            "1oai:x",
            "oai:a b",
            "oai:a\u{0}",
            "oai:x:a%zz",
            "oai:x:a%2",
            "a:b#c#d",
            "oai:x:1\u{FFFE}",
            "oai:x:1\u{FFFF}",
            "oai:x:\u{FDD0}",
            "oai:x:\u{10FFFF}",
            "oai:x:1\u{85}",
            "oai:x:1\u{9F}",
            "oai:x:1\u{7F}",
            "oai:x:1\u{1B}",
            "oai:x:1\u{2028}",
        ] {
            assert!(OaiIdentifier::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn identifiers_may_hold_other_unicode() {
        for good in [
            "oai:x:caf\u{E9}",
            "oai:x:\u{4E2D}\u{6587}",
            "oai:x:\u{1F600}",
            "oai:x:\u{FFFD}",
        ] {
            assert!(OaiIdentifier::parse(good).is_some(), "{good:?}");
        }
    }

    #[test]
    fn lenient_parsing_accepts_offsets_and_fractions() {
        assert_eq!(
            Datestamp::parse_lenient("2017-06-01T02:00:00.123+02:00")
                .unwrap()
                .to_string(),
            "2017-06-01T00:00:00Z"
        );
    }

    proptest! {
        #[test]
        fn datestamp_format_then_parse_is_identity(secs in -62_135_596_800i64..253_402_300_799) {
            let d = Datestamp::from_unix(secs);
            prop_assert_eq!(Datestamp::parse(&d.to_string()), Some(d));
            let day = &d.to_string()[..10];
            let arg = DateArgument::parse(day).unwrap();
            prop_assert!(arg.start <= d && d <= arg.end);
        }

        #[test]
        fn datestamps_are_written_as_chrono_writes_them(secs in -62_135_596_800i64..253_402_300_799) {
            let d = Datestamp::from_unix(secs);
            prop_assert_eq!(d.to_string(), d.to_datetime().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
    }
}
