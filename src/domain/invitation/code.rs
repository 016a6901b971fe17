//! Invitation codes: 80 random bits from the operating system, written in Crockford's base32 in
//! four groups (`7KQ2-M9XD-4TVB-81HE`). Typing is forgiving: any case, spaces and dashes
//! ignored, `O` read as `0`, `I` and `L` as `1`. A store keeps only the SHA-256 of the normalised
//! code ([`CodeDigest`]), never the code.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Crockford's base32 alphabet: no `I`, `L`, `O` or `U`.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a code: 16 × 5 = 80 bits.
pub const CODE_CHARS: usize = 16;
/// Longest text read as a code: a typed code with generous spacing, no more (a code attribute
/// can hold anything a user types).
const MAX_TYPED: usize = 64;

/// A code as it was generated or typed, normalised (16 characters of the alphabet).
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationCode([u8; CODE_CHARS]);

/// Why typed text is not a code (it never says what the text was).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidCode {
    #[error("a code has 16 letters and digits (dashes and spaces do not count)")]
    Length,
    #[error("a code holds only the letters and digits of Crockford's base32")]
    Character,
}

impl InvitationCode {
    /// A new code from the operating system's generator.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut bytes = [0u8; CODE_CHARS];
        SystemRandom::new().fill(&mut bytes)?;
        Ok(Self(bytes.map(|byte| ALPHABET[usize::from(byte & 31)])))
    }

    /// Reads a typed code: any case; spaces, tabs and dashes ignored; `O` as `0`, `I` and `L`
    /// as `1`.
    pub fn parse(typed: &str) -> Result<Self, InvalidCode> {
        if typed.len() > MAX_TYPED {
            return Err(InvalidCode::Length);
        }
        let mut code = [0u8; CODE_CHARS];
        let mut count = 0;
        for byte in typed.bytes() {
            let symbol = match byte.to_ascii_uppercase() {
                b' ' | b'\t' | b'-' => continue,
                b'O' => b'0',
                b'I' | b'L' => b'1',
                other if ALPHABET.contains(&other) => other,
                _ => return Err(InvalidCode::Character),
            };
            if count == CODE_CHARS {
                return Err(InvalidCode::Length);
            }
            code[count] = symbol;
            count += 1;
        }
        if count != CODE_CHARS {
            return Err(InvalidCode::Length);
        }
        Ok(Self(code))
    }

    /// What the store keeps.
    pub fn digest(&self) -> CodeDigest {
        CodeDigest(Sha256::digest(self.0).into())
    }
}

/// Written for people, once: `XXXX-XXXX-XXXX-XXXX`.
impl fmt::Display for InvitationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, group) in self.0.chunks(4).enumerate() {
            if index > 0 {
                f.write_str("-")?;
            }
            // The alphabet is ASCII.
            f.write_str(std::str::from_utf8(group).unwrap_or_default())?;
        }
        Ok(())
    }
}

/// Never printed by accident.
impl fmt::Debug for InvitationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationCode(..)")
    }
}

/// The SHA-256 of a normalised code: how a store keys a code invitation. No salt is needed:
/// the code has 80 random bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodeDigest([u8; 32]);

impl CodeDigest {
    /// From its 64 lower- or upper-case hex digits (a file cell, a table key, an export).
    pub fn parse(hex: &str) -> Option<Self> {
        let hex = hex.trim().as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(hex.chunks(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        Some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// 64 lower-case hex digits.
impl fmt::Display for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeDigest({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_grouped_and_read_back() {
        let code = InvitationCode::generate().unwrap();
        let written = code.to_string();
        assert_eq!(written.len(), 19);
        assert_eq!(written.matches('-').count(), 3);
        assert_eq!(InvitationCode::parse(&written).unwrap(), code);
        assert_ne!(InvitationCode::generate().unwrap(), code);
    }

    #[test]
    fn typing_is_forgiving() {
        let code = InvitationCode::parse("7KQ2-M9XD-4TV8-01HE").unwrap();
        for typed in [
            "7kq2m9xd4tv801he",
            " 7KQ2 M9XD 4TV8 01HE ",
            "7KQ2-M9XD-4TV8-O1HE",
            "7KQ2-M9XD-4TV8-0IHE",
            "7KQ2-M9XD-4TV8-0lhe",
            "7KQ2--M9XD\t4TV8-01HE",
        ] {
            assert_eq!(InvitationCode::parse(typed).as_ref(), Ok(&code), "{typed}");
            assert_eq!(
                InvitationCode::parse(typed).unwrap().digest(),
                code.digest()
            );
        }
        for typed in ["", "7KQ2-M9XD-4TV8-01H", "7KQ2-M9XD-4TV8-01HEE"] {
            assert_eq!(InvitationCode::parse(typed), Err(InvalidCode::Length));
        }
        for typed in [
            "7KQ2-M9XD-4TV8-01HU",
            "7KQ2-M9XD-4TV8-01H!",
            "7KQ2-M9XD-4TV8-01Hé",
        ] {
            assert_eq!(InvitationCode::parse(typed), Err(InvalidCode::Character));
        }
        assert_eq!(
            InvitationCode::parse(&"-".repeat(100)),
            Err(InvalidCode::Length)
        );
    }

    #[test]
    fn the_digest_is_the_sha256_of_the_normalised_code_and_reads_back() {
        let code = InvitationCode::parse("0000-0000-0000-0000").unwrap();
        let digest = code.digest();
        assert_eq!(
            digest.to_string(),
            format!("{:x}", Sha256::digest(b"0000000000000000"))
        );
        assert_eq!(CodeDigest::parse(&digest.to_string()), Some(digest));
        assert_eq!(
            CodeDigest::parse(&digest.to_string().to_uppercase()),
            Some(digest)
        );
        assert_eq!(CodeDigest::parse("abc"), None);
        assert_eq!(CodeDigest::parse(&"g".repeat(64)), None);
    }

    #[test]
    fn a_code_is_never_printed_by_debug() {
        let code = InvitationCode::generate().unwrap();
        assert_eq!(format!("{code:?}"), "InvitationCode(..)");
    }
}
