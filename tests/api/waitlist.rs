//! The waitlist, against Azurite: an address refused only for want of an invitation is recorded
//! as a request (once, updated on repeats) and told so; deny-listed and spent invitations are
//! not; the caps, the store down, approve and deny, exports, and the file refusing a waitlist.

use serde_json::{Value, json};

use crate::codes::{action, cli, entra};
use crate::helpers::{Azurite, Launch, TestApp};

const START: &str = "OnAttributeCollectionStart";
const RECEIVED: &str =
    "Your request to join Contoso has been received. You can sign up once it is approved.";

async fn waitlist_app(azurite: &Azurite, extra: &[(&str, &str)]) -> TestApp {
    let connection = azurite.connection_string();
    let mut settings = vec![
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("BLOCKED_EMAIL_DOMAINS", "blocked.example"),
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", connection.as_str()),
        ("WAITLIST", "true"),
    ];
    settings.extend_from_slice(extra);
    let app = Launch::hosted(&settings).start().await;
    // The invitations' table exists (the CLI creates it): lookups answer.
    let (status, _, stderr) = cli(&app, &["invitations", "add", "someone@invited.example"]);
    assert_eq!(status, 0, "{stderr}");
    app
}

/// A Start event of `email` with the names Entra sent, in `locale`.
fn start(email: &str, name: Option<&str>, locale: &str, correlation: &str) -> Value {
    let mut body = entra("Start", Some(email), None, correlation);
    let attributes = &mut body["data"]["userSignUpInfo"]["attributes"];
    match name {
        Some(name) => attributes["displayName"]["value"] = json!(name),
        None => {
            attributes.as_object_mut().unwrap().remove("displayName");
        }
    }
    body["data"]["authenticationContext"]["client"]["locale"] = json!(locale);
    body
}

fn requests(app: &TestApp) -> Vec<Value> {
    let (status, stdout, stderr) = cli(app, &["invitations", "requests", "--json"]);
    assert_eq!(status, 0, "{stderr}");
    serde_json::from_str::<Value>(&stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

async fn message(app: &TestApp, body: &Value) -> (String, String) {
    let (_, _, answer) = app.event(START, body).await;
    let (name, action) = action(&answer);
    (
        name,
        action["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_request_is_recorded_once_updated_on_repeats_and_said_in_the_users_language() {
    let azurite = Azurite::start().await;
    let app = waitlist_app(&azurite, &[]).await;
    let first = start("Ada@Elsewhere.example", None, "en-us", "w-1");
    assert_eq!(
        message(&app, &first).await,
        ("showBlockPage".to_owned(), RECEIVED.to_owned())
    );
    app.logs_containing("reason=waitlisted email=a***@elsewhere.example")
        .await;
    let again = start(
        "ada@elsewhere.example",
        Some("Ada Lovelace"),
        "de-de",
        "w-2",
    );
    let (_, said) = message(&app, &again).await;
    assert_eq!(
        said,
        "Ihre Anfrage, Contoso beizutreten, ist eingegangen. Sie können sich registrieren, sobald sie genehmigt wurde."
    );
    let listed = requests(&app);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let request = &listed[0];
    assert_eq!(request["email"], "ada@elsewhere.example");
    assert_eq!(request["count"], 2);
    assert_eq!(request["display_name"], "Ada Lovelace");
    assert_eq!(request["locale"], "de-de");
    assert_eq!(request["entra_correlation_id"], "w-2");
    assert_eq!(
        request["application_id"],
        "44445555-eeee-6666-ffff-7777aaaa8888"
    );
    assert!(request["first_at"].as_str() <= request["last_at"].as_str());
    // In French and Japanese too.
    for (locale, expected) in [
        (
            "fr-fr",
            "Votre demande pour rejoindre Contoso a bien été reçue. Vous pourrez vous inscrire dès qu'elle aura été approuvée.",
        ),
        (
            "ja-jp",
            "Contoso への参加リクエストを受け付けました。承認されると登録できるようになります。",
        ),
    ] {
        let (_, said) = message(&app, &start("bob@elsewhere.example", None, locale, "w-3")).await;
        assert_eq!(said, expected, "{locale}");
    }
    // Values from strangers are capped and escaped when shown.
    let long = format!("Mallory\u{202e}{}", "x".repeat(400));
    message(
        &app,
        &start("mallory@elsewhere.example", Some(&long), "en", "w-4"),
    )
    .await;
    let (_, stdout, _) = cli(&app, &["invitations", "requests"]);
    assert!(stdout.contains("name: Mallory\\u{202e}xxx"), "{stdout}");
    let mallory = requests(&app)
        .into_iter()
        .find(|r| r["email"] == "mallory@elsewhere.example")
        .unwrap();
    assert_eq!(
        mallory["display_name"].as_str().unwrap().chars().count(),
        250
    );

    // Without the waitlist, nothing is recorded.
    let off = waitlist_app(
        &azurite,
        &[
            ("WAITLIST", "false"),
            ("INVITATION_REQUESTS_TABLE", "Other"),
        ],
    )
    .await;
    let (name, said) = message(&off, &start("carol@elsewhere.example", None, "en", "w-5")).await;
    assert_eq!(name, "showBlockPage");
    assert_ne!(said, RECEIVED);
    assert!(requests(&off).is_empty());
}

#[tokio::test]
async fn deny_listed_addresses_and_spent_invitations_are_refused_and_not_recorded() {
    let azurite = Azurite::start().await;
    let app = waitlist_app(
        &azurite,
        &[
            ("BLOCK_DISPOSABLE_DOMAINS", "true"),
            ("BLOCK_SUBADDRESSES", "true"),
        ],
    )
    .await;
    for args in [
        vec!["old@elsewhere.example", "--expires", "2001-01-01"],
        vec!["gone@elsewhere.example"],
    ] {
        let mut all = vec!["invitations", "add"];
        all.extend(args);
        assert_eq!(cli(&app, &all).0, 0);
    }
    assert_eq!(
        cli(&app, &["invitations", "revoke", "gone@elsewhere.example"]).0,
        0
    );
    for (email, reason) in [
        ("x@blocked.example", "domain_blocked"),
        ("x@mailinator.com", "disposable_domain"),
        ("x+shop@elsewhere.example", "subaddress_blocked"),
        ("old@elsewhere.example", "invitation_expired"),
        ("gone@elsewhere.example", "invitation_revoked"),
    ] {
        let (name, said) = message(&app, &start(email, None, "en", "d-1")).await;
        assert_eq!(name, "showBlockPage", "{email}");
        assert_ne!(said, RECEIVED, "{email}");
        app.logs_containing(&format!("reason={reason}")).await;
    }
    assert!(requests(&app).is_empty());
}

#[tokio::test]
async fn approve_invites_and_deny_refuses_without_recording_again() {
    let azurite = Azurite::start().await;
    let app = waitlist_app(&azurite, &[("INVITATION_DEFAULT_DAYS", "7")]).await;
    for email in [
        "ada@elsewhere.example",
        "bob@elsewhere.example",
        "eve@team.example",
        "dan@team.example",
    ] {
        assert_eq!(
            message(&app, &start(email, None, "en", "a-1")).await.1,
            RECEIVED
        );
    }
    let (status, stdout, stderr) = cli(&app, &["invitations", "approve", "ada@elsewhere.example"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("approved ada@elsewhere.example (app: 44445555-eeee-6666-ffff-7777aaaa8888): invitation inv_"), "{stdout}");
    assert!(
        stdout.ends_with("notify: ada@elsewhere.example\n"),
        "{stdout}"
    );
    let (name, _) = message(&app, &start("ada@elsewhere.example", None, "en", "a-2")).await;
    assert_eq!(
        name, "continueWithDefaultBehavior",
        "the next sign-up is admitted"
    );
    let (_, listed, _) = cli(&app, &["invitations", "list", "--json"]);
    let invitations: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        invitations[0]["application_id"],
        "44445555-eeee-6666-ffff-7777aaaa8888"
    );
    assert!(
        invitations[0]["expires_at"].is_string(),
        "the default days apply"
    );

    // A whole domain at once.
    let (status, stdout, _) = cli(
        &app,
        &[
            "invitations",
            "approve",
            "--all",
            "--domain",
            "team.example",
        ],
    );
    assert_eq!(status, 0);
    assert!(
        stdout.contains("notify: ")
            && stdout.contains("eve@team.example")
            && stdout.contains("dan@team.example"),
        "{stdout}"
    );

    let (status, stdout, _) = cli(&app, &["invitations", "deny", "bob@elsewhere.example"]);
    assert_eq!(
        (status, stdout.as_str()),
        (0, "denied 1 request(s) of bob@elsewhere.example\n")
    );
    let (name, said) = message(&app, &start("bob@elsewhere.example", None, "en", "a-3")).await;
    assert_eq!(name, "showBlockPage");
    assert_ne!(
        said, RECEIVED,
        "a denied address is answered as not invited"
    );
    assert!(requests(&app).is_empty(), "and not recorded again");
    let (status, _, stderr) = cli(&app, &["invitations", "deny", "nobody@elsewhere.example"]);
    assert_eq!(status, 1, "{stderr}");
}

#[tokio::test]
async fn the_caps_refuse_as_without_a_waitlist_and_say_so() {
    let azurite = Azurite::start().await;
    let app = waitlist_app(
        &azurite,
        &[("WAITLIST_MAX_PER_DOMAIN", "2"), ("WAITLIST_MAX", "3")],
    )
    .await;
    for email in ["a@one.example", "b@one.example"] {
        assert_eq!(
            message(&app, &start(email, None, "en", "c-1")).await.1,
            RECEIVED
        );
    }
    let (name, said) = message(&app, &start("c@one.example", None, "en", "c-2")).await;
    assert_eq!(name, "showBlockPage");
    assert_ne!(said, RECEIVED);
    app.logs_containing("the waitlist is full (WAITLIST_MAX_PER_DOMAIN=2 for one.example)")
        .await;
    // A repeat of a recorded address is no new request: still received.
    assert_eq!(
        message(&app, &start("a@one.example", None, "en", "c-3"))
            .await
            .1,
        RECEIVED
    );
    assert_eq!(
        message(&app, &start("d@two.example", None, "en", "c-4"))
            .await
            .1,
        RECEIVED
    );
    let (_, said) = message(&app, &start("e@three.example", None, "en", "c-5")).await;
    assert_ne!(said, RECEIVED, "the application's cap");
    assert_eq!(requests(&app).len(), 3);
}

#[tokio::test]
async fn a_store_that_cannot_record_in_time_never_says_received() {
    let mut azurite = Azurite::start().await;
    // A stopped store refuses connections at once; the long deadline only keeps the first,
    // answered, request from missing it on a machine busy with other tests.
    let app = waitlist_app(&azurite, &[("DECISION_DEADLINE_MS", "10000")]).await;
    assert_eq!(
        message(&app, &start("a@elsewhere.example", None, "en", "s-1"))
            .await
            .1,
        RECEIVED
    );
    azurite.stop();
    let (name, said) = message(&app, &start("b@elsewhere.example", None, "en", "s-2")).await;
    assert_eq!(name, "showBlockPage");
    assert_eq!(
        said,
        "We cannot check your invitation right now. Please try again in a few minutes."
    );

    let hole = crate::table_store::black_hole().await;
    let hung = azurite
        .connection_string()
        .replace(&format!(":{}/", azurite.port), &format!(":{hole}/"));
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", &hung),
        ("WAITLIST", "true"),
        ("DECISION_DEADLINE_MS", "300"),
    ])
    .start()
    .await;
    let (_, said) = message(&app, &start("c@elsewhere.example", None, "en", "s-3")).await;
    assert_ne!(said, RECEIVED);
}

#[test]
fn the_invitation_file_cannot_keep_a_waitlist_and_start_up_says_so() {
    let launch =
        Launch::hosted(&[("WAITLIST", "true")]).invitations("email,application_id,expires_at\n");
    let (status, output) = launch.run_to_exit();
    assert_eq!(status.code(), Some(78), "{}", output.all());
    assert!(
        output.stderr().contains(
            "configuration error: WAITLIST is on but INVITATION_STORE is not table: the function app's files are \
             read-only in Azure, so waitlist requests can only be recorded in a table; set INVITATION_STORE=table"
        ),
        "{}",
        output.all()
    );
}

#[tokio::test]
async fn requests_travel_in_exports_and_a_csv_cell_is_never_a_formula() {
    let azurite = Azurite::start().await;
    let app = waitlist_app(&azurite, &[]).await;
    let formula = "=HYPERLINK(\"http://evil.example\")";
    message(
        &app,
        &start("ada@elsewhere.example", Some(formula), "en", "e-1"),
    )
    .await;
    message(
        &app,
        &start("bob@elsewhere.example", Some("-1+2"), "en", "e-2"),
    )
    .await;
    let (status, csv, stderr) = cli(&app, &["invitations", "export", "--requests"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "{csv}"
    );
    assert!(csv.contains(",'-1+2,"), "{csv}");
    let (_, json, _) = cli(&app, &["invitations", "export", "--format", "json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&json)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["kind"] == "request")
            .count(),
        2
    );
    // Into another waitlist table, from the CSV: the names come back as typed.
    std::fs::write(app.dir().join("requests.csv"), &csv).unwrap();
    let copy = [("INVITATION_REQUESTS_TABLE", "RequestsCopy")];
    let output = app.cli_with(&["invitations", "import", "requests.csv"], &copy);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = app.cli_with(&["invitations", "requests", "--json"], &copy);
    let copied: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = copied
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["display_name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&formula) && names.contains(&"-1+2"),
        "{copied}"
    );
    // `requests remove` deletes one.
    let (status, stdout, _) = cli(
        &app,
        &["invitations", "requests", "remove", "ada@elsewhere.example"],
    );
    assert_eq!(
        (status, stdout.as_str()),
        (0, "removed 1 request(s) of ada@elsewhere.example\n")
    );
    assert_eq!(requests(&app).len(), 1);
}

/// Requests are personal data: the server deletes open ones not repeated for
/// WAITLIST_RETENTION_DAYS and denials past WAITLIST_DENY_DAYS (at start-up, then daily).
#[tokio::test]
async fn requests_past_their_days_are_deleted() {
    let azurite = Azurite::start().await;
    let app = waitlist_app(&azurite, &[]).await;
    std::fs::write(
        app.dir().join("old.csv"),
        "email,application_id,first_at,last_at,count,display_name,given_name,surname,locale,entra_correlation_id,status,denied_at\n\
         old@elsewhere.example,,2001-01-01T00:00:00Z,2001-01-02T00:00:00Z,3,Old,,,,,open,\n\
         denied@elsewhere.example,,2001-01-01T00:00:00Z,2001-01-01T00:00:00Z,1,,,,,,denied,2001-01-01T00:00:00Z\n\
         new@elsewhere.example,,2999-01-01T00:00:00Z,2999-01-01T00:00:00Z,1,,,,,,open,\n",
    )
    .unwrap();
    let (status, _, stderr) = cli(&app, &["invitations", "import", "old.csv"]);
    assert_eq!(status, 0, "{stderr}");
    let connection = azurite.connection_string();
    let restarted = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", connection.as_str()),
        ("WAITLIST", "true"),
    ])
    .start()
    .await;
    restarted
        .logs_containing("waitlist: deleted 2 request(s) past their days")
        .await;
    let left: Vec<String> = requests(&app)
        .iter()
        .map(|r| r["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left, ["new@elsewhere.example"]);
}
