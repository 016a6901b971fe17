//! A standalone run does what `func start` would have done: port 7071, settings from
//! `local.settings.json` (or the example), real environment variables first, URLs printed.

use std::path::Path;

use serde_json::json;

use crate::helpers::{Launch, PASSWORD, USERNAME, basic, json_answer};

fn write_settings(dir: &Path, name: &str, values: serde_json::Value) {
    let text = json!({"IsEncrypted": false, "Values": values}).to_string();
    std::fs::write(dir.join(name), text).unwrap();
}

#[tokio::test]
async fn reads_local_settings_and_prints_the_function_urls() {
    let dir = tempfile::tempdir().unwrap();
    write_settings(
        dir.path(),
        "local.settings.json",
        json!({"FUNCTIONS_WORKER_RUNTIME": "custom", "BASIC_AUTH_USERNAME": USERNAME, "BASIC_AUTH_PASSWORD": PASSWORD,
               "ORGANIZATION_NAME": "From File", "ALLOWED_EMAIL_DOMAINS": "tailspin.com"}),
    );
    let app = Launch::standalone(
        dir.path(),
        &[("ORGANIZATION_NAME", "From Env")],
        &["serve", "--port", "0"],
    )
    .start()
    .await;
    app.logs_containing(&format!(
        "Functions:\n\n        SignUpValidation: [POST] http://localhost:{}/api/SignUpValidation\n",
        app.port
    ))
    .await;
    let answer = json_answer(app.sign_up(r#"{"email":"ada@fabrikam.com"}"#).await).await;
    let message = "You must have an account from 'tailspin.com' to register as an external user for From Env.";
    assert_eq!(
        answer.2,
        json!({"version": "1.0.0", "action": "ShowBlockPage", "userMessage": message})
    );
}

#[tokio::test]
async fn falls_back_to_the_example_settings_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("local.settings.json.example");
    std::fs::copy(&example, dir.path().join("local.settings.json.example")).unwrap();
    let invitations = Path::new(env!("CARGO_MANIFEST_DIR")).join("invitations.example.csv");
    std::fs::copy(&invitations, dir.path().join("invitations.example.csv")).unwrap();
    let app = Launch::standalone(dir.path(), &[], &["serve", "--port", "0"])
        .start()
        .await;
    app.logs_containing("local.settings.json not found; using the example settings")
        .await;
    // The example's credentials work; the example is invitation-only and invites one address.
    let example: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example).unwrap()).unwrap();
    let (user, password) = (
        example["Values"]["BASIC_AUTH_USERNAME"].as_str().unwrap(),
        example["Values"]["BASIC_AUTH_PASSWORD"].as_str().unwrap(),
    );
    let response = app
        .post(
            "/api/SignUpValidation",
            r#"{"email":"ada@fabrikam.com"}"#,
            Some(&basic(user, password)),
        )
        .await;
    assert_eq!(
        json_answer(response).await.2,
        json!({"version": "1.0.0", "action": "Continue"})
    );
}

#[tokio::test]
async fn listens_on_7071_by_default() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        std::net::TcpListener::bind("127.0.0.1:7071").is_ok(),
        "port 7071 is taken by another process; stop it (e.g. a running `cargo run`) and run the tests again"
    );
    let app = Launch::standalone(dir.path(), &[("API_CONNECTOR_AUTH", "none")], &[])
        .start()
        .await;
    assert_eq!(app.port, 7071);
    app.logs_containing("neither local.settings.json nor local.settings.json.example found")
        .await;
}

#[tokio::test]
async fn in_azure_the_local_settings_are_never_read() {
    let dir = tempfile::tempdir().unwrap();
    write_settings(
        dir.path(),
        "local.settings.json",
        json!({"API_CONNECTOR_AUTH": "none"}),
    );
    let app = Launch::standalone(
        dir.path(),
        &[
            ("WEBSITE_SITE_NAME", "signup-gate-prod"),
            ("BASIC_AUTH_USERNAME", USERNAME),
            ("BASIC_AUTH_PASSWORD", PASSWORD),
        ],
        &["serve", "--port", "0"],
    )
    .start()
    .await;
    let response = app
        .post(
            "/api/SignUpValidation",
            r#"{"email":"ada@fabrikam.com"}"#,
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn under_the_host_the_local_settings_are_never_read() {
    let mut launch = Launch::hosted(&[]);
    write_settings(
        &launch.dir,
        "local.settings.json",
        json!({"ORGANIZATION_NAME": "From File"}),
    );
    launch.set("ALLOWED_EMAIL_DOMAINS", "tailspin.com");
    let app = launch.start().await;
    let answer = json_answer(app.sign_up(r#"{"email":"ada@fabrikam.com"}"#).await).await;
    assert_eq!(
        answer.2["userMessage"],
        "You must have an account from 'tailspin.com' to register as an external user for Contoso."
    );
}

/// Copies the committed example settings and invitations into `dir`, as a fresh clone has them.
fn example_checkout(dir: &Path) {
    for name in ["local.settings.json.example", "invitations.example.csv"] {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
        std::fs::copy(&from, dir.join(name)).unwrap();
    }
}

/// On a fresh clone the settings come from the example, which names the committed example
/// invitation file: the CLI must not edit it behind the user's back.
#[test]
fn the_cli_does_not_edit_the_example_file() {
    let dir = tempfile::tempdir().unwrap();
    example_checkout(dir.path());
    let example = std::fs::read_to_string(dir.path().join("invitations.example.csv")).unwrap();
    let run = |args: &[&str]| Launch::standalone(dir.path(), &[], args).run_to_exit();
    for args in [
        &["invitations", "add", "bob@contoso.com"][..],
        &["invitations", "remove", "ada@fabrikam.com"][..],
    ] {
        let (status, output) = run(args);
        assert_eq!(status.code(), Some(2), "{args:?}");
        assert!(
            output.stderr().contains(
                "error: not editing invitations.example.csv: the settings come from local.settings.json.example \
                 because there is no local.settings.json. Make the settings yours (cp local.settings.json.example \
                 local.settings.json, then set INVITATIONS_FILE there, for example to invitations.csv), or name a \
                 file with --file PATH"
            ),
            "{}",
            output.stderr()
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("invitations.example.csv")).unwrap(),
        example
    );
    // Reading is fine, and a file named on the command line is the user's own.
    let (status, output) = run(&["invitations", "list"]);
    assert_eq!(status.code(), Some(0));
    assert!(
        output.stdout().contains("ada@fabrikam.com"),
        "{}",
        output.stdout()
    );
    let (status, _) = run(&[
        "invitations",
        "--file",
        "mine.csv",
        "add",
        "bob@contoso.com",
    ]);
    assert_eq!(status.code(), Some(0));
    assert!(dir.path().join("mine.csv").exists());
    // Once the settings are the user's, the file they name is edited.
    let settings = std::fs::read_to_string(dir.path().join("local.settings.json.example"))
        .unwrap()
        .replace("invitations.example.csv", "invitations.csv");
    std::fs::write(dir.path().join("local.settings.json"), settings).unwrap();
    let (status, output) = run(&["invitations", "add", "bob@contoso.com"]);
    assert_eq!(status.code(), Some(0), "{}", output.stderr());
    assert_eq!(
        output.stdout(),
        "added bob@contoso.com in invitations.csv\n"
    );
}

#[test]
fn a_busy_port_is_named_with_the_way_out() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("BASIC_AUTH_USERNAME", USERNAME),
        ("BASIC_AUTH_PASSWORD", PASSWORD),
    ];
    let (status, output) =
        Launch::standalone(dir.path(), &env, &["serve", "--port", &port]).run_to_exit();
    assert_eq!(status.code(), Some(1));
    assert!(
        output.stderr().contains(&format!(
            "cannot serve: port {port} on 127.0.0.1 is already in use: another handler or `func start` may be \
             running; pick another port with `handler serve --port N` (in a checkout: `cargo run -- serve --port N`)"
        )),
        "{}",
        output.stderr()
    );
}
