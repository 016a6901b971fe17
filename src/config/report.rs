//! What the settings mean for a run, logged once at start-up (never a secret).

use super::Settings;
use crate::callers::{ApiConnectorAuth, AuthEventsAuth};
use crate::messages::Language;

impl Settings {
    /// Logs what the server will do with these settings, and what they leave open.
    pub(crate) fn report(&self) {
        let settings = self;
        match settings.api_connector_auth {
            ApiConnectorAuth::Basic(_) => {}
            ApiConnectorAuth::BasicNotConfigured => log::error!(
                "API_CONNECTOR_AUTH is basic but BASIC_AUTH_USERNAME / BASIC_AUTH_PASSWORD are not both set: \
                 every call to SignUpValidation is refused with 401 until they are"
            ),
            ApiConnectorAuth::None => log::warn!(
                "API_CONNECTOR_AUTH=none: SignUpValidation accepts calls from anyone (local use only)"
            ),
        }
        match &settings.auth_events_auth {
            AuthEventsAuth::Jwt(token) => log::info!(
                "Entra functions accept tokens for tenant {} and client {} (keys from {})",
                token.tenant_id,
                token.client_id,
                token.metadata_url
            ),
            AuthEventsAuth::EasyAuth {
                tenant_id,
                client_id,
            } => log::info!(
                "Entra functions trust Easy Auth and accept principals for tenant {tenant_id} and client {client_id}"
            ),
            AuthEventsAuth::NotConfigured { missing } => log::warn!(
                "{missing} is not set: OnAttributeCollectionStart/Submit refuse every call with 401 \
                 (set AUTH_EVENTS_TENANT_ID and AUTH_EVENTS_CLIENT_ID, or AUTH_EVENTS_TOKEN_VALIDATION=none locally)"
            ),
            AuthEventsAuth::None => log::warn!(
                "AUTH_EVENTS_TOKEN_VALIDATION=none: OnAttributeCollectionStart/Submit accept calls from anyone (local use only)"
            ),
        }
        let policy = &settings.policy;
        if policy.allowed_domains.is_empty() {
            log::info!("ALLOWED_EMAIL_DOMAINS is empty: only invited addresses are admitted");
        }
        log::info!(
            "policy: allowed domains [{}], blocked domains [{}], blocked local parts [{}], job title at least {} characters{}, organization {:?}, decision deadline {} ms{}",
            policy.allowed_domains,
            policy.blocked_domains,
            policy.blocked_local_parts,
            policy.min_job_title_length,
            if policy.require_job_title {
                " and required"
            } else {
                ""
            },
            policy.texts.organization.get(Language::english()),
            settings.decision_deadline.as_millis(),
            match &settings.policy_file {
                Some(path) => format!("; the policy file {} overlays these", path.display()),
                None => String::new(),
            }
        );
    }
}
