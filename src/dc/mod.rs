//! Dublin Core metadata: the fifteen DCMES 1.1 elements, each repeatable, each value with an
//! optional `xml:lang`, in the order the values were given.
//!
//! [`DcRecord`] is what the importers and the harvester produce and what the store renders as
//! `oai_dc` (OAI-PMH 2.0 §3.4 and Appendix "oai_dc").

pub mod json;
pub mod xml;

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the fifteen Dublin Core Metadata Element Set 1.1 elements, in canonical order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DcElement {
    /// `dc:title`
    Title,
    /// `dc:creator`
    Creator,
    /// `dc:subject`
    Subject,
    /// `dc:description`
    Description,
    /// `dc:publisher`
    Publisher,
    /// `dc:contributor`
    Contributor,
    /// `dc:date`
    Date,
    /// `dc:type`
    Type,
    /// `dc:format`
    Format,
    /// `dc:identifier`
    Identifier,
    /// `dc:source`
    Source,
    /// `dc:language`
    Language,
    /// `dc:relation`
    Relation,
    /// `dc:coverage`
    Coverage,
    /// `dc:rights`
    Rights,
}

impl DcElement {
    /// All elements in canonical DCMES order (the order `oai_dc` output uses).
    pub const ALL: [DcElement; 15] = [
        DcElement::Title,
        DcElement::Creator,
        DcElement::Subject,
        DcElement::Description,
        DcElement::Publisher,
        DcElement::Contributor,
        DcElement::Date,
        DcElement::Type,
        DcElement::Format,
        DcElement::Identifier,
        DcElement::Source,
        DcElement::Language,
        DcElement::Relation,
        DcElement::Coverage,
        DcElement::Rights,
    ];

    /// The element's local name in the `dc` namespace (`"title"`).
    pub fn name(self) -> &'static str {
        match self {
            DcElement::Title => "title",
            DcElement::Creator => "creator",
            DcElement::Subject => "subject",
            DcElement::Description => "description",
            DcElement::Publisher => "publisher",
            DcElement::Contributor => "contributor",
            DcElement::Date => "date",
            DcElement::Type => "type",
            DcElement::Format => "format",
            DcElement::Identifier => "identifier",
            DcElement::Source => "source",
            DcElement::Language => "language",
            DcElement::Relation => "relation",
            DcElement::Coverage => "coverage",
            DcElement::Rights => "rights",
        }
    }

    /// The element with this local name, if it is one of the fifteen.
    pub fn from_name(name: &str) -> Option<DcElement> {
        DcElement::ALL.into_iter().find(|e| e.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DcElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value of a Dublin Core element, with its optional language (`xml:lang`, BCP 47).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DcValue {
    /// The text of the element.
    pub value: String,
    /// The `xml:lang` of the element, if any.
    pub lang: Option<String>,
}

impl DcValue {
    /// A value without a language.
    pub fn new(value: impl Into<String>) -> Self {
        DcValue {
            value: value.into(),
            lang: None,
        }
    }

    /// A value in the given language (`xml:lang`).
    pub fn with_lang(value: impl Into<String>, lang: impl Into<String>) -> Self {
        DcValue {
            value: value.into(),
            lang: Some(lang.into()),
        }
    }
}

/// A Dublin Core description: for each of the fifteen elements, its values in the order given.
///
/// Its serde form is the JSON object of `moisson import dc` (see [`json`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DcRecord {
    values: [Vec<DcValue>; 15],
}

impl DcRecord {
    /// An empty description.
    pub fn new() -> Self {
        DcRecord::default()
    }

    /// Appends a value to an element, after the values it already has.
    pub fn push(&mut self, element: DcElement, value: DcValue) {
        self.values[element.index()].push(value);
    }

    /// Appends a value without a language.
    pub fn push_str(&mut self, element: DcElement, value: impl Into<String>) {
        self.push(element, DcValue::new(value));
    }

    /// The values of one element, in order.
    pub fn get(&self, element: DcElement) -> &[DcValue] {
        &self.values[element.index()]
    }

    /// Every (element, value) pair in canonical element order, values in their own order.
    pub fn iter(&self) -> impl Iterator<Item = (DcElement, &DcValue)> {
        DcElement::ALL
            .into_iter()
            .flat_map(move |e| self.values[e.index()].iter().map(move |v| (e, v)))
    }

    /// Mutable access to every value, for cleaning passes (see [`strip_illegal_xml_chars`]).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut DcValue> {
        self.values.iter_mut().flatten()
    }

    /// True when no element has a value.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Vec::is_empty)
    }

    /// Number of values over all elements.
    pub fn len(&self) -> usize {
        self.values.iter().map(Vec::len).sum()
    }

    /// Removes characters XML 1.0 forbids from every value and language; returns how many went.
    ///
    /// One control character in one record must not make a whole harvest fail (DSpace #10721),
    /// so they are dropped when the record is written rather than escaped or rejected.
    pub fn strip_illegal_xml_chars(&mut self) -> usize {
        let mut removed = 0;
        for v in self.values_mut() {
            removed += strip_illegal_xml_chars(&mut v.value);
            if let Some(lang) = v.lang.as_mut() {
                removed += strip_illegal_xml_chars(lang);
            }
        }
        removed
    }
}

/// True for characters allowed by the XML 1.0 `Char` production.
pub fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\u{9}' | '\u{A}' | '\u{D}'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// A cheap byte scan before the exact per-character check: true when `s` may hold a character
/// XML 1.0 forbids. In a `str` those are C0 controls other than tab, LF and CR, and
/// U+FFFE/U+FFFF (encoded `EF BF BE`/`EF BF BF`), so a string without such a control and
/// without the byte `EF` holds none.
pub fn may_hold_illegal_xml(s: &str) -> bool {
    any_illegal_xml_or(s.as_bytes(), false, [])
}

/// 1 for a byte that may start a character XML 1.0 forbids, for a CR when `cr`, and for one
/// of `also`; else 0.
///
/// Those bytes are the ones [`may_hold_illegal_xml`] looks for; `cr` and `also` name what a
/// caller must look at besides (text escapes CR; markup). Branch-free, so that [`any_byte`]
/// vectorises a scan with it.
#[inline]
pub(crate) fn illegal_xml_or<const N: usize>(b: u8, cr: bool, also: [u8; N]) -> u8 {
    let control = u8::from(b < 0x20) & u8::from(b != b'\t') & u8::from(b != b'\n');
    let start = (control & (u8::from(cr) | u8::from(b != b'\r'))) | u8::from(b == 0xEF);
    also.iter().fold(start, |flag, &a| flag | u8::from(b == a))
}

/// True when some byte of `bytes` is one [`illegal_xml_or`] flags: one vectorised scan.
#[inline]
pub(crate) fn any_illegal_xml_or<const N: usize>(bytes: &[u8], cr: bool, also: [u8; N]) -> bool {
    any_byte(bytes, |b| illegal_xml_or(b, cr, also))
}

/// True when `flag` gives 1 for some byte of `bytes`.
///
/// Chunks are folded without short-circuit, so that the compiler vectorises the scan: this
/// runs over every value written and read, and a branch per byte was most of its cost.
#[inline]
pub(crate) fn any_byte(bytes: &[u8], flag: impl Fn(u8) -> u8) -> bool {
    bytes
        .chunks(64)
        .any(|chunk| chunk.iter().fold(0u8, |found, &b| found | flag(b)) != 0)
}

/// Removes, in place, every character XML 1.0 forbids; returns how many were removed.
pub fn strip_illegal_xml_chars(s: &mut String) -> usize {
    if !may_hold_illegal_xml(s) || s.chars().all(is_xml_char) {
        return 0;
    }
    let before = s.chars().count();
    s.retain(is_xml_char);
    before - s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_order_within_an_element_and_elements_come_out_canonically() {
        let mut dc = DcRecord::new();
        dc.push_str(DcElement::Subject, "b");
        dc.push_str(DcElement::Title, "t");
        dc.push_str(DcElement::Subject, "a");
        let got: Vec<_> = dc.iter().map(|(e, v)| (e, v.value.as_str())).collect();
        assert_eq!(
            got,
            [
                (DcElement::Title, "t"),
                (DcElement::Subject, "b"),
                (DcElement::Subject, "a")
            ]
        );
    }

    #[test]
    fn illegal_xml_characters_are_stripped_and_counted_but_tab_newline_and_fffd_stay() {
        let mut s = String::from("a\u{0}b\u{1F}c\td\ne\r\u{FFFD}\u{FFFE}");
        assert_eq!(strip_illegal_xml_chars(&mut s), 3);
        assert_eq!(s, "abc\td\ne\r\u{FFFD}");
    }

    #[test]
    fn the_byte_scan_finds_every_character_the_exact_check_refuses() {
        for c in (0..=0x0010_FFFF_u32).filter_map(char::from_u32) {
            let s = format!("ab{c}cd");
            if !is_xml_char(c) {
                assert!(may_hold_illegal_xml(&s), "{c:?}");
            }
        }
        assert!(!may_hold_illegal_xml("bibliothèque\tnumérique\r\n"));
        let long = "é".repeat(100) + "\u{1}";
        assert!(may_hold_illegal_xml(&long), "found past the first chunk");
    }

    #[test]
    fn the_byte_class_is_the_controls_xml_forbids_and_ef_plus_what_a_caller_adds() {
        for b in 0..=u8::MAX {
            let forbidden = b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') || b == 0xEF;
            assert_eq!(illegal_xml_or(b, false, []) == 1, forbidden, "{b:#x}");
            let care = forbidden || matches!(b, b'&' | b'<' | b'\r');
            assert_eq!(illegal_xml_or(b, true, [b'&', b'<']) == 1, care, "{b:#x}");
        }
        assert!(!any_illegal_xml_or(b"a<b&c\r\n", false, [b'!']));
        let long = [b"a".repeat(200), b"!".to_vec()].concat();
        assert!(
            any_illegal_xml_or(&long, false, [b'!']),
            "found past the first chunk"
        );
    }

    #[test]
    fn element_names_round_trip() {
        for e in DcElement::ALL {
            assert_eq!(DcElement::from_name(e.name()), Some(e));
        }
        assert_eq!(DcElement::from_name("titles"), None);
    }
}
