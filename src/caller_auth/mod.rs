//! Who is calling? One check per front door, chosen by configuration, applied before the body
//! is read.

pub mod basic;

use self::basic::{BasicCredentials, BasicFailure};
use warp::http::HeaderValue;

/// How callers of the API connector (`SignUpValidation`) prove who they are.
#[derive(Clone)]
pub enum ApiConnectorAuth {
    /// HTTP Basic with these credentials.
    Basic(BasicCredentials),
    /// Basic is required but no credentials are configured: every call is refused.
    BasicNotConfigured,
    /// No check (allowed only outside Azure).
    None,
}

impl ApiConnectorAuth {
    pub fn verify(&self, authorization: Option<&HeaderValue>) -> Result<(), BasicFailure> {
        match self {
            Self::Basic(credentials) => credentials.verify(authorization),
            Self::BasicNotConfigured => Err(BasicFailure::NotConfigured),
            Self::None => Ok(()),
        }
    }
}
