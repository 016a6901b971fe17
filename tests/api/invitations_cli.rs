//! `handler invitations ...` against the same file the running server reads.

use serde_json::{Value, json};

use crate::helpers::{Launch, TestApp, without_ids};

fn start_event(email: &str) -> Value {
    json!({"type": "microsoft.graph.authenticationEvent.attributeCollectionStart",
           "data": {"userSignUpInfo": {"identities": [{"signInType": "email", "issuerAssignedId": email}]}}})
}

/// The action type (`showBlockPage`, ...) of an event answer.
fn action_of(answer: &Value) -> &str {
    let action = answer["data"]["actions"][0]["@odata.type"]
        .as_str()
        .unwrap_or_default();
    action.rsplit('.').next().unwrap_or_default()
}

async fn action_for(app: &TestApp, email: &str) -> String {
    let (_, _, answer) = app
        .event("OnAttributeCollectionStart", &start_event(email))
        .await;
    action_of(&answer).to_owned()
}

/// Waits until the server (which reloads the file by itself) answers `expected` for `email`.
async fn wait_for_action(app: &TestApp, email: &str, expected: &str) {
    app.event_until(
        "OnAttributeCollectionStart",
        &start_event(email),
        |answer| action_of(answer) == expected,
    )
    .await;
}

fn run(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let output = app.cli(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_round_trips_through_the_file_the_server_reads() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "")])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    assert_eq!(action_for(&app, "ada@contoso.com").await, "showBlockPage");

    let (code, stdout, _) = run(
        &app,
        &[
            "invitations",
            "add",
            "Ada@Contoso.com",
            "--set",
            "displayName=Ada Lovelace",
            "--enforce",
            "jobTitle=Analyst",
        ],
    );
    assert_eq!(
        (code, stdout.as_str()),
        (0, "added ada@contoso.com in invitations.csv\n")
    );
    wait_for_action(&app, "ada@contoso.com", "setPrefillValues").await;

    let (code, stdout, _) = run(
        &app,
        &[
            "invitations",
            "add",
            "grace@contoso.com",
            "--app",
            "44445555-eeee-6666-ffff-7777aaaa8888",
            "--expires",
            "2999-12-31",
        ],
    );
    assert_eq!(
        (code, stdout.as_str()),
        (0, "added grace@contoso.com in invitations.csv\n")
    );
    let (code, stdout, _) = run(&app, &["invitations", "list", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(
        without_ids(&stdout).parse::<Value>().unwrap(),
        json!([
            {"id": "inv_*", "email": "ada@contoso.com", "code": false, "status": "pending",
             "application_id": null, "expires_at": null,
             "attributes": {"displayName": "Ada Lovelace"}, "enforced": {"jobTitle": "Analyst"},
             "claims": {}, "uses": "unlimited", "used": 0},
            {"id": "inv_*", "email": "grace@contoso.com", "code": false, "status": "pending",
             "application_id": "44445555-eeee-6666-ffff-7777aaaa8888",
             "expires_at": "2999-12-31", "attributes": {}, "enforced": {}, "claims": {},
             "uses": "unlimited", "used": 0}
        ])
    );
    let (code, stdout, _) = run(&app, &["invitations", "list"]);
    assert_eq!(code, 0);
    assert_eq!(
        without_ids(&stdout),
        "ada@contoso.com  inv_*  pending  app: any  expires: never  displayName=Ada Lovelace, !jobTitle=Analyst\n\
         grace@contoso.com  inv_*  pending  app: 44445555-eeee-6666-ffff-7777aaaa8888  expires: 2999-12-31\n\
         2 invitation(s) in invitations.csv\n"
    );
    assert_eq!(
        without_ids(&std::fs::read_to_string(app.dir().join("invitations.csv")).unwrap()),
        "email,application_id,expires_at,id,displayName,!jobTitle\n\
         ada@contoso.com,,,inv_*,Ada Lovelace,Analyst\n\
         grace@contoso.com,44445555-eeee-6666-ffff-7777aaaa8888,2999-12-31,inv_*,,\n"
    );

    let (code, stdout, _) = run(&app, &["invitations", "remove", "ADA@contoso.com"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "removed ada@contoso.com from invitations.csv\n")
    );
    wait_for_action(&app, "ada@contoso.com", "showBlockPage").await;
    let (code, _, stderr) = run(&app, &["invitations", "remove", "ada@contoso.com"]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "ada@contoso.com has no invitation in invitations.csv\n")
    );
}

#[tokio::test]
async fn import_merges_and_reports_every_row() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "")])
        .invitations("email,application_id,expires_at,displayName\nada@contoso.com,,,Ada\n")
        .start()
        .await;
    let source = app.dir().join("more.csv");
    std::fs::write(
        &source,
        "email,application_id,expires_at,!extension_0a1b2c_Team\n\
         bob@contoso.com,,,Blue\n\
         not-an-address,,,\n\
         ada@contoso.com,,2999-01-01,Red\n\
         bob@contoso.com,,,Green\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run(&app, &["invitations", "import", "more.csv"]);
    assert_eq!(code, 1, "invalid rows make the exit code 1");
    assert_eq!(
        stdout,
        "imported more.csv into invitations.csv: 1 added, 1 updated, 0 unchanged, 2 invalid\n"
    );
    assert_eq!(
        stderr,
        "more.csv: line 3: invalid e-mail address: the address has no '@'\n\
         more.csv: line 5: duplicate of the address on line 2\n"
    );
    wait_for_action(&app, "bob@contoso.com", "setPrefillValues").await;
    assert_eq!(
        std::fs::read_to_string(app.dir().join("invitations.csv")).unwrap(),
        "email,application_id,expires_at,!extension_0a1b2c_Team\n\
         ada@contoso.com,,2999-01-01,Red\n\
         bob@contoso.com,,,Blue\n"
    );
    // The same file again changes nothing, and says so.
    let (_, stdout, _) = run(&app, &["invitations", "import", "more.csv"]);
    assert_eq!(
        stdout,
        "imported more.csv into invitations.csv: 0 added, 0 updated, 2 unchanged, 2 invalid\n"
    );
}

#[tokio::test]
async fn check_explains_the_decision() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com")])
        .invitations("email,application_id,expires_at,!jobTitle\nada@contoso.com,11111111-0000-0000-0000-00000000000a,,Analyst\n")
        .start()
        .await;
    let (code, stdout, _) = run(
        &app,
        &[
            "invitations",
            "check",
            "ada@contoso.com",
            "--app",
            "11111111-0000-0000-0000-00000000000A",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        without_ids(&stdout),
        "invitation: ada@contoso.com  inv_*  pending  app: 11111111-0000-0000-0000-00000000000a  expires: never  !jobTitle=Analyst\n\
         policy: default\n\
         allowed domains: [fabrikam.com]\n\
         admitted (invitation)\n  enforce jobTitle = Analyst\n"
    );
    let (code, stdout, _) = run(&app, &["invitations", "check", "ada@contoso.com"]);
    assert_eq!(code, 1);
    assert!(stdout.ends_with("blocked (invitation_for_other_application): You must have an account from 'fabrikam.com' to register as an external user for Contoso.\n"), "{stdout}");
    let (code, stdout, _) = run(&app, &["invitations", "check", "bob@fabrikam.com"]);
    assert_eq!(code, 0);
    assert!(stdout.ends_with("admitted (allowed_domain)\n"), "{stdout}");
    let (code, _, stderr) = run(&app, &["invitations", "check", "nope"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            2,
            "error: \"nope\" is not a valid e-mail address: the address has no '@'\n"
        )
    );
}

#[tokio::test]
async fn bad_cli_input_changes_nothing() {
    let app = Launch::hosted(&[])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    for (args, message) in [
        (
            &["invitations", "add", "a@contoso.com", "--expires", "soon"][..],
            "error: \"soon\" is not an RFC 3339 date (2026-12-31) or date-time (2026-12-31T18:00:00Z)\n",
        ),
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--set",
                "display name=x",
            ][..],
            "error: \"display name\" is not an attribute name (letters, digits and '_', starting with a letter)\n",
        ),
        (
            &["invitations", "add", "a@contoso.com", "--set", "x"][..],
            "error: \"x\" is not NAME=VALUE\n",
        ),
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--set",
                "x=1",
                "--enforce",
                "x=2",
            ][..],
            "error: attribute x is given twice\n",
        ),
        // Entra and B2C match names in any case: one of the two values would be dropped.
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--set",
                "jobTitle=A",
                "--set",
                "JOBTITLE=B",
            ][..],
            "error: attributes jobTitle and JOBTITLE are the same attribute (names are compared in any case)\n",
        ),
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--set",
                "jobTitle=A",
                "--enforce",
                "JobTitle=B",
            ][..],
            "error: attributes jobTitle and JobTitle are the same attribute (names are compared in any case)\n",
        ),
        // Values that cannot take their declared type.
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--set",
                "extension_0a1b_Level:int=high",
            ][..],
            "error: the value \"high\" of extension_0a1b_Level is not a whole number (it is declared int)\n",
        ),
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--enforce",
                "extension_0a1b_News:boolean=yes",
            ][..],
            "error: the value \"yes\" of extension_0a1b_News is not true or false (it is declared boolean)\n",
        ),
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--set",
                "extension_0a1b_Level:float=1.5",
            ][..],
            "error: \"float\" is not an attribute type (string, int or boolean)\n",
        ),
        // Expiries that could not be written back in the same form: once written, every later
        // command (and the server's start) would fail on the file.
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--expires",
                "9999-12-31T23:59:59-05:00",
            ][..],
            "error: \"9999-12-31T23:59:59-05:00\" is outside the years 0000 to 9999 once converted to UTC\n",
        ),
        (
            &[
                "invitations",
                "add",
                "a@contoso.com",
                "--expires",
                "0000-01-01T00:30:00+01:00",
            ][..],
            "error: \"0000-01-01T00:30:00+01:00\" is outside the years 0000 to 9999 once converted to UTC\n",
        ),
    ] {
        let (code, _, stderr) = run(&app, args);
        assert_eq!((code, stderr.as_str()), (2, message), "{args:?}");
    }
    // An attribute named like one of the file's own columns was written as that column: the
    // file then named the invitation's id "7" and no command (nor the server) could read it.
    let (code, _, stderr) = run(
        &app,
        &["invitations", "add", "a@contoso.com", "--set", "ID=7"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "attribute ID would be written as the column \"id\", one of the invitation file's own columns"
        ) && stderr.contains("fix: the file was left as it was"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(app.dir().join("invitations.csv")).unwrap(),
        "email,application_id,expires_at\n"
    );
}

/// An attribute value holding a newline once printed a line of its own in `list`, one that
/// looked like another invitation.
#[tokio::test]
async fn list_escapes_what_is_not_printable() {
    let app = Launch::hosted(&[])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    let forged = "Ada\nmallory@evil.example  app: any  expires: never\u{202e}";
    let (code, _, stderr) = run(
        &app,
        &[
            "invitations",
            "add",
            "ada@contoso.com",
            "--set",
            &format!("displayName={forged}"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = run(&app, &["invitations", "list"]);
    assert_eq!(code, 0);
    assert_eq!(
        without_ids(&stdout),
        "ada@contoso.com  inv_*  pending  app: any  expires: never  displayName=Ada\\nmallory@evil.example  app: any  expires: never\\u{202e}\n\
         1 invitation(s) in invitations.csv\n"
    );
    // The value itself is kept as it was written, for the server and for scripts.
    let (_, stdout, _) = run(&app, &["invitations", "list", "--json"]);
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed[0]["attributes"]["displayName"], forged);
}

#[tokio::test]
async fn a_file_naming_one_attribute_twice_in_a_row_is_refused() {
    let app = Launch::hosted(&[])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    std::fs::write(
        app.dir().join("more.csv"),
        "email,application_id,expires_at,jobTitle,!JOBTITLE\nada@contoso.com,,,A,B\ngrace@contoso.com,,,,B\n",
    )
    .unwrap();
    let (code, stdout, stderr) = run(&app, &["invitations", "import", "more.csv"]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (
            1,
            "imported more.csv into invitations.csv: 1 added, 0 updated, 0 unchanged, 1 invalid\n",
            "more.csv: line 2: attribute JOBTITLE is both prefilled and enforced\n"
        )
    );
}

/// An invitation can declare the JSON type of an attribute (for a Start request that does not
/// list it): the CLI writes it into the header, `list` shows it, the file reader checks it.
#[tokio::test]
async fn attribute_types_are_written_listed_and_checked() {
    let app = Launch::hosted(&[])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    let (code, _, stderr) = run(
        &app,
        &[
            "invitations",
            "add",
            "ada@contoso.com",
            "--set",
            "extension_0a1b_Level:int=3",
            "--enforce",
            "extension_0a1b_News:Boolean=TRUE",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        without_ids(&std::fs::read_to_string(app.dir().join("invitations.csv")).unwrap()),
        "email,application_id,expires_at,id,extension_0a1b_Level:int,!extension_0a1b_News:boolean\n\
         ada@contoso.com,,,inv_*,3,TRUE\n"
    );
    let (_, stdout, _) = run(&app, &["invitations", "list"]);
    assert_eq!(
        without_ids(&stdout),
        "ada@contoso.com  inv_*  pending  app: any  expires: never  extension_0a1b_Level:int=3, !extension_0a1b_News:boolean=TRUE\n\
         1 invitation(s) in invitations.csv\n"
    );
    let (_, stdout, _) = run(&app, &["invitations", "list", "--json"]);
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed[0]["attributes"], json!({"extension_0a1b_Level": 3}));
    assert_eq!(listed[0]["enforced"], json!({"extension_0a1b_News": true}));

    // A file whose value does not fit its column's type does not load.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("invitations.csv"),
        "email,application_id,expires_at,extension_0a1b_Level:int\nada@contoso.com,,,high\n",
    )
    .unwrap();
    let (status, output) = Launch::standalone(
        dir.path(),
        &[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "1"),
            ("BASIC_AUTH_USERNAME", "a"),
            ("BASIC_AUTH_PASSWORD", "b"),
        ],
        &[],
    )
    .run_to_exit();
    assert_eq!(status.code(), Some(78));
    assert!(
        output.stderr().contains(
            "invitations.csv: line 2: the value \"high\" of extension_0a1b_Level is not a whole number (it is declared int)"
        ),
        "{}",
        output.stderr()
    );
}

/// Runs `handler ARGS` in `dir` with exactly `env` (as a person would, standalone).
fn command_in(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(crate::helpers::handler_binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// A missing file is no empty list; a ';'-separated file (Excel in many locales) is named as
/// such; a bad header is an error of the whole import, not one invalid row.
#[test]
fn files_that_cannot_be_read_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = command_in(
        dir.path(),
        &[],
        &["invitations", "--file", "missing.csv", "list"],
    );
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (
            2,
            "",
            "error: missing.csv does not exist: there are no invitations yet (handler invitations add creates it)\n  \
             fix: check the file's path (--file, or INVITATIONS_FILE relative to the function app root)\n"
        )
    );
    std::fs::write(
        dir.path().join("excel.csv"),
        "email;application_id;expires_at\nada@contoso.com;;\n",
    )
    .unwrap();
    let (code, _, stderr) = command_in(dir.path(), &[], &["invitations", "import", "excel.csv"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the file must be comma-separated (',' between cells), but its header is separated by ';'")
            && stderr.contains("nothing was imported"),
        "{stderr}"
    );
    assert!(!stderr.contains("invalid"), "{stderr}");
    let (code, _, stderr) = command_in(
        dir.path(),
        &[],
        &["invitations", "--file", "excel.csv", "list"],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("comma-separated"), "{stderr}");
}

/// A command says its answer and nothing else, whatever RUST_LOG the settings give the server.
#[test]
fn commands_are_quiet_unless_something_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("local.settings.json"),
        r#"{"IsEncrypted": false, "Values": {"RUST_LOG": "debug", "INVITATIONS_FILE": "mine.csv"}}"#,
    )
    .unwrap();
    let (code, stdout, stderr) =
        command_in(dir.path(), &[], &["invitations", "add", "ada@contoso.com"]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (0, "added ada@contoso.com in mine.csv\n", "")
    );
    let (code, stdout, stderr) = command_in(dir.path(), &[], &["invitations", "list"]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
}

/// Real invitations never go into a file of the repository by accident: a settings file that
/// names a file git tracks (the committed example, once copied to local.settings.json) is
/// refused for edits; `--file` names it on purpose; an untracked file is edited.
#[test]
fn a_file_tracked_by_git_is_not_edited_through_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    std::fs::write(
        dir.path().join("invitations.example.csv"),
        "email,application_id,expires_at\nada@fabrikam.com,,\n",
    )
    .unwrap();
    git(&["add", "invitations.example.csv"]);
    std::fs::write(
        dir.path().join("local.settings.json"),
        r#"{"IsEncrypted": false, "Values": {"INVITATIONS_FILE": "invitations.example.csv"}}"#,
    )
    .unwrap();
    let (code, _, stderr) = command_in(dir.path(), &[], &["invitations", "add", "bob@contoso.com"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not editing invitations.example.csv: it is a file of the git repository (tracked by git)"),
        "{stderr}"
    );
    let (code, _, _) = command_in(
        dir.path(),
        &[],
        &[
            "invitations",
            "--file",
            "invitations.example.csv",
            "add",
            "bob@contoso.com",
        ],
    );
    assert_eq!(code, 0);
    std::fs::write(
        dir.path().join("local.settings.json"),
        r#"{"IsEncrypted": false, "Values": {"INVITATIONS_FILE": "invitations.csv"}}"#,
    )
    .unwrap();
    let (code, stdout, _) = command_in(dir.path(), &[], &["invitations", "add", "bob@contoso.com"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "added bob@contoso.com in invitations.csv\n")
    );
}
