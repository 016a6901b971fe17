//! The rules of every application a function app serves: a default and, from the policy file,
//! one set per application id.

use std::fmt;
use std::sync::Arc;

use super::Policy;

/// The default rules and each application's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySet {
    pub default: Arc<Policy>,
    /// Lower-case application id → its rules.
    pub applications: Vec<(Arc<str>, Arc<Policy>)>,
}

/// Which rules decided: the default ones or an application's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyName {
    Default,
    Application(Arc<str>),
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Application(id) => f.write_str(id),
        }
    }
}

impl PolicySet {
    /// Whether any application's rules (or the default) put people on a waitlist.
    pub fn any_waitlist(&self) -> bool {
        self.default.waitlist || self.applications.iter().any(|(_, policy)| policy.waitlist)
    }

    /// One rule set for every application (no policy file).
    pub fn single(policy: Policy) -> Self {
        Self {
            default: Arc::new(policy),
            applications: Vec::new(),
        }
    }

    /// The rules for `application` (its id in any ASCII case): its own section, else the
    /// default.
    pub fn for_application(&self, application: Option<&str>) -> (Arc<Policy>, PolicyName) {
        application
            .map(str::trim)
            .and_then(|asked| {
                self.applications
                    .iter()
                    .find(|(id, _)| id.eq_ignore_ascii_case(asked))
            })
            .map_or_else(
                || (self.default.clone(), PolicyName::Default),
                |(id, policy)| (policy.clone(), PolicyName::Application(id.clone())),
            )
    }
}
