//! Text that reaches a log line or a terminal, with everything that is not printable escaped.
//!
//! Values from callers, invitation files and tables end up in log lines and CLI output. A newline
//! there forges another line; a bidirectional override (U+202E) reverses the rest of it; other
//! control and format characters hide or reorder what an operator reads. Printable ASCII passes
//! as it is (the common case costs one scan); anything else that Rust's own `Debug` would escape
//! is written as `\u{...}` (or `\n`, `\t`, `\r`).

use std::fmt;

/// Display form of `text` with control, format and other non-printable characters escaped.
pub(crate) struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape(self.0, f)
    }
}

/// A `fmt::Write` that escapes what is written through it into `inner`.
pub(crate) struct Escaping<W>(pub W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape(text, &mut self.0)
    }
}

/// `a`, `a or b`, `a, b or c` (with `word` for "or"/"and").
pub(crate) fn one_of(items: &[impl AsRef<str>], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_owned(),
        [rest @ .., last] => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} {word} {}", rest.join(", "), last.as_ref())
        }
    }
}

/// An error with the errors that caused it, for a log line (many libraries' own message leaves
/// out the cause: why a redirect was refused, why a connection failed).
pub(crate) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Writes `text` to `out`, escaping what is not printable.
fn escape(text: &str, out: &mut impl fmt::Write) -> fmt::Result {
    if plain(text.as_bytes()) {
        return out.write_str(text);
    }
    for c in text.chars() {
        match c {
            ' ' => out.write_char(c)?,
            c if c.is_ascii_graphic() => out.write_char(c)?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_ascii() => write!(out, "\\u{{{:x}}}", u32::from(c))?,
            // `escape_debug` leaves printable characters alone and escapes the rest (controls,
            // format characters such as the bidirectional ones, separators, unassigned ones).
            c if c.escape_debug().len() == 1 => out.write_char(c)?,
            c => write!(out, "\\u{{{:x}}}", u32::from(c))?,
        }
    }
    Ok(())
}

/// Whether every byte is printable ASCII or a space (0x20 to 0x7E), looked at eight at a time:
/// every log line passes here whole.
fn plain(text: &[u8]) -> bool {
    const EACH: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// Whether some byte of `word` is below `n` (exact when no byte has its high bit set, and
    /// `n` is at most 128).
    fn below(word: u64, n: u64) -> bool {
        word.wrapping_sub(EACH * n) & !word & HIGH != 0
    }
    let (words, rest) = text.as_chunks::<8>();
    words.iter().all(|word| {
        let word = u64::from_le_bytes(*word);
        // No byte of 0x80 or more, none below 0x20 (controls), none equal to 0x7F (DEL).
        word & HIGH == 0 && !below(word, 0x20) && !below(word ^ (EACH * 0x7F), 1)
    }) && rest.iter().all(|&b| b == b' ' || b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    fn shown(text: &str) -> String {
        Printable(text).to_string()
    }

    #[test]
    fn printable_text_passes_unchanged() {
        for text in [
            "a***@fabrikam.com",
            "Jörg Müller",
            "日本語",
            "\"quoted\" \\ 'x'",
            "",
        ] {
            assert_eq!(shown(text), text);
        }
    }

    #[test]
    fn controls_and_bidirectional_overrides_are_escaped() {
        assert_eq!(shown("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(shown("\u{202e}moc.evil"), "\\u{202e}moc.evil");
        assert_eq!(shown("x\u{0}\u{1b}[31m\u{7f}"), "x\\u{0}\\u{1b}[31m\\u{7f}");
        for c in ['\u{200e}', '\u{2066}', '\u{2028}', '\u{feff}', '\u{85}'] {
            assert_eq!(shown(&c.to_string()), format!("\\u{{{:x}}}", u32::from(c)));
        }
    }

    /// The eight-at-a-time check agrees with the byte-by-byte one on every byte at every
    /// place of a word, and on the bytes left over after the last whole word.
    #[test]
    fn the_fast_check_agrees_with_the_plain_one() {
        let simple = |text: &[u8]| text.iter().all(|&b| b == b' ' || b.is_ascii_graphic());
        for length in [1, 7, 8, 9, 16, 17, 24] {
            for place in 0..length {
                for byte in 0..=255u8 {
                    let mut text = vec![b'a'; length];
                    text[place] = byte;
                    assert_eq!(
                        plain(&text),
                        simple(&text),
                        "{byte:#x} at {place} of {length}"
                    );
                    // Next to other edge bytes (a borrow must not hide or invent one).
                    text.fill(b' ');
                    text[place] = byte;
                    assert_eq!(plain(&text), simple(&text), "{byte:#x} among spaces");
                    text.fill(b'~');
                    text[place] = byte;
                    assert_eq!(plain(&text), simple(&text), "{byte:#x} among tildes");
                }
            }
        }
        assert!(plain(b""));
    }

    #[test]
    fn the_writer_escapes_what_passes_through_it() {
        let mut out = Escaping(String::new());
        let email = "a\u{202e}b";
        write!(out, "decision email={email} next").unwrap();
        assert_eq!(out.0, "decision email=a\\u{202e}b next");
    }
}
