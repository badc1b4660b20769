//! The UNIMARC record model both readers produce: the label (leader), then fields in the order
//! of the source, each a control field or indicators + subfields, every value already decoded
//! to Unicode (NFC) with the non-sort markers removed.
//!
//! The model is faithful to the source: nothing is mapped, merged or dropped here (PMB's
//! duplicated 210/214, its boilerplate 319 and its 009 written as a data field all stay as
//! they are), so the crosswalk is the one place that decides.

use std::fmt;

/// Where a record starts in its input: what error messages and reports name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// 1-based number of the record in its input.
    pub record: usize,
    /// 1-based line where the record starts (ISO 2709 has no lines, but its notes may hold
    /// line breaks, so editors still show one).
    pub line: usize,
    /// Byte offset where the record starts.
    pub offset: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record {} (line {}, byte {})",
            self.record, self.line, self.offset
        )
    }
}

/// A field tag: three ASCII letters or digits (`001`, `200`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag([u8; 3]);

impl Tag {
    /// The tag of three ASCII alphanumeric bytes, or `None`.
    pub fn parse(bytes: &[u8]) -> Option<Tag> {
        match bytes {
            [a, b, c] if bytes.iter().all(u8::is_ascii_alphanumeric) => Some(Tag([*a, *b, *c])),
            _ => None,
        }
    }

    /// The tag as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII alphanumeric bytes get in (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// True for `00x` tags, which UNIMARC reserves for control fields (PMB still writes its
    /// 009 with indicators and a `$a`: see [`FieldValue`]).
    pub fn is_control(&self) -> bool {
        self.0[0] == b'0' && self.0[1] == b'0'
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One subfield: its code (`a`; PMB also uses `9` and upper-case `K L M`) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subfield {
    /// The subfield code, an ASCII letter or digit.
    pub code: char,
    /// The decoded value, as stored (not trimmed; line breaks as in the source).
    pub value: String,
}

/// The content of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// A control field (`001`): one value, no indicators.
    Control(String),
    /// A data field: two indicators (blank is a space) and its subfields in order.
    Data {
        /// The two indicators.
        indicators: [char; 2],
        /// The subfields, in the order of the source.
        subfields: Vec<Subfield>,
    },
}

/// One field of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The tag.
    pub tag: Tag,
    /// The content.
    pub value: FieldValue,
}

impl Field {
    /// The subfields (none for a control field).
    pub fn subfields(&self) -> &[Subfield] {
        match &self.value {
            FieldValue::Control(_) => &[],
            FieldValue::Data { subfields, .. } => subfields,
        }
    }

    /// The values of every subfield with this code, in order.
    pub fn all(&self, code: char) -> impl Iterator<Item = &str> {
        self.subfields()
            .iter()
            .filter(move |s| s.code == code)
            .map(|s| s.value.as_str())
    }

    /// The first value of the subfield with this code that is not blank.
    pub fn first(&self, code: char) -> Option<&str> {
        self.all(code).find(|v| !v.trim().is_empty())
    }

    /// The value of a control field.
    pub fn control(&self) -> Option<&str> {
        match &self.value {
            FieldValue::Control(v) => Some(v),
            FieldValue::Data { .. } => None,
        }
    }
}

/// The six label positions PMB exports (`rs dt bl hl el ru`; ISO 2709 leader positions 5, 6,
/// 7, 8, 17 and 18). A blank position is a space (PMB's XML writes `*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// Record status (`n` new, `c` corrected, `d` deleted).
    pub status: char,
    /// Type of record, PMB's document type (`a` printed text, `l` electronic, `g` video…).
    pub doc_type: char,
    /// Bibliographic level (`m` monograph, `s` serial, `a` analytic, PMB's `b` bulletin).
    pub bib_level: char,
    /// Hierarchical level (`0` none, `1` highest, `2` below the highest).
    pub hier_level: char,
    /// Encoding level.
    pub enc_level: char,
    /// Descriptive cataloguing form (`i` ISBD).
    pub cat_form: char,
}

impl Default for Label {
    fn default() -> Self {
        Label {
            status: ' ',
            doc_type: ' ',
            bib_level: ' ',
            hier_level: ' ',
            enc_level: ' ',
            cat_form: ' ',
        }
    }
}

/// The record levels PMB catalogues, read from the label's bibliographic and hierarchical
/// levels (`pmb-crosswalk.md` §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `m0`: a monograph.
    Monograph,
    /// `s1` (or `s` with another level than 2): a periodical.
    Periodical,
    /// `s2`: a bulletin notice, the record of one issue (PMB exports its `b2` as `s2`).
    BulletinNotice,
    /// `a2`: an article of an issue (dépouillement).
    Article,
    /// Any other combination.
    Other,
}

impl Label {
    /// The record level.
    pub fn level(&self) -> Level {
        match (self.bib_level, self.hier_level) {
            ('m', _) => Level::Monograph,
            ('s', '2') | ('b', _) => Level::BulletinNotice,
            ('s', _) => Level::Periodical,
            ('a', _) => Level::Article,
            _ => Level::Other,
        }
    }
}

/// One UNIMARC record, read from PMB XML or ISO 2709.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnimarcRecord {
    /// Where it starts in its input.
    pub position: Position,
    /// The control number (001, trimmed), never empty: readers refuse a record without one.
    pub id: String,
    /// The label.
    pub label: Label,
    /// Every field, in the order of the source (001 included).
    pub fields: Vec<Field>,
}

impl UnimarcRecord {
    /// The fields with this tag, in order.
    pub fn fields(&self, tag: &str) -> impl Iterator<Item = &Field> {
        let tag = Tag::parse(tag.as_bytes());
        self.fields.iter().filter(move |f| Some(f.tag) == tag)
    }

    /// The first field with this tag.
    pub fn field(&self, tag: &str) -> Option<&Field> {
        self.fields(tag).next()
    }

    /// The first non-blank value of `tag$code`.
    pub fn first(&self, tag: &str, code: char) -> Option<&str> {
        self.fields(tag).find_map(|f| f.first(code))
    }

    /// Every value of `tag$code`, field by field.
    pub fn all(&self, tag: &str, code: char) -> impl Iterator<Item = &str> {
        self.fields(tag).flat_map(move |f| f.all(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(bl: char, hl: char) -> Label {
        Label {
            bib_level: bl,
            hier_level: hl,
            ..Label::default()
        }
    }

    #[test]
    fn record_levels_follow_pmb_s_bibliographic_and_hierarchical_levels() {
        for (bl, hl, level) in [
            ('m', '0', Level::Monograph),
            ('s', '1', Level::Periodical),
            ('s', ' ', Level::Periodical),
            ('s', '2', Level::BulletinNotice),
            ('b', '2', Level::BulletinNotice),
            ('a', '2', Level::Article),
            ('c', '0', Level::Other),
        ] {
            assert_eq!(label(bl, hl).level(), level, "{bl}{hl}");
        }
    }

    #[test]
    fn tags_are_three_ascii_letters_or_digits() {
        assert_eq!(
            Tag::parse(b"200").map(|t| t.to_string()).as_deref(),
            Some("200")
        );
        assert!(Tag::parse(b"009").is_some_and(|t| t.is_control()));
        assert!(!Tag::parse(b"010").is_some_and(|t| t.is_control()));
        for bad in [&b"20"[..], b"2000", b"2 0", b"\xC3\xA9a", b""] {
            assert_eq!(Tag::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_first_value_skips_blank_subfields() {
        let field = Field {
            tag: Tag::parse(b"463").unwrap(),
            value: FieldValue::Data {
                indicators: [' ', ' '],
                subfields: vec![
                    Subfield {
                        code: 't',
                        value: " ".into(),
                    },
                    Subfield {
                        code: 't',
                        value: "Géo".into(),
                    },
                ],
            },
        };
        assert_eq!(field.first('t'), Some("Géo"));
        assert_eq!(field.all('t').count(), 2);
        assert_eq!(field.control(), None);
    }
}
