//! Who is calling? One check per front door, chosen by configuration, applied before the body
//! is read.

pub mod basic;
pub mod easy_auth;
pub mod entra_token;

use std::sync::Arc;

use warp::http::{HeaderMap, HeaderValue};

use self::basic::{BasicCredentials, BasicFailure};
use self::entra_token::{EntraTokens, TokenFailure, TokenSettings};

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

/// How callers of the Entra functions prove who they are (`AUTH_EVENTS_TOKEN_VALIDATION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthEventsAuth {
    /// Validate the bearer token in-process.
    Jwt(TokenSettings),
    /// Trust Easy Auth's validation, then check the claims it forwards.
    EasyAuth {
        tenant_id: String,
        client_id: String,
    },
    /// A check is wanted but its settings are missing: every call is refused.
    NotConfigured { missing: String },
    /// No check (allowed only outside Azure).
    None,
}

/// The running check for the Entra functions.
pub enum AuthEventsGuard {
    Jwt(Arc<EntraTokens>),
    EasyAuth {
        tenant_id: String,
        client_id: String,
    },
    NotConfigured,
    None,
}

impl AuthEventsGuard {
    /// Starts the check; for `jwt` this begins fetching keys in the background, so it must run
    /// inside the Tokio runtime.
    pub fn start(settings: &AuthEventsAuth) -> Result<Self, String> {
        Ok(match settings {
            AuthEventsAuth::Jwt(token) => {
                let tokens = Arc::new(EntraTokens::new(token.clone())?);
                tokens.spawn_refresh();
                Self::Jwt(tokens)
            }
            AuthEventsAuth::EasyAuth {
                tenant_id,
                client_id,
            } => Self::EasyAuth {
                tenant_id: tenant_id.clone(),
                client_id: client_id.clone(),
            },
            AuthEventsAuth::NotConfigured { .. } => Self::NotConfigured,
            AuthEventsAuth::None => Self::None,
        })
    }

    pub async fn verify(&self, headers: &HeaderMap) -> Result<(), TokenFailure> {
        match self {
            Self::Jwt(tokens) => {
                tokens
                    .verify(headers.get(warp::http::header::AUTHORIZATION))
                    .await
            }
            Self::EasyAuth {
                tenant_id,
                client_id,
            } => easy_auth::verify(headers, tenant_id, client_id),
            Self::NotConfigured => Err(TokenFailure::NotConfigured),
            Self::None => Ok(()),
        }
    }
}
