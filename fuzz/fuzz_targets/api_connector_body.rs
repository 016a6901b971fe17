#![no_main]
//! `SignUpValidation` bodies (the caller is already authenticated): always an answer of the API
//! connector contract; never `Continue` without an admissible address, except at the token step,
//! which only ever continues.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let gate = signup_gate_testkit::harness::harness();
    let answer = gate.connector(data);
    let json = answer.json();
    assert_eq!(json["version"], "1.0.0", "{json}");
    let action = json["action"].as_str().expect("an action");
    let token_step = serde_json::from_slice::<serde_json::Value>(data).is_ok_and(|body| {
        body["step"].as_str().is_some_and(|step| {
            ["PreTokenIssuance", "PreTokenApplicationClaims"]
                .iter()
                .any(|name| step.trim().eq_ignore_ascii_case(name))
        })
    });
    match (answer.status, action) {
        // The token step allows nothing but Continue, and admits no one (the account exists).
        (200, "Continue") if token_step => {}
        (status, action) if token_step => panic!("{status} {action} at the token step: {json}"),
        (200, "Continue") => assert!(
            gate.may_admit(data),
            "Continue without an admissible address: {}",
            String::from_utf8_lossy(data)
        ),
        (200, "ShowBlockPage") => {
            assert!(json["userMessage"].as_str().is_some_and(|m| !m.is_empty()))
        }
        (400, "ValidationError") => {
            assert_eq!(json["status"], 400, "{json}");
            assert!(json["userMessage"].as_str().is_some_and(|m| !m.is_empty()));
        }
        (status, action) => panic!("{status} {action} is outside the contract: {json}"),
    }
});
