//! The error of a setting that stops start-up.

/// A setting that stops start-up, named so the operator knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{variable} {expected}")]
    Invalid {
        variable: &'static str,
        expected: String,
    },
    #[error("{file}: {problem}")]
    LocalSettings { file: String, problem: String },
}
