//! Invitations reach the token: `OnTokenIssuanceStart` (Entra's custom claims provider) and B2C's
//! token step give the claims of the invitation that applies to the application.

use serde_json::{Value, json};

use crate::helpers::{Azurite, Launch, TestApp};

const TOKEN: &str = "OnTokenIssuanceStart";
const APP: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const OTHER_APP: &str = "99990000-eeee-6666-ffff-7777aaaa8888";

const INVITATIONS: &str = "\
email,application_id,expires_at,displayName,claim:department,claim:app_roles[]
ada@contoso.com,,,Ada,Ops,Pilot;Dispatcher
grace@contoso.com,44445555-EEEE-6666-FFFF-7777AAAA8888,,,Research,
old@contoso.com,,2001-01-01,,Archive,Keeper
plain@contoso.com,,,Plain,,
";

fn fixture() -> Value {
    let path = format!(
        "{}/tests/fixtures/token_issuance_documented.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The documented event for `mail` signing in to `app` (`None`: no `user.mail` at all).
fn token_event(mail: Option<&str>, app: &str) -> Value {
    let mut event = fixture();
    let context = &mut event["data"]["authenticationContext"];
    context["clientServicePrincipal"]["appId"] = json!(app);
    match mail {
        Some(mail) => context["user"]["mail"] = json!(mail),
        None => {
            context["user"].as_object_mut().unwrap().remove("mail");
        }
    }
    event
}

fn provides(claims: Value) -> Value {
    json!({"data": {"@odata.type": "microsoft.graph.onTokenIssuanceStartResponseData",
        "actions": [{"@odata.type": "microsoft.graph.tokenIssuanceStart.provideClaimsForToken",
                     "claims": claims}]}})
}

async fn invited() -> TestApp {
    Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "")])
        .invitations(INVITATIONS)
        .start()
        .await
}

/// The claims a token gets: the invitation's for this application (any case of the address's
/// ASCII letters), none otherwise; expiry limits sign-up only.
#[tokio::test]
async fn tokens_carry_the_claims_of_the_invitation_for_their_application() {
    let app = invited().await;
    let ada = json!({"department": "Ops", "app_roles": ["Pilot", "Dispatcher"]});
    for (mail, client, expected) in [
        (Some("ada@contoso.com"), APP, ada.clone()),
        (Some(" ADA@Contoso.COM "), OTHER_APP, ada.clone()),
        (
            Some("grace@contoso.com"),
            APP,
            json!({"department": "Research"}),
        ),
        (
            Some("grace@contoso.com"),
            &APP.to_uppercase(),
            json!({"department": "Research"}),
        ),
        // Scoped to another application: nothing, and no block.
        (Some("grace@contoso.com"), OTHER_APP, json!({})),
        // Expired: the user who signed up with it keeps its claims.
        (
            Some("old@contoso.com"),
            APP,
            json!({"department": "Archive", "app_roles": ["Keeper"]}),
        ),
        (Some("plain@contoso.com"), APP, json!({})),
        (Some("stranger@contoso.com"), APP, json!({})),
        (Some("\u{212A}ate@contoso.com"), APP, json!({})),
        (Some("not an address"), APP, json!({})),
        (None, APP, json!({})),
    ] {
        let answer = app.event(TOKEN, &token_event(mail, client)).await;
        assert_eq!(
            answer,
            (200, "application/json".to_owned(), provides(expected)),
            "{mail:?} {client}"
        );
    }
}

#[tokio::test]
async fn one_decision_line_names_the_claims_never_their_values() {
    let app = invited().await;
    let response = app
        .client
        .post(app.url(&format!("/api/{TOKEN}")))
        .header(
            "x-azure-functions-invocationid",
            "0f0e0d0c-1111-2222-3333-444455556666",
        )
        .body(token_event(Some("ada@contoso.com"), APP).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let logs = app
        .logs_containing("correlation_id=0f0e0d0c-1111-2222-3333-444455556666")
        .await;
    assert!(
        logs.contains(
            "decision function=OnTokenIssuanceStart outcome=provideClaimsForToken reason=invitation email=a***@contoso.com claims=department,app_roles language=en application=44445555-eeee-6666-ffff-7777aaaa8888 tenant=aaaabbbb-0000-cccc-1111-dddd2222eeee entra_correlation_id=0f9e8d7c-6b5a-4321-9876-543210fedcba correlation_id=0f0e0d0c-1111-2222-3333-444455556666"
        ),
        "{logs}"
    );
    for secret in ["Ops", "Pilot", "Dispatcher", "ada@"] {
        assert!(!logs.contains(secret), "{secret} in the log:\n{logs}");
    }
}

#[tokio::test]
async fn removing_the_invitation_revokes_the_claims_at_the_next_token() {
    let app = invited().await;
    let event = token_event(Some("ada@contoso.com"), APP);
    let (_, _, answer) = app.event(TOKEN, &event).await;
    assert_eq!(answer["data"]["actions"][0]["claims"]["department"], "Ops");
    let output = app.cli(&["invitations", "remove", "ada@contoso.com"]);
    assert!(output.status.success());
    let answer = app
        .event_until(TOKEN, &event, |answer| {
            answer["data"]["actions"][0]["claims"] == json!({})
        })
        .await;
    assert_eq!(answer, provides(json!({})));
}

/// Other events posted to the token function, and the token event posted to the others, are
/// refused before any decision.
#[tokio::test]
async fn events_of_another_kind_are_refused() {
    let app = invited().await;
    let start = json!({"type": "microsoft.graph.authenticationEvent.attributeCollectionStart",
                       "data": {"userSignUpInfo": {"identities": []}}});
    let (status, _, answer) = app.event(TOKEN, &start).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!({"error": "wrong_event_type", "message": "OnTokenIssuanceStart handles microsoft.graph.authenticationEvent.tokenIssuanceStart, but the request is microsoft.graph.authenticationEvent.attributeCollectionStart."})
    );
    for function in ["OnAttributeCollectionStart", "OnAttributeCollectionSubmit"] {
        let (status, _, answer) = app
            .event(function, &token_event(Some("ada@contoso.com"), APP))
            .await;
        assert_eq!(
            (status, &answer["error"]),
            (400, &json!("wrong_event_type")),
            "{function}"
        );
    }
    for body in ["nope", "[]"] {
        let response = app.post(&format!("/api/{TOKEN}"), body, None).await;
        assert_eq!(response.status().as_u16(), 400, "{body}");
    }
}

/// The same caller check as the other Entra functions, before the body is read.
#[tokio::test]
async fn only_entras_authentication_events_service_may_call() {
    let app = Launch::hosted(&[
        ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
        (
            "AUTH_EVENTS_TENANT_ID",
            "aaaabbbb-0000-cccc-1111-dddd2222eeee",
        ),
        (
            "AUTH_EVENTS_CLIENT_ID",
            "11112222-bbbb-3333-cccc-4444dddd5555",
        ),
        ("AUTH_EVENTS_AUTHORITY", "http://127.0.0.1:9/none/v2.0"),
    ])
    .start()
    .await;
    let response = app
        .post(
            &format!("/api/{TOKEN}"),
            &token_event(Some("ada@contoso.com"), APP).to_string(),
            Some("Bearer not-a-token"),
        )
        .await;
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer error=\"invalid_token\""
    );
}

/// A store that cannot answer must not let a token out without the claims its application
/// relies on: Entra fails the sign-in on a 5xx (and so does B2C at its token step).
#[tokio::test]
async fn a_store_that_cannot_answer_fails_the_token_instead_of_dropping_its_claims() {
    let mut azurite = Azurite::start().await;
    // A stopped store refuses connections at once; the long deadline only keeps the first,
    // answered, lookups from missing it on a machine busy with other tests.
    let app = Launch::hosted(&[
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", &azurite.connection_string()),
        ("DECISION_DEADLINE_MS", "10000"),
        ("ALLOWED_EMAIL_DOMAINS", ""),
    ])
    .start()
    .await;
    let output = app.cli(&[
        "invitations",
        "add",
        "ada@contoso.com",
        "--claim",
        "department=Ops",
        "--claim",
        "app_roles[]=Pilot;Dispatcher",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let event = token_event(Some("ada@contoso.com"), APP);
    let (_, _, answer) = app.event(TOKEN, &event).await;
    assert_eq!(
        answer,
        provides(json!({"department": "Ops", "app_roles": ["Pilot", "Dispatcher"]}))
    );
    let b2c = json!({"email": "ada@contoso.com", "step": "PreTokenIssuance", "client_id": APP});
    let (status, _, answer) =
        crate::helpers::json_answer(app.sign_up(&b2c.to_string()).await).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"version": "1.0.0", "action": "Continue", "department": "Ops", "app_roles": "Pilot,Dispatcher"})
        )
    );

    azurite.stop();
    let (status, _, answer) = app.event(TOKEN, &event).await;
    assert_eq!(
        (status, answer),
        (
            503,
            json!({"error": "store_unavailable", "message": "The invitation store could not be read; no token is issued without its claims."})
        )
    );
    // One log line says why, once (not once by the store and again by the function).
    app.logs_containing("failing the token (not issued without its claims)")
        .await;
    let logs = app
        .logs_containing("decision function=OnTokenIssuanceStart outcome=Unavailable")
        .await;
    assert_eq!(
        logs.matches(
            "(looking up a***@contoso.com); failing the token (not issued without its claims)"
        )
        .count(),
        1,
        "{logs}"
    );
    let response = app.sign_up(&b2c.to_string()).await;
    assert_eq!(response.status().as_u16(), 503);

    // A store that hangs: the decision deadline, then the same 503, and a decision line that
    // Entra's sign-in log can be joined on.
    let hole = crate::table_store::black_hole().await;
    let hung = azurite
        .connection_string()
        .replace(&format!(":{}/", azurite.port), &format!(":{hole}/"));
    let app = Launch::hosted(&[
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", &hung),
        ("DECISION_DEADLINE_MS", "300"),
        ("ALLOWED_EMAIL_DOMAINS", ""),
    ])
    .start()
    .await;
    let (status, _, answer) = app.event(TOKEN, &event).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "store_unavailable");
    let logs = app
        .logs_containing_all(&[
            "entra_correlation_id=0f9e8d7c-6b5a-4321-9876-543210fedcba",
            "the invitation store did not answer within 300 ms (looking up a***@contoso.com); failing the token",
        ])
        .await;
    assert!(!logs.contains("answering with a block"), "{logs}");
    let line = logs
        .lines()
        .find(|line| line.contains("decision function=OnTokenIssuanceStart"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(
        line.contains("outcome=Unavailable reason=store_unavailable email=a***@contoso.com"),
        "{line}"
    );
}

/// B2C's token step: Continue with the invitation's claims as top-level keys; a list claim
/// becomes its items joined by commas; no invitation, no claims.
#[tokio::test]
async fn b2c_token_step_continues_with_the_invitation_claims() {
    let app = invited().await;
    for (body, expected) in [
        (
            json!({"email": "ada@contoso.com", "step": "PreTokenIssuance"}),
            json!({"version": "1.0.0", "action": "Continue", "department": "Ops", "app_roles": "Pilot,Dispatcher"}),
        ),
        (
            json!({"email": "grace@contoso.com", "step": "PreTokenApplicationClaims", "clientId": APP}),
            json!({"version": "1.0.0", "action": "Continue", "department": "Research"}),
        ),
        (
            json!({"email": "grace@contoso.com", "step": "PreTokenIssuance", "client_id": OTHER_APP}),
            json!({"version": "1.0.0", "action": "Continue"}),
        ),
        (
            json!({"email": "old@contoso.com", "step": "PreTokenIssuance"}),
            json!({"version": "1.0.0", "action": "Continue", "department": "Archive", "app_roles": "Keeper"}),
        ),
        (
            json!({"email": "stranger@contoso.com", "step": "PreTokenIssuance"}),
            json!({"version": "1.0.0", "action": "Continue"}),
        ),
    ] {
        let answer = crate::helpers::json_answer(app.sign_up(&body.to_string()).await).await;
        assert_eq!(
            answer,
            (200, "application/json".to_owned(), expected),
            "{body}"
        );
    }
    // Claims are not attributes: never prefilled.
    let answer = crate::helpers::json_answer(
        app.sign_up(
            &json!({"email": "ada@contoso.com", "step": "PostFederationSignup"}).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(
        answer.2,
        json!({"version": "1.0.0", "action": "Continue", "displayName": "Ada"})
    );
    // Nor in Entra's attribute page.
    let path = format!(
        "{}/tests/fixtures/start_documented.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut start: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    start["data"]["userSignUpInfo"]["identities"][0]["issuerAssignedId"] = json!("ada@contoso.com");
    let (status, _, answer) = app.event("OnAttributeCollectionStart", &start).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["data"]["actions"][0]["inputs"],
        json!({"displayName": "Ada"}),
        "{answer}"
    );
}

/// A claim named like one of the answer's own keys (`action`, `version`, in any case) cannot
/// be a top-level key of B2C's answer: it is left out there, with a warning, and never gives
/// the answer a second `action`; Entra's token still gets it.
#[tokio::test]
async fn claims_named_like_the_answers_own_keys_never_corrupt_b2cs_answer() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "")])
        .invitations("email,application_id,expires_at,claim:action,claim:Version,claim:department\nada@contoso.com,,,Block,2.0,Ops\n")
        .start()
        .await;
    let response = app
        .sign_up(&json!({"email": "ada@contoso.com", "step": "PreTokenIssuance"}).to_string())
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert_eq!(
        body, r#"{"version":"1.0.0","action":"Continue","department":"Ops"}"#,
        "{body}"
    );
    app.logs_containing("left action out of the answer").await;
    app.logs_containing("left Version out of the answer").await;
    let logs = app
        .logs_containing("decision function=SignUpValidation")
        .await;
    // The decision line names the claims B2C was given, not those left out.
    let line = logs
        .lines()
        .find(|line| line.contains("decision function=SignUpValidation"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains(" claims=department "), "{line}");
    let (status, _, answer) = app
        .event(TOKEN, &token_event(Some("ada@contoso.com"), APP))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        provides(json!({"action": "Block", "Version": "2.0", "department": "Ops"}))
    );
}

/// Claims in the CLI: written, listed, imported, and checked (names the platform would refuse,
/// more than 3 KB together).
#[tokio::test]
async fn the_cli_writes_lists_and_checks_claims() {
    let app = Launch::hosted(&[])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    let run = |args: &[&str]| {
        let output = app.cli(args);
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let (code, _, stderr) = run(&[
        "invitations",
        "add",
        "ada@contoso.com",
        "--set",
        "displayName=Ada",
        "--claim",
        "department=Ops",
        "--claim",
        "app_roles[]=Pilot; Dispatcher",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        crate::helpers::without_ids(
            &std::fs::read_to_string(app.dir().join("invitations.csv")).unwrap()
        ),
        "email,application_id,expires_at,id,displayName,claim:department,claim:app_roles[]\n\
         ada@contoso.com,,,inv_*,Ada,Ops,Pilot;Dispatcher\n"
    );
    let (_, stdout, _) = run(&["invitations", "list"]);
    assert_eq!(
        crate::helpers::without_ids(&stdout),
        "ada@contoso.com  inv_*  pending  app: any  expires: never  displayName=Ada  claims: department=Ops, app_roles[]=Pilot;Dispatcher\n\
         1 invitation(s) in invitations.csv\n"
    );
    let (_, stdout, _) = run(&["invitations", "list", "--json"]);
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        listed[0]["claims"],
        json!({"department": "Ops", "app_roles": ["Pilot", "Dispatcher"]})
    );
    std::fs::write(
        app.dir().join("more.csv"),
        "email,application_id,expires_at,claim:team[]\nbob@contoso.com,,,Blue;Green\n",
    )
    .unwrap();
    let (code, stdout, _) = run(&["invitations", "import", "more.csv"]);
    assert_eq!(
        (code, stdout.as_str()),
        (
            0,
            "imported more.csv into invitations.csv: 1 added, 0 updated, 0 unchanged, 0 invalid\n"
        )
    );
    let big = format!("notes={}", "x".repeat(3100));
    for (args, message) in [
        (
            vec!["--claim", "tid=x"],
            "error: tid is a claim the platform sets itself or will not take from an extension; an invitation cannot give it (for application roles use another name, such as app_roles)\n",
        ),
        (
            vec!["--claim", "two words=x"],
            "error: \"two words\" is not a claim name (1 to 100 letters, digits, '_', '-' or '.', starting with a letter)\n",
        ),
        (
            vec!["--claim", "app_roles[]= ; "],
            "error: claim app_roles has no value\n",
        ),
        (
            vec!["--claim", "a=1", "--claim", "A=2"],
            "error: claim A is given twice (names are compared in any case)\n",
        ),
        (
            vec!["--claim", big.as_str()],
            "error: the invitation's claims take 3112 bytes as JSON; a token takes at most 3072\n",
        ),
    ] {
        let mut command = vec!["invitations", "add", "carol@contoso.com"];
        command.extend(args.iter().copied());
        let (code, _, stderr) = run(&command);
        assert_eq!((code, stderr.as_str()), (2, message), "{}", args[1].len());
    }
    // A file with a claim column the platform would refuse does not load.
    std::fs::write(
        app.dir().join("bad.csv"),
        "email,application_id,expires_at,claim:oid\nada@contoso.com,,,x\n",
    )
    .unwrap();
    let (code, _, stderr) = run(&["invitations", "--file", "bad.csv", "list"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "bad.csv: line 1: column \"claim:oid\": oid is a claim the platform sets itself"
        ),
        "{stderr}"
    );
    // Nor does a row whose claims take more than 3 KB.
    std::fs::write(
        app.dir().join("big.csv"),
        format!(
            "email,application_id,expires_at,claim:notes\nada@contoso.com,,,{}\n",
            "x".repeat(3100)
        ),
    )
    .unwrap();
    let (code, _, stderr) = run(&["invitations", "--file", "big.csv", "list"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("big.csv: line 2:") && stderr.contains("a token takes at most 3072"),
        "{stderr}"
    );
}
