//! ISO 2709 (the "UNIMARC ISO2709" export of PMB): records concatenated, each a 24-byte leader,
//! a directory of `tag + length + start` entries, then the fields; every length and address
//! counts BYTES, whatever the character set.
//!
//! The character set of each record is read from 100$a positions 26–29 (`50` UTF-8; `01`,
//! `02` or `03` followed by `03` or blanks: ISO 646 + ISO 5426). PMB cuts 100$a to 30
//! characters and forces those positions, which is all that is needed. Without a usable 100,
//! valid UTF-8 is UTF-8 and anything else ISO 5426.
//!
//! Every structural check names the record and the byte offset: a leader that is not one, a
//! length beyond the end of the input (truncated), a directory whose entries do not land on
//! field terminators. After a bad record the reader resynchronises on the next record
//! terminator (0x1D), so the records after it are still read.
//!
//! PMB writes its 009 as a data field (`  $a2017-06-01`) although 00x tags are control fields
//! in UNIMARC: a 00x field whose data starts with two indicators and a subfield delimiter is
//! read as a data field, which pymarc (following MARC 21) does not do.

use super::charset::{decode_iso5426, decode_utf8, WrongCharset};
use super::record::{Field, FieldValue, Label, Position, Subfield, Tag, UnimarcRecord};
use super::xml::LineCounter;
use super::UnimarcError;

const RECORD_TERMINATOR: u8 = 0x1D;
const FIELD_TERMINATOR: u8 = 0x1E;
const SUBFIELD_DELIMITER: u8 = 0x1F;
const LEADER_LEN: usize = 24;

/// The character set a record declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Utf8,
    Iso5426,
}

impl Charset {
    fn name(self) -> &'static str {
        match self {
            Charset::Utf8 => "UTF-8 (declared by 100$a)",
            Charset::Iso5426 => "ISO 646 + ISO 5426 (declared by 100$a)",
        }
    }

    fn decode(self, bytes: &[u8]) -> Result<String, WrongCharset> {
        match self {
            Charset::Utf8 => decode_utf8(bytes),
            Charset::Iso5426 => decode_iso5426(bytes),
        }
    }
}

/// The records of an ISO 2709 input, in order.
pub(crate) struct IsoRecords<'a> {
    bytes: &'a [u8],
    pos: usize,
    count: usize,
    lines: LineCounter,
    done: bool,
}

impl<'a> IsoRecords<'a> {
    /// Reads `bytes` from the start.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        IsoRecords {
            bytes,
            pos: 0,
            count: 0,
            lines: LineCounter::default(),
            done: false,
        }
    }
}

impl Iterator for IsoRecords<'_> {
    type Item = Result<UnimarcRecord, UnimarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // Some exports end each record with a line break, or the file with a DOS EOF.
        while let Some(b'\r' | b'\n' | 0x1A) = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        if self.pos >= self.bytes.len() {
            self.done = true;
            return None;
        }
        self.count += 1;
        let at = Position {
            record: self.count,
            line: self.lines.line_at(self.bytes, self.pos),
            offset: self.pos,
        };
        let rest = &self.bytes[self.pos..];
        match read_record(rest, at) {
            Ok((record, len)) => {
                self.pos += len;
                Some(Ok(record))
            }
            Err(e) => {
                // Resynchronise after the next record terminator, if there is one.
                match rest.iter().position(|&b| b == RECORD_TERMINATOR) {
                    Some(end) if !matches!(e, UnimarcError::Truncated { .. }) => {
                        self.pos += end + 1;
                    }
                    _ => self.done = true,
                }
                Some(Err(e))
            }
        }
    }
}

/// A leader's numbers, checked.
struct Leader {
    length: usize,
    base: usize,
    /// Digits of a directory entry's length and start, and of its implementation part.
    entry: (usize, usize, usize),
    label: Label,
}

fn leader_error(at: Position, leader: &[u8], reason: impl Into<String>) -> UnimarcError {
    UnimarcError::Leader {
        at,
        leader: String::from_utf8_lossy(leader).into_owned(),
        reason: reason.into(),
    }
}

fn digits(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0usize, |n, &b| n * 10 + usize::from(b - b'0')),
    )
}

fn read_leader(at: Position, leader: &[u8]) -> Result<Leader, UnimarcError> {
    let err = |reason: &str| leader_error(at, leader, reason);
    if !leader.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Err(err(
            "it holds bytes that are not ASCII letters, digits or spaces",
        ));
    }
    let length = digits(&leader[0..5])
        .ok_or_else(|| err("positions 0-4 (record length) are not 5 digits"))?;
    if &leader[10..12] != b"22" {
        return Err(err(
            "positions 10-11 (indicator count, subfield code length) are not \"22\"",
        ));
    }
    let base = digits(&leader[12..17])
        .ok_or_else(|| err("positions 12-16 (base address of data) are not 5 digits"))?;
    let (Some(len_len), Some(start_len)) = (digits(&leader[20..21]), digits(&leader[21..22]))
    else {
        return Err(err("positions 20-21 (directory entry map) are not digits"));
    };
    let impl_len = if leader[22] == b' ' {
        Some(0)
    } else {
        digits(&leader[22..23])
    }
    .ok_or_else(|| err("position 22 (directory entry map) is not a digit"))?;
    if len_len == 0 || start_len == 0 {
        return Err(err("positions 20-21 give zero-length directory numbers"));
    }
    if base <= LEADER_LEN || base > length {
        return Err(err(&format!(
            "the base address {base} is not between the leader and the record length {length}"
        )));
    }
    let c = |i: usize| match leader[i] {
        b'*' => ' ',
        b => char::from(b),
    };
    Ok(Leader {
        length,
        base,
        entry: (len_len, start_len, impl_len),
        label: Label {
            status: c(5),
            doc_type: c(6),
            bib_level: c(7),
            hier_level: c(8),
            enc_level: c(17),
            cat_form: c(18),
        },
    })
}

/// One directory entry, checked against the data.
struct Entry {
    tag: Tag,
    /// Range of the field's bytes within the record, without its terminator.
    start: usize,
    end: usize,
}

fn read_directory(
    at: Position,
    record: &[u8],
    leader: &Leader,
) -> Result<Vec<Entry>, UnimarcError> {
    let dir_err = |offset: usize, reason: String| UnimarcError::Directory {
        at,
        offset: at.offset + offset,
        reason,
    };
    let (len_len, start_len, impl_len) = leader.entry;
    let entry_len = 3 + len_len + start_len + impl_len;
    if record[leader.base - 1] != FIELD_TERMINATOR {
        return Err(dir_err(
            leader.base - 1,
            format!(
                "no field terminator before the base address {} the leader gives",
                leader.base
            ),
        ));
    }
    let directory = &record[LEADER_LEN..leader.base - 1];
    if !directory.len().is_multiple_of(entry_len) {
        return Err(dir_err(
            LEADER_LEN,
            format!(
                "the directory is {} bytes, not a whole number of {entry_len}-byte entries",
                directory.len()
            ),
        ));
    }
    let data_end = leader.length - 1;
    let mut entries = Vec::with_capacity(directory.len() / entry_len);
    for (i, raw) in directory.chunks(entry_len).enumerate() {
        let offset = LEADER_LEN + i * entry_len;
        let tag = Tag::parse(&raw[..3]).ok_or_else(|| {
            dir_err(
                offset,
                format!(
                    "entry {} has the tag {:?}, not three letters or digits",
                    i + 1,
                    String::from_utf8_lossy(&raw[..3])
                ),
            )
        })?;
        let (Some(len), Some(start)) = (
            digits(&raw[3..3 + len_len]),
            digits(&raw[3 + len_len..3 + len_len + start_len]),
        ) else {
            return Err(dir_err(
                offset,
                format!("the entry of field {tag} has a length or start that is not digits"),
            ));
        };
        let begin = leader.base + start;
        let end = begin + len;
        if len == 0 || end > data_end {
            return Err(dir_err(
                offset,
                format!(
                    "field {tag} is {len} bytes at data offset {start}, beyond the {} bytes of data",
                    data_end - leader.base
                ),
            ));
        }
        if record[end - 1] != FIELD_TERMINATOR {
            return Err(dir_err(
                end - 1,
                format!(
                    "field {tag} ({len} bytes at data offset {start}) does not end with a field \
                     terminator"
                ),
            ));
        }
        entries.push(Entry {
            tag,
            start: begin,
            end: end - 1,
        });
    }
    Ok(entries)
}

/// Reads one record at the start of `bytes`; returns it and its length in bytes.
fn read_record(bytes: &[u8], at: Position) -> Result<(UnimarcRecord, usize), UnimarcError> {
    if bytes.len() < LEADER_LEN {
        return Err(UnimarcError::Truncated {
            at,
            what: format!(
                "the input ends {} bytes into the 24-byte leader",
                bytes.len()
            ),
        });
    }
    let leader = read_leader(at, &bytes[..LEADER_LEN])?;
    if bytes.len() < leader.length {
        return Err(UnimarcError::Truncated {
            at,
            what: format!(
                "the leader gives {} bytes, the input ends after {}",
                leader.length,
                bytes.len()
            ),
        });
    }
    let record = &bytes[..leader.length];
    if record[leader.length - 1] != RECORD_TERMINATOR {
        return Err(UnimarcError::Directory {
            at,
            offset: at.offset + leader.length - 1,
            reason: format!(
                "no record terminator (0x1D) at the end of the {} bytes the leader gives",
                leader.length
            ),
        });
    }
    let entries = read_directory(at, record, &leader)?;
    let charset = charset(at, record, &entries)?;
    let mut fields = Vec::with_capacity(entries.len());
    for entry in &entries {
        fields.push(read_field(at, record, entry, charset)?);
    }
    let id = fields
        .iter()
        .find(|f| f.tag.as_str() == "001")
        .and_then(Field::control)
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or(UnimarcError::NoControlNumber { at })?
        .to_owned();
    Ok((
        UnimarcRecord {
            position: at,
            id,
            label: leader.label,
            fields,
        },
        leader.length,
    ))
}

/// True when a field's data starts with two indicators and a subfield delimiter, or is only
/// two indicators.
fn is_data_field(data: &[u8]) -> bool {
    matches!(data, [_, _, SUBFIELD_DELIMITER, ..] | [_, _])
}

/// The raw subfields of a data field (code byte first), with their offsets in `data`.
fn raw_subfields(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = match data {
        [_, _, SUBFIELD_DELIMITER, rest @ ..] => Some(rest),
        _ => None,
    };
    let mut offset = 2;
    body.into_iter()
        .flat_map(|body| body.split(|&b| b == SUBFIELD_DELIMITER))
        .map(move |raw| {
            offset += 1;
            let at = offset;
            offset += raw.len();
            (at, raw)
        })
}

/// The declared character set, from the raw bytes of 100$a.
fn charset(at: Position, record: &[u8], entries: &[Entry]) -> Result<Charset, UnimarcError> {
    let a100 = entries
        .iter()
        .find(|e| e.tag.as_str() == "100")
        .and_then(|e| {
            raw_subfields(&record[e.start..e.end]).find(|(_, s)| s.first() == Some(&b'a'))
        })
        .map(|(_, s)| &s[1..]);
    let Some(code) = a100.and_then(|a| a.get(26..30).or_else(|| a.get(26..28))) else {
        // No usable 100$a: UTF-8 when the record is valid UTF-8.
        return Ok(if std::str::from_utf8(record).is_ok() {
            Charset::Utf8
        } else {
            Charset::Iso5426
        });
    };
    match (&code[..2], code.get(2..4).unwrap_or(b"  ")) {
        (b"50", _) => Ok(Charset::Utf8),
        (b"01" | b"02" | b"03", b"03" | b"  ") => Ok(Charset::Iso5426),
        _ => Err(UnimarcError::Charset {
            at,
            code: String::from_utf8_lossy(code).into_owned(),
        }),
    }
}

fn read_field(
    at: Position,
    record: &[u8],
    entry: &Entry,
    charset: Charset,
) -> Result<Field, UnimarcError> {
    let data = &record[entry.start..entry.end];
    let tag = entry.tag;
    let decode = |bytes: &[u8], offset: usize, field: String| {
        charset
            .decode(bytes)
            .map_err(|e| UnimarcError::MixedEncoding {
                at,
                field,
                offset: at.offset + entry.start + offset + e.offset,
                expected: charset.name(),
            })
    };
    let malformed = |message: String| UnimarcError::Malformed { at, message };
    if tag.is_control() && !(is_data_field(data) && data.len() > 2) {
        return Ok(Field {
            tag,
            value: FieldValue::Control(decode(data, 0, tag.to_string())?),
        });
    }
    if !is_data_field(data) {
        return Err(malformed(format!(
            "data field {tag} does not start with two indicators and a subfield delimiter"
        )));
    }
    let mut subfields = Vec::new();
    for (offset, raw) in raw_subfields(data) {
        let Some((&code, value)) = raw.split_first() else {
            return Err(malformed(format!(
                "field {tag} has an empty subfield (no code)"
            )));
        };
        if !code.is_ascii_alphanumeric() {
            return Err(malformed(format!(
                "field {tag} has the subfield code 0x{code:02X}, not a letter or digit"
            )));
        }
        let code = char::from(code);
        subfields.push(Subfield {
            code,
            value: decode(value, offset + 1, format!("{tag}${code}"))?,
        });
    }
    let ind = |b: u8| {
        if b.is_ascii_graphic() {
            char::from(b)
        } else {
            ' '
        }
    };
    Ok(Field {
        tag,
        value: FieldValue::Data {
            indicators: [ind(data[0]), ind(data[1])],
            subfields,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds an ISO 2709 record the way PMB's `iso2709_record::update()` does.
    pub(crate) fn build(label: &str, fields: &[(&str, &[u8])]) -> Vec<u8> {
        let mut directory = Vec::new();
        let mut data = Vec::new();
        for (tag, content) in fields {
            let start = data.len();
            data.extend_from_slice(content);
            data.push(FIELD_TERMINATOR);
            directory.extend_from_slice(
                format!("{tag}{:04}{:05}", data.len() - start, start).as_bytes(),
            );
        }
        directory.push(FIELD_TERMINATOR);
        let base = LEADER_LEN + directory.len();
        let length = base + data.len() + 1;
        let mut out = format!("{length:05}{label} 22{base:05}1i 450 ").into_bytes();
        out.extend_from_slice(&directory);
        out.extend_from_slice(&data);
        out.push(RECORD_TERMINATOR);
        out
    }

    fn utf8_100() -> &'static [u8] {
        b"  \x1Fa20170703u        u  u0frey50  "
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<UnimarcRecord, UnimarcError>> {
        IsoRecords::new(bytes).collect()
    }

    #[test]
    fn a_record_reads_back_with_its_label_fields_and_pmb_s_009_as_a_data_field() {
        let bytes = build(
            "nls2",
            &[
                ("001", b"61234"),
                ("100", utf8_100()),
                ("009", b"  \x1Fa2017-06-01"),
                (
                    "200",
                    "1 \x1Fa\u{98}Le \u{9C}titre é\x1Fh< 79/93 >".as_bytes(),
                ),
            ],
        );
        let records = read_all(&bytes);
        let record = records[0].as_ref().unwrap();
        assert_eq!(record.id, "61234");
        assert_eq!(
            (
                record.label.doc_type,
                record.label.bib_level,
                record.label.hier_level
            ),
            ('l', 's', '2')
        );
        assert_eq!(record.first("009", 'a'), Some("2017-06-01"));
        assert_eq!(
            record.first("200", 'a'),
            Some("Le titre é"),
            "NSB/NSE stripped"
        );
        assert_eq!(record.first("200", 'h'), Some("< 79/93 >"));
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn lengths_are_bytes_not_characters() {
        let title = "Épreuves d’été — « ça »".as_bytes();
        let mut content = b"1 \x1Fa".to_vec();
        content.extend_from_slice(title);
        let bytes = build(
            "nam0",
            &[("001", b"1"), ("100", utf8_100()), ("200", &content)],
        );
        let record = read_all(&bytes).remove(0).unwrap();
        assert_eq!(record.first("200", 'a'), Some("Épreuves d’été — « ça »"));
    }

    #[test]
    fn an_iso5426_record_is_decoded_per_its_100() {
        let bytes = build(
            "nam0",
            &[
                ("001", b"7"),
                ("100", b"  \x1Fa20170703u        u  u0frey0103"),
                ("200", b"1 \x1Fa\xC2Etat de l\x92art"),
            ],
        );
        let record = read_all(&bytes).remove(0).unwrap();
        assert_eq!(record.first("200", 'a'), Some("État de l’art"));
    }

    #[test]
    fn a_truncated_record_names_its_number_and_offset() {
        let one = build("nam0", &[("001", b"1"), ("100", utf8_100())]);
        let mut bytes = one.clone();
        bytes.extend_from_slice(&one[..one.len() - 5]);
        let records = read_all(&bytes);
        assert!(records[0].is_ok());
        let err = records[1].as_ref().unwrap_err();
        assert!(
            matches!(err, UnimarcError::Truncated { at, .. } if at.record == 2 && at.offset == one.len()),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .starts_with(&format!("record 2 (line 1, byte {}): ", one.len())));
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn a_directory_that_misses_the_data_is_refused_and_the_next_record_still_read() {
        let good = build("nam0", &[("001", b"2"), ("100", utf8_100())]);
        let mut bad = build("nam0", &[("001", b"1"), ("100", utf8_100())]);
        // Field 001 said 1 byte long: its end no longer falls on a field terminator.
        let at = LEADER_LEN + 3;
        bad[at..at + 4].copy_from_slice(b"0001");
        let mut bytes = bad.clone();
        bytes.extend_from_slice(&good);
        let records = read_all(&bytes);
        let err = records[0].as_ref().unwrap_err();
        assert!(matches!(err, UnimarcError::Directory { .. }), "{err:?}");
        assert!(err.to_string().contains("field 001"), "{err}");
        assert_eq!(records[1].as_ref().unwrap().id, "2");
    }

    #[test]
    fn a_wrong_leader_is_refused() {
        let mut bytes = build("nam0", &[("001", b"1"), ("100", utf8_100())]);
        bytes[10] = b'3';
        let err = read_all(&bytes).remove(0).unwrap_err();
        assert!(matches!(err, UnimarcError::Leader { .. }), "{err:?}");
        assert!(err.to_string().contains("indicator count"), "{err}");
        let err = read_all(b"12345 this is not a leader at all\n")
            .remove(0)
            .unwrap_err();
        assert!(matches!(err, UnimarcError::Leader { .. }), "{err:?}");
    }

    #[test]
    fn latin1_bytes_in_a_record_declaring_utf8_are_mixed_encodings() {
        let bytes = build(
            "nam0",
            &[
                ("001", b"1"),
                ("100", utf8_100()),
                ("200", b"1 \x1FaEt\xE9"),
            ],
        );
        let err = read_all(&bytes).remove(0).unwrap_err();
        assert!(
            matches!(&err, UnimarcError::MixedEncoding { field, .. } if field == "200$a"),
            "{err:?}"
        );
    }

    #[test]
    fn an_unknown_character_set_is_refused() {
        let bytes = build(
            "nam0",
            &[
                ("001", b"1"),
                ("100", b"  \x1Fa20170703u        u  u0frey0411"),
            ],
        );
        let err = read_all(&bytes).remove(0).unwrap_err();
        assert!(
            matches!(&err, UnimarcError::Charset { code, .. } if code == "0411"),
            "{err:?}"
        );
    }

    #[test]
    fn a_record_without_001_is_refused() {
        let bytes = build("nam0", &[("100", utf8_100()), ("200", b"1 \x1FaT")]);
        let err = read_all(&bytes).remove(0).unwrap_err();
        assert!(
            matches!(err, UnimarcError::NoControlNumber { .. }),
            "{err:?}"
        );
    }
}
