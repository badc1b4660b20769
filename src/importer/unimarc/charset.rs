//! Bytes → Unicode for UNIMARC values: UTF-8, single-byte encodings (PMB's "ISO-8859-1" XML,
//! really Windows-1252) and ISO 646 + ISO 5426 (ISO-IR 053), always ending in NFC without
//! C1 controls.
//!
//! C1 controls (U+0080–U+009F) are never text: they are the non-sort markers NSB/NSE in their
//! UTF-8 forms (U+0098/U+009C, and U+0088/U+0089 from ISO 6630), or undefined Windows-1252
//! bytes. They are removed here, so that a title never starts with an invisible marker.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::dc::any_byte;

/// A byte sequence that is not in the expected character set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WrongCharset {
    /// Offset of the first offending byte within the value.
    pub offset: usize,
}

/// Decodes UTF-8, then [`clean_up`]s it.
pub(crate) fn decode_utf8(bytes: &[u8]) -> Result<String, WrongCharset> {
    let mut s = String::new();
    push_utf8(&mut s, bytes)?;
    clean_up(&mut s);
    Ok(s)
}

/// Appends UTF-8 bytes, checked; the caller [`clean_up`]s the whole value once it is complete.
pub(crate) fn push_utf8(out: &mut String, bytes: &[u8]) -> Result<(), WrongCharset> {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            out.push_str(s);
            Ok(())
        }
        Err(e) => Err(WrongCharset {
            offset: e.valid_up_to(),
        }),
    }
}

/// Appends bytes of a single-byte encoding (Windows-1252 for PMB's "ISO-8859-1").
///
/// Non-ASCII bytes that form valid UTF-8 are refused: they are UTF-8 pasted into a Latin-1 file,
/// and decoding them as Latin-1 would publish mojibake ("Ã©" for "é").
pub(crate) fn push_single_byte(
    out: &mut String,
    encoding: &'static encoding_rs::Encoding,
    bytes: &[u8],
) -> Result<(), WrongCharset> {
    if let Ok(ascii) = std::str::from_utf8(bytes) {
        if let Some(offset) = ascii.bytes().position(|b| !b.is_ascii()) {
            return Err(WrongCharset { offset });
        }
        out.push_str(ascii);
        return Ok(());
    }
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    out.push_str(&text);
    Ok(())
}

/// The offset of the first non-ASCII byte when `bytes` is valid UTF-8 with non-ASCII content.
fn utf8_multibyte(bytes: &[u8]) -> Option<usize> {
    let first = bytes.iter().position(|b| !b.is_ascii())?;
    std::str::from_utf8(bytes).is_ok().then_some(first)
}

/// Removes C1 controls and recomposes combining diacritical marks (U+0300–U+036F, the
/// decomposed form some UNIMARC producers write) to NFC, in place.
///
/// One scan finds the UTF-8 lead bytes of both (0xC2, and 0xCC/0xCD); most values have
/// neither and cost nothing more.
pub(crate) fn clean_up(s: &mut String) {
    if !any_byte(s.as_bytes(), |b| u8::from(matches!(b, 0xC2 | 0xCC | 0xCD))) {
        return;
    }
    // C1 controls are C2 80..C2 9F in UTF-8.
    let has_c1 = s
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]));
    if has_c1 {
        s.retain(|c| !('\u{80}'..='\u{9F}').contains(&c));
    }
    if any_byte(s.as_bytes(), |b| u8::from(matches!(b, 0xCC | 0xCD)))
        && is_nfc_quick(s.chars()) != IsNormalized::Yes
    {
        *s = s.nfc().collect();
    }
}

/// ISO 5426 non-spacing diacritics (rows C and D), as Unicode combining marks.
fn combining(byte: u8) -> Option<char> {
    Some(match byte {
        0xC0 => '\u{0309}',        // hook above (low rising tone mark)
        0xC1 => '\u{0300}',        // grave
        0xC2 => '\u{0301}',        // acute
        0xC3 => '\u{0302}',        // circumflex
        0xC4 => '\u{0303}',        // tilde
        0xC5 => '\u{0304}',        // macron
        0xC6 => '\u{0306}',        // breve
        0xC7 => '\u{0307}',        // dot above
        0xC8 | 0xC9 => '\u{0308}', // trema, umlaut
        0xCA => '\u{030A}',        // ring above
        0xCB => '\u{0315}',        // high comma off centre
        0xCC => '\u{0312}',        // inverted high comma centred
        0xCD => '\u{030B}',        // double acute
        0xCE => '\u{031B}',        // horn
        0xCF => '\u{030C}',        // caron
        0xD0 => '\u{0327}',        // cedilla
        0xD1 => '\u{031C}',        // rude (left half ring below)
        0xD2 => '\u{0326}',        // hook to left (comma below)
        0xD3 => '\u{0328}',        // ogonek
        0xD4 => '\u{0325}',        // ring below
        0xD5 => '\u{032E}',        // half circle below
        0xD6 => '\u{0323}',        // dot below
        0xD7 => '\u{0324}',        // double dot below
        0xD8 => '\u{0332}',        // underline
        0xD9 => '\u{0333}',        // double underline
        0xDA => '\u{0329}',        // small low vertical bar
        0xDB => '\u{032D}',        // circumflex below
        0xDD => '\u{FE20}',        // left half of ligature / double tilde
        0xDE => '\u{FE21}',        // right half of ligature
        0xDF => '\u{FE23}',        // right half of double tilde
        _ => return None,
    })
}

/// A diacritic followed by a space: the spacing form. PMB writes `°` as ring + space, `¯` as
/// macron + space and `º` as dot + space (iso2709.class.php `iso_tables()`).
fn spacing(byte: u8) -> Option<char> {
    Some(match byte {
        0xC1 => '`',
        0xC2 => '\u{B4}',
        0xC3 => '^',
        0xC4 => '~',
        0xC5 => '\u{AF}',
        0xC7 => '\u{BA}',
        0xC8 | 0xC9 => '\u{A8}',
        0xCA => '\u{B0}',
        0xD0 => '\u{B8}',
        0xD3 => '\u{2DB}',
        _ => return None,
    })
}

/// ISO 5426 spacing characters (rows A, B, E, F); `None` for positions the standard leaves
/// unused.
fn graphic(byte: u8) -> Option<char> {
    Some(match byte {
        0xA0 => '\u{A0}',
        0xA1 => '¡',
        0xA2 => '„',
        0xA3 => '£',
        0xA4 => '$',
        0xA5 => '¥',
        0xA6 => '†',
        0xA7 => '§',
        0xA8 => '′',
        0xA9 => '‘',
        0xAA => '“',
        0xAB => '«',
        0xAC => '♭',
        0xAD => '©',
        0xAE => '℗',
        0xAF => '®',
        0xB0 => 'ʻ',
        0xB1 => 'ʼ',
        0xB2 => '‚',
        0xB6 => '‡',
        0xB7 => '·',
        0xB8 => '″',
        0xB9 => '’',
        0xBA => '”',
        0xBB => '»',
        0xBC => '♯',
        0xBD => 'ʹ',
        0xBE => 'ʺ',
        0xBF => '¿',
        0xE1 => 'Æ',
        0xE2 => 'Đ',
        0xE6 => 'Ĳ',
        0xE8 => 'Ł',
        0xE9 => 'Ø',
        0xEA => 'Œ',
        0xEC => 'Þ',
        0xF1 => 'æ',
        0xF2 => 'đ',
        0xF3 => 'ð',
        0xF5 => 'ı',
        0xF6 => 'ĳ',
        0xF8 => 'ł',
        0xF9 => 'ø',
        0xFA => 'œ',
        0xFB => 'ß',
        0xFC => 'þ',
        _ => return None,
    })
}

/// Windows-1252 0x80–0x9F: PMB's ISO 5426 encoder copies every byte below 0xA0 unchanged, so
/// the `’` (0x92) and `œ` (0x9C) of a Windows-1252 installation come through as they were.
/// 0x88 and 0x89 are NSB/NSE (ISO 6630) here, and the five undefined bytes are dropped.
fn windows_1252_c1(byte: u8) -> Option<char> {
    const TABLE: [char; 32] = [
        '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', '\0', '\0', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0',
        '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
    ];
    let c = *TABLE.get(usize::from(byte.checked_sub(0x80)?))?;
    (c != '\0').then_some(c)
}

/// Decodes ISO 646 (ASCII) + ISO 5426: each diacritic byte comes BEFORE its base character, so
/// diacritics are held until the base arrives and then recomposed to NFC.
///
/// Bytes that form valid multi-byte UTF-8 are refused (the value is UTF-8 in a record that
/// declares ISO 5426). An unused position becomes U+FFFD; diacritics with no base at the end
/// of the value are dropped.
pub(crate) fn decode_iso5426(bytes: &[u8]) -> Result<String, WrongCharset> {
    if bytes.is_ascii() {
        return Ok(String::from_utf8_lossy(bytes).into_owned());
    }
    if let Some(offset) = utf8_multibyte(bytes) {
        return Err(WrongCharset { offset });
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut marks: Vec<char> = Vec::new();
    let mut recompose = false;
    for &b in bytes {
        if let Some(mark) = combining(b) {
            marks.push(mark);
            continue;
        }
        let base = match b {
            0x00..=0x7F => char::from(b),
            0x80..=0x9F => match windows_1252_c1(b) {
                Some(c) => c,
                None => continue,
            },
            _ => graphic(b).unwrap_or('\u{FFFD}'),
        };
        match marks.as_slice() {
            [] => out.push(base),
            [mark] if base == ' ' => {
                if let Some(c) = bytes_of_mark(*mark).and_then(spacing) {
                    out.push(c);
                } else {
                    out.push(' ');
                    out.push(*mark);
                }
            }
            [mark] => {
                if let Some(c) = unicode_normalization::char::compose(base, *mark) {
                    out.push(c);
                } else {
                    out.push(base);
                    out.push(*mark);
                    recompose = true;
                }
            }
            _ => {
                out.push(base);
                out.extend(marks.iter());
                recompose = true;
            }
        }
        marks.clear();
    }
    if recompose {
        out = out.nfc().collect();
    }
    // Bytes 0x80-0x9F give no C1 control here, so nothing else is left to clean.
    Ok(out)
}

/// The ISO 5426 byte of a combining mark produced by [`combining`] (the first one, for the
/// trema/umlaut pair).
fn bytes_of_mark(mark: char) -> Option<u8> {
    (0xC0..=0xDF).find(|&b| combining(b) == Some(mark))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso5426_diacritics_come_before_their_letter_and_recompose_to_nfc() {
        let bytes = b"\xC2e \xC1e \xC3e \xD0c \xC2E \xC3o \xC9a\xC9e\xC9i\xC9o\xC9u\xC9y \xC8u";
        assert_eq!(
            decode_iso5426(bytes).unwrap(),
            "é è ê ç É ô äëïöüÿ ü",
            "composed, NFC"
        );
    }

    #[test]
    fn iso5426_spacing_characters_and_pmb_s_degree_sign() {
        assert_eq!(
            decode_iso5426(b"\xABn\xCA  3\xBB \xE1\xFA\xFB \xA9x\xB9").unwrap(),
            "«n° 3» Æœß ‘x’"
        );
    }

    #[test]
    fn windows_1252_bytes_copied_by_pmb_come_out_as_their_characters() {
        assert_eq!(
            decode_iso5426(b"l\x92\xC2etat, man\x9Cuvre, \x80").unwrap(),
            "l’état, manœuvre, €"
        );
    }

    #[test]
    fn non_sort_markers_are_removed_in_every_encoding() {
        assert_eq!(decode_iso5426(b"\x88Le \x89monde").unwrap(), "Le monde");
        assert_eq!(
            decode_utf8("\u{98}Les \u{9C}mots".as_bytes()).unwrap(),
            "Les mots"
        );
        assert_eq!(
            decode_utf8("\u{88}La \u{89}vie".as_bytes()).unwrap(),
            "La vie"
        );
    }

    #[test]
    fn two_diacritics_on_one_letter_and_one_without_a_composed_form_still_give_nfc() {
        // diaeresis + acute on u: ǘ (U+01D8); dot below on q has no precomposed form.
        let s = decode_iso5426(b"\xC8\xC2u \xD6q").unwrap();
        assert_eq!(s, "\u{1D8} q\u{323}");
        assert!(unicode_normalization::is_nfc(&s));
    }

    #[test]
    fn utf8_in_an_iso5426_value_is_refused_as_mixed() {
        assert_eq!(
            decode_iso5426("ok é".as_bytes()),
            Err(WrongCharset { offset: 3 })
        );
    }

    #[test]
    fn decomposed_utf8_is_recomposed() {
        assert_eq!(decode_utf8("e\u{301}te\u{301}".as_bytes()).unwrap(), "été");
    }

    #[test]
    fn invalid_utf8_reports_its_offset() {
        assert_eq!(
            decode_utf8(b"abc\xE9t\xE9"),
            Err(WrongCharset { offset: 3 })
        );
    }

    #[test]
    fn windows_1252_decodes_and_utf8_in_it_is_refused() {
        let w1252 = encoding_rs::WINDOWS_1252;
        let mut s = String::from("<");
        push_single_byte(&mut s, w1252, b"l\x92\xE9t\xE9 \x9C").unwrap();
        assert_eq!(s, "<l’été œ");
        assert_eq!(
            push_single_byte(&mut s, w1252, "l’été".as_bytes()),
            Err(WrongCharset { offset: 1 })
        );
        push_single_byte(&mut s, w1252, b" ok").unwrap();
        assert_eq!(s, "<l’été œ ok");
    }
}
