//! When an invitation stops being valid, as written in a file or a table (a date, or an RFC 3339
//! date-time), and the clock it is compared with.

use std::fmt;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

/// The instant an invitation stops being valid, in seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Expiry(pub i64);

/// Why an expiry text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidExpiry {
    #[error("{0:?} is not an RFC 3339 date (2026-12-31) or date-time (2026-12-31T18:00:00Z)")]
    Format(String),
    #[error("{0:?} is outside the years 0000 to 9999 once converted to UTC")]
    OutOfRange(String),
}

impl Expiry {
    /// `2026-12-31` (midnight UTC at the start of that day) or an RFC 3339 date-time with offset.
    ///
    /// The instant must be writable back in the same form, which needs a year from 0000 to
    /// 9999 in UTC: `9999-12-31T23:59:59-05:00` is in the year 10000 there, and a value that
    /// cannot be written back would leave a file or table that nothing can read.
    pub(crate) fn parse(text: &str) -> Result<Self, InvalidExpiry> {
        let text = text.trim();
        let invalid = || InvalidExpiry::Format(text.to_owned());
        let expiry = if text.len() == 10 {
            let date = Date::parse(text, format_description!("[year]-[month]-[day]"))
                .map_err(|_| invalid())?;
            Self(date.midnight().assume_utc().unix_timestamp())
        } else {
            Self(
                OffsetDateTime::parse(text, &Rfc3339)
                    .map_err(|_| invalid())?
                    .unix_timestamp(),
            )
        };
        match expiry.written() {
            Some(written) if Self::parse_written(&written) == Some(expiry) => Ok(expiry),
            _ => Err(InvalidExpiry::OutOfRange(text.to_owned())),
        }
    }

    /// Reads back what [`Self::written`] wrote, without the range check (which it passed).
    fn parse_written(text: &str) -> Option<Self> {
        if text.len() == 10 {
            let date = Date::parse(text, format_description!("[year]-[month]-[day]")).ok()?;
            return Some(Self(date.midnight().assume_utc().unix_timestamp()));
        }
        Some(Self(
            OffsetDateTime::parse(text, &Rfc3339).ok()?.unix_timestamp(),
        ))
    }

    /// The form it is written in: a date when it is midnight UTC, otherwise a UTC date-time;
    /// `None` when the instant has no such form (outside the years 0000 to 9999 in UTC).
    fn written(self) -> Option<String> {
        let instant = OffsetDateTime::from_unix_timestamp(self.0).ok()?;
        if instant.time() == Time::MIDNIGHT {
            instant
                .date()
                .format(format_description!("[year]-[month]-[day]"))
                .ok()
        } else {
            instant.format(&Rfc3339).ok()
        }
    }

    pub(crate) fn has_passed(self, now: i64) -> bool {
        now >= self.0
    }
}

/// Written back as it is best read: a date when it is midnight UTC, otherwise a UTC date-time.
/// (Every parsed expiry has such a form; the seconds are shown for one built otherwise.)
impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.written() {
            Some(text) => f.write_str(&text),
            None => write!(f, "@{}", self.0),
        }
    }
}

/// Seconds since the Unix epoch now.
pub(crate) fn now() -> i64 {
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
    fn instants_that_cannot_be_written_back_are_refused() {
        for text in ["9999-12-31T23:59:59-05:00", "0000-01-01T00:30:00+01:00"] {
            assert_eq!(
                Expiry::parse(text),
                Err(InvalidExpiry::OutOfRange(text.to_owned()))
            );
        }
        for text in [
            "9999-12-31T23:59:59Z",
            "0000-01-01T00:30:00Z",
            "9999-12-31",
            "0000-01-01",
        ] {
            let expiry = Expiry::parse(text).unwrap();
            assert_eq!(Expiry::parse(&expiry.to_string()), Ok(expiry), "{text}");
        }
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
