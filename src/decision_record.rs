//! One call's decision as it is recorded, in one place: what was answered and why, about whom
//! (masked), and every further fact the function knows ([`Outcome`]); the server completes it
//! with the function, the host's invocation id, the status and the time taken
//! ([`DecisionRecord`]). The `decision` log line and the Application Insights request are both
//! written from it, so they always say the same.
//!
//! A new fact is one [`Fact`] here (its name in the log line and in telemetry, and its place in
//! the line) and one call of [`Outcome::with`] in the function that knows it.
//!
//! Every call records one, so it is kept cheap: a fact's value goes straight to its place (no
//! search, no list that grows), and the log line is written in one piece (see [`LogLine`]).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use crate::domain::invitation::{InvitationClaim, InvitationId};
use crate::messages::Language;
use crate::policy::{EmailClaim, PolicyName};

/// A fact a decision can carry, named once for both of its readers.
#[derive(Debug, PartialEq, Eq)]
pub struct Fact {
    /// Its name in the log line (`step=...`).
    pub log: &'static str,
    /// Its name in Application Insights' `customDimensions`.
    pub telemetry: &'static str,
    /// Its place in [`facts::ORDER`] (a unit test keeps the two in step).
    place: usize,
}

/// Every fact, in the order the log line says them.
pub mod facts {
    use super::Fact;

    /// B2C's `step`, where the contract has one.
    pub const STEP: Fact = Fact {
        log: "step",
        telemetry: "step",
        place: 0,
    };
    /// The names (never the values) of the claims given to a token.
    pub const CLAIMS: Fact = Fact {
        log: "claims",
        telemetry: "claims",
        place: 1,
    };
    /// The language the user was answered in.
    pub const LANGUAGE: Fact = Fact {
        log: "language",
        telemetry: "language",
        place: 2,
    };
    /// Whose rules decided: `default` or an application's id.
    pub const POLICY: Fact = Fact {
        log: "policy",
        telemetry: "policy",
        place: 3,
    };
    /// The application signed up or in to (B2C's `client_id`, Entra's
    /// `clientServicePrincipal.appId`).
    pub const APPLICATION: Fact = Fact {
        log: "application",
        telemetry: "application_id",
        place: 4,
    };
    /// Entra's `data.tenantId`.
    pub const TENANT: Fact = Fact {
        log: "tenant",
        telemetry: "tenant_id",
        place: 5,
    };
    /// Entra's `authenticationContext.correlationId`: the id of the sign-in logs' entry.
    pub const ENTRA_CORRELATION_ID: Fact = Fact {
        log: "entra_correlation_id",
        telemetry: "entra_correlation_id",
        place: 6,
    };

    /// The invitation the decision is about, by its id (never its address or code).
    pub const INVITATION: Fact = Fact {
        log: "invitation",
        telemetry: "invitation_id",
        place: 7,
    };
    /// Where a refused code came from (Entra's `client.ip`, masked): codes failed per address
    /// show a guessing run.
    pub const CLIENT_IP: Fact = Fact {
        log: "client_ip",
        telemetry: "client_ip",
        place: 8,
    };

    /// Every fact, each at its `place`.
    pub(super) const ORDER: [&Fact; 9] = [
        &STEP,
        &CLAIMS,
        &LANGUAGE,
        &POLICY,
        &APPLICATION,
        &TENANT,
        &ENTRA_CORRELATION_ID,
        &INVITATION,
        &CLIENT_IP,
    ];
}

/// A fact's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Static(&'static str),
    Text(String),
    Language(Language),
    Policy(PolicyName),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(text) => f.write_str(text),
            Self::Text(text) => f.write_str(text),
            Self::Language(language) => f.write_str(language.code()),
            Self::Policy(policy) => fmt::Display::fmt(policy, f),
        }
    }
}

/// What a function says about a call: the action it answered (or what happened instead), why,
/// about whom, and the facts it knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The action answered (`Continue`, `showBlockPage`, ...) or what happened instead
    /// (`Unauthorized`, `BadRequest`, ...).
    pub action: &'static str,
    pub reason: &'static str,
    /// The address as it may appear in logs: masked, `(invalid)` or `-`.
    pub email: String,
    /// Each fact's value at the fact's place ([`facts::ORDER`]), if the outcome has it.
    facts: [Option<Value>; facts::ORDER.len()],
}

impl Outcome {
    pub(crate) fn new(action: &'static str, reason: &'static str) -> Self {
        Self {
            action,
            reason,
            email: String::from("-"),
            facts: Default::default(),
        }
    }

    /// The same, with this fact (replacing an earlier value of it).
    pub(crate) fn with(mut self, fact: &'static Fact, value: Value) -> Self {
        self.facts[fact.place] = Some(value);
        self
    }

    /// The value of a fact, if the outcome has it.
    pub fn fact(&self, fact: &Fact) -> Option<&Value> {
        self.facts[fact.place].as_ref()
    }

    /// The facts it has, in the log line's order.
    fn known(&self) -> impl Iterator<Item = (&'static Fact, &Value)> {
        facts::ORDER
            .iter()
            .zip(&self.facts)
            .filter_map(|(fact, value)| Some((*fact, value.as_ref()?)))
    }

    /// The same, about this address.
    pub(crate) fn about(mut self, email: &EmailClaim) -> Self {
        self.email = email.for_log();
        self
    }

    /// The same, answered in `language`.
    pub(crate) fn said(self, language: Language) -> Self {
        self.with(&facts::LANGUAGE, Value::Language(language))
    }

    /// The same, decided by the rules `policy` names.
    pub(crate) fn under(self, policy: PolicyName) -> Self {
        self.with(&facts::POLICY, Value::Policy(policy))
    }

    /// The same, for this application (an implausible id is left out: it goes into logs).
    pub(crate) fn for_application(self, application: Option<&str>) -> Self {
        self.with_id(&facts::APPLICATION, application)
    }

    /// The same, with the ids Entra sends (tenant, correlation id); implausible ones are left out.
    pub(crate) fn in_entra(self, tenant: Option<&str>, correlation_id: Option<&str>) -> Self {
        self.with_id(&facts::TENANT, tenant)
            .with_id(&facts::ENTRA_CORRELATION_ID, correlation_id)
    }

    /// The same, about this invitation.
    pub(crate) fn by_invitation(self, invitation: Option<&InvitationId>) -> Self {
        match invitation {
            Some(id) => self.with(&facts::INVITATION, Value::Text(id.to_string())),
            None => self,
        }
    }

    /// The same, from this (masked) address, where a code was refused.
    pub(crate) fn with_client_ip(self, ip: Option<&str>) -> Self {
        self.with_id(&facts::CLIENT_IP, ip)
    }

    /// The same, naming the claims given.
    pub(crate) fn giving(self, claims: &[InvitationClaim]) -> Self {
        let names: Vec<&str> = claims.iter().map(|claim| &*claim.name).collect();
        let names = if names.is_empty() {
            "-".to_owned()
        } else {
            names.join(",")
        };
        self.with(&facts::CLAIMS, Value::Text(names))
    }

    fn with_id(self, fact: &'static Fact, id: Option<&str>) -> Self {
        match id.and_then(plausible_id) {
            Some(id) => self.with(fact, Value::Text(id)),
            None => self,
        }
    }
}

/// An id from a request as it may go into a log line or telemetry: letters, digits, `-`, `_`
/// and `.`, at most 128 characters; anything else is left out.
pub(crate) fn plausible_id(id: &str) -> Option<String> {
    let id = id.trim();
    let plausible = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    plausible.then(|| id.to_owned())
}

/// A call's decision, complete: the function's [`Outcome`] and what the server knows of the
/// call.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub function: &'static str,
    pub outcome: Outcome,
    /// The host's invocation id (or one made up).
    pub invocation_id: String,
    pub status: u16,
    pub started: SystemTime,
    pub duration: Duration,
}

impl DecisionRecord {
    /// The attributes of its Application Insights request: every fact by its telemetry name.
    pub fn attributes(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        let outcome = &self.outcome;
        [
            ("function", self.function.to_owned()),
            ("outcome", outcome.action.to_owned()),
            ("reason", outcome.reason.to_owned()),
            ("email", outcome.email.clone()),
            ("invocation_id", self.invocation_id.clone()),
        ]
        .into_iter()
        .chain(
            outcome
                .known()
                .map(|(fact, value)| (fact.telemetry, value.to_string())),
        )
    }
}

/// The `decision` log line of a call: what was decided, why, for whom (masked), every fact,
/// and the host's invocation id.
///
/// Written as one piece: the line is put together in a buffer of the thread's (kept from one
/// line to the next) and handed to the logger whole, which then escapes and copies it once,
/// rather than once for each of its twenty-odd parts.
pub struct LogLine<'a> {
    pub function: &'a str,
    pub outcome: &'a Outcome,
    pub invocation_id: &'a str,
}

thread_local! {
    /// The line being written on this thread.
    static LINE: RefCell<String> = RefCell::new(String::with_capacity(256));
}

impl LogLine<'_> {
    /// The line, appended to `line`.
    fn write_into(&self, line: &mut String) {
        let Outcome {
            action,
            reason,
            email,
            ..
        } = self.outcome;
        for part in [
            "decision function=",
            self.function,
            " outcome=",
            action,
            " reason=",
            reason,
            " email=",
            email,
        ] {
            line.push_str(part);
        }
        for (fact, value) in self.outcome.known() {
            line.push(' ');
            line.push_str(fact.log);
            line.push('=');
            match value {
                Value::Static(text) => line.push_str(text),
                Value::Text(text) => line.push_str(text),
                Value::Language(language) => line.push_str(language.code()),
                Value::Policy(policy) => {
                    let _ = write!(line, "{policy}");
                }
            }
        }
        line.push_str(" correlation_id=");
        line.push_str(self.invocation_id);
    }
}

impl fmt::Display for LogLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        LINE.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                self.write_into(&mut line);
                f.write_str(&line)
            }
            // Only if a line were written while another is (never): a buffer of its own.
            Err(_) => {
                let mut line = String::new();
                self.write_into(&mut line);
                f.write_str(&line)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_keep_the_log_lines_order_and_one_value_each() {
        let outcome = Outcome::new("Continue", "invitation")
            .in_entra(Some("tenant-1"), Some("bad id\n"))
            .with(&facts::STEP, Value::Static("PostAttributeCollection"))
            .said(crate::messages::Catalog::built_in().english())
            .under(PolicyName::Default)
            .said(crate::messages::Catalog::built_in().english());
        let line = LogLine {
            function: "SignUpValidation",
            outcome: &outcome,
            invocation_id: "abc",
        }
        .to_string();
        assert_eq!(
            line,
            "decision function=SignUpValidation outcome=Continue reason=invitation email=- step=PostAttributeCollection language=en policy=default tenant=tenant-1 correlation_id=abc"
        );
        assert_eq!(
            outcome.fact(&facts::TENANT),
            Some(&Value::Text("tenant-1".to_owned()))
        );
        assert_eq!(outcome.fact(&facts::ENTRA_CORRELATION_ID), None);
    }

    /// Each fact's place is its place in the order, so `with` puts every value where the line
    /// and telemetry expect it.
    #[test]
    fn every_fact_sits_at_its_place_in_the_order() {
        for (place, fact) in facts::ORDER.iter().enumerate() {
            assert_eq!(fact.place, place, "{}", fact.log);
        }
        let names: std::collections::HashSet<_> =
            facts::ORDER.iter().map(|fact| fact.log).collect();
        assert_eq!(names.len(), facts::ORDER.len(), "one place per fact");
    }

    /// The line is the same however often it is written, on a thread that wrote a longer one
    /// before.
    #[test]
    fn a_line_written_after_a_longer_one_is_whole_and_alone() {
        let long = Outcome::new("ShowBlockPage", "not_invited")
            .with(&facts::CLAIMS, Value::Text("a".repeat(300)))
            .under(PolicyName::Application(
                "44445555-eeee-6666-ffff-7777aaaa8888".into(),
            ));
        let short = Outcome::new("Continue", "domain");
        let line = |outcome: &Outcome| {
            LogLine {
                function: "SignUpValidation",
                outcome,
                invocation_id: "id-1",
            }
            .to_string()
        };
        assert!(line(&long).contains(" policy=44445555-eeee-6666-ffff-7777aaaa8888 "));
        assert_eq!(
            line(&short),
            "decision function=SignUpValidation outcome=Continue reason=domain email=- correlation_id=id-1"
        );
        assert_eq!(line(&short), line(&short));
    }
}
