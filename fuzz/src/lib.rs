//! What the fuzz targets share: one gate over a small invitation file, driven exactly as the
//! server drives it once a body has arrived, and the oracles the answers are checked against.

use std::sync::OnceLock;

use serde_json::{Value, json};
use signup_gate::api_connector;
use signup_gate::auth_events;
use signup_gate::auth_events::contract::Event;
use signup_gate::invitations::csv_file::InvitationIndex;
use signup_gate::policy::domains::AllowedDomains;
use signup_gate::policy::email::EmailAddress;
use signup_gate::server::{AppState, RequestContext};
use signup_gate::settings::{Environment, Settings};

/// Invited: one address for every application, one expired, one for another application only.
pub const INVITATIONS: &str = "\
email,application_id,expires_at,displayName,!jobTitle,extension_0a1b_Level
ada@invited.example,,,Ada Lovelace,Engineer,5
old@invited.example,,2001-01-01,Old Timer,,
app@invited.example,00000000-0000-0000-0000-00000000000a,,Only App A,,
";
pub const ALLOWED_DOMAINS: &str = "fabrikam.com,*.contoso.com";

pub struct Gate {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    invited: InvitationIndex,
    allowed: AllowedDomains,
    _dir: tempfile::TempDir,
}

/// The gate every run of a target uses (built once per process).
pub fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("invitations.csv");
        std::fs::write(&file, INVITATIONS).expect("the invitation file is written");
        let vars = [
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
            ("API_CONNECTOR_AUTH", "none"),
            ("AUTH_EVENTS_TOKEN_VALIDATION", "none"),
            ("ALLOWED_EMAIL_DOMAINS", ALLOWED_DOMAINS),
            ("INVITATIONS_FILE", file.to_str().expect("a UTF-8 path")),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let env = Environment::capture(vars, dir.path()).expect("the environment");
        let settings = Settings::from_env(&env).expect("valid settings");
        Gate {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("a runtime"),
            state: AppState::over_file(settings).expect("the invitation file opens"),
            invited: InvitationIndex::parse(INVITATIONS.as_bytes()).expect("valid invitations"),
            allowed: AllowedDomains::parse(ALLOWED_DOMAINS).expect("valid domains"),
            _dir: dir,
        }
    })
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

impl Gate {
    pub fn connector(&self, body: &[u8]) -> Answer {
        self.answer(api_connector::answer(body, &self.state, &context()))
    }

    pub fn event(&self, event: Event, body: &[u8]) -> Answer {
        self.answer(auth_events::answer(event, body, &self.state, &context()))
    }

    fn answer(&self, response: impl Future<Output = warp::reply::Response>) -> Answer {
        collect(&self.runtime, response)
    }

    /// Whether `body` holds anywhere (any string of the JSON, at any depth) an address the
    /// policy may admit: a valid address in an allowed domain or with an invitation. An admit
    /// of a body without one is a finding, however the body is shaped.
    pub fn may_admit(&self, body: &[u8]) -> bool {
        let Ok(json) = serde_json::from_slice::<Value>(body) else {
            return false;
        };
        let mut strings = Vec::new();
        collect_strings(&json, &mut strings);
        strings.iter().any(|text| {
            EmailAddress::parse(text).is_ok_and(|email| {
                self.allowed.allows(&email) || self.invited.get(email.as_str()).is_some()
            })
        })
    }
}

/// Awaits `response` on `runtime` and reads it whole, as the caller would receive it.
pub fn collect(
    runtime: &tokio::runtime::Runtime,
    response: impl Future<Output = warp::reply::Response>,
) -> Answer {
    use http_body_util::BodyExt;
    runtime.block_on(async {
        let response = response.await;
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

fn collect_strings<'a>(value: &'a Value, into: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => into.push(text),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, into)),
        Value::Object(map) => map.values().for_each(|item| collect_strings(item, into)),
        _ => {}
    }
}

fn context() -> RequestContext {
    RequestContext {
        correlation_id: "fuzz".to_owned(),
        headers: Default::default(),
    }
}

/// The checks every answer of the Entra functions must pass; returns whether it admitted.
pub fn check_event_answer(event: Event, answer: &Answer) -> bool {
    let json = answer.json();
    match answer.status {
        200 => {
            let data = &json["data"];
            let expected_type = match event {
                Event::Start => "microsoft.graph.onAttributeCollectionStartResponseData",
                Event::Submit => "microsoft.graph.onAttributeCollectionSubmitResponseData",
            };
            assert_eq!(data["@odata.type"], expected_type, "{json}");
            let actions = data["actions"].as_array().expect("actions");
            assert_eq!(actions.len(), 1, "exactly one action: {json}");
            let action = actions[0]["@odata.type"].as_str().expect("an action type");
            let (admits, blocks): (&[&str], &[&str]) = match event {
                Event::Start => (
                    &[
                        "microsoft.graph.attributeCollectionStart.continueWithDefaultBehavior",
                        "microsoft.graph.attributeCollectionStart.setPrefillValues",
                    ],
                    &["microsoft.graph.attributeCollectionStart.showBlockPage"],
                ),
                Event::Submit => (
                    &[
                        "microsoft.graph.attributeCollectionSubmit.continueWithDefaultBehavior",
                        "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues",
                    ],
                    &[
                        "microsoft.graph.attributeCollectionSubmit.showBlockPage",
                        "microsoft.graph.attributeCollectionSubmit.showValidationError",
                    ],
                ),
            };
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
            assert!(
                json["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{json}"
            );
            assert!(
                json["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{json}"
            );
            false
        }
        status => panic!("status {status} is outside the contract: {json}"),
    }
}

/// The event target: any body, answered in the contract, never admitted without an address the
/// policy may admit.
pub fn fuzz_event(event: Event, data: &[u8]) {
    let gate = gate();
    let answer = gate.event(event, data);
    if check_event_answer(event, &answer) {
        assert!(
            gate.may_admit(data),
            "admitted without an admissible address: {}",
            String::from_utf8_lossy(data)
        );
    }
}

/// An attribute-collection event for `email`, with a Job Title unless it is null, from the
/// application `application`.
pub fn event_body(event: Event, email: &Value, job_title: &Value, application: &Value) -> Value {
    let (event_type, data_type) = match event {
        Event::Start => (
            "microsoft.graph.authenticationEvent.attributeCollectionStart",
            "microsoft.graph.onAttributeCollectionStartCalloutData",
        ),
        Event::Submit => (
            "microsoft.graph.authenticationEvent.attributeCollectionSubmit",
            "microsoft.graph.onAttributeCollectionSubmitCalloutData",
        ),
    };
    let mut attributes = serde_json::Map::new();
    attributes.insert("email".into(), json!({"value": email, "@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "attributeType": "builtIn"}));
    if !job_title.is_null() {
        attributes.insert("jobTitle".into(), json!({"value": job_title, "@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "attributeType": "builtIn"}));
    }
    json!({
        "type": event_type,
        "source": "/tenants/11111111-2222-3333-4444-555555555555/applications/x",
        "data": {
            "@odata.type": data_type,
            "tenantId": "11111111-2222-3333-4444-555555555555",
            "authenticationEventListenerId": "l",
            "customAuthenticationExtensionId": "c",
            "authenticationContext": {
                "correlationId": "c",
                "clientServiceRequestContext": {"app": "x"},
                "client": {"ip": "127.0.0.1", "locale": "en-us", "market": "en-us"},
                "protocol": "OAUTH2.0",
                "clientServicePrincipal": {"appId": application},
                "resourceServicePrincipal": {"appId": application},
                "user": {"mail": email, "userType": "Member"}
            },
            "userSignUpInfo": {
                "attributes": attributes,
                "identities": [{"signInType": "email", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": email}]
            }
        }
    })
}
