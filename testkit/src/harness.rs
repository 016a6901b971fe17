//! The functions driven in-process, exactly as the server drives them once a body has arrived:
//! over an invitation file, with an allow-list, and no caller check (that comes before the body).

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::Value;
use signup_gate::domain::email::EmailAddress;
use signup_gate::functions::{
    Function, Invocation, OnAttributeCollectionStart, OnAttributeCollectionSubmit,
    OnTokenIssuanceStart, Shared, SignUpValidation,
};
use signup_gate::gate::{Gate, Policies};
use signup_gate::invitations::InvitationStore;
use signup_gate::invitations::csv::{CsvStore, InvitationIndex};
use signup_gate::messages::Catalog;
use signup_gate::policy::Policy;
use signup_gate::policy::domains::{DomainList, LocalParts};
use signup_gate::telemetry::Telemetry;

use crate::events::Event;

/// Invited: one address for every application, one expired, one for another application only.
pub const INVITATIONS: &str = "\
email,application_id,expires_at,displayName,!jobTitle,extension_0a1b_Level,claim:department,claim:app_roles[]
ada@invited.example,,,Ada Lovelace,Engineer,5,Ops,Pilot;Dispatcher
old@invited.example,,2001-01-01,Old Timer,,,Archive,
app@invited.example,00000000-0000-0000-0000-00000000000a,,Only App A,,,Apps,
";
pub const ALLOWED_DOMAINS: &str = "fabrikam.com,*.contoso.com";
/// Refused although allowed (unless invited): a subdomain the allow-list covers, role mailboxes.
pub const BLOCKED_DOMAINS: &str = "shared.contoso.com";
pub const BLOCKED_LOCAL_PARTS: &str = "admin,noreply";

/// The functions over one invitation file.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    shared: Shared,
    policy: Policy,
    invited: Option<InvitationIndex>,
    _dir: Option<tempfile::TempDir>,
}

/// An answer as the caller receives it.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        assert_eq!(
            self.content_type, "application/json",
            "status {}",
            self.status
        );
        serde_json::from_slice(&self.body).expect("every answer is JSON")
    }
}

/// The harness the fuzz targets and property tests share (built once per process) over
/// [`INVITATIONS`] and [`ALLOWED_DOMAINS`].
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| Harness::new(INVITATIONS, ALLOWED_DOMAINS))
}

impl Harness {
    /// Over a temporary file holding `invitations`, admitting `allowed_domains` too.
    pub fn new(invitations: &str, allowed_domains: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("invitations.csv");
        std::fs::write(&file, invitations).expect("the invitation file is written");
        let mut harness = Self::over_file(&file, allowed_domains);
        harness.invited =
            Some(InvitationIndex::parse(invitations.as_bytes()).expect("valid invitations"));
        harness._dir = Some(dir);
        harness
    }

    /// Over the invitation file at `path` (read now), admitting `allowed_domains` too.
    pub fn over_file(path: &Path, allowed_domains: &str) -> Self {
        let store = CsvStore::open(path.to_owned()).expect("the invitation file opens");
        Self::over_store(Arc::new(store), allowed_domains, Duration::from_millis(700))
    }

    /// Over any invitation store, which each decision waits for at most `deadline`.
    pub fn over_store(
        store: Arc<dyn InvitationStore>,
        allowed_domains: &str,
        deadline: Duration,
    ) -> Self {
        let policy = Policy {
            allowed_domains: DomainList::parse(allowed_domains).expect("valid domains"),
            blocked_domains: DomainList::parse(BLOCKED_DOMAINS).expect("valid domains"),
            blocked_local_parts: LocalParts::parse(BLOCKED_LOCAL_PARTS).expect("valid"),
            ..Policy::default()
        };
        Self {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime"),
            shared: Shared {
                gate: Gate::new(
                    Arc::new(Policies::fixed(policy.clone())),
                    store,
                    deadline,
                    Telemetry::off(),
                ),
                catalog: Catalog::built_in(),
            },
            policy,
            invited: None,
            _dir: None,
        }
    }

    /// `function`'s answer to `body`, read whole.
    pub fn answer(&self, function: &dyn Function, body: &[u8]) -> Answer {
        use http_body_util::BodyExt;
        let invocation = Invocation {
            correlation_id: "harness".to_owned(),
        };
        self.runtime.block_on(async {
            let response = function
                .answer(body, &self.shared, &invocation)
                .await
                .response;
            let content_type = response
                .headers()
                .get("content-type")
                .map(|value| value.to_str().expect("ASCII").to_owned())
                .unwrap_or_default();
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("a body")
                .to_bytes();
            Answer {
                status,
                content_type,
                body: body.to_vec(),
            }
        })
    }

    /// `SignUpValidation`'s answer.
    pub fn connector(&self, body: &[u8]) -> Answer {
        self.answer(&SignUpValidation, body)
    }

    /// The answer of the function that handles `event`.
    pub fn event(&self, event: Event, body: &[u8]) -> Answer {
        match event {
            Event::Start => self.answer(&OnAttributeCollectionStart, body),
            Event::Submit => self.answer(&OnAttributeCollectionSubmit, body),
        }
    }

    /// `OnTokenIssuanceStart`'s answer.
    pub fn token(&self, body: &[u8]) -> Answer {
        self.answer(&OnTokenIssuanceStart, body)
    }

    /// The claims the invitation of `email` gives a token (none without one); any application.
    pub fn invited_claims(&self, email: &str) -> Option<Value> {
        let email = EmailAddress::parse(email).ok()?;
        let invitation = self.invited.as_ref()?.get(email.as_str())?;
        Some(Value::Object(
            invitation
                .claims()
                .iter()
                .map(|claim| (claim.name.to_string(), claim.value.json()))
                .collect(),
        ))
    }

    /// Whether `body` holds anywhere (any string of the JSON, at any depth) an address the
    /// policy may admit: a valid address with an invitation, or in an allowed domain that
    /// neither it nor its local part is blocked in. An admit of a body without one is a
    /// finding, however the body is shaped.
    pub fn may_admit(&self, body: &[u8]) -> bool {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return false;
        };
        let mut strings = Vec::new();
        collect_strings(&json, &mut strings);
        strings.iter().any(|text| {
            EmailAddress::parse(text).is_ok_and(|email| {
                let policy = &self.policy;
                (policy.allowed_domains.contains(&email)
                    && !policy.blocked_domains.contains(&email)
                    && !policy.blocked_local_parts.contains(&email))
                    || self
                        .invited
                        .as_ref()
                        .is_some_and(|invited| invited.get(email.as_str()).is_some())
            })
        })
    }
}

fn collect_strings<'a>(value: &'a Value, into: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => into.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, into)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, into)),
        _ => {}
    }
}

/// The checks every answer of the Entra functions must pass; returns whether it admitted.
pub fn check_event_answer(event: Event, answer: &Answer) -> bool {
    let json = answer.json();
    match answer.status {
        200 => {
            let data = &json["data"];
            assert_eq!(data["@odata.type"], event.response_type(), "{json}");
            let actions = data["actions"].as_array().expect("actions");
            assert_eq!(actions.len(), 1, "exactly one action: {json}");
            let action = actions[0]["@odata.type"].as_str().expect("an action type");
            let (admits, blocks) = event.actions();
            if blocks.contains(&action) {
                if action.ends_with("showBlockPage") {
                    assert!(
                        actions[0]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty())
                    );
                }
                false
            } else {
                assert!(admits.contains(&action), "unknown action {action}");
                true
            }
        }
        400 | 413 => {
            assert_error_body(&json);
            false
        }
        status => panic!("status {status} is outside the contract: {json}"),
    }
}

/// The token fuzz target: any body is answered 200 with exactly one `provideClaimsForToken`
/// whose claims are strings or lists of strings, or a 400 JSON error; claims are given only when
/// some string of the body is an address whose invitation has them.
pub fn fuzz_token(body: &[u8]) {
    let harness = harness();
    let answer = harness.token(body);
    let json = answer.json();
    match answer.status {
        200 => {
            let data = &json["data"];
            assert_eq!(
                data["@odata.type"], "microsoft.graph.onTokenIssuanceStartResponseData",
                "{json}"
            );
            let actions = data["actions"].as_array().expect("actions");
            assert_eq!(actions.len(), 1, "exactly one action: {json}");
            assert_eq!(
                actions[0]["@odata.type"],
                "microsoft.graph.tokenIssuanceStart.provideClaimsForToken"
            );
            let claims = actions[0]["claims"].as_object().expect("a claims object");
            for value in claims.values() {
                let fine = value.is_string()
                    || value
                        .as_array()
                        .is_some_and(|items| items.iter().all(Value::is_string));
                assert!(fine, "{json}");
            }
            if !claims.is_empty() {
                let Ok(request) = serde_json::from_slice::<Value>(body) else {
                    panic!("claims for a body that is not JSON");
                };
                let mut strings = Vec::new();
                collect_strings(&request, &mut strings);
                assert!(
                    strings
                        .iter()
                        .any(|text| harness.invited_claims(text).as_ref()
                            == Some(&Value::Object(claims.clone()))),
                    "claims without an invitation that has them: {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        400 => {
            assert_error_body(&json);
        }
        status => panic!("status {status} is outside the contract: {json}"),
    }
}

/// A JSON error answer in the contract: a non-empty `error` code and `message`.
fn assert_error_body(json: &Value) {
    assert!(
        json["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{json}"
    );
    assert!(
        json["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{json}"
    );
}

/// The event fuzz target: any body, answered in the contract, never admitted without an
/// address the policy may admit.
pub fn fuzz_event(event: Event, data: &[u8]) {
    let harness = harness();
    let answer = harness.event(event, data);
    if check_event_answer(event, &answer) {
        assert!(
            harness.may_admit(data),
            "admitted without an admissible address: {}",
            String::from_utf8_lossy(data)
        );
    }
}
