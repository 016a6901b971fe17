//! The parsers that turn a setting's text into a value or an error naming the variable.

use std::ops::RangeInclusive;

use super::error::SettingsError;

/// The host's port; 0 is taken too (the system chooses one, and the `listening on` line names
/// it), which is how a test harness starts the handler without racing for a free port.
pub(crate) fn parse_port(value: &str) -> Result<u16, SettingsError> {
    value
        .trim()
        .parse::<u16>()
        .ok()
        .ok_or_else(|| SettingsError::Invalid {
            variable: "FUNCTIONS_CUSTOMHANDLER_PORT",
            expected: format!("must be a TCP port number from 0 to 65535, got {value:?}"),
        })
}

/// A whole number within `range`, or the error that names the variable and the range.
pub(crate) fn whole_number(
    variable: &'static str,
    value: &str,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, SettingsError> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|number| range.contains(number))
        .ok_or_else(|| SettingsError::Invalid {
            variable,
            expected: format!(
                "must be a whole number of {unit} from {} to {}, got {value:?}",
                range.start(),
                range.end()
            ),
        })
}

/// `true`/`false` in any case (the portal writes `True`), or `1`/`0`.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}
