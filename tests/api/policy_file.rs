//! The policy file: per-application rules and messages, deny-lists, and its reload.

use serde_json::{Value, json};
use signup_gate::messages::{Args, Text};

use crate::helpers::{Launch, TestApp, json_answer};

const PILOTS: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const SHOP: &str = "93fd07aa-0000-0000-0000-000000000000";

const POLICY: &str = r#"
# Contoso's sign-up rules.
[default]
allowed_domains = ["fabrikam.com", "*.contoso.com"]
blocked_domains = ["gmail.com", "shared.contoso.com"]
blocked_local_parts = ["admin", "noreply"]

[applications."44445555-EEEE-6666-FFFF-7777AAAA8888"]
organization_name = { default = "Contoso Pilots", fr = "Pilotes de Contoso" }
allowed_domains = []
require_job_title = true

[applications."44445555-EEEE-6666-FFFF-7777AAAA8888".messages]
block_page_title = { default = "Pilots only", de = "Nur für Piloten" }
"#;

const INVITED: &str = "email,application_id,expires_at\nada@gmail.com,,\nadmin@fabrikam.com,,\n";

async fn with_policy(policy: &str) -> TestApp {
    let launch = Launch::hosted(&[("POLICY_FILE", "policy.toml")]).invitations(INVITED);
    std::fs::write(launch.dir.join("policy.toml"), policy).unwrap();
    launch.start().await
}

/// The connector's answer: the action and, for a block, its message.
async fn connector(app: &TestApp, body: Value) -> (String, Option<String>) {
    let (_, _, answer) = json_answer(app.sign_up(&body.to_string()).await).await;
    (
        answer["action"].as_str().unwrap().to_owned(),
        answer["userMessage"].as_str().map(str::to_owned),
    )
}

fn sign_up(email: &str, client_id: Option<&str>) -> Value {
    let mut body = json!({"email": email, "step": "PostFederationSignup"});
    if let Some(client_id) = client_id {
        body["client_id"] = Value::from(client_id);
    }
    body
}

fn say(code: &str, text: Text, organization: &str, domains: &str) -> String {
    signup_gate::messages::Catalog::built_in()
        .from_code(code)
        .unwrap()
        .say(
            text,
            &Args {
                organization,
                domains,
                min: 4,
                max: 128,
            },
        )
}

/// A blocked domain or local part overrides the allow-list; an invitation for that exact
/// address still admits.
#[tokio::test]
async fn deny_lists_override_the_allow_list_but_not_an_invitation() {
    let app = with_policy(POLICY).await;
    let blocked = Some(say("en", Text::AddressBlocked, "Contoso", ""));
    for (email, expected) in [
        ("bob@fabrikam.com", ("Continue", None)),
        ("bob@eu.contoso.com", ("Continue", None)),
        ("bob@shared.contoso.com", ("ShowBlockPage", blocked.clone())),
        ("bob@gmail.com", ("ShowBlockPage", blocked.clone())),
        ("noreply@fabrikam.com", ("ShowBlockPage", blocked.clone())),
        (
            "Admin+it@eu.contoso.com",
            ("ShowBlockPage", blocked.clone()),
        ),
        // Invited exactly: an administrator chose that person.
        ("ada@gmail.com", ("Continue", None)),
        ("admin@fabrikam.com", ("Continue", None)),
    ] {
        let (action, message) = connector(&app, sign_up(email, None)).await;
        assert_eq!(
            (action.as_str(), message),
            (expected.0, expected.1),
            "{email}"
        );
    }
    app.logs_containing_all(&[
        "reason=local_part_blocked",
        "reason=domain_blocked email=b***@gmail.com",
        "reason=invitation email=a***@gmail.com",
    ])
    .await;
}

/// A quoted or escaped local part, a sub-address or a trailing dot hides nothing from the
/// deny-lists: they match the mailbox a mail server delivers to (docs/policy.md).
#[tokio::test]
async fn quoting_escapes_tags_and_trailing_dots_do_not_get_past_the_deny_lists() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", "*"),
        ("BLOCKED_EMAIL_DOMAINS", "gmail.com"),
        ("BLOCKED_LOCAL_PARTS", "admin,info"),
    ])
    .start()
    .await;
    for email in [
        "\"admin\"@fabrikam.com",
        "\"admin+x\"@fabrikam.com",
        "\"ad\\min\"@fabrikam.com",
        "\"info\"@fabrikam.com",
        "\"INFO\"@fabrikam.com",
        "Admin+sales@fabrikam.com",
        "bob@gmail.com.",
        "bob@GMAIL.com.",
    ] {
        let body = json!({"email": email, "step": "PostFederationSignup"});
        let answer = connector(&app, body).await.0;
        assert_eq!(answer, "ShowBlockPage", "{email}");
        let event = entra_start(email, None, "en-us");
        let (_, _, answer) = app.event("OnAttributeCollectionStart", &event).await;
        assert_eq!(
            answer["data"]["actions"][0]["@odata.type"],
            "microsoft.graph.attributeCollectionStart.showBlockPage",
            "{email}"
        );
    }
    for email in ["\"ad.min\"@fabrikam.com", "administrator@fabrikam.com"] {
        let body = json!({"email": email, "step": "PostFederationSignup"});
        assert_eq!(connector(&app, body).await.0, "Continue", "{email}");
    }
}

/// The same lists from the environment, for the single-application case.
#[tokio::test]
async fn deny_lists_from_the_environment() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", "*"),
        ("BLOCKED_EMAIL_DOMAINS", "gmail.com,*.mail.example"),
        ("BLOCKED_LOCAL_PARTS", "info"),
    ])
    .invitations(INVITED)
    .start()
    .await;
    for (email, action) in [
        ("bob@anything.example", "Continue"),
        ("bob@gmail.com", "ShowBlockPage"),
        ("bob@eu.mail.example", "ShowBlockPage"),
        ("bob@mail.example", "Continue"),
        ("info@anything.example", "ShowBlockPage"),
        ("ada@gmail.com", "Continue"),
    ] {
        assert_eq!(
            connector(&app, sign_up(email, None)).await.0,
            action,
            "{email}"
        );
    }
    // Entra's block page for a blocked address: the block page title, the blocked message.
    let event = entra_start("bob@gmail.com", None, "de-de");
    let (_, _, answer) = app.event("OnAttributeCollectionStart", &event).await;
    assert_eq!(
        answer["data"]["actions"][0]["message"],
        say("de", Text::AddressBlocked, "Contoso", "")
    );
}

fn entra_start(email: &str, app: Option<&str>, locale: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/start_documented.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    *event
        .pointer_mut("/data/userSignUpInfo/identities/0/issuerAssignedId")
        .unwrap() = Value::from(email);
    *event
        .pointer_mut("/data/authenticationContext/client/locale")
        .unwrap() = Value::from(locale);
    let principal = event
        .pointer_mut("/data/authenticationContext/clientServicePrincipal")
        .unwrap();
    match app {
        Some(app) => principal["appId"] = Value::from(app),
        None => {
            principal.as_object_mut().unwrap().remove("appId");
        }
    }
    event
}

/// An application's section decides for that application (its id in any case, from B2C's
/// `client_id` / `clientId` or Entra's `clientServicePrincipal.appId`); others get the default.
#[tokio::test]
async fn each_application_gets_its_own_rules_and_messages() {
    let app = with_policy(POLICY).await;
    // Pilots: invitation only, its own organization name.
    let (action, message) = connector(&app, sign_up("bob@fabrikam.com", Some(PILOTS))).await;
    assert_eq!(
        (action.as_str(), message),
        (
            "ShowBlockPage",
            Some(say("en", Text::InvitationRequired, "Contoso Pilots", ""))
        )
    );
    let mut french = sign_up("bob@fabrikam.com", None);
    french["clientId"] = Value::from(PILOTS.to_uppercase());
    french["ui_locales"] = Value::from("fr-FR");
    assert_eq!(
        connector(&app, french).await.1,
        Some(say(
            "fr",
            Text::InvitationRequired,
            "Pilotes de Contoso",
            ""
        ))
    );
    // Another application, or none: the default section.
    for client_id in [Some(SHOP), None] {
        assert_eq!(
            connector(&app, sign_up("bob@fabrikam.com", client_id))
                .await
                .0,
            "Continue"
        );
    }
    // Pilots require a Job Title after the page.
    let submit =
        json!({"email": "ada@gmail.com", "step": "PostAttributeCollection", "client_id": PILOTS});
    let (_, _, answer) = json_answer(app.sign_up(&submit.to_string()).await).await;
    assert_eq!(answer["action"], "ValidationError");
    // Entra: the application's block page title, in the user's language where given.
    for (locale, title) in [("de-de", "Nur für Piloten"), ("ja-jp", "Pilots only")] {
        let (_, _, answer) = app
            .event(
                "OnAttributeCollectionStart",
                &entra_start("bob@fabrikam.com", Some(PILOTS), locale),
            )
            .await;
        assert_eq!(answer["data"]["actions"][0]["title"], title, "{locale}");
    }
    let (_, _, answer) = app
        .event(
            "OnAttributeCollectionStart",
            &entra_start("bob@contoso.com", Some(SHOP), "de-de"),
        )
        .await;
    assert_eq!(
        answer["data"]["actions"][0]["title"],
        say("de", Text::BlockPageTitle, "Contoso", "")
    );
    app.logs_containing_all(&[
        &format!("language=de policy={PILOTS}"),
        &format!(
            "decision function=SignUpValidation outcome=ShowBlockPage reason=domain_not_allowed email=b***@fabrikam.com step=PostFederationSignup language=en policy={PILOTS}"
        ),
        "language=de policy=default",
    ])
    .await;
    // The CLI says which application's rules decided.
    let output = app.cli(&[
        "invitations",
        "check",
        "bob@fabrikam.com",
        "--app",
        PILOTS,
        "--language",
        "fr",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!(
            "invitation: none in invitations.csv\npolicy: application {PILOTS} (policy.toml)\nallowed domains: []\n\
             blocked domains: [gmail.com, shared.contoso.com]\nblocked local parts: [admin, noreply]\n\
             blocked (domain_not_allowed): {}\n",
            say("fr", Text::InvitationRequired, "Pilotes de Contoso", "")
        )
    );
    let output = app.cli(&["invitations", "check", "bob@fabrikam.com"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .contains("\npolicy: default (policy.toml)\n")
    );
}

/// A bad edit keeps the last good policy and logs every problem with its line; a good edit is
/// picked up without a restart; a removed file keeps the last good policy too.
#[tokio::test]
async fn a_bad_edit_keeps_the_last_good_policy() {
    let app = with_policy(POLICY).await;
    let shared = || connector(&app, sign_up("bob@shared.contoso.com", None));
    assert_eq!(shared().await.0, "ShowBlockPage");
    let path = app.dir().join("policy.toml");
    std::fs::write(
        &path,
        POLICY
            .replace("blocked_domains = [", "blocked_domain = [")
            .replace("\"noreply\"]", "\"no reply\"]"),
    )
    .unwrap();
    app.logs_containing_all(&[
        "keeping the last good policy",
        "line 5: unknown key \"blocked_domain\"",
        "line 6: blocked_local_parts: entry 2 (\"no reply\")",
    ])
    .await;
    assert_eq!(shared().await.0, "ShowBlockPage");
    // A good edit takes effect.
    std::fs::write(&path, POLICY.replace(", \"shared.contoso.com\"", "")).unwrap();
    app.logs_containing("reloaded the policy file policy.toml: default rules and 1 application(s)")
        .await;
    assert_eq!(shared().await.0, "Continue");
    // Removing the file keeps the rules in force.
    std::fs::remove_file(&path).unwrap();
    app.logs_containing("policy file policy.toml cannot be read: No such file")
        .await;
    assert_eq!(shared().await.0, "Continue");
    assert_eq!(
        connector(&app, sign_up("bob@gmail.com", None)).await.1,
        Some(say("en", Text::AddressBlocked, "Contoso", ""))
    );
}

/// The server must not run on rules the operator did not write: a missing or bad file at
/// start-up is a configuration error naming every problem.
#[test]
fn a_missing_or_bad_policy_file_stops_start_up() {
    let missing = Launch::hosted(&[("POLICY_FILE", "policy.toml")]);
    let (status, output) = missing.run_to_exit();
    assert_eq!(status.code(), Some(78), "{}", output.all());
    assert!(
        output
            .all()
            .contains("configuration error: policy file policy.toml cannot be read: No such file"),
        "{}",
        output.all()
    );
    let bad = Launch::hosted(&[("POLICY_FILE", "policy.toml")]);
    std::fs::write(
        bad.dir.join("policy.toml"),
        "[default]\nrequire_job_title = \"yes\"\n[applications.pilots]\n",
    )
    .unwrap();
    let (status, output) = bad.run_to_exit();
    assert_eq!(status.code(), Some(78), "{}", output.all());
    assert!(
        output.all().contains("policy file policy.toml: line 2: require_job_title must be true or false; line 3: \"pilots\" is not an application id"),
        "{}",
        output.all()
    );
}
