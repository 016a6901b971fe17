//! Application (client) ids and the other GUIDs of a tenant: parse-only values, lower-cased, so
//! that an id from a request, a setting, a file or a table compares equal however it was written.

use std::fmt;
use std::sync::Arc;

/// A GUID like `00000000-0000-0000-0000-000000000000`, ASCII letters lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(Arc<str>);

/// Why a text is not a GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a GUID like 00000000-0000-0000-0000-000000000000")]
pub struct InvalidGuid(pub String);

impl Guid {
    /// Parses a GUID (surrounding white space ignored, any case).
    pub fn parse(text: &str) -> Result<Self, InvalidGuid> {
        let trimmed = text.trim();
        let groups: Vec<&str> = trimmed.split('-').collect();
        let shaped = groups.len() == 5
            && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| {
                group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit())
            });
        if shaped {
            Ok(Self(trimmed.to_ascii_lowercase().into()))
        } else {
            Err(InvalidGuid(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` (an id as a request sends it) names this GUID, in any case.
    pub fn is(&self, text: &str) -> bool {
        self.0.eq_ignore_ascii_case(text.trim())
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An application's (client) id: the application an invitation or a policy section is for.
pub type ApplicationId = Guid;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_parsed_lower_cased_and_compared_in_any_case() {
        let id = Guid::parse(" 44445555-EEEE-6666-ffff-7777AAAA8888 ").unwrap();
        assert_eq!(id.as_str(), "44445555-eeee-6666-ffff-7777aaaa8888");
        assert!(id.is("44445555-EEEE-6666-FFFF-7777aaaa8888"));
        assert!(!id.is("44445555-eeee-6666-ffff-7777aaaa8889"));
        for bad in [
            "",
            "my-app",
            "APP_A",
            "44445555eeee6666ffff7777aaaa8888",
            "44445555-eeee-6666-ffff-7777aaaa888",
            "44445555-eeee-6666-ffff-7777aaaa888g",
            "{44445555-eeee-6666-ffff-7777aaaa8888}",
        ] {
            assert_eq!(Guid::parse(bad), Err(InvalidGuid(bad.to_owned())), "{bad}");
        }
    }
}
