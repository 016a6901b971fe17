//! Invitation codes: made and shown once by the CLI, typed into the application's code attribute,
//! decided at Submit (and at B2C's attribute step), a limited use claimed before the admit, and
//! never written anywhere as the code.

use serde_json::{Value, json};

use crate::helpers::{Azurite, Launch, PASSWORD, TestApp, USERNAME, basic, json_answer};

const APP: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const OTHER_APP: &str = "99998888-aaaa-7777-bbbb-666655554444";
/// The code attribute as Entra sends a custom attribute.
const ATTRIBUTE: &str = "extension_0a1b2c3d4e5f60718293a4b5c6d7e8f9_InvitationCode";
const START: &str = "OnAttributeCollectionStart";
const SUBMIT: &str = "OnAttributeCollectionSubmit";

/// An attribute-collection event: `email` (none: a federated sign-up without one), the code
/// typed (Submit), Entra's correlation id.
pub(crate) fn entra(
    kind: &str,
    email: Option<&str>,
    code: Option<&str>,
    correlation: &str,
) -> Value {
    let mut attributes = json!({});
    let mut identities = json!([{"signInType": "federated", "issuer": "idp.example", "issuerAssignedId": "opaque-1"}]);
    if let Some(email) = email {
        attributes["email"] = json!({"value": email, "@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "attributeType": "builtIn"});
        identities = json!([{"signInType": "email", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": email}]);
    }
    attributes["displayName"] = json!({"value": "Someone", "@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "attributeType": "builtIn"});
    if let Some(code) = code {
        attributes[ATTRIBUTE] = json!({"value": code, "@odata.type": "microsoft.graph.stringDirectoryAttributeValue", "attributeType": "directorySchemaExtension"});
    }
    json!({"type": format!("microsoft.graph.authenticationEvent.attributeCollection{kind}"),
           "source": "/tenants/aaaabbbb-0000-cccc-1111-dddd2222eeee/applications/{APP}",
           "data": {"@odata.type": format!("microsoft.graph.onAttributeCollection{kind}CalloutData"),
                    "tenantId": "aaaabbbb-0000-cccc-1111-dddd2222eeee",
                    "authenticationContext": {"correlationId": correlation,
                        "client": {"ip": "203.0.113.77", "locale": "en-us", "market": "en-us"},
                        "clientServicePrincipal": {"appId": APP}},
                    "userSignUpInfo": {"identities": identities, "attributes": attributes}}})
}

/// The action's type (`continueWithDefaultBehavior`, ...) and the whole action.
pub(crate) fn action(answer: &Value) -> (String, Value) {
    let action = &answer["data"]["actions"][0];
    let name = action["@odata.type"].as_str().unwrap_or_default();
    (
        name.rsplit('.').next().unwrap_or_default().to_owned(),
        action.clone(),
    )
}

pub(crate) fn cli(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let output = app.cli(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// `invitations add --code ARGS`: the id and the code printed (once).
pub(crate) fn add_code(app: &TestApp, args: &[&str]) -> (String, String) {
    let mut all = vec!["invitations", "add", "--code"];
    all.extend_from_slice(args);
    let (status, stdout, stderr) = cli(app, &all);
    assert_eq!(status, 0, "{stderr}");
    let id = stdout
        .split_whitespace()
        .find(|word| word.starts_with("inv_"))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_owned();
    let code = stdout
        .lines()
        .find_map(|line| line.strip_prefix("code: "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_owned();
    (id, code)
}

/// The invitation-only app with a code attribute over `store` settings.
async fn code_app(store: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("BLOCKED_EMAIL_DOMAINS", "blocked.example"),
        ("INVITATION_CODE_ATTRIBUTE", "InvitationCode"),
    ];
    settings.extend_from_slice(store);
    Launch::hosted(&settings).start().await
}

fn table(azurite: &Azurite) -> Vec<(&'static str, String)> {
    vec![
        ("INVITATION_STORE", "table".to_owned()),
        ("INVITATIONS_TABLE_CONNECTION", azurite.connection_string()),
    ]
}

fn settings<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Every outcome of a sent code at Submit, against the table; Start lets everyone no deny-list
/// refuses go on, since the code is typed on the page.
#[tokio::test]
async fn a_code_decides_at_submit_with_one_answer_for_every_refusal() {
    let azurite = Azurite::start().await;
    let store = table(&azurite);
    let app = code_app(&settings(&store)).await;
    let (open, open_code) = add_code(&app, &["--uses", "5"]);
    let (_, bound_code) = add_code(&app, &["ada@contoso.com"]);
    let (_, expired_code) = add_code(&app, &["--expires", "2001-01-01"]);
    let (revoked, revoked_code) = add_code(&app, &[]);
    assert_eq!(cli(&app, &["invitations", "revoke", &revoked]).0, 0);
    let (_, other_app_code) = add_code(&app, &["--app", OTHER_APP]);

    // Start cannot see the code: everyone not deny-listed goes on, without a prefill.
    let (_, _, answer) = app
        .event(
            START,
            &entra("Start", Some("stranger@elsewhere.example"), None, "c-0"),
        )
        .await;
    assert_eq!(action(&answer).0, "continueWithDefaultBehavior");
    let (_, _, answer) = app
        .event(
            START,
            &entra("Start", Some("x@blocked.example"), None, "c-0b"),
        )
        .await;
    assert_eq!(action(&answer).0, "showBlockPage");

    // A valid code, typed any way, admits; the attribute is overwritten with the invitation's
    // id so that the code is never saved on the user.
    let typed = open_code.to_lowercase().replace('-', " ");
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra(
                "Submit",
                Some("stranger@elsewhere.example"),
                Some(&typed),
                "c-1",
            ),
        )
        .await;
    let (name, admitted) = action(&answer);
    assert_eq!(name, "modifyAttributeValues", "{answer}");
    assert_eq!(admitted["attributes"], json!({ATTRIBUTE: open}));
    app.logs_containing("reason=code email=s***@elsewhere.example")
        .await;

    // Every refusal reads the same, on the code's attribute; the log says which it was.
    let message = "This invitation code is not valid. Please check it and try again.";
    for (email, code, reason) in [
        (
            "stranger@elsewhere.example",
            "0000-0000-0000-0000",
            "code_not_found",
        ),
        (
            "stranger@elsewhere.example",
            "not a code at all",
            "code_not_found",
        ),
        (
            "bob@contoso.com",
            bound_code.as_str(),
            "code_bound_to_another_address",
        ),
        (
            "stranger@elsewhere.example",
            expired_code.as_str(),
            "code_expired",
        ),
        (
            "stranger@elsewhere.example",
            revoked_code.as_str(),
            "code_revoked",
        ),
        (
            "stranger@elsewhere.example",
            other_app_code.as_str(),
            "code_for_other_application",
        ),
    ] {
        let (_, _, answer) = app
            .event(
                SUBMIT,
                &entra("Submit", Some(email), Some(code), &format!("c-{reason}")),
            )
            .await;
        let (name, refused) = action(&answer);
        assert_eq!(name, "showValidationError", "{code}: {answer}");
        assert_eq!(refused["message"], message);
        assert_eq!(refused["attributeErrors"], json!({ATTRIBUTE: message}));
        app.logs_containing(&format!("outcome=showValidationError reason={reason} "))
            .await;
    }
    // Where the refused attempts come from, masked.
    app.logs_containing("reason=code_not_found email=s***@elsewhere.example")
        .await;
    app.logs_containing("client_ip=203.0.113.x").await;

    // The bound address itself is admitted.
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra("Submit", Some("Ada@Contoso.com"), Some(&bound_code), "c-2"),
        )
        .await;
    assert_eq!(action(&answer).0, "modifyAttributeValues", "{answer}");
    // Codes do not override deny-lists.
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra("Submit", Some("x@blocked.example"), Some(&open_code), "c-3"),
        )
        .await;
    assert_eq!(action(&answer).0, "showBlockPage");
    app.logs_containing("reason=domain_blocked").await;
    // Without a code, an uninvited address is refused as ever.
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra("Submit", Some("stranger@elsewhere.example"), None, "c-4"),
        )
        .await;
    assert_eq!(action(&answer).0, "showBlockPage");

    // A code is never written anywhere: not in the logs, the list or an export.
    let (_, listed, _) = cli(&app, &["invitations", "list"]);
    let (_, exported, _) = cli(&app, &["invitations", "export", "--format", "json"]);
    let logs = app.output.all();
    for code in [
        &open_code,
        &bound_code,
        &expired_code,
        &revoked_code,
        &other_app_code,
    ] {
        let bare = code.replace('-', "");
        for (what, text) in [("logs", &logs), ("list", &listed), ("export", &exported)] {
            assert!(
                !text.contains(code.as_str()) && !text.contains(&bare),
                "{code} in the {what}"
            );
            assert!(
                !text.to_lowercase().contains(&bare.to_lowercase()),
                "{code} in the {what}"
            );
        }
    }
    assert!(
        listed.contains(&format!("code  {open}  accepted")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("code  {revoked}  revoked")),
        "{listed}"
    );
}

/// Many sign-ups race for a single-use code: exactly one gets it; Entra's retry of that one is
/// admitted again; the others are told the code is not valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_code_admits_exactly_one_of_many_racing_sign_ups() {
    const RACERS: usize = 24;
    let azurite = Azurite::start().await;
    let store = table(&azurite);
    // The race is the question, not the deadline: 24 conditional writes at once on a machine busy
    // with other tests can take longer than the default 700 ms.
    let mut pairs = settings(&store);
    pairs.push(("DECISION_DEADLINE_MS", "10000"));
    let app = code_app(&pairs).await;
    let (id, code) = add_code(&app, &[]);
    let bodies: Vec<Value> = (0..RACERS)
        .map(|n| {
            entra(
                "Submit",
                Some(&format!("racer{n}@elsewhere.example")),
                Some(&code),
                &format!("race-{n}"),
            )
        })
        .collect();
    let answers =
        futures_util::future::join_all(bodies.iter().map(|body| app.event(SUBMIT, body))).await;
    let admitted: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, (_, _, answer))| action(answer).0 == "modifyAttributeValues")
        .map(|(n, _)| n)
        .collect();
    assert_eq!(admitted.len(), 1, "{answers:?}");
    for (n, (status, _, answer)) in answers.iter().enumerate() {
        assert_eq!(*status, 200);
        if n != admitted[0] {
            assert_eq!(action(answer).0, "showValidationError", "{answer}");
        }
    }
    // Entra retries the winner's call (a timeout on its side): admitted again.
    let (_, _, answer) = app.event(SUBMIT, &bodies[admitted[0]]).await;
    assert_eq!(action(&answer).0, "modifyAttributeValues", "{answer}");
    app.logs_containing("reason=code_used_up").await;
    let (_, listed, _) = cli(&app, &["invitations", "list", "--status", "used-up"]);
    assert!(listed.contains(&format!("code  {id}  used up")), "{listed}");
    assert!(listed.contains("used: 1/1"), "{listed}");
}

/// A code's claims reach the tokens of the address that redeemed it.
#[tokio::test]
async fn a_code_redeemed_with_an_address_gives_its_claims_to_tokens() {
    let azurite = Azurite::start().await;
    let store = table(&azurite);
    let app = code_app(&settings(&store)).await;
    let (_, code) = add_code(&app, &["--claim", "department=Ops"]);
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra(
                "Submit",
                Some("grace@elsewhere.example"),
                Some(&code),
                "c-9",
            ),
        )
        .await;
    assert_eq!(action(&answer).0, "modifyAttributeValues", "{answer}");
    let token = |mail: &str| {
        json!({"type": "microsoft.graph.authenticationEvent.tokenIssuanceStart",
               "data": {"@odata.type": "microsoft.graph.onTokenIssuanceStartCalloutData",
                        "authenticationContext": {"correlationId": "t-1",
                            "clientServicePrincipal": {"appId": APP},
                            "user": {"mail": mail}}}})
    };
    let (status, _, answer) = app
        .event("OnTokenIssuanceStart", &token("grace@elsewhere.example"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["data"]["actions"][0]["claims"],
        json!({"department": "Ops"})
    );
    let (_, _, answer) = app
        .event("OnTokenIssuanceStart", &token("someone@elsewhere.example"))
        .await;
    assert_eq!(answer["data"]["actions"][0]["claims"], json!({}));
}

/// The invitation file holds only unlimited codes; a reissued code replaces the old one.
#[tokio::test]
async fn the_file_holds_only_unlimited_codes_and_a_reissued_code_replaces_the_old() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_CODE_ATTRIBUTE", "invitationcode"),
    ])
    .invitations("email,application_id,expires_at\n")
    .start()
    .await;
    let (status, _, stderr) = cli(&app, &["invitations", "add", "--code"]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains(
            "invitations.csv cannot count uses: a code kept there must be --uses unlimited"
        ),
        "{stderr}"
    );
    let (id, code) = add_code(&app, &["--uses", "unlimited"]);
    let file = std::fs::read_to_string(app.dir().join("invitations.csv")).unwrap();
    assert!(
        file.starts_with("email,application_id,expires_at,id,code_sha256\n"),
        "{file}"
    );
    assert!(
        !file.contains(&code) && !file.contains(&code.replace('-', "")),
        "{file}"
    );
    let submit = |code: &str| {
        entra(
            "Submit",
            Some("stranger@elsewhere.example"),
            Some(code),
            "c-f",
        )
    };
    let answer = app
        .event_until(SUBMIT, &submit(&code), |answer| {
            action(answer).0 == "modifyAttributeValues"
        })
        .await;
    assert_eq!(action(&answer).1["attributes"], json!({ATTRIBUTE: id}));

    let (status, stdout, stderr) = cli(&app, &["invitations", "reissue", &id]);
    assert_eq!(status, 0, "{stderr}");
    let new_code = stdout
        .lines()
        .find_map(|line| line.strip_prefix("code: "))
        .unwrap();
    assert_ne!(new_code, code);
    app.event_until(SUBMIT, &submit(&code), |answer| {
        action(answer).0 == "showValidationError"
    })
    .await;
    let (_, _, answer) = app.event(SUBMIT, &submit(new_code)).await;
    assert_eq!(
        action(&answer).1["attributes"],
        json!({ATTRIBUTE: id}),
        "the id stays"
    );
}

/// B2C's API connector sends the code as a custom attribute at its attribute step.
#[tokio::test]
async fn b2c_checks_a_code_at_its_attribute_step() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_CODE_ATTRIBUTE", "InvitationCode"),
    ])
    .invitations("email,application_id,expires_at\n")
    .start()
    .await;
    let (_, code) = add_code(&app, &["--uses", "unlimited"]);
    let connector = |step: &str, code: Option<&str>| {
        let mut body = json!({"email": "stranger@elsewhere.example", "step": step});
        if let Some(code) = code {
            body["extension_b2c1f7d2a0e44d5b8c6f9a3e2d1c0b4a_InvitationCode"] = json!(code);
        }
        body.to_string()
    };
    let answer = |body: String| {
        let app = &app;
        async move {
            json_answer(
                app.post(
                    "/api/SignUpValidation",
                    &body,
                    Some(&basic(USERNAME, PASSWORD)),
                )
                .await,
            )
            .await
        }
    };
    // Before the page (after federation): on to the page, where the code is typed.
    let (status, _, body) = answer(connector("PostFederationSignup", None)).await;
    assert_eq!((status, body["action"].as_str()), (200, Some("Continue")));
    // The server reads the file the CLI wrote.
    app.logs_containing("reloaded 1 invitation(s)").await;
    let (status, _, body) = answer(connector("PostAttributeCollection", Some(&code))).await;
    assert_eq!((status, body["action"].as_str()), (200, Some("Continue")));
    let (status, _, body) = answer(connector(
        "PostAttributeCollection",
        Some("0000-0000-0000-0000"),
    ))
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"version": "1.0.0", "action": "ValidationError", "status": 400,
                   "userMessage": "This invitation code is not valid. Please check it and try again."})
        )
    );
}

/// A federated sign-up that carries no address: without a code attribute nothing can decide
/// and the log names the ways out; with one, Start goes on and the code decides at Submit.
#[tokio::test]
async fn federated_sign_ups_without_an_email() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "")])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    for (function, kind) in [(START, "Start"), (SUBMIT, "Submit")] {
        let (_, _, answer) = app.event(function, &entra(kind, None, None, "f-1")).await;
        assert_eq!(action(&answer).0, "showBlockPage", "{answer}");
    }
    app.logs_containing_all(&[
        "reason=no_email_from_identity_provider email=-",
        "no invitation code attribute is configured",
        "INVITATION_CODE_ATTRIBUTE",
    ])
    .await;

    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_CODE_ATTRIBUTE", "InvitationCode"),
    ])
    .invitations("email,application_id,expires_at\n")
    .start()
    .await;
    let (_, code) = add_code(&app, &["--uses", "unlimited"]);
    let (_, _, answer) = app.event(START, &entra("Start", None, None, "f-2")).await;
    assert_eq!(action(&answer).0, "continueWithDefaultBehavior", "{answer}");
    let answer = app
        .event_until(
            SUBMIT,
            &entra("Submit", None, Some(&code), "f-2"),
            |answer| action(answer).0 == "modifyAttributeValues",
        )
        .await;
    assert_eq!(action(&answer).0, "modifyAttributeValues");
    let (_, _, answer) = app.event(SUBMIT, &entra("Submit", None, None, "f-3")).await;
    assert_eq!(action(&answer).0, "showBlockPage");
    app.logs_containing("outcome=showBlockPage reason=no_email_from_identity_provider")
        .await;
}
