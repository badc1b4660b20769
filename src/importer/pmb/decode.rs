//! Bytes → text for PMB displays: UTF-8 (with or without BOM) or Windows-1252, never mojibake.
//!
//! PMB itself runs in ISO-8859-1 by default (older installations) or UTF-8, and displays copied
//! from a browser are usually UTF-8. The rules, in order:
//!
//! 1. a UTF-16 byte-order mark, any NUL byte, or more than 1% of C0 control bytes (other than
//!    tab, LF, FF, CR) is binary junk and refused;
//! 2. valid UTF-8 is taken as is (a leading BOM is dropped);
//! 3. otherwise, if the valid parts hold real UTF-8 (any 3- or 4-byte sequence, or more 2-byte
//!    sequences than invalid bytes) the file mixes encodings and is refused, because decoding it
//!    either way would corrupt one part;
//! 4. otherwise it is decoded as Windows-1252 (a superset of the printable Latin-1 range);
//! 5. finally, text holding UTF-8 mojibake ("Ã©", "â€™": UTF-8 read as Windows-1252 and saved
//!    again) is refused, since importing it would publish the corruption.

use super::PmbError;

/// Decodes a PMB display file to text; see the module docs for the rules.
///
/// # Errors
///
/// [`PmbError::Binary`] for binary input or UTF-16, [`PmbError::MixedEncoding`] for a mix of
/// UTF-8 and another encoding, [`PmbError::Mojibake`] for double-encoded UTF-8.
pub fn decode_input(bytes: &[u8]) -> Result<String, PmbError> {
    let bytes = without_bom(bytes)?;
    check_not_binary(bytes)?;
    // Vectorised: displays are large, and std's validation was 3% of `import pmb`'s reading thread.
    let text = if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        text.to_owned()
    } else {
        check_not_mixed(bytes)?;
        let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
        text.into_owned()
    };
    check_not_mojibake(&text)?;
    Ok(text)
}

/// Refuses the first bytes of a larger display file for what no later byte can redeem: a
/// UTF-16 byte-order mark or a NUL byte, with the error [`decode_input`] gives the whole file.
///
/// # Errors
/// [`PmbError::Binary`].
pub fn check_start(head: &[u8]) -> Result<(), PmbError> {
    no_nul(without_bom(head)?)
}

/// `bytes` without a UTF-8 byte-order mark; refused with a UTF-16 one.
fn without_bom(bytes: &[u8]) -> Result<&[u8], PmbError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(PmbError::Binary {
            line: 1,
            reason: "UTF-16 text (byte-order mark); save the display as UTF-8".into(),
        });
    }
    Ok(bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes))
}

/// Refuses bytes holding a NUL, by its offset: text never holds one.
fn no_nul(bytes: &[u8]) -> Result<(), PmbError> {
    match memchr::memchr(0, bytes) {
        Some(offset) => Err(PmbError::Binary {
            line: line_of(bytes, offset),
            reason: format!("NUL byte at byte offset {offset}"),
        }),
        None => Ok(()),
    }
}

fn line_of(bytes: &[u8], offset: usize) -> usize {
    memchr::memchr_iter(b'\n', &bytes[..offset]).count() + 1
}

fn check_not_binary(bytes: &[u8]) -> Result<(), PmbError> {
    let is_control = |b: u8| b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0C | b'\r');
    // Text has no control byte at all, almost always: one vectorised scan says so.
    let any_control = crate::dc::any_byte(bytes, |b| u8::from(is_control(b)));
    if !any_control {
        return Ok(());
    }
    no_nul(bytes)?;
    let controls = bytes.iter().filter(|&&b| is_control(b)).count();
    // A stray control character in a real display is stripped later and counted; only a
    // density no text has is refused here.
    if controls * 100 > bytes.len() {
        let first = bytes.iter().position(|&b| is_control(b)).unwrap_or(0);
        return Err(PmbError::Binary {
            line: line_of(bytes, first),
            reason: format!("{controls} control bytes in {} bytes", bytes.len()),
        });
    }
    Ok(())
}

fn check_not_mixed(bytes: &[u8]) -> Result<(), PmbError> {
    let (mut two_byte, mut longer, mut invalid) = (0usize, 0usize, 0usize);
    let mut first_invalid = None;
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c.len_utf8() {
                1 => {}
                2 => two_byte += 1,
                _ => longer += 1,
            }
        }
        offset += chunk.valid().len();
        if !chunk.invalid().is_empty() {
            invalid += 1;
            first_invalid.get_or_insert(offset);
        }
        offset += chunk.invalid().len();
    }
    // Windows-1252 text can form an accidental 2-byte UTF-8 sequence ("É…" is C9 85), but
    // practically never a 3-byte one (that would read "â€™"), and not more often than it has
    // plain invalid bytes.
    if longer > 0 || two_byte > invalid {
        return Err(PmbError::MixedEncoding {
            line: line_of(bytes, first_invalid.unwrap_or(0)),
        });
    }
    Ok(())
}

/// True for characters that are the Windows-1252 (or Latin-1) reading of a UTF-8 continuation
/// byte (0x80–0xBF).
fn is_continuation_reading(c: char) -> bool {
    matches!(
        c,
        '\u{80}'
            ..='\u{BF}'
                | '€'
                | '‚'
                | 'ƒ'
                | '„'
                | '…'
                | '†'
                | '‡'
                | 'ˆ'
                | '‰'
                | 'Š'
                | '‹'
                | 'Œ'
                | 'Ž'
                | '‘'
                | '’'
                | '“'
                | '”'
                | '•'
                | '–'
                | '—'
                | '˜'
                | '™'
                | 'š'
                | '›'
                | 'œ'
                | 'ž'
                | 'Ÿ'
    )
}

fn check_not_mojibake(text: &str) -> Result<(), PmbError> {
    // Every mojibake sequence we look for starts with Â, Ã or â (U+00C2, U+00C3, U+00E2),
    // encoded C3 82, C3 83 and C3 A2: only those places are looked at. French text holds
    // C3 in nearly every line (é is C3 A9), so the byte after it is checked first.
    let bytes = text.as_bytes();
    for i in memchr::memchr_iter(0xC3, bytes) {
        if !matches!(bytes.get(i + 1), Some(0x82 | 0x83 | 0xA2)) {
            continue;
        }
        if let Some(end) = mojibake_at(&text[i..]) {
            return Err(PmbError::Mojibake {
                line: line_of(bytes, i),
                sample: text[i..i + end].to_owned(),
            });
        }
    }
    Ok(())
}

/// The length of the mojibake sequence `rest` starts with, if it starts with one.
fn mojibake_at(rest: &str) -> Option<usize> {
    let mut chars = rest.chars();
    let first = chars.next()?;
    let second = chars.next()?;
    match first {
        // "Ã©" = é, "Â«" = «: the lead byte of a 2-byte sequence for U+0080–U+00FF.
        'Â' | 'Ã' if is_continuation_reading(second) => {
            Some(first.len_utf8() + second.len_utf8())
        }
        // "â€™" = ’, "â€œ" = “: the lead byte 0xE2 of U+2000–U+2FFF, then 0x80 (€).
        'â' if second == '€' => chars
            .next()
            .filter(|&d| is_continuation_reading(d))
            .map(|d| first.len_utf8() + second.len_utf8() + d.len_utf8()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_accepted_and_its_bom_dropped() {
        let got = decode_input("\u{FEFF}Titre : | Été à Noël ’ |".as_bytes()).unwrap();
        assert_eq!(got, "Titre : | Été à Noël ’ |");
    }

    #[test]
    fn windows_1252_is_decoded_without_mojibake() {
        let (bytes, _, unmappable) =
            encoding_rs::WINDOWS_1252.encode("Titre : | L’été « œuvre » |");
        assert!(!unmappable);
        assert_eq!(decode_input(&bytes).unwrap(), "Titre : | L’été « œuvre » |");
    }

    #[test]
    fn windows_1252_with_an_accidental_utf8_pair_is_still_windows_1252() {
        // "É…" is C9 85 in Windows-1252, which is also valid UTF-8 (U+0245).
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode("ÉTÉ… été, à côté, déjà");
        assert_eq!(decode_input(&bytes).unwrap(), "ÉTÉ… été, à côté, déjà");
    }

    #[test]
    fn nul_bytes_are_binary_junk_with_their_line() {
        let err = decode_input(b"Titre : | a |\nb\x00\x01c").unwrap_err();
        assert!(matches!(err, PmbError::Binary { line: 2, .. }), "{err}");
        assert!(err.to_string().contains("NUL byte"), "{err}");
    }

    #[test]
    fn dense_control_bytes_are_binary_junk() {
        let junk: Vec<u8> = (1u8..=255).cycle().take(4096).collect();
        let err = decode_input(&junk).unwrap_err();
        assert!(matches!(err, PmbError::Binary { line: 1, .. }), "{err}");
    }

    #[test]
    fn a_stray_control_character_is_tolerated() {
        let text = format!("Titre : | a\u{B}b |\n{}", "x".repeat(200));
        assert_eq!(decode_input(text.as_bytes()).unwrap(), text);
    }

    #[test]
    fn utf16_is_refused_with_a_clear_message() {
        let err = decode_input(&[0xFF, 0xFE, b'T', 0]).unwrap_err();
        assert!(err.to_string().contains("UTF-16"), "{err}");
    }

    #[test]
    fn double_encoded_utf8_is_refused_with_its_line() {
        let err = decode_input("Titre : | ok |\nRésumé : | Ã©tÃ© |".as_bytes()).unwrap_err();
        assert_eq!(
            err,
            PmbError::Mojibake {
                line: 2,
                sample: "Ã©".into()
            }
        );
        let err = decode_input("lâ€™Ã©tÃ©".as_bytes()).unwrap_err();
        assert!(matches!(err, PmbError::Mojibake { line: 1, ref sample } if sample == "â€™"));
    }

    #[test]
    fn portuguese_capitals_are_not_mistaken_for_mojibake() {
        assert!(decode_input("SÃO PAULO, São Tomé, Ã, â".as_bytes()).is_ok());
    }

    #[test]
    fn mixed_utf8_and_windows_1252_is_refused_with_the_first_bad_line() {
        let mut bytes = "Titre : | L’été |\n".as_bytes().to_vec();
        bytes.extend_from_slice(b"R\xE9sum\xE9 : | x |\n");
        let err = decode_input(&bytes).unwrap_err();
        assert_eq!(err, PmbError::MixedEncoding { line: 2 });
    }
}
