//! Invitations: who may sign up although their domain is not on the allow-list, for which
//! application, until when, and with which attribute values.
//!
//! [`InvitationStore`] is the one lookup every backend implements (the CSV file in
//! [`csv_file`]); the policy sees only [`Invitation`] values.

pub mod csv_file;
pub mod table;

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

use crate::policy::email::EmailAddress;

/// One invitation (the address is its key and lives beside it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invitation {
    /// `None`: valid for every application.
    pub application_id: Option<Box<str>>,
    /// `None`: never expires.
    pub expires_at: Option<Expiry>,
    /// Values to prefill (and, when enforced, to impose at submit).
    pub attributes: Box<[InvitationAttribute]>,
}

/// An attribute value carried by an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationAttribute {
    /// Shared by every invitation that has the attribute (one per file column).
    pub name: Arc<str>,
    pub value: Box<str>,
    /// Imposed at submit (`!name` column) instead of only prefilled.
    pub enforced: bool,
}

/// The instant an invitation stops being valid, in seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry(pub i64);

/// Why an expiry text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 date (2026-12-31) or date-time (2026-12-31T18:00:00Z)")]
pub struct InvalidExpiry(pub String);

impl Expiry {
    /// `2026-12-31` (midnight UTC at the start of that day) or an RFC 3339 date-time with offset.
    pub fn parse(text: &str) -> Result<Self, InvalidExpiry> {
        let text = text.trim();
        let invalid = || InvalidExpiry(text.to_owned());
        if text.len() == 10 {
            let date = Date::parse(text, format_description!("[year]-[month]-[day]"))
                .map_err(|_| invalid())?;
            return Ok(Self(date.midnight().assume_utc().unix_timestamp()));
        }
        let instant = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| invalid())?;
        Ok(Self(instant.unix_timestamp()))
    }

    pub fn has_passed(self, now: i64) -> bool {
        now >= self.0
    }
}

/// Written back as it is best read: a date when it is midnight UTC, otherwise a UTC date-time.
impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(instant) = OffsetDateTime::from_unix_timestamp(self.0) else {
            return write!(f, "@{}", self.0);
        };
        let text = if instant.time() == Time::MIDNIGHT {
            instant
                .date()
                .format(format_description!("[year]-[month]-[day]"))
        } else {
            instant.format(&Rfc3339)
        };
        match text {
            Ok(text) => f.write_str(&text),
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}

/// Why a store could not answer; logged, never shown to the user, and never an admit.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the invitation store is unavailable: {0}")]
    Unavailable(String),
}

/// The one lookup a decision needs.
pub trait InvitationStore: Send + Sync {
    /// The invitation held by this (normalised) address, valid or not.
    fn find<'a>(
        &'a self,
        email: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>>;

    /// Whether [`Self::record_sign_up`] writes anything; when it does not, admitting a
    /// sign-up starts no background task for it.
    fn records_sign_ups(&self) -> bool {
        false
    }

    /// Notes on the invitation that it was used to sign up (to `application`). Stores that
    /// cannot write (the file, read-only in a deployment package) do nothing.
    fn record_sign_up<'a>(
        &'a self,
        _email: &'a EmailAddress,
        _application: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Seconds since the Unix epoch now.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_date_times_round_trip() {
        let date = Expiry::parse("2026-12-31").unwrap();
        assert_eq!(date.to_string(), "2026-12-31");
        assert_eq!(date.0, 1_798_675_200);
        let instant = Expiry::parse("2026-12-31T18:30:00+01:00").unwrap();
        assert_eq!(instant.to_string(), "2026-12-31T17:30:00Z");
        assert_eq!(Expiry::parse(" 2026-12-31T00:00:00Z ").unwrap(), date);
    }

    #[test]
    fn other_texts_are_refused() {
        for text in [
            "",
            "31/12/2026",
            "2026-13-01",
            "2026-12-31T18:30:00",
            "tomorrow",
            "2026-02-30",
        ] {
            assert!(Expiry::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn an_expiry_passes_at_its_instant() {
        let expiry = Expiry(100);
        assert!(!expiry.has_passed(99));
        assert!(expiry.has_passed(100));
    }
}
