//! `POST /api/SignUpValidation`: every row of the API connector's behaviour table.

use serde_json::{Value, json};

use crate::helpers::{Launch, PASSWORD, USERNAME, basic, json_answer};

const DOMAIN_BLOCK: &str = "You must have an account from 'fabrikam.com, fabricam.com' to register as an external user for Contoso.";

fn continue_() -> Value {
    json!({"version": "1.0.0", "action": "Continue"})
}

fn block(message: &str) -> Value {
    json!({"version": "1.0.0", "action": "ShowBlockPage", "userMessage": message})
}

fn validation_error(message: &str) -> Value {
    json!({"version": "1.0.0", "status": 400, "action": "ValidationError", "userMessage": message})
}

/// Sends each body and checks status, JSON content type and exact body.
async fn expect_all(app: &crate::helpers::TestApp, cases: &[(Value, u16, Value)]) {
    for (request, status, expected) in cases {
        let answer = json_answer(app.sign_up(&request.to_string()).await).await;
        assert_eq!(
            answer,
            (*status, "application/json".to_owned(), expected.clone()),
            "request {request}"
        );
    }
}

#[tokio::test]
async fn the_documented_example_continues() {
    let app = Launch::hosted(&[]).start().await;
    let request = json!({
        "email": "ada@fabrikam.com",
        "identities": [{"signInType": "federated", "issuer": "facebook.com", "issuerAssignedId": "1234"}],
        "displayName": "Ada L", "givenName": "Ada", "surname": "L", "jobTitle": "Engineer",
        "city": "Oslo", "extension_0a1b2c_Team": "Blue",
        "step": "PostAttributeCollection", "client_id": "93fd07aa-0000-0000-0000-000000000000",
        "ui_locales": "en-US"
    });
    expect_all(&app, &[(request, 200, continue_())]).await;
}

#[tokio::test]
async fn email_rules() {
    let app = Launch::hosted(&[]).start().await;
    let mandatory = block("Email is mandatory.");
    expect_all(
        &app,
        &[
            (json!({"jobTitle": "Engineer"}), 200, mandatory.clone()),
            (json!({"email": ""}), 200, mandatory.clone()),
            (json!({"email": "not-an-address"}), 200, mandatory.clone()),
            (json!({"email": "a@evil.com@fabrikam.com"}), 200, mandatory.clone()),
            (json!({"email": 42}), 200, mandatory.clone()),
            (
                json!({"identities": [{"signInType": "federated", "issuer": "google.com", "issuerAssignedId": "a@fabrikam.com"}]}),
                200,
                mandatory.clone(),
            ),
            (json!({"email": "ada@contoso.com"}), 200, block(DOMAIN_BLOCK)),
            (json!({"email": "ada@sub.fabrikam.com"}), 200, block(DOMAIN_BLOCK)),
            (json!({"email": "ada@fabrikam.com.evil.com"}), 200, block(DOMAIN_BLOCK)),
            (json!({"email": " Ada@FABRIKAM.com. "}), 200, continue_()),
            (json!({"email": "ada@fabricam.com"}), 200, continue_()),
            (json!({"email_address": "ada@fabrikam.com"}), 200, continue_()),
            (
                json!({"identities": [{"signInType": "emailAddress", "issuer": "contoso.onmicrosoft.com", "issuerAssignedId": "ada@fabrikam.com"}]}),
                200,
                continue_(),
            ),
            (
                json!({"identities": [{"signInType": "email", "issuerAssignedId": "ada@contoso.com"}]}),
                200,
                block(DOMAIN_BLOCK),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn job_title_rules_apply_after_the_attribute_page_only() {
    let app = Launch::hosted(&[]).start().await;
    let short = validation_error("Job Title must contain at least 4 characters.");
    expect_all(
        &app,
        &[
            (json!({"email": "ada@fabrikam.com", "jobTitle": "CEO", "step": "PostAttributeCollection"}), 400, short.clone()),
            (json!({"email": "ada@fabrikam.com", "jobTitle": "CEO"}), 400, short.clone()),
            (json!({"email": "ada@fabrikam.com", "jobTitle": "  CEO  "}), 400, short.clone()),
            (json!({"email": "ada@fabrikam.com", "jobTitle": 1234}), 400, short.clone()),
            (json!({"email": "ada@fabrikam.com", "jobTitle": "CEO", "step": "PostFederationSignup"}), 200, continue_()),
            (json!({"email": "ada@fabrikam.com", "jobTitle": "CEO", "step": "PreTokenIssuance"}), 200, continue_()),
            (json!({"email": "ada@fabrikam.com", "jobTitle": "Chef", "step": "PostAttributeCollection"}), 200, continue_()),
            (json!({"email": "ada@fabrikam.com", "jobTitle": "Ärzt"}), 200, continue_()),
            (json!({"email": "ada@fabrikam.com", "step": "PostAttributeCollection"}), 200, continue_()),
            (
                json!({"email": "ada@fabrikam.com", "jobTitle": "x".repeat(129)}),
                400,
                validation_error("Job Title must contain at most 128 characters."),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_required_job_title_must_be_present_at_attribute_collection() {
    let app = Launch::hosted(&[("REQUIRE_JOB_TITLE", "true"), ("MIN_JOB_TITLE_LENGTH", "6")])
        .start()
        .await;
    let missing = validation_error("Job Title is required.");
    expect_all(
        &app,
        &[
            (
                json!({"email": "ada@fabrikam.com", "step": "PostAttributeCollection"}),
                400,
                missing.clone(),
            ),
            (
                json!({"email": "ada@fabrikam.com", "jobTitle": " ", "step": "PostAttributeCollection"}),
                400,
                missing.clone(),
            ),
            // Without a step (External Identities self-service sign-up sends none, after
            // federation too, where the page's attributes are not collected yet) a missing
            // Job Title is never an error; a present one that breaks the rules is.
            (json!({"email": "ada@fabrikam.com"}), 200, continue_()),
            (json!({"email": "ada@fabrikam.com", "step": "Later"}), 200, continue_()),
            (
                json!({"email": "ada@fabrikam.com", "jobTitle": "Chef"}),
                400,
                validation_error("Job Title must contain at least 6 characters."),
            ),
            (
                json!({"email": "ada@fabrikam.com", "step": "PostFederationSignup"}),
                200,
                continue_(),
            ),
            (
                json!({"email": "ada@fabrikam.com", "jobTitle": "Engineer"}),
                200,
                continue_(),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_get_the_problem_block() {
    let app = Launch::hosted(&[]).start().await;
    let problem = block("There was a problem with your request.");
    for body in [
        "",
        "not json",
        "[1,2]",
        "\"ada@fabrikam.com\"",
        "null",
        "{\"email\": ",
    ] {
        let answer = json_answer(app.sign_up(body).await).await;
        assert_eq!(
            answer,
            (200, "application/json".to_owned(), problem.clone()),
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn settings_shape_the_messages_and_the_allow_list() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", "*.woodgrove.com, tailspin.com"),
        ("ORGANIZATION_NAME", "Woodgrove Bank"),
    ])
    .start()
    .await;
    expect_all(
        &app,
        &[
            (json!({"email": "ada@eu.woodgrove.com"}), 200, continue_()),
            (json!({"email": "ada@tailspin.com"}), 200, continue_()),
            (
                json!({"email": "ada@woodgrove.com"}),
                200,
                block("You must have an account from '*.woodgrove.com, tailspin.com' to register as an external user for Woodgrove Bank."),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn missing_credentials_refuse_every_call_but_start_up_succeeds() {
    let mut launch = Launch::hosted(&[]);
    launch.env.retain(|(k, _)| k != "BASIC_AUTH_PASSWORD");
    let app = launch.start().await;
    app.logs_containing("every call to SignUpValidation is refused with 401")
        .await;
    let response = app.sign_up(r#"{"email":"ada@fabrikam.com"}"#).await;
    assert_eq!(response.status().as_u16(), 401);
    let response = app
        .post(
            "/api/SignUpValidation",
            r#"{"email":"ada@fabrikam.com"}"#,
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 401);
    app.logs_containing("reason=basic_auth_not_configured")
        .await;
}

#[tokio::test]
async fn authentication_can_be_switched_off_outside_azure() {
    let app = Launch::hosted(&[("API_CONNECTOR_AUTH", "none")])
        .start()
        .await;
    let response = app
        .post(
            "/api/SignUpValidation",
            r#"{"email":"ada@fabrikam.com"}"#,
            None,
        )
        .await;
    assert_eq!(
        json_answer(response).await,
        (200, "application/json".to_owned(), continue_())
    );
    app.logs_containing("API_CONNECTOR_AUTH=none").await;
}

/// A character that reverses the rest of a line (U+202E) is a valid first character of an
/// address's local part, and the masked address shows the first character: it must reach the
/// log escaped, as must anything else that is not printable.
#[tokio::test]
async fn log_lines_escape_what_is_not_printable() {
    let app = Launch::hosted(&[]).start().await;
    let body = json!({"email": "\u{202e}moc.live@contoso.com"}).to_string();
    let response = app.sign_up(&body).await;
    assert_eq!(response.status().as_u16(), 200);
    let logs = app.logs_containing("email=\\u{202e}***@contoso.com").await;
    assert!(!logs.contains('\u{202e}'), "{logs}");
}

#[tokio::test]
async fn every_decision_is_logged_once_with_a_masked_address_and_the_invocation_id() {
    let app = Launch::hosted(&[]).start().await;
    let response = app
        .client
        .post(app.url("/api/SignUpValidation"))
        .header("authorization", basic(USERNAME, PASSWORD))
        .header(
            "x-azure-functions-invocationid",
            "0f0e0d0c-1111-2222-3333-444455556666",
        )
        .body(r#"{"email":"Grace.Hopper@contoso.com","step":"PostAttributeCollection"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let logs = app
        .logs_containing("correlation_id=0f0e0d0c-1111-2222-3333-444455556666")
        .await;
    let line = logs
        .lines()
        .find(|line| line.contains("0f0e0d0c-1111-2222-3333-444455556666"))
        .unwrap();
    assert!(
        line.ends_with(
            "decision function=SignUpValidation outcome=ShowBlockPage reason=domain_not_allowed email=g***@contoso.com step=PostAttributeCollection language=en policy=default correlation_id=0f0e0d0c-1111-2222-3333-444455556666"
        ),
        "{line}"
    );
    // A call without an invocation id still gets one, and neither the address nor the password
    // ever reaches the logs.
    app.sign_up(r#"{"email":"grace.hopper@fabrikam.com"}"#)
        .await;
    let logs = app.logs_containing("email=g***@fabrikam.com").await;
    assert_eq!(
        logs.matches("decision function=SignUpValidation").count(),
        2,
        "{logs}"
    );
    for secret in ["hopper", PASSWORD, "s3cret"] {
        assert!(
            !logs.to_lowercase().contains(&secret.to_lowercase()),
            "{secret} leaked:\n{logs}"
        );
    }
}

#[tokio::test]
async fn invitations_admit_other_domains_and_return_their_attributes() {
    let app = Launch::hosted(&[])
        .invitations(
            "email,application_id,expires_at,displayName,!jobTitle,extension_0a1b_Level:int\n\
             ada@contoso.com,,,Ada Lovelace,Analyst,3\n\
             scoped@contoso.com,93fd07aa-0000-0000-0000-000000000000,,,,\n\
             old@contoso.com,,2020-01-01,,,\n",
        )
        .start()
        .await;
    let mut prefill = continue_();
    prefill["displayName"] = json!("Ada Lovelace");
    prefill["jobTitle"] = json!("Analyst");
    // In the type the invitation declares.
    prefill["extension_0a1b_Level"] = json!(3);
    let mut imposed = continue_();
    imposed["jobTitle"] = json!("Analyst");
    expect_all(
        &app,
        &[
            // After federation the claims prefill the attribute page.
            (json!({"email": "ada@contoso.com", "step": "PostFederationSignup"}), 200, prefill),
            // After the attribute page only enforced claims go back, overriding what was typed
            // (so a short typed Job Title is not an error).
            (json!({"email": "ada@contoso.com", "jobTitle": "x", "step": "PostAttributeCollection"}), 200, imposed),
            (json!({"email": "ada@contoso.com", "step": "PreTokenIssuance"}), 200, continue_()),
            (
                json!({"email": "scoped@contoso.com", "client_id": "93fd07aa-0000-0000-0000-000000000000"}),
                200,
                continue_(),
            ),
            // One documentation example names the application `clientId`.
            (
                json!({"email": "scoped@contoso.com", "clientId": "93fd07aa-0000-0000-0000-000000000000", "step": "PostAttributeCollection"}),
                200,
                continue_(),
            ),
            (json!({"email": "scoped@contoso.com", "client_id": "other"}), 200, block(DOMAIN_BLOCK)),
            (json!({"email": "old@contoso.com"}), 200, block(DOMAIN_BLOCK)),
        ],
    )
    .await;
}

/// B2C's token step runs at every sign-in and sign-up and allows only Continue: a block there
/// would lock out every user whose invitation has since expired (or who never had one).
#[tokio::test]
async fn the_token_step_always_continues() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", ""), ("REQUIRE_JOB_TITLE", "true")])
        .invitations("email,application_id,expires_at\nold@contoso.com,,2020-01-01\n")
        .start()
        .await;
    let mut cases = Vec::new();
    for step in [
        "PreTokenIssuance",
        "PreTokenApplicationClaims",
        "pretokenapplicationclaims",
    ] {
        for body in [
            json!({"email": "old@contoso.com", "step": step}),
            json!({"email": "stranger@contoso.com", "step": step, "clientId": "93fd07aa-0000-0000-0000-000000000000"}),
            json!({"email": "not an address", "step": step, "jobTitle": "x"}),
            json!({"step": step}),
        ] {
            cases.push((body, 200, continue_()));
        }
    }
    expect_all(&app, &cases).await;
    app.logs_containing(
        "outcome=Continue reason=invitation email=o***@contoso.com step=PreTokenIssuance claims=-",
    )
    .await;
}
