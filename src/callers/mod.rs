//! Who is calling? One check per kind of caller, chosen by configuration and applied by the
//! server before the body is read: HTTP Basic for API connectors ([`basic`]), Entra's bearer
//! token ([`entra`]) or Easy Auth's principal ([`easy_auth`]) for the authentication events
//! service. A check that fails produces its own [`Refusal`]: what to log, and the challenge the
//! caller's contract expects; the server only writes it.

pub mod basic;
pub mod easy_auth;
pub mod entra;
mod json;

use std::sync::Arc;

use warp::http::header::WWW_AUTHENTICATE;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::{Reply, Response};

use self::basic::{BasicCredentials, BasicFailure};
use self::entra::{EntraTokens, TokenFailure, TokenSettings};
use crate::telemetry::Telemetry;

/// Who calls a function, and so how the caller proves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// A B2C / External Identities API connector: HTTP Basic.
    ApiConnector,
    /// Entra's authentication events service: its bearer token (or Easy Auth's principal).
    AuthenticationEvents,
}

/// A caller turned away: why (for the log line) and how it should prove itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The check that failed, as the decision line names it.
    pub(crate) reason: &'static str,
    /// The `WWW-Authenticate` challenge of the caller's contract.
    pub(crate) challenge: &'static str,
}

impl Refusal {
    /// `401 Unauthorized` with the challenge; the body is empty (the caller learns nothing
    /// about which check failed).
    pub(crate) fn response(&self) -> Response {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static(self.challenge));
        response
    }
}

/// The call a check is about, for its own log lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub(crate) function: &'static str,
    pub(crate) correlation_id: &'a str,
}

/// The running check of each kind of caller.
pub(crate) struct Callers {
    pub(crate) api_connector: ApiConnectorAuth,
    pub(crate) auth_events: AuthEventsGuard,
}

impl Callers {
    /// Checks that whoever sent `credentials` may call a function of `caller`.
    pub(crate) async fn check(
        &self,
        caller: Caller,
        credentials: Credentials<'_>,
        call: Call<'_>,
    ) -> Result<(), Refusal> {
        match caller {
            Caller::ApiConnector => self.api_connector.check(credentials.authorization, call),
            Caller::AuthenticationEvents => self.auth_events.check(credentials, call).await,
        }
    }
}

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
    /// The API connector's check: a refusal challenges for Basic credentials; a deployment
    /// that has none configured says so in the log, since no caller can fix that.
    pub(crate) fn check(
        &self,
        authorization: Option<&HeaderValue>,
        call: Call<'_>,
    ) -> Result<(), Refusal> {
        self.verify(authorization).map_err(|failure| {
            if failure == BasicFailure::NotConfigured {
                log::error!(
                    "refusing a call because BASIC_AUTH_USERNAME / BASIC_AUTH_PASSWORD are not set; correlation_id={}",
                    call.correlation_id
                );
            }
            Refusal {
                reason: failure.as_str(),
                challenge: "Basic realm=\"SignUpValidation\"",
            }
        })
    }

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
    /// Starts the check; for `jwt` this begins fetching keys in the background (reporting each
    /// fetch to `telemetry`), so it must run inside the Tokio runtime.
    pub(crate) fn start(settings: &AuthEventsAuth, telemetry: Telemetry) -> Self {
        match settings {
            AuthEventsAuth::Jwt(token) => {
                let tokens = Arc::new(EntraTokens::new(token.clone(), telemetry));
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

    /// The Entra functions' check: a refusal challenges for a bearer token; keys that could
    /// not be fetched yet are said in the log, since no caller can fix that.
    pub(crate) async fn check(
        &self,
        credentials: Credentials<'_>,
        call: Call<'_>,
    ) -> Result<(), Refusal> {
        self.verify(credentials).await.map_err(|failure| {
            if failure == TokenFailure::KeysUnavailable {
                log::error!(
                    "refusing a call to {}: the Entra signing keys could not be fetched yet; correlation_id={}",
                    call.function,
                    call.correlation_id
                );
            }
            Refusal {
                reason: failure.as_str(),
                challenge: "Bearer error=\"invalid_token\"",
            }
        })
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
