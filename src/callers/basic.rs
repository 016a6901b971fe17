//! HTTP Basic authentication of the API connector (B2C and External Identities send the
//! username and password configured on the API connector with every call).
//!
//! Credentials are compared in constant time, as SHA-256 digests so that not even their length
//! leaks; a password may contain `:` (the pair is split at the *first* colon, RFC 7617).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::http::HeaderValue;

/// Standard alphabet; padding optional because some clients drop it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The credentials every call must present.
#[derive(Clone)]
pub struct BasicCredentials {
    username: [u8; 32],
    password: [u8; 32],
}

/// Why a call was refused; named in the log line, never in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicFailure {
    /// No `Authorization` header.
    Missing,
    /// A scheme other than `Basic`, or no credentials after it.
    NotBasic,
    /// The credentials are not base64.
    BadBase64,
    /// The decoded credentials are not UTF-8.
    NotUtf8,
    /// The decoded credentials have no `:` between username and password.
    NoColon,
    /// Well-formed, but not the configured username and password.
    WrongCredentials,
    /// Basic authentication is required but no credentials are configured: fail closed.
    NotConfigured,
}

impl BasicCredentials {
    pub fn new(username: &str, password: &str) -> Self {
        Self {
            username: digest(username.as_bytes()),
            password: digest(password.as_bytes()),
        }
    }

    /// Checks an `Authorization` header value.
    pub fn verify(&self, header: Option<&HeaderValue>) -> Result<(), BasicFailure> {
        let header = header.ok_or(BasicFailure::Missing)?.as_bytes();
        let (scheme, rest) = split_scheme(header).ok_or(BasicFailure::NotBasic)?;
        if !scheme.eq_ignore_ascii_case(b"Basic") || rest.is_empty() {
            return Err(BasicFailure::NotBasic);
        }
        let decoded = BASE64.decode(rest).map_err(|_| BasicFailure::BadBase64)?;
        let decoded = std::str::from_utf8(&decoded).map_err(|_| BasicFailure::NotUtf8)?;
        let (username, password) = decoded.split_once(':').ok_or(BasicFailure::NoColon)?;
        // Both comparisons always run: `&` on `Choice` does not short-circuit.
        let matches = self.username.ct_eq(&digest(username.as_bytes()))
            & self.password.ct_eq(&digest(password.as_bytes()));
        if bool::from(matches) {
            Ok(())
        } else {
            Err(BasicFailure::WrongCredentials)
        }
    }
}

impl BasicFailure {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "authorization_missing",
            Self::NotBasic => "authorization_not_basic",
            Self::BadBase64 => "authorization_bad_base64",
            Self::NotUtf8 => "authorization_not_utf8",
            Self::NoColon => "authorization_no_colon",
            Self::WrongCredentials => "wrong_credentials",
            Self::NotConfigured => "basic_auth_not_configured",
        }
    }
}

/// `Basic dXNlcjpwYXNz` → (`Basic`, `dXNlcjpwYXNz`), tolerating extra spaces between the two.
fn split_scheme(header: &[u8]) -> Option<(&[u8], &[u8])> {
    let header = header.trim_ascii();
    let space = header.iter().position(|&b| b == b' ')?;
    Some((&header[..space], header[space..].trim_ascii()))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &[u8]) -> HeaderValue {
        HeaderValue::from_bytes(value).unwrap()
    }

    fn basic(pair: &[u8]) -> HeaderValue {
        header(
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
            .as_bytes(),
        )
    }

    #[test]
    fn accepts_the_configured_pair_with_a_colon_in_the_password() {
        let credentials = BasicCredentials::new("gate", "pa:ss:word");
        assert_eq!(credentials.verify(Some(&basic(b"gate:pa:ss:word"))), Ok(()));
    }

    #[test]
    fn accepts_any_scheme_case_and_missing_padding() {
        let credentials = BasicCredentials::new("ab", "c");
        // "ab:c" is "YWI6Yw==" in padded base64.
        assert_eq!(credentials.verify(Some(&header(b"basic YWI6Yw"))), Ok(()));
        assert_eq!(
            credentials.verify(Some(&header(b"BASIC   YWI6Yw=="))),
            Ok(())
        );
    }

    #[test]
    fn names_each_way_a_header_can_be_wrong() {
        let credentials = BasicCredentials::new("gate", "secret");
        let cases: [(Option<HeaderValue>, BasicFailure); 9] = [
            (None, BasicFailure::Missing),
            (Some(header(b"Bearer abc")), BasicFailure::NotBasic),
            (Some(header(b"Basic")), BasicFailure::NotBasic),
            (Some(header(b"Basic ")), BasicFailure::NotBasic),
            (Some(header(b"Basic !!!")), BasicFailure::BadBase64),
            (Some(basic(b"gate\xff:secret")), BasicFailure::NotUtf8),
            (Some(basic(b"gatesecret")), BasicFailure::NoColon),
            (Some(basic(b"gate:wrong")), BasicFailure::WrongCredentials),
            (Some(basic(b"Gate:secret")), BasicFailure::WrongCredentials),
        ];
        for (value, expected) in cases {
            assert_eq!(
                credentials.verify(value.as_ref()),
                Err(expected),
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_username_alone_is_not_enough() {
        let credentials = BasicCredentials::new("gate", "secret");
        assert_eq!(
            credentials.verify(Some(&basic(b"gate:"))),
            Err(BasicFailure::WrongCredentials)
        );
        assert_eq!(
            credentials.verify(Some(&basic(b":secret"))),
            Err(BasicFailure::WrongCredentials)
        );
    }
}
