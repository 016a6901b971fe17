//! The waitlist: requests to join from people who are neither invited nor in an allowed domain,
//! recorded by the gate where the waitlist is on, and approved (into an invitation) or denied by
//! an administrator. Requests come from people who are not trusted yet: every field is capped,
//! and only a store that can write while the app runs (the table) keeps them.

use crate::domain::email::EmailAddress;
use crate::setting::{Environment, Kind, SettingsError, settings};

/// Longest stored value of a request's fields, in characters (what the directory stores for a
/// string attribute).
pub const MAX_FIELD_CHARS: usize = 250;

settings! {
    WAITLIST_SETTINGS;
    WAITLIST_MAX: Invitations, Kind::Whole(1..=1_000_000, "requests"), Some("10000"),
        "most open waitlist requests per application; beyond, the gate refuses as without a waitlist and logs \
         an error (at most once a minute)",
        "`10000`";
    WAITLIST_MAX_PER_DOMAIN: Invitations, Kind::Whole(1..=100_000, "requests"), Some("100"),
        "most open waitlist requests from one e-mail domain, so that one domain cannot fill the waitlist",
        "`100`";
    WAITLIST_RETENTION_DAYS: Invitations, Kind::Whole(1..=3650, "days"), Some("90"),
        "an open request not repeated for this many days is deleted (requests are personal data: \
         [policy.md](policy.md#waitlist))",
        "`90`";
    WAITLIST_DENY_DAYS: Invitations, Kind::Whole(0..=3650, "days"), Some("30"),
        "a denied address is answered as not invited, and not recorded again, for this many days",
        "`30`";
}

/// How much the waitlist may hold, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitlistLimits {
    pub max: u32,
    pub max_per_domain: u32,
    pub retention_days: u32,
    pub deny_days: u32,
}

impl Default for WaitlistLimits {
    fn default() -> Self {
        Self {
            max: 10_000,
            max_per_domain: 100,
            retention_days: 90,
            deny_days: 30,
        }
    }
}

impl WaitlistLimits {
    pub(crate) fn read(env: &Environment) -> Result<Self, SettingsError> {
        let whole = |setting: &crate::setting::Setting| setting.whole(env).map(|n| n as u32);
        Ok(Self {
            max: whole(&WAITLIST_MAX)?,
            max_per_domain: whole(&WAITLIST_MAX_PER_DOMAIN)?,
            retention_days: whole(&WAITLIST_RETENTION_DAYS)?,
            deny_days: whole(&WAITLIST_DENY_DAYS)?,
        })
    }
}

/// What one sign-up attempt brings to the waitlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub email: EmailAddress,
    /// The application signed up to (`None`: not named).
    pub application: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub locale: Option<String>,
    pub entra_correlation_id: Option<String>,
}

impl JoinRequest {
    /// With every field trimmed, blank ones dropped, and each cut to [`MAX_FIELD_CHARS`].
    pub fn capped(mut self) -> Self {
        for field in [
            &mut self.display_name,
            &mut self.given_name,
            &mut self.surname,
            &mut self.locale,
            &mut self.entra_correlation_id,
        ] {
            *field = field.take().and_then(|value| cap(&value));
        }
        self.application = self.application.and_then(|value| cap(&value));
        self
    }
}

/// `value` trimmed and cut to [`MAX_FIELD_CHARS`]; `None` when blank.
pub(crate) fn cap(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.chars().take(MAX_FIELD_CHARS).collect())
}

/// What recording a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// Recorded: a new request, or the address's request updated.
    Recorded,
    /// The address was denied within `WAITLIST_DENY_DAYS`: answered as not invited.
    Denied,
    /// A cap is reached: refused as without a waitlist.
    Full(Cap),
    /// The store keeps no requests.
    Unsupported,
}

/// Which cap a new request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    Application,
    Domain,
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    Open,
    Denied,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Denied => "denied",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "open" => Some(Self::Open),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// A request as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRequest {
    pub email: EmailAddress,
    pub application: Option<String>,
    /// RFC 3339, as the store wrote them.
    pub first_at: String,
    pub last_at: String,
    pub count: u32,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub locale: Option<String>,
    pub entra_correlation_id: Option<String>,
    pub status: RequestStatus,
    pub denied_at: Option<String>,
}

/// How an administrator closes a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// Made into an invitation: the request is deleted.
    Approved,
    /// Kept as denied, so the address is not recorded again for `WAITLIST_DENY_DAYS`.
    Denied,
    /// Deleted (`requests remove`).
    Removed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_strangers_are_trimmed_and_capped() {
        let request = JoinRequest {
            email: EmailAddress::parse("ada@contoso.com").unwrap(),
            application: Some("  ".to_owned()),
            display_name: Some(format!(" {} ", "x".repeat(300))),
            given_name: Some("Ada".to_owned()),
            surname: Some("   ".to_owned()),
            locale: None,
            entra_correlation_id: Some("c-1".to_owned()),
        }
        .capped();
        assert_eq!(request.application, None);
        assert_eq!(
            request.display_name.unwrap().chars().count(),
            MAX_FIELD_CHARS
        );
        assert_eq!(request.given_name.as_deref(), Some("Ada"));
        assert_eq!(request.surname, None);
    }
}
