//! `OnAttributeCollectionStart` / `OnAttributeCollectionSubmit`: invite-only sign-up for Entra
//! External ID, through the spawned binary, with the documented payloads and the real-traffic
//! variants from tests/fixtures.

use serde_json::{Value, json};

use crate::helpers::{Azurite, Launch, TestApp};

const START: &str = "OnAttributeCollectionStart";
const SUBMIT: &str = "OnAttributeCollectionSubmit";
const APP: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const DEFAULT_TITLE: &str = "Invitation required";
const DEFAULT_MESSAGE: &str =
    "Sign-up for Contoso is by invitation only. Please ask your contact at Contoso to invite you.";

/// Invitation-only settings with a few invitations.
const INVITATIONS: &str = "\
email,application_id,expires_at,displayName,extension_0a1b2c_Year:int,!extension_0a1b2c_News:boolean,!jobTitle
ada@contoso.com,,,Ada Lovelace,1815,true,Analyst
grace@contoso.com,44445555-EEEE-6666-FFFF-7777AAAA8888,,,,,
old@contoso.com,,2020-01-01,,,,
plain@contoso.com,,2999-12-31T23:59:59Z,,,,
";

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A fixture with the e-mail identity (or, without identities, the email attribute) set.
fn with_email(name: &str, email: &str) -> Value {
    let mut event = fixture(name);
    if let Some(id) = event.pointer_mut("/data/userSignUpInfo/identities/0/issuerAssignedId") {
        *id = Value::from(email);
    } else {
        *event
            .pointer_mut("/data/userSignUpInfo/attributes/email/value")
            .unwrap() = Value::from(email);
    }
    event
}

fn with_app(mut event: Value, app: Option<&str>) -> Value {
    let context = event.pointer_mut("/data").unwrap().as_object_mut().unwrap();
    match app {
        Some(app) => {
            *context
                .get_mut("authenticationContext")
                .and_then(|c| c.pointer_mut("/clientServicePrincipal/appId"))
                .unwrap() = Value::from(app)
        }
        None => {
            context.remove("authenticationContext");
        }
    }
    event
}

fn response(event: &str, action: Value) -> Value {
    let data_type = match event {
        START => "microsoft.graph.onAttributeCollectionStartResponseData",
        _ => "microsoft.graph.onAttributeCollectionSubmitResponseData",
    };
    json!({"data": {"@odata.type": data_type, "actions": [action]}})
}

fn continue_(event: &str) -> Value {
    let prefix = if event == START {
        "attributeCollectionStart"
    } else {
        "attributeCollectionSubmit"
    };
    response(
        event,
        json!({"@odata.type": format!("microsoft.graph.{prefix}.continueWithDefaultBehavior")}),
    )
}

fn block(event: &str, title: &str, message: &str) -> Value {
    let prefix = if event == START {
        "attributeCollectionStart"
    } else {
        "attributeCollectionSubmit"
    };
    response(
        event,
        json!({"@odata.type": format!("microsoft.graph.{prefix}.showBlockPage"), "title": title, "message": message}),
    )
}

/// Runs each scenario once with the invitation file and once with Azure Table Storage (Azurite).
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod file {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(&super::invite_only().await).await;
                }
            )*
        }
        mod table {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let (app, _azurite) = super::invite_only_in_table().await;
                    super::$scenario(&app).await;
                }
            )*
        }
    };
}

on_both_stores!(
    start_prefills_an_invitation_in_the_types_the_request_uses,
    start_prefills_in_the_declared_types_what_the_request_does_not_list,
    start_blocks_everyone_else_with_the_configured_page,
    invitations_are_scoped_to_their_application,
    submit_imposes_enforced_values_and_rechecks_admission,
);

/// The same invitations, imported into a table with the CLI.
async fn invite_only_in_table() -> (TestApp, Azurite) {
    let azurite = Azurite::start().await;
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", &azurite.connection_string()),
    ])
    .start()
    .await;
    std::fs::write(app.dir().join("seed.csv"), INVITATIONS).unwrap();
    let output = app.cli(&["invitations", "import", "seed.csv"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (app, azurite)
}

async fn invite_only() -> TestApp {
    Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "")])
        .invitations(INVITATIONS)
        .start()
        .await
}

/// Sends each case and checks 200, JSON and the exact body.
async fn expect_all(app: &TestApp, cases: Vec<(&str, Value, Value)>) {
    for (function, request, expected) in cases {
        let answer = app.event(function, &request).await;
        assert_eq!(
            answer,
            (200, "application/json".to_owned(), expected),
            "{function} {request}"
        );
    }
}

async fn start_prefills_an_invitation_in_the_types_the_request_uses(app: &TestApp) {
    let prefill = response(
        START,
        json!({"@odata.type": "microsoft.graph.attributeCollectionStart.setPrefillValues",
               "inputs": {"displayName": "Ada Lovelace", "extension_0a1b2c_Year": 1815,
                          "extension_0a1b2c_News": true, "jobTitle": "Analyst"}}),
    );
    expect_all(
        app,
        vec![
            (
                START,
                with_email("start_documented", "Ada@Contoso.com "),
                prefill.clone(),
            ),
            (
                START,
                with_email("start_email_otp", "ada@contoso.com"),
                prefill,
            ),
            // Invited without attributes: nothing to prefill.
            (
                START,
                with_email("start_documented", "plain@contoso.com"),
                continue_(START),
            ),
        ],
    )
    .await;
}

/// Microsoft's own Start captures list only the e-mail attribute although the flow collects
/// more; Entra needs each value in its attribute's type, which the invitation declares then.
async fn start_prefills_in_the_declared_types_what_the_request_does_not_list(app: &TestApp) {
    let mut bare = with_email("start_documented", "ada@contoso.com");
    let attributes = bare
        .pointer_mut("/data/userSignUpInfo/attributes")
        .unwrap()
        .as_object_mut()
        .unwrap();
    attributes.retain(|name, _| name == "email");
    let mut texts = bare.clone();
    texts["data"]["userSignUpInfo"]["attributes"]["extension_0a1b2c_Year"] =
        json!({"value": "1815", "@odata.type": "microsoft.graph.stringDirectoryAttributeValue"});
    expect_all(
        app,
        vec![
            (
                START,
                bare,
                response(
                    START,
                    json!({"@odata.type": "microsoft.graph.attributeCollectionStart.setPrefillValues",
                           "inputs": {"displayName": "Ada Lovelace", "extension_0a1b2c_Year": 1815,
                                      "extension_0a1b2c_News": true, "jobTitle": "Analyst"}}),
                ),
            ),
            // The type the request shows still wins.
            (
                START,
                texts,
                response(
                    START,
                    json!({"@odata.type": "microsoft.graph.attributeCollectionStart.setPrefillValues",
                           "inputs": {"displayName": "Ada Lovelace", "extension_0a1b2c_Year": "1815",
                                      "extension_0a1b2c_News": true, "jobTitle": "Analyst"}}),
                ),
            ),
        ],
    )
    .await;
}

async fn start_blocks_everyone_else_with_the_configured_page(app: &TestApp) {
    let page = block(START, DEFAULT_TITLE, DEFAULT_MESSAGE);
    expect_all(
        app,
        vec![
            (
                START,
                with_email("start_documented", "bob@contoso.com"),
                page.clone(),
            ),
            (
                START,
                with_email("start_documented", "ada@fabrikam.com"),
                page.clone(),
            ),
            (
                START,
                with_email("start_documented", "old@contoso.com"),
                page.clone(),
            ),
            (
                START,
                with_email("start_documented", "a@evil.com@contoso.com"),
                block(START, DEFAULT_TITLE, "Email is mandatory."),
            ),
        ],
    )
    .await;
    let custom = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("BLOCK_PAGE_TITLE", "Members only"),
        ("BLOCK_PAGE_MESSAGE", "Write to members@woodgrove.com."),
    ])
    .start()
    .await;
    expect_all(
        &custom,
        vec![(
            START,
            with_email("start_documented", "ada@contoso.com"),
            block(START, "Members only", "Write to members@woodgrove.com."),
        )],
    )
    .await;
}

#[tokio::test]
async fn a_social_subject_id_is_never_taken_for_the_address() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "")])
        .invitations("email,application_id,expires_at\nada@fabrikam.com,,\n")
        .start()
        .await;
    // The google.com identity's issuerAssignedId looks like the invited address, but only the
    // EmailAddress attribute counts: grace@fabrikam.com is not invited.
    expect_all(
        &app,
        vec![(
            START,
            fixture("start_social"),
            block(START, DEFAULT_TITLE, DEFAULT_MESSAGE),
        )],
    )
    .await;
    let mut social = fixture("start_social");
    *social
        .pointer_mut("/data/userSignUpInfo/attributes/EmailAddress/value")
        .unwrap() = Value::from("ada@fabrikam.com");
    expect_all(&app, vec![(START, social.clone(), continue_(START))]).await;
    social["data"]["userSignUpInfo"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("EmailAddress");
    expect_all(
        &app,
        vec![(
            START,
            social,
            block(START, DEFAULT_TITLE, "Email is mandatory."),
        )],
    )
    .await;
}

#[tokio::test]
async fn allowed_domains_still_admit_alongside_invitations() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com")])
        .invitations(INVITATIONS)
        .start()
        .await;
    expect_all(
        &app,
        vec![
            (
                START,
                with_email("start_documented", "someone@fabrikam.com"),
                continue_(START),
            ),
            (
                SUBMIT,
                with_email("submit_documented", "someone@fabrikam.com"),
                continue_(SUBMIT),
            ),
            (
                START,
                with_email("start_documented", "bob@contoso.com"),
                block(START, DEFAULT_TITLE, DEFAULT_MESSAGE),
            ),
        ],
    )
    .await;
}

async fn invitations_are_scoped_to_their_application(app: &TestApp) {
    let page = block(START, DEFAULT_TITLE, DEFAULT_MESSAGE);
    let grace = || with_email("start_documented", "grace@contoso.com");
    expect_all(
        app,
        vec![
            (START, with_app(grace(), Some(APP)), continue_(START)),
            (
                START,
                with_app(grace(), Some("99999999-0000-0000-0000-000000000000")),
                page.clone(),
            ),
            (START, with_app(grace(), None), page),
            // An invitation for every application needs no context.
            (
                START,
                with_app(with_email("start_documented", "plain@contoso.com"), None),
                continue_(START),
            ),
        ],
    )
    .await;
}

async fn submit_imposes_enforced_values_and_rechecks_admission(app: &TestApp) {
    let imposed = response(
        SUBMIT,
        json!({"@odata.type": "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues",
               "attributes": {"extension_0a1b2c_News": true, "jobTitle": "Analyst"}}),
    );
    // Modify sends the declared type where the request does not list the attribute, and the
    // request's own type where it does.
    let mut unlisted = with_email("submit_documented", "ada@contoso.com");
    unlisted["data"]["userSignUpInfo"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("extension_0a1b2c_News");
    let mut as_text = with_email("submit_documented", "ada@contoso.com");
    as_text["data"]["userSignUpInfo"]["attributes"]["extension_0a1b2c_News"] =
        json!({"value": "false", "@odata.type": "microsoft.graph.stringDirectoryAttributeValue"});
    expect_all(
        app,
        vec![
            (SUBMIT, unlisted, imposed.clone()),
            (
                SUBMIT,
                as_text,
                response(
                    SUBMIT,
                    json!({"@odata.type": "microsoft.graph.attributeCollectionSubmit.modifyAttributeValues",
                           "attributes": {"extension_0a1b2c_News": "true", "jobTitle": "Analyst"}}),
                ),
            ),
        ],
    )
    .await;
    expect_all(
        app,
        vec![
            (
                SUBMIT,
                with_email("submit_documented", "ada@contoso.com"),
                imposed.clone(),
            ),
            (
                SUBMIT,
                with_email("submit_without_identities", "ada@contoso.com"),
                imposed,
            ),
            (
                SUBMIT,
                with_email("submit_documented", "plain@contoso.com"),
                continue_(SUBMIT),
            ),
            (
                SUBMIT,
                with_email("submit_documented", "bob@contoso.com"),
                block(SUBMIT, DEFAULT_TITLE, DEFAULT_MESSAGE),
            ),
            (
                SUBMIT,
                with_email("submit_without_identities", "old@contoso.com"),
                block(SUBMIT, DEFAULT_TITLE, DEFAULT_MESSAGE),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn submit_shows_attribute_errors_under_the_name_received() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com")])
        .start()
        .await;
    let mut short = with_email("submit_documented", "ada@fabrikam.com");
    let attributes = short
        .pointer_mut("/data/userSignUpInfo/attributes")
        .unwrap()
        .as_object_mut()
        .unwrap();
    attributes.remove("jobTitle");
    attributes.insert("JobTitle".to_owned(), json!({"value": "CEO"}));
    let message = "Job Title must contain at least 4 characters.";
    expect_all(
        &app,
        vec![(
            SUBMIT,
            short,
            response(
                SUBMIT,
                json!({"@odata.type": "microsoft.graph.attributeCollectionSubmit.showValidationError",
                       "message": message, "attributeErrors": {"JobTitle": message}}),
            ),
        )],
    )
    .await;

    let strict = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", "fabrikam.com"),
        ("REQUIRE_JOB_TITLE", "true"),
    ])
    .start()
    .await;
    let mut missing = with_email("submit_without_identities", "ada@fabrikam.com");
    missing
        .pointer_mut("/data/userSignUpInfo/attributes")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("jobTitle");
    let mut blank = missing.clone();
    blank["data"]["userSignUpInfo"]["attributes"]["jobTitle"] = json!({"value": ""});
    let required = "Job Title is required.";
    expect_all(
        &strict,
        vec![
            // On the page but left empty: the user can fill it in.
            (
                SUBMIT,
                blank,
                response(
                    SUBMIT,
                    json!({"@odata.type": "microsoft.graph.attributeCollectionSubmit.showValidationError",
                           "message": required, "attributeErrors": {"jobTitle": required}}),
                ),
            ),
            // Not on the page at all: no user can correct that, and an error naming a field
            // that is not there helps nobody. The operator must add it to the flow.
            (
                SUBMIT,
                missing.clone(),
                response(
                    SUBMIT,
                    json!({"@odata.type": "microsoft.graph.attributeCollectionSubmit.showBlockPage",
                           "title": "Sign-up unavailable",
                           "message": "Sign-up for Contoso cannot be completed right now. Please contact Contoso."}),
                ),
            ),
            // Start comes before the attribute page: no attribute rules there.
            (START, with_email("start_documented", "ada@fabrikam.com"), continue_(START)),
        ],
    )
    .await;
    strict
        .logs_containing("configuration error: REQUIRE_JOB_TITLE is true but the user flow does not collect Job Title")
        .await;
    strict
        .logs_containing("outcome=showBlockPage reason=job_title_not_collected")
        .await;
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_nothing_is_admitted() {
    let app = invite_only().await;
    let cases = [
        (
            "not json",
            400,
            json!({"error": "invalid_request", "message": "The request body is not JSON."}),
        ),
        (
            "[1,2]",
            400,
            json!({"error": "invalid_request", "message": "The request body is not a JSON object."}),
        ),
    ];
    for function in [START, SUBMIT] {
        for (body, status, expected) in &cases {
            let response = app.post(&format!("/api/{function}"), body, None).await;
            let answer = crate::helpers::json_answer(response).await;
            assert_eq!(
                answer,
                (*status, "application/json".to_owned(), expected.clone()),
                "{function} {body}"
            );
        }
    }
    let swapped = [
        (
            START,
            fixture("submit_documented"),
            "OnAttributeCollectionStart handles microsoft.graph.authenticationEvent.attributeCollectionStart, but the request is microsoft.graph.authenticationEvent.attributeCollectionSubmit.",
        ),
        (
            SUBMIT,
            fixture("start_documented"),
            "OnAttributeCollectionSubmit handles microsoft.graph.authenticationEvent.attributeCollectionSubmit, but the request is microsoft.graph.authenticationEvent.attributeCollectionStart.",
        ),
    ];
    for (function, body, message) in swapped {
        let answer = app.event(function, &body).await;
        assert_eq!(
            answer,
            (
                400,
                "application/json".to_owned(),
                json!({"error": "wrong_event_type", "message": message})
            )
        );
    }
}

#[tokio::test]
async fn lenient_reading_of_real_traffic() {
    let app = invite_only().await;
    // Unknown keys, another key order, `@odata.Type`, int and bool attributes, no
    // authenticationContext, no identities.
    let mut odd = with_email("submit_without_identities", "plain@contoso.com");
    odd["data"]["userSignUpInfo"]["attributes"]["email"] = json!("plain@contoso.com");
    expect_all(&app, vec![(SUBMIT, odd, continue_(SUBMIT))]).await;
    // A Start event with no data at all has no address: blocked, not an error.
    expect_all(
        &app,
        vec![(
            START,
            json!({"type": "microsoft.graph.authenticationEvent.attributeCollectionStart"}),
            block(START, DEFAULT_TITLE, "Email is mandatory."),
        )],
    )
    .await;
}

#[tokio::test]
async fn the_invitation_file_is_reloaded_when_it_changes() {
    let app = invite_only().await;
    let request = with_email("start_documented", "new@contoso.com");
    let page = block(START, DEFAULT_TITLE, DEFAULT_MESSAGE);
    expect_all(&app, vec![(START, request.clone(), page.clone())]).await;

    // A good edit is picked up.
    let edited = format!("{INVITATIONS}new@contoso.com,,,,,,\n");
    std::fs::write(app.dir().join("invitations.csv"), &edited).unwrap();
    wait_for(&app, &request, continue_(START)).await;

    // A bad edit keeps the last good set and says where the problem is.
    let broken = format!("{edited}broken-address,,,,,,\n");
    std::fs::write(app.dir().join("invitations.csv"), broken).unwrap();
    app.logs_containing("line 7: invalid e-mail address").await;
    expect_all(&app, vec![(START, request.clone(), continue_(START))]).await;

    // Removing the invitation blocks again.
    std::fs::write(app.dir().join("invitations.csv"), INVITATIONS).unwrap();
    wait_for(&app, &request, page).await;
}

/// Waits until the server answers `request` with `expected` (it reloads the file by itself).
async fn wait_for(app: &TestApp, request: &Value, expected: Value) {
    app.event_until(START, request, |answer| *answer == expected)
        .await;
}

#[tokio::test]
async fn every_decision_is_logged_with_a_masked_address() {
    let app = invite_only().await;
    app.event(START, &with_email("start_documented", "ada@contoso.com"))
        .await;
    let logs = app
        .logs_containing("function=OnAttributeCollectionStart")
        .await;
    assert!(
        logs.contains(&format!("decision function=OnAttributeCollectionStart outcome=setPrefillValues reason=invitation email=a***@contoso.com language=en policy=default application=44445555-eeee-6666-ffff-7777aaaa8888 tenant=aaaabbbb-0000-cccc-1111-dddd2222eeee entra_correlation_id=22223333-cccc-4444-dddd-5555eeee6666 invitation={} correlation_id=", crate::helpers::derived_id("ada@contoso.com"))),
        "{logs}"
    );
    assert!(!logs.contains("ada@contoso.com"), "{logs}");
}

#[test]
fn a_bad_invitation_file_stops_start_up_with_line_numbers() {
    let launch = Launch::hosted(&[]).invitations(
        "email,application_id,expires_at\nada@contoso.com,,\nADA@contoso.com,,\nx@y.com,,someday\n",
    );
    let (status, output) = launch.run_to_exit();
    assert_eq!(status.code(), Some(78), "{}", output.all());
    let stderr = output.stderr();
    assert!(stderr.contains("invitations.csv: line 3: duplicate of the address on line 2; line 4: invalid expires_at"), "{stderr}");
}

#[tokio::test]
async fn a_missing_invitation_file_means_no_invitations() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATIONS_FILE", "nowhere/invitations.csv"),
    ])
    .start()
    .await;
    assert!(
        app.output
            .stdout()
            .contains("invitation file nowhere/invitations.csv not found")
    );
    expect_all(
        &app,
        vec![(
            START,
            with_email("start_documented", "ada@contoso.com"),
            block(START, DEFAULT_TITLE, DEFAULT_MESSAGE),
        )],
    )
    .await;
}
