//! An invitation's life: pending, accepted, expired, revoked, used up; single-use addresses;
//! default expiry; and export → import keeping every field, on both stores.

use serde_json::{Value, json};

use crate::codes::{action, add_code, cli, entra};
use crate::helpers::{Azurite, Launch, RECORDS, TestApp};

const SUBMIT: &str = "OnAttributeCollectionSubmit";
const START: &str = "OnAttributeCollectionStart";

async fn table_app(azurite: &Azurite, extra: &[(&str, &str)]) -> TestApp {
    let connection = azurite.connection_string();
    let mut settings = vec![
        ("RUST_LOG", RECORDS),
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", connection.as_str()),
    ];
    settings.extend_from_slice(extra);
    Launch::hosted(&settings).start().await
}

fn listed(app: &TestApp, args: &[&str]) -> Value {
    let mut all = vec!["invitations", "list", "--json"];
    all.extend_from_slice(args);
    let (status, stdout, stderr) = cli(app, &all);
    assert_eq!(status, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn status_of(app: &TestApp, email: &str) -> String {
    let listed = listed(app, &[]);
    listed
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["email"] == email)
        .unwrap_or_else(|| panic!("{email} in {listed}"))["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A single-use invitation admits one sign-up and Entra's retries of it; another sign-up with
/// the address is refused (`already_used`), at Start and at Submit.
#[tokio::test]
async fn a_single_use_invitation_admits_one_sign_up_and_its_retries() {
    let azurite = Azurite::start().await;
    let app = table_app(&azurite, &[]).await;
    let (status, _, stderr) = cli(
        &app,
        &["invitations", "add", "ada@contoso.com", "--single-use"],
    );
    assert_eq!(status, 0, "{stderr}");
    let submit = |correlation: &str| entra("Submit", Some("ada@contoso.com"), None, correlation);
    let (_, _, answer) = app.event(SUBMIT, &submit("first")).await;
    assert_eq!(action(&answer).0, "continueWithDefaultBehavior", "{answer}");
    let (_, _, answer) = app.event(SUBMIT, &submit("first")).await;
    assert_eq!(
        action(&answer).0,
        "continueWithDefaultBehavior",
        "a retry: {answer}"
    );
    let (_, _, answer) = app.event(SUBMIT, &submit("second")).await;
    assert_eq!(action(&answer).0, "showBlockPage", "{answer}");
    let (_, _, answer) = app
        .event(
            START,
            &entra("Start", Some("ada@contoso.com"), None, "third"),
        )
        .await;
    assert_eq!(action(&answer).0, "showBlockPage", "{answer}");
    app.logs_containing("reason=already_used").await;
    assert_eq!(status_of(&app, "ada@contoso.com"), "accepted");

    // The invitation file cannot count uses: it says so instead.
    let file = Launch::hosted(&[("INVITATION_SINGLE_USE", "true")])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    let (status, _, stderr) = cli(&file, &["invitations", "add", "bob@contoso.com"]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains("invitations.csv cannot count uses, so it holds no single-use invitations")
            && stderr.contains("or unset INVITATION_SINGLE_USE"),
        "{stderr}"
    );
}

/// pending → accepted (signed up) → revoked (no sign-ups, no claims); expired; used up; and
/// `list --status` picks one state.
#[tokio::test]
async fn each_status_follows_what_happened_to_the_invitation() {
    let azurite = Azurite::start().await;
    let app = table_app(&azurite, &[("INVITATION_CODE_ATTRIBUTE", "InvitationCode")]).await;
    for args in [
        vec!["ada@contoso.com", "--claim", "department=Ops"],
        vec!["old@contoso.com", "--expires", "2001-01-01"],
    ] {
        let mut all = vec!["invitations", "add"];
        all.extend(args);
        assert_eq!(cli(&app, &all).0, 0);
    }
    let (code_id, code) = add_code(&app, &[]);
    assert_eq!(status_of(&app, "ada@contoso.com"), "pending");
    assert_eq!(status_of(&app, "old@contoso.com"), "expired");

    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra("Submit", Some("ada@contoso.com"), None, "s-1"),
        )
        .await;
    assert_eq!(action(&answer).0, "continueWithDefaultBehavior");
    app.logs_containing("the sign-up of a***@contoso.com is on record")
        .await;
    assert_eq!(status_of(&app, "ada@contoso.com"), "accepted");
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra("Submit", Some("bob@elsewhere.example"), Some(&code), "s-2"),
        )
        .await;
    assert_eq!(action(&answer).0, "modifyAttributeValues");
    let pending = listed(&app, &["--status", "used-up"]);
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(pending[0]["id"], code_id);

    // Revoked: kept, but it admits no one and gives no claims.
    let (status, stdout, _) = cli(&app, &["invitations", "revoke", "ada@contoso.com"]);
    assert_eq!(status, 0);
    assert!(
        stdout.starts_with("revoked ada@contoso.com in table Invitations"),
        "{stdout}"
    );
    assert_eq!(status_of(&app, "ada@contoso.com"), "revoked");
    // (Start lets everyone not deny-listed on to the page where a code is typed; Submit decides.)
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra("Submit", Some("ada@contoso.com"), None, "s-3"),
        )
        .await;
    assert_eq!(action(&answer).0, "showBlockPage");
    app.logs_containing("reason=invitation_revoked").await;
    let token = json!({"type": "microsoft.graph.authenticationEvent.tokenIssuanceStart",
        "data": {"@odata.type": "microsoft.graph.onTokenIssuanceStartCalloutData",
                 "authenticationContext": {"correlationId": "t-1",
                     "clientServicePrincipal": {"appId": "44445555-eeee-6666-ffff-7777aaaa8888"},
                     "user": {"mail": "ada@contoso.com"}}}});
    let (_, _, answer) = app.event("OnTokenIssuanceStart", &token).await;
    assert_eq!(answer["data"]["actions"][0]["claims"], json!({}));
    app.logs_containing("reason=invitation_revoked email=a***@contoso.com claims=-")
        .await;
    let revoked = listed(&app, &["--status", "revoked"]);
    assert_eq!(revoked.as_array().unwrap().len(), 1);
    assert!(revoked[0]["revoked_at"].is_string());
    // `add` again reinstates it.
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    assert_eq!(status_of(&app, "ada@contoso.com"), "accepted");
    let (status, _, stderr) = cli(&app, &["invitations", "list", "--status", "gone"]);
    assert_eq!(status, 2);
    assert!(
        stderr.contains("one of pending, accepted, expired, revoked or used-up"),
        "{stderr}"
    );
}

/// INVITATION_DEFAULT_DAYS gives an expiry to invitations made without one; `--days` for one.
#[tokio::test]
async fn invitations_made_without_an_expiry_get_the_default_days() {
    let app = Launch::hosted(&[("INVITATION_DEFAULT_DAYS", "30")])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    let before = time::OffsetDateTime::now_utc();
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    assert_eq!(
        cli(
            &app,
            &["invitations", "add", "bob@contoso.com", "--days", "2"]
        )
        .0,
        0
    );
    assert_eq!(
        cli(
            &app,
            &[
                "invitations",
                "add",
                "eve@contoso.com",
                "--expires",
                "2999-01-01"
            ]
        )
        .0,
        0
    );
    let after = time::OffsetDateTime::now_utc();
    let listed = listed(&app, &[]);
    let text = |email: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["email"] == email)
            .unwrap()["expires_at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let expiry = |email: &str| {
        let text = text(email);
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| panic!("{text}"))
    };
    let within = |email: &str, days: i64| {
        let at = expiry(email);
        let span = time::Duration::days(days);
        // Whole seconds: the expiry is written without fractions.
        at >= (before + span).replace_nanosecond(0).unwrap() && at <= after + span
    };
    assert!(within("ada@contoso.com", 30), "{listed}");
    assert!(within("bob@contoso.com", 2), "{listed}");
    assert_eq!(text("eve@contoso.com"), "2999-01-01");
}

/// What `export` writes, `import` reads back with every field: into a fresh table from a table
/// (JSON and CSV), and into a fresh file from a file. Limited invitations cannot go into a
/// file, which says which.
#[tokio::test]
async fn export_then_import_keeps_every_field_on_both_stores() {
    let azurite = Azurite::start().await;
    let app = table_app(&azurite, &[("INVITATION_CODE_ATTRIBUTE", "InvitationCode")]).await;
    for args in [
        vec![
            "ada@contoso.com",
            "--set",
            "displayName=Ada",
            "--enforce",
            "extension_0a1b_Level:int=3",
            "--claim",
            "app_roles[]=Pilot;Dispatcher",
            "--app",
            "44445555-eeee-6666-ffff-7777aaaa8888",
        ],
        vec![
            "bob@contoso.com",
            "--single-use",
            "--expires",
            "2999-01-01T12:00:00Z",
        ],
        vec!["eve@contoso.com"],
    ] {
        let mut all = vec!["invitations", "add"];
        all.extend(args);
        let (status, _, stderr) = cli(&app, &all);
        assert_eq!(status, 0, "{stderr}");
    }
    let (code_id, code) = add_code(
        &app,
        &[
            "carol@elsewhere.example",
            "--uses",
            "3",
            "--claim",
            "team=Blue",
        ],
    );
    assert_eq!(
        cli(&app, &["invitations", "revoke", "eve@contoso.com"]).0,
        0
    );
    // Records the server writes: a claimed use, a sign-up.
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra("Submit", Some("bob@contoso.com"), None, "x-1"),
        )
        .await;
    assert_eq!(action(&answer).0, "continueWithDefaultBehavior");
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra(
                "Submit",
                Some("carol@elsewhere.example"),
                Some(&code),
                "x-2",
            ),
        )
        .await;
    assert_eq!(action(&answer).0, "modifyAttributeValues");
    app.logs_containing_all(&[
        "the sign-up of b***@contoso.com is on record",
        &format!("the sign-up of {code_id} is on record"),
    ])
    .await;

    let export = |app: &TestApp, env: &[(&str, &str)], format: &str| {
        let output = app.cli_with(&["invitations", "export", "--format", format], env);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let original = export(&app, &[], "json");
    let json: Value = serde_json::from_str(&original).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 4);
    assert!(!original.contains(&code) && !original.contains(&code.replace('-', "")));
    for (format, table) in [("json", "CopyJson"), ("csv", "CopyCsv")] {
        let path = app.dir().join(format!("export.{format}"));
        std::fs::write(&path, export(&app, &[], format)).unwrap();
        let into = [("INVITATIONS_TABLE", table)];
        let output = app.cli_with(&["invitations", "import", path.to_str().unwrap()], &into);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(export(&app, &into, "json"), original, "{format}");
    }
    // The code still works from the copy, with what it had used.
    let copy = table_app(
        &azurite,
        &[
            ("INVITATION_CODE_ATTRIBUTE", "InvitationCode"),
            ("INVITATIONS_TABLE", "CopyCsv"),
        ],
    )
    .await;
    let (_, _, answer) = copy
        .event(
            SUBMIT,
            &entra(
                "Submit",
                Some("carol@elsewhere.example"),
                Some(&code),
                "x-2",
            ),
        )
        .await;
    assert_eq!(
        action(&answer).0,
        "modifyAttributeValues",
        "the same sign-up keeps its use"
    );

    // Into a file: the limited ones are refused, named.
    let path = app.dir().join("export.json");
    let output = app.cli_with(
        &[
            "invitations",
            "import",
            path.to_str().unwrap(),
            "--file",
            "moved.csv",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the invitation file cannot count uses") && stderr.contains(&code_id),
        "{stderr}"
    );

    // A table holds a text attribute named like a column of the file's layout; a CSV export
    // cannot, says so (and what can) and writes nothing. It used to write the attribute as the
    // invitation's id column, a file nothing could read back.
    let (status, _, stderr) = cli(
        &app,
        &["invitations", "add", "zed@contoso.com", "--set", "id=7"],
    );
    assert_eq!(status, 0, "{stderr}");
    let (status, stdout, stderr) = cli(&app, &["invitations", "export", "--format", "csv"]);
    assert_eq!((status, stdout.as_str()), (2, ""), "{stderr}");
    assert!(
        stderr.contains("attribute id would be written as the column \"id\"")
            && stderr.contains("nothing was written (export --format json carries it"),
        "{stderr}"
    );

    // File to file: a file's export imports into another file unchanged.
    let file = Launch::hosted(&[])
        .invitations("email,application_id,expires_at,displayName,claim:department\nada@contoso.com,,2999-01-01,Ada,Ops\n")
        .start()
        .await;
    let (_, open_id_line, _) = cli(
        &file,
        &["invitations", "add", "--code", "--uses", "unlimited"],
    );
    assert!(open_id_line.contains("inv_"));
    assert_eq!(
        cli(&file, &["invitations", "revoke", "ada@contoso.com"]).0,
        0
    );
    let exported = export(&file, &[], "csv");
    std::fs::write(file.dir().join("export.csv"), &exported).unwrap();
    let (status, _, stderr) = cli(
        &file,
        &["invitations", "import", "export.csv", "--file", "copy.csv"],
    );
    assert_eq!(status, 0, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(file.dir().join("copy.csv")).unwrap(),
        exported
    );
}
