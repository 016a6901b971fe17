//! A setting that cannot work stops start-up with one line naming it, and a non-zero exit.

use crate::helpers::Launch;

fn refuses_to_start(settings: &[(&str, &str)], expected: &str) {
    let (status, output) = Launch::hosted(settings).run_to_exit();
    assert_eq!(status.code(), Some(78), "{settings:?}: {}", output.all());
    let errors: Vec<String> = output.stderr().lines().map(str::to_owned).collect();
    assert_eq!(
        errors.len(),
        1,
        "{settings:?}: one line expected:\n{}",
        output.all()
    );
    assert!(
        errors[0].ends_with(&format!("configuration error: {expected}")),
        "{settings:?}: {}",
        errors[0]
    );
}

#[test]
fn a_job_title_length_that_is_not_a_number() {
    refuses_to_start(
        &[("MIN_JOB_TITLE_LENGTH", "abc")],
        "MIN_JOB_TITLE_LENGTH must be a whole number of characters from 0 to 128, got \"abc\"",
    );
}

#[test]
fn an_empty_domain_entry() {
    refuses_to_start(
        &[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com,,fabricam.com")],
        "ALLOWED_EMAIL_DOMAINS must be a comma-separated list of domains ('fabrikam.com', '*.fabrikam.com' or '*'): entry 2 is empty",
    );
}

#[test]
fn a_domain_entry_that_is_not_a_domain() {
    refuses_to_start(
        &[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com,@fabricam.com")],
        "ALLOWED_EMAIL_DOMAINS must be a comma-separated list of domains ('fabrikam.com', '*.fabrikam.com' or '*'): entry 2 (\"@fabricam.com\") is not a domain like 'fabrikam.com', '*.fabrikam.com' or '*'",
    );
}

#[test]
fn no_authentication_in_azure() {
    refuses_to_start(
        &[
            ("API_CONNECTOR_AUTH", "none"),
            ("WEBSITE_SITE_NAME", "signup-gate-prod"),
        ],
        "API_CONNECTOR_AUTH must be 'basic' in Azure (WEBSITE_SITE_NAME is set); 'none' is only for local runs",
    );
}

#[test]
fn an_unknown_authentication_mode() {
    refuses_to_start(
        &[("API_CONNECTOR_AUTH", "certificate")],
        "API_CONNECTOR_AUTH must be 'basic' or 'none', got \"certificate\"",
    );
}

#[test]
fn a_boolean_that_is_not_one() {
    refuses_to_start(
        &[("REQUIRE_JOB_TITLE", "maybe")],
        "REQUIRE_JOB_TITLE must be 'true' or 'false', got \"maybe\"",
    );
}

#[test]
fn a_port_that_is_not_a_port() {
    refuses_to_start(
        &[("FUNCTIONS_CUSTOMHANDLER_PORT", "70000")],
        "FUNCTIONS_CUSTOMHANDLER_PORT must be a TCP port number from 0 to 65535, got \"70000\"",
    );
}

#[test]
fn a_port_already_taken_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (status, output) = Launch::hosted(&[("FUNCTIONS_CUSTOMHANDLER_PORT", &port)]).run_to_exit();
    assert_eq!(status.code(), Some(1), "{}", output.all());
    assert!(
        output.stderr().contains("cannot serve: "),
        "{}",
        output.all()
    );
}

/// A misspelt setting was ignored without a word, and the fallback admitted the sample's
/// domains. Now the server warns at start-up (and `handler doctor` fails, tests/api/doctor.rs)
/// naming what was meant; the setting meant keeps its default, which is what still decides.
#[tokio::test]
async fn a_misspelt_setting_is_named_at_start_up() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAIN", "contoso.com"),
        ("BASIC_AUTH_PASWORD", "x"),
    ])
    .start()
    .await;
    let logs = app
        .logs_containing_all(&[
            "ALLOWED_EMAIL_DOMAIN is not a setting (did you mean ALLOWED_EMAIL_DOMAINS?): it is ignored",
            "BASIC_AUTH_PASWORD is not a setting (did you mean BASIC_AUTH_PASSWORD?)",
        ])
        .await;
    assert!(!logs.contains("BASIC_AUTH_PASWORD=x"), "{logs}");
}

/// In Azure the original sample's allow-list is no default: an unset ALLOWED_EMAIL_DOMAINS
/// admits no domain and says so with an error; `none` says it on purpose, without one. The
/// server starts either way (token issuance must keep running).
#[tokio::test]
async fn in_azure_an_unset_allow_list_admits_no_domain() {
    let body = r#"{"email":"ada@fabrikam.com","step":"PostFederationSignup"}"#;
    // base_env switches the Entra caller check off, which Azure refuses: back to the default.
    let azure = [
        ("WEBSITE_SITE_NAME", "gate"),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
    ];
    let app = Launch::hosted(&azure).start().await;
    app.logs_containing(
        "ALLOWED_EMAIL_DOMAINS is not set: in Azure that means no domain is admitted",
    )
    .await;
    let (_, _, answer) = crate::helpers::json_answer(app.sign_up(body).await).await;
    assert_eq!(answer["action"], "ShowBlockPage");

    let app = Launch::hosted(&[
        ("WEBSITE_SITE_NAME", "gate"),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
        ("ALLOWED_EMAIL_DOMAINS", "none"),
    ])
    .start()
    .await;
    let (_, _, answer) = crate::helpers::json_answer(app.sign_up(body).await).await;
    assert_eq!(answer["action"], "ShowBlockPage");
    assert!(
        !app.output
            .all()
            .contains("ALLOWED_EMAIL_DOMAINS is not set"),
        "{}",
        app.output.all()
    );
    // Outside Azure the sample's default stands (with a warning from doctor).
    let app = Launch::hosted(&[]).start().await;
    let (_, _, answer) = crate::helpers::json_answer(app.sign_up(body).await).await;
    assert_eq!(answer["action"], "Continue");
}
