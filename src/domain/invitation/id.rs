//! An invitation's id: opaque, random, and what log lines, telemetry and the CLI name an
//! invitation by (`inv_7kq2m9xd4tv801he`). Never the address, never the code.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const PREFIX: &str = "inv_";
/// 16 characters: 80 bits.
const CHARS: usize = 16;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InvitationId(Box<str>);

impl InvitationId {
    /// A new id from the operating system's generator.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut bytes = [0u8; CHARS];
        SystemRandom::new().fill(&mut bytes)?;
        Ok(Self::of(bytes))
    }

    /// The id of an invitation written before invitations had ids (a file row or a table entity
    /// without one): derived from its key, so it stays the same every time it is read, and is
    /// written from then on.
    pub fn derived(key: &str) -> Self {
        let digest = Sha256::digest(format!("signup-gate invitation id\n{key}"));
        let mut bytes = [0u8; CHARS];
        bytes.copy_from_slice(&digest[..CHARS]);
        Self::of(bytes)
    }

    fn of(bytes: [u8; CHARS]) -> Self {
        let mut id = String::with_capacity(PREFIX.len() + CHARS);
        id.push_str(PREFIX);
        id.extend(bytes.map(|byte| char::from(ALPHABET[usize::from(byte & 31)])));
        Self(id.into())
    }

    /// An id as written in a file, a table or on the command line (`inv_` may be left out; any
    /// case). `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim().to_ascii_lowercase();
        let body = text.strip_prefix(PREFIX).unwrap_or(&text);
        (body.len() == CHARS && body.bytes().all(|b| ALPHABET.contains(&b)))
            .then(|| Self(format!("{PREFIX}{body}").into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InvitationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for InvitationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_read_back() {
        let id = InvitationId::generate().unwrap();
        assert!(id.as_str().starts_with("inv_"));
        assert_eq!(id.as_str().len(), 20);
        assert_ne!(InvitationId::generate().unwrap(), id);
        assert_eq!(InvitationId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(
            InvitationId::parse(&id.as_str()[4..].to_uppercase()),
            Some(id)
        );
        assert_eq!(InvitationId::parse("inv_short"), None);
        assert_eq!(InvitationId::parse("inv_iiiiiiiiiiiiiiii"), None);
    }

    #[test]
    fn a_derived_id_is_stable_and_reveals_nothing_of_its_key() {
        let id = InvitationId::derived("ada@contoso.com");
        assert_eq!(id, InvitationId::derived("ada@contoso.com"));
        assert_ne!(id, InvitationId::derived("bob@contoso.com"));
        assert!(!id.as_str().contains("ada"));
        assert_eq!(InvitationId::parse(id.as_str()), Some(id));
    }
}
