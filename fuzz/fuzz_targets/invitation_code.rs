#![no_main]
//! The reader of typed invitation codes: any text is either refused or read as one code, never a
//! panic; a code read back from how it is written is the same code with the same digest; and
//! what it accepts is exactly what the rules say (written apart from the product below).

use libfuzzer_sys::fuzz_target;
use signup_gate::domain::invitation::InvitationCode;

fuzz_target!(|data: &[u8]| {
    let Ok(typed) = std::str::from_utf8(data) else {
        return; // attribute values are JSON strings: text
    };
    let read = InvitationCode::parse(typed);
    assert_eq!(read.is_ok(), expected(typed), "{typed:?}");
    if let Ok(code) = read {
        let written = code.to_string();
        assert_eq!(written.len(), 19);
        let again = InvitationCode::parse(&written).expect("a written code reads back");
        assert_eq!(again, code);
        assert_eq!(again.digest(), code.digest());
        // Typing the same code differently never changes the digest.
        let lowered = InvitationCode::parse(&typed.to_lowercase()).map(|c| c.digest());
        if typed.is_ascii() {
            assert_eq!(lowered, Ok(code.digest()));
        }
    }
});

/// Crockford base32 after dropping spaces, tabs and dashes, reading O as 0 and I, L as 1: exactly
/// 16 symbols, and at most 64 bytes typed.
fn expected(typed: &str) -> bool {
    if typed.len() > 64 {
        return false;
    }
    let mut count = 0;
    for c in typed.chars() {
        match c.to_ascii_uppercase() {
            ' ' | '\t' | '-' => {}
            'O' | 'I' | 'L' => count += 1,
            'U' => return false,
            c if c.is_ascii_digit() || c.is_ascii_uppercase() => count += 1,
            _ => return false,
        }
    }
    count == 16
}
