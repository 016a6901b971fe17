//! The files the server reads and keeps in step with (the invitation file, the policy file): a
//! version that is still being written is never taken, an empty policy file is refused, and
//! only a regular file is read, never more than its limit (so `/dev/zero` or a FIFO at the path
//! cannot grow the process or block the reloader).

use std::io::Write as _;

use serde_json::json;

use crate::helpers::{Launch, TestApp, json_answer};

const APP_A: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const APP_B: &str = "93fd07aa-0000-0000-0000-000000000000";

async fn connector(app: &TestApp, email: &str, client_id: &str) -> String {
    let body = json!({"email": email, "step": "PostFederationSignup", "client_id": client_id});
    let (_, _, answer) = json_answer(app.sign_up(&body.to_string()).await).await;
    answer["action"].as_str().unwrap().to_owned()
}

fn append(path: &std::path::Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// An invitation file rewritten in place is, for a while, half written: `mallory,` without the
/// rest of the line would be an invitation for every application that never expires. It is not
/// taken until its last line is whole.
#[tokio::test]
async fn a_half_written_invitation_file_is_not_loaded() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "")])
        .invitations("email,application_id,expires_at\nada@contoso.com,,\n")
        .start()
        .await;
    let path = app.dir().join("invitations.csv");
    // The writer truncates and writes the first half (as `>` in a shell does), then stalls.
    std::fs::write(
        &path,
        "email,application_id,expires_at\nmallory@contoso.com,",
    )
    .unwrap();
    app.logs_containing("does not end with a line end").await;
    for client in [APP_A, APP_B] {
        assert_eq!(
            connector(&app, "mallory@contoso.com", client).await,
            "ShowBlockPage"
        );
    }
    assert_eq!(
        connector(&app, "ada@contoso.com", APP_A).await,
        "Continue",
        "the last good file is kept"
    );
    // The writer finishes: an expired invitation for one application.
    append(&path, &format!("{APP_A},2000-01-01\n"));
    app.logs_containing("reloaded 1 invitation(s)").await;
    for client in [APP_A, APP_B] {
        assert_eq!(
            connector(&app, "mallory@contoso.com", client).await,
            "ShowBlockPage"
        );
    }
    assert_eq!(
        connector(&app, "ada@contoso.com", APP_A).await,
        "ShowBlockPage",
        "the new file is in force"
    );
}

const STRICT: &str = "[default]\nallowed_domains = []\n";

/// A policy file truncated to nothing would apply the settings' (looser) rules: refused at
/// start-up like an empty invitation file, and on reload the last good policy is kept.
#[tokio::test]
async fn an_empty_policy_file_is_refused() {
    let launch = Launch::hosted(&[
        ("POLICY_FILE", "policy.toml"),
        ("ALLOWED_EMAIL_DOMAINS", "*"),
    ]);
    std::fs::write(launch.dir.join("policy.toml"), "").unwrap();
    let (status, output) = launch.run_to_exit();
    assert_eq!(status.code(), Some(78), "{}", output.all());
    assert!(
        output
            .all()
            .contains("policy file policy.toml: line 1: the file is empty"),
        "{}",
        output.all()
    );

    let launch = Launch::hosted(&[
        ("POLICY_FILE", "policy.toml"),
        ("ALLOWED_EMAIL_DOMAINS", "*"),
    ]);
    std::fs::write(launch.dir.join("policy.toml"), STRICT).unwrap();
    let app = launch.start().await;
    assert_eq!(
        connector(&app, "bob@contoso.com", APP_A).await,
        "ShowBlockPage"
    );
    let path = app.dir().join("policy.toml");
    std::fs::write(&path, "").unwrap();
    app.logs_containing("the file is empty").await;
    app.logs_containing("keeping the last good policy").await;
    assert_eq!(
        connector(&app, "bob@contoso.com", APP_A).await,
        "ShowBlockPage"
    );
    // Written half (complete lines, but not the whole policy): taken only once it stays the
    // same; written whole by rename, it is.
    let staged = app.dir().join("policy.staged");
    std::fs::write(&staged, "[default]\nallowed_domains = [\"*\"]\n").unwrap();
    std::fs::rename(&staged, &path).unwrap();
    app.logs_containing("reloaded the policy file").await;
    assert_eq!(connector(&app, "bob@contoso.com", APP_A).await, "Continue");
}

/// `/dev/zero` (or any device) at the path is refused before a byte is read: start-up fails
/// at once instead of reading without end.
#[test]
fn a_device_at_a_file_path_is_refused_at_start_up() {
    for (setting, what) in [
        ("POLICY_FILE", "policy file /dev/zero"),
        ("INVITATIONS_FILE", "/dev/zero"),
    ] {
        let (status, output) = Launch::hosted(&[(setting, "/dev/zero")]).run_to_exit();
        assert_eq!(status.code(), Some(78), "{}", output.all());
        assert!(
            output
                .all()
                .contains(&format!("{what} is a device, not a regular file")),
            "{}",
            output.all()
        );
    }
}

/// A FIFO put at the policy path once blocked the reloader for good; now it is named in the log
/// and a good file put there later is loaded.
#[tokio::test]
async fn a_fifo_at_the_policy_path_does_not_stop_the_reloader() {
    let launch = Launch::hosted(&[
        ("POLICY_FILE", "policy.toml"),
        ("ALLOWED_EMAIL_DOMAINS", "*"),
    ]);
    std::fs::write(launch.dir.join("policy.toml"), STRICT).unwrap();
    let app = launch.start().await;
    let path = app.dir().join("policy.toml");
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    app.logs_containing("policy file policy.toml is a FIFO (named pipe), not a regular file")
        .await;
    assert_eq!(
        connector(&app, "bob@contoso.com", APP_A).await,
        "ShowBlockPage",
        "the last good policy is kept"
    );
    let staged = app.dir().join("policy.staged");
    std::fs::write(&staged, "[default]\nallowed_domains = [\"*\"]\n").unwrap();
    std::fs::rename(&staged, &path).unwrap();
    app.logs_containing("reloaded the policy file").await;
    assert_eq!(connector(&app, "bob@contoso.com", APP_A).await, "Continue");
}

/// The CLI reads files the same way: a device or a FIFO is refused, never read.
#[test]
fn the_cli_refuses_what_is_not_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (args, expected) in [
        (
            vec!["invitations", "import", "/dev/zero"],
            "error: /dev/zero is a device, not a regular file",
        ),
        (
            vec!["invitations", "--file", "/dev/zero", "list"],
            "error: /dev/zero is a device, not a regular file",
        ),
        (
            vec!["invitations", "import", "fifo.csv"],
            "error: fifo.csv is a FIFO (named pipe), not a regular file",
        ),
    ] {
        let output = std::process::Command::new(crate::helpers::handler_binary())
            .args(&args)
            .current_dir(dir.path())
            .env_clear()
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
