//! Who is calling? One check per kind of caller, chosen by configuration and applied by the
//! server before the body is read: HTTP Basic for API connectors ([`basic`]), Entra's bearer
//! token ([`entra`]) or Easy Auth's principal ([`easy_auth`]) for the authentication events
//! service.

pub mod basic;
pub mod easy_auth;
pub mod entra;

use std::sync::Arc;

use warp::http::HeaderValue;

use self::basic::{BasicCredentials, BasicFailure};
use self::entra::{EntraTokens, TokenFailure, TokenSettings};

/// The request headers a caller proves itself with.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Credentials<'a> {
    /// `Authorization`.
    pub(crate) authorization: Option<&'a HeaderValue>,
    /// `X-MS-CLIENT-PRINCIPAL` (Easy Auth).
    pub(crate) principal: Option<&'a HeaderValue>,
    /// `X-MS-CLIENT-PRINCIPAL-IDP` (Easy Auth).
    pub(crate) principal_idp: Option<&'a HeaderValue>,
}

/// How callers of the API connector (`SignUpValidation`) prove who they are.
#[derive(Clone)]
pub(crate) enum ApiConnectorAuth {
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
pub(crate) enum AuthEventsAuth {
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
pub(crate) enum AuthEventsGuard {
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
    pub(crate) fn start(settings: &AuthEventsAuth) -> Self {
        match settings {
            AuthEventsAuth::Jwt(token) => {
                let tokens = Arc::new(EntraTokens::new(token.clone()));
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
        }
    }

    pub async fn verify(&self, credentials: Credentials<'_>) -> Result<(), TokenFailure> {
        match self {
            Self::Jwt(tokens) => tokens.verify(credentials.authorization).await,
            Self::EasyAuth {
                tenant_id,
                client_id,
            } => easy_auth::verify(
                credentials.principal,
                credentials.principal_idp,
                tenant_id,
                client_id,
            ),
            Self::NotConfigured => Err(TokenFailure::NotConfigured),
            Self::None => Ok(()),
        }
    }
}
