//! What the Functions host expects of a custom handler: the port variable, `GET /` readiness on
//! IPv4 loopback, `/api/<Function>` paths as forwarded, graceful stop on SIGTERM.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    IN_FLIGHT, IN_FLIGHT_BODY, Launch, PASSWORD, USERNAME, basic, json_answer, request_in_flight,
};

/// The host picks a free port and passes it in `FUNCTIONS_CUSTOMHANDLER_PORT`. (Like the host,
/// the test picks a port that was free a moment ago; should another process take it first, the
/// handler says so and exits, and the test picks another, as the host would restart it.)
#[tokio::test]
async fn listens_on_the_ipv4_loopback_port_the_host_gives_and_answers_readiness() {
    let mut attempts = 0;
    let (app, port) = loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let launch = Launch::hosted(&[("FUNCTIONS_CUSTOMHANDLER_PORT", &port.to_string())]);
        match launch.try_start().await {
            Ok(app) => break (app, port),
            Err((_, output)) if attempts < 5 && output.stderr().contains("is already in use") => {
                attempts += 1;
            }
            Err((status, output)) => panic!("{status}:\n{}", output.all()),
        }
    };
    assert_eq!(app.port, port);
    let response = app
        .client
        .get(format!("http://127.0.0.1:{}/", app.port))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        app.output
            .stdout()
            .contains(&format!("listening on http://127.0.0.1:{}", app.port))
    );
}

#[tokio::test]
async fn forwarded_requests_keep_their_query_and_host_headers() {
    let app = Launch::hosted(&[]).start().await;
    let response = app
        .client
        .post(app.url("/api/signupvalidation?code=function-key"))
        .header("authorization", basic(USERNAME, PASSWORD))
        .header("x-functions-key", "function-key")
        .header(
            "x-azure-functions-invocationid",
            "2b8c7d6e-0000-4000-8000-000000000002",
        )
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"email":"ada@fabrikam.com"}"#)
        .send()
        .await
        .unwrap();
    let answer = json_answer(response).await;
    assert_eq!(answer.0, 200);
    assert_eq!(answer.2["action"], "Continue");
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    let mut app = Launch::hosted(&[("RUST_LOG", IN_FLIGHT)]).start().await;
    let body = IN_FLIGHT_BODY;
    let mut stream = request_in_flight(&app, "in-flight-1").await;
    // The request is now in flight; stop the process while it waits for the rest of the body.
    app.signal("TERM");
    app.logs_containing("shutdown requested").await;
    stream.write_all(&body[5..]).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.ends_with(r#"{"version":"1.0.0","action":"Continue"}"#),
        "{answer}"
    );
    let status = app.wait_for_exit();
    assert!(status.success(), "{status}");
    // Nothing listens any more.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .is_err()
    );
}

/// Whoever has seen the `listening on` line may stop the handler: SIGINT and SIGTERM are caught
/// from then on. (They were caught only once the server's loop first ran, a moment later: a stop
/// in that moment killed the process instead of draining it.)
#[tokio::test]
async fn signals_are_caught_once_the_port_is_named() {
    for _ in 0..20 {
        let app = Launch::hosted(&[])
            .until_listening()
            .await
            .unwrap_or_else(|(status, output)| panic!("{status}: {}", output.all()));
        let caught = app.caught_signals();
        assert!(
            caught.contains(&2) && caught.contains(&15),
            "SIGINT and SIGTERM not caught yet: {caught:?}"
        );
    }
}

#[tokio::test]
async fn ctrl_c_stops_an_idle_server_with_exit_code_zero() {
    let mut app = Launch::hosted(&[]).start().await;
    app.signal("INT");
    assert!(app.wait_for_exit().success());
}

#[test]
fn every_function_folder_matches_a_route_the_binary_serves() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut folders: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.unwrap();
            entry
                .path()
                .join("function.json")
                .is_file()
                .then(|| entry.file_name().into_string().unwrap())
        })
        .collect();
    folders.sort();
    let mut served: Vec<String> = signup_gate::functions::ALL
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    served.sort();
    assert_eq!(folders, served);
    for folder in &folders {
        let text = std::fs::read_to_string(root.join(folder).join("function.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"bindings": [
                {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "function", "methods": ["post"]},
                {"type": "http", "direction": "out", "name": "res"}
            ]}),
            "{folder}/function.json"
        );
    }
    let host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("host.json")).unwrap()).unwrap();
    assert_eq!(host["version"], "2.0");
    assert_eq!(
        host["customHandler"]["description"]["defaultExecutablePath"],
        "handler"
    );
    assert_eq!(host["customHandler"]["enableForwardingHttpRequest"], true);
    assert_eq!(host["extensions"]["http"]["routePrefix"], "api");
    assert_eq!(
        host["extensionBundle"]["id"],
        "Microsoft.Azure.Functions.ExtensionBundle"
    );
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("local.settings.json.example")).unwrap(),
    )
    .unwrap();
    assert_eq!(example["IsEncrypted"], false);
    assert_eq!(example["Values"]["FUNCTIONS_WORKER_RUNTIME"], "custom");
    assert!(
        example["Values"]
            .as_object()
            .unwrap()
            .values()
            .all(serde_json::Value::is_string),
        "every example value is a string"
    );
}

/// The root `handler` is only ever the build for Azure: no VS Code task copies a local build
/// over it, and the local run starts `target/release/handler` through the host's override, set
/// in the task's own environment (never in local.settings.json, which can be published).
#[test]
fn a_local_run_never_replaces_the_build_for_azure() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join(".vscode/tasks.json")).unwrap();
    // JSON with comments, as VS Code reads it: whole-line comments only here.
    let json: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let tasks: serde_json::Value = serde_json::from_str(&json).unwrap();
    let override_name = "AzureFunctionsJobHost__customHandler__description__defaultExecutablePath";
    for task in tasks["tasks"].as_array().unwrap() {
        let command = task["command"].as_str().unwrap_or_default();
        assert!(
            !command.contains(" handler") || command.contains("build-azure.sh"),
            "a task writes the root handler: {command}"
        );
        if task["label"] == "func: host start" {
            assert_eq!(
                task["options"]["env"][override_name], "target/release/handler",
                "{task}"
            );
        }
    }
    let example = std::fs::read_to_string(root.join("local.settings.json.example")).unwrap();
    assert!(
        !example.contains(override_name),
        "local.settings.json.example holds the override"
    );
}
