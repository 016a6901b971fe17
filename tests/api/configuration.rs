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
        "FUNCTIONS_CUSTOMHANDLER_PORT must be a TCP port number from 1 to 65535, got \"70000\"",
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
