//! What the settings mean for a run, logged once at start-up (never a secret).

use super::{Note, Settings, catalog};
use crate::callers::{ApiConnectorAuth, AuthEventsAuth};
use crate::functions::{self, Caller};

impl Settings {
    /// Logs what the server will do with these settings, and what they leave open.
    pub(crate) fn report(&self) {
        let settings = self;
        for note in &settings.notes {
            match note {
                Note::UnknownSetting { .. } => log::warn!("{note}"),
                Note::NoAllowListInAzure => log::error!("{note}"),
            }
        }
        let served_by =
            |caller: Caller| crate::printable::one_of(&functions::names_of(caller), "and");
        match settings.api_connector_auth {
            ApiConnectorAuth::Basic(_) => {}
            ApiConnectorAuth::BasicNotConfigured => log::error!(
                "API_CONNECTOR_AUTH is basic but BASIC_AUTH_USERNAME / BASIC_AUTH_PASSWORD are not both set: \
                 every call to {} is refused with 401 until they are",
                served_by(Caller::ApiConnector)
            ),
            ApiConnectorAuth::None => log::warn!(
                "API_CONNECTOR_AUTH=none: {} accept(s) calls from anyone (local use only)",
                served_by(Caller::ApiConnector)
            ),
        }
        let events = served_by(Caller::AuthenticationEvents);
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
                "{missing} is not set: {events} refuse every call with 401 \
                 (set AUTH_EVENTS_TENANT_ID and AUTH_EVENTS_CLIENT_ID, or AUTH_EVENTS_TOKEN_VALIDATION=none locally)"
            ),
            AuthEventsAuth::None => log::warn!(
                "AUTH_EVENTS_TOKEN_VALIDATION=none: {events} accept calls from anyone (local use only)"
            ),
        }
        let policy = &settings.policy;
        if policy.allowed_domains.is_empty() {
            log::info!("ALLOWED_EMAIL_DOMAINS is empty: only invited addresses are admitted");
        }
        log::info!(
            "policy: allowed domains [{}], blocked domains [{}], blocked local parts [{}]{}{}, job title at least {} characters{}, organization {:?}, decision deadline {} ms{}",
            policy.allowed_domains,
            policy.blocked_domains,
            policy.blocked_local_parts,
            if policy.block_disposable_domains {
                ", disposable domains refused"
            } else {
                ""
            },
            if policy.block_subaddresses {
                ", sub-addresses refused"
            } else {
                ""
            },
            policy.min_job_title_length,
            if policy.require_job_title {
                " and required"
            } else {
                ""
            },
            policy.texts.organization.get(self.catalog.english()),
            settings.decision_deadline.as_millis(),
            match &settings.policy_file {
                Some(path) => format!("; the policy file {} overlays these", path.display()),
                None => String::new(),
            }
        );
        // Which list (and version) refuses, wherever BLOCK_DISPOSABLE_DOMAINS or the policy
        // file switches it on.
        log::info!("disposable domains: {}", policy.disposable_domains);
    }
}

/// The settings left unset whose default is in force, each as `NAME=default` (for `handler
/// doctor`; the per-application ones with the value the settings give every application).
pub(crate) fn defaults_in_force(
    environment: &super::Environment,
    settings: &Settings,
) -> Vec<String> {
    let mut defaults: Vec<String> = crate::policy::settings::POLICY_SETTINGS
        .iter()
        .filter(|setting| environment.setting(setting.env).is_none())
        .map(|setting| format!("{}={}", setting.env, (setting.show)(&settings.policy)))
        .collect();
    defaults.extend(
        catalog::all()
            .filter(|setting| setting.read(environment).is_none())
            .filter_map(|setting| Some(format!("{}={}", setting.name, setting.fallback?))),
    );
    defaults
}
