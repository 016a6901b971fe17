//! `handler doctor`: each check's ok and fail, against loopback stand-ins (a key server, running
//! handlers protected and not, Azurite, a Microsoft Graph shaped on its documentation), exit
//! codes, `--json`, and no secret in any output.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use signup_gate_testkit::tokens::{KeyServer, keys};
use warp::Filter;

use crate::helpers::{Azurite, Launch, handler_binary};

const TENANT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
const OTHER_TENANT: &str = "99998888-0000-cccc-1111-dddd2222eeee";
const CLIENT: &str = "11112222-bbbb-3333-cccc-4444dddd5555";
const PASSWORD: &str = "a-long-connector-password-42";
const GRAPH_TOKEN: &str = "graph-token-that-must-never-be-printed";
const FUNCTION_KEY: &str = "function-key-that-must-never-be-printed";

struct Report {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Report {
    /// The line of `check`, e.g. `ok    settings: ...`.
    fn line(&self, check: &str) -> &str {
        self.stdout
            .lines()
            .find(|line| {
                line.get(6..)
                    .is_some_and(|rest| rest.starts_with(&format!("{check}:")))
            })
            .unwrap_or_else(|| panic!("no {check} line in:\n{}", self.stdout))
    }

    fn status(&self, check: &str) -> &str {
        self.line(check).split_whitespace().next().unwrap()
    }
}

/// Runs `handler doctor ARGS` in `dir` with exactly `env` (standalone: no port variable).
fn doctor(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Report {
    let output = Command::new(handler_binary())
        .arg("doctor")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let report = Report {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    for secret in [PASSWORD, GRAPH_TOKEN, FUNCTION_KEY, "Eby8vdM02xNOcqF"] {
        assert!(
            !report.stdout.contains(secret) && !report.stderr.contains(secret),
            "a secret was printed:\n{}{}",
            report.stdout,
            report.stderr
        );
    }
    report
}

fn sound(authority: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ALLOWED_EMAIL_DOMAINS", "contoso.com".to_owned()),
        ("BASIC_AUTH_USERNAME", "connector".to_owned()),
        ("BASIC_AUTH_PASSWORD", PASSWORD.to_owned()),
        ("AUTH_EVENTS_TENANT_ID", TENANT.to_owned()),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT.to_owned()),
        ("AUTH_EVENTS_AUTHORITY", authority.to_owned()),
    ]
}

fn env_of<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A sound set-up passes every check that applies; `--json` says the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sound_set_up_passes() {
    let (key, _) = keys();
    let server = KeyServer::start(&[key]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("invitations.csv"),
        "email,application_id,expires_at\nada@contoso.com,,\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[default]\nblocked_local_parts = [\"admin\"]\n",
    )
    .unwrap();
    let mut env = sound(&server.authority(TENANT));
    env.push(("POLICY_FILE", "policy.toml".to_owned()));
    env.push((
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "InstrumentationKey=00000000-1111-2222-3333-444444444444;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/".to_owned(),
    ));
    let report = doctor(dir.path(), &env_of(&env), &[]);
    assert_eq!(report.code, 0, "{}", report.stdout);
    for check in [
        "settings",
        "API connector (SignUpValidation)",
        "Entra caller check",
        "policy",
        "telemetry",
        "invitation store",
        "tenant keys",
    ] {
        assert_eq!(report.status(check), "ok", "{}", report.stdout);
    }
    assert!(report.line("invitation store").contains("1 invitation(s)"));
    assert!(report.line("tenant keys").contains("1 signing key(s)"));
    assert!(
        report
            .line("telemetry")
            .contains("https://westeurope-5.in.applicationinsights.azure.com/")
    );
    assert!(
        !report
            .stdout
            .contains("00000000-1111-2222-3333-444444444444")
    );
    assert_eq!(report.status("deployment"), "skip");
    assert_eq!(report.status("tenant"), "skip");

    let json_report = doctor(dir.path(), &env_of(&env), &["--json"]);
    assert_eq!(json_report.code, 0);
    let checks: Value = serde_json::from_str(&json_report.stdout).unwrap();
    let checks = checks.as_array().unwrap();
    assert!(
        checks
            .iter()
            .all(|c| ["ok", "skip"].contains(&c["status"].as_str().unwrap()))
    );
    assert!(
        checks
            .iter()
            .any(|c| c["check"] == "tenant keys" && c["status"] == "ok")
    );
}

/// What would start but cannot work, and what the server refuses, each with what to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_that_cannot_work_fail_or_warn_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let report = doctor(dir.path(), &[("MIN_JOB_TITLE_LENGTH", "many")], &[]);
    assert_eq!(report.code, 1);
    assert!(
        report
            .line("settings")
            .starts_with("fail  settings: MIN_JOB_TITLE_LENGTH must be")
    );

    let report = doctor(dir.path(), &[], &[]);
    assert_eq!(report.code, 1);
    assert_eq!(report.status("API connector (SignUpValidation)"), "fail");
    assert_eq!(report.status("Entra caller check"), "fail");
    assert!(
        report
            .stdout
            .contains("      fix: set both to the username and password")
    );

    let short = [
        ("BASIC_AUTH_USERNAME", "connector"),
        ("BASIC_AUTH_PASSWORD", "short"),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "none"),
    ];
    let report = doctor(dir.path(), &short, &[]);
    assert_eq!(report.code, 0, "warnings only: {}", report.stdout);
    assert!(
        report
            .line("API connector (SignUpValidation)")
            .starts_with("warn  API connector (SignUpValidation): HTTP Basic is on, but BASIC_AUTH_PASSWORD has only 5 characters")
    );
    assert_eq!(report.status("Entra caller check"), "warn");
    assert!(!report.stdout.contains("short\n") && !report.stdout.contains(" short"));

    let easy = [
        ("API_CONNECTOR_AUTH", "none"),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "easyauth"),
        ("AUTH_EVENTS_TENANT_ID", TENANT),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT),
    ];
    // The server refuses Easy Auth mode without Easy Auth: so does the doctor, naming the setting.
    let report = doctor(dir.path(), &easy, &[]);
    assert_eq!(report.code, 1);
    assert!(
        report
            .line("settings")
            .contains("AUTH_EVENTS_TOKEN_VALIDATION is 'easyauth' but Easy Auth is not enabled"),
        "{}",
        report.stdout
    );
    let mut enabled = easy.to_vec();
    enabled.push(("WEBSITE_AUTH_ENABLED", "True"));
    let report = doctor(dir.path(), &enabled, &[]);
    assert_eq!(report.status("API connector (SignUpValidation)"), "warn");
    assert_eq!(report.status("Entra caller check"), "warn");
    assert!(
        report
            .stdout
            .contains("allow the client application 99045fe1")
    );
}

/// The invitation file and the policy file: every problem with its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_invitation_and_policy_files_fail_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("invitations.csv"),
        "email,application_id,expires_at\nnot an address,,\nada@contoso.com,,someday\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[default]\nallowed_domain = []\n",
    )
    .unwrap();
    let env = [
        ("BASIC_AUTH_USERNAME", "connector"),
        ("BASIC_AUTH_PASSWORD", PASSWORD),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "none"),
        ("POLICY_FILE", "policy.toml"),
    ];
    let report = doctor(dir.path(), &env, &[]);
    assert_eq!(report.code, 1);
    let store = report.line("invitation store");
    assert!(store.starts_with("fail"), "{store}");
    assert!(
        store.contains("line 2") && store.contains("line 3"),
        "{store}"
    );
    let policy = report.line("policy");
    assert!(
        policy.starts_with(
            "fail  policy: policy file policy.toml: line 2: unknown key \"allowed_domain\""
        ),
        "{policy}"
    );
}

/// The table store answers a point read within the deadline, or the check fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_store_must_answer_within_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let azurite = Azurite::start().await;
    let connection = azurite.connection_string();
    let env = [
        ("BASIC_AUTH_USERNAME", "connector"),
        ("BASIC_AUTH_PASSWORD", PASSWORD),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "none"),
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", connection.as_str()),
    ];
    // The table does not exist yet.
    let report = doctor(dir.path(), &env, &[]);
    assert_eq!(
        report.status("invitation store"),
        "fail",
        "{}",
        report.stdout
    );
    // `invitations add` creates it.
    let created = Command::new(handler_binary())
        .args(["invitations", "add", "ada@contoso.com"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let report = doctor(dir.path(), &env, &[]);
    assert_eq!(report.code, 0, "{}", report.stdout);
    assert!(
        report
            .line("invitation store")
            .contains("answered a point read in")
    );

    let refusing = crate::helpers::RefusingPort::new();
    let closed = refusing.port;
    let unreachable = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:{closed}/devstoreaccount1;"
    );
    let mut env = env.to_vec();
    env.retain(|(k, _)| *k != "INVITATIONS_TABLE_CONNECTION");
    env.push(("INVITATIONS_TABLE_CONNECTION", unreachable.as_str()));
    let report = doctor(dir.path(), &env, &[]);
    assert_eq!(report.code, 1);
    assert_eq!(report.status("invitation store"), "fail");

    // A store that takes the connection and never answers: over the decision deadline.
    let hole = crate::table_store::black_hole().await;
    let hung = connection.replace(&format!(":{}/", azurite.port), &format!(":{hole}/"));
    env.retain(|(k, _)| *k != "INVITATIONS_TABLE_CONNECTION");
    env.push(("INVITATIONS_TABLE_CONNECTION", hung.as_str()));
    env.push(("DECISION_DEADLINE_MS", "300"));
    let report = doctor(dir.path(), &env, &[]);
    assert_eq!(report.code, 1);
    let line = report.line("invitation store");
    assert!(
        line.contains("did not answer within DECISION_DEADLINE_MS (300 ms)"),
        "{line}"
    );
}

/// The tenant's metadata and keys, fetched as the server fetches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_keys_must_be_reachable_and_the_tenants() {
    let (key, _) = keys();
    let server = KeyServer::start(&[key]).await;
    let dir = tempfile::tempdir().unwrap();
    // Another tenant's authority: its issuer is not ours.
    let env = sound(&server.authority(OTHER_TENANT));
    let report = doctor(dir.path(), &env_of(&env), &[]);
    assert_eq!(report.code, 1);
    assert!(
        report
            .line("tenant keys")
            .contains(&format!("is not tenant {TENANT}"))
    );
    // Nothing listening.
    let refusing = crate::helpers::RefusingPort::new();
    let closed = refusing.port;
    let env = sound(&format!("http://127.0.0.1:{closed}/{TENANT}/v2.0"));
    let report = doctor(dir.path(), &env_of(&env), &[]);
    assert_eq!(report.code, 1);
    assert_eq!(report.status("tenant keys"), "fail");
}

/// A running deployment: every function refuses a call without credentials, or it fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_answers_anyone_fails() {
    let (key, _) = keys();
    let server = KeyServer::start(&[key]).await;
    let authority = server.authority(TENANT);
    let protected = Launch::hosted(&[
        ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
        ("AUTH_EVENTS_TENANT_ID", TENANT),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT),
        ("AUTH_EVENTS_AUTHORITY", &authority),
    ])
    .start()
    .await;
    let open = Launch::hosted(&[("API_CONNECTOR_AUTH", "none")])
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = sound(&authority);
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &["--url", &protected.url(""), "--code", FUNCTION_KEY],
    );
    assert_eq!(report.code, 0, "{}", report.stdout);
    for function in [
        "SignUpValidation",
        "OnAttributeCollectionStart",
        "OnAttributeCollectionSubmit",
        "OnTokenIssuanceStart",
    ] {
        let line = report.line(&format!("deployment: {function}"));
        assert!(line.starts_with("ok"), "{line}");
    }
    let report = doctor(dir.path(), &env_of(&env), &["--url", &open.url("")]);
    assert_eq!(report.code, 1);
    for function in [
        "SignUpValidation",
        "OnAttributeCollectionStart",
        "OnTokenIssuanceStart",
    ] {
        let line = report.line(&format!("deployment: {function}"));
        assert!(line.contains("anyone could call it"), "{line}");
    }
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &["--url", "http://functions.example.com"],
    );
    assert_eq!(report.code, 1);
    assert!(report.line("deployment").contains("--url"));
}

/// Function keys are per function (a host key works for all): `--code KEY` calls every function
/// with the host key, `--code Function=KEY` one function with its own, the rest with the host
/// key when one is given too; no key is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_is_called_with_its_own_key_or_the_host_key() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes = {
        let seen = seen.clone();
        warp::post()
            .and(warp::path!("api" / String))
            .and(warp::query::<std::collections::HashMap<String, String>>())
            .map(
                move |function: String, query: std::collections::HashMap<String, String>| {
                    let code = query.get("code").cloned().unwrap_or_default();
                    seen.lock().unwrap().push((function.clone(), code));
                    let challenge = if function == "SignUpValidation" {
                        "Basic realm=\"SignUpValidation\""
                    } else {
                        "Bearer error=\"invalid_token\""
                    };
                    warp::http::Response::builder()
                        .status(401)
                        .header("www-authenticate", challenge)
                        .body(String::new())
                        .unwrap()
                },
            )
    };
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    let (key, _) = keys();
    let server = KeyServer::start(&[key]).await;
    let dir = tempfile::tempdir().unwrap();
    let env = sound(&server.authority(TENANT));
    let url = format!("http://127.0.0.1:{port}");
    let start_key = format!("OnAttributeCollectionStart={FUNCTION_KEY}-start");
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &["--url", &url, "--code", &start_key, "--code", FUNCTION_KEY],
    );
    assert_eq!(report.code, 0, "{}", report.stdout);
    let calls = seen.lock().unwrap().clone();
    let key_of = |function: &str| {
        calls
            .iter()
            .find(|(name, _)| name == function)
            .map(|(_, code)| code.clone())
            .unwrap_or_else(|| panic!("{function} was not called: {calls:?}"))
    };
    assert_eq!(
        key_of("OnAttributeCollectionStart"),
        format!("{FUNCTION_KEY}-start")
    );
    for function in [
        "SignUpValidation",
        "OnAttributeCollectionSubmit",
        "OnTokenIssuanceStart",
    ] {
        assert_eq!(key_of(function), FUNCTION_KEY, "{function}");
    }
}

/// A fix line says what fixes the error at hand: a URL without a scheme, a host that does not
/// resolve (one line, not one per function), a missing policy file.
#[test]
fn fix_lines_match_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let report = doctor(dir.path(), &[], &["--url", "localhost:7071"]);
    assert!(
        report
            .stdout
            .contains("fix: give the URL with its scheme: https://<app>.azurewebsites.net, or http://localhost:7071 for a local run"),
        "{}",
        report.stdout
    );
    let report = doctor(dir.path(), &[], &["--url", "https://nowhere.invalid"]);
    let lines: Vec<&str> = report
        .stdout
        .lines()
        .filter(|line| line.contains("deployment"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", report.stdout);
    assert!(
        lines[0].contains("https://nowhere.invalid does not answer"),
        "{}",
        report.stdout
    );
    let report = doctor(dir.path(), &[("POLICY_FILE", "policy.toml")], &[]);
    assert!(
        report.stdout.contains(
            "fix: create the file, or correct POLICY_FILE (relative to the function app root, and deployed with the app)"
        ),
        "{}",
        report.stdout
    );
}

/// A misspelt setting fails the settings check, naming what was meant; the defaults in force
/// are listed, and the sample's allow-list is a warning; in Azure an unset allow-list fails.
#[test]
fn misspelt_settings_fail_and_defaults_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let report = doctor(dir.path(), &[("ALLOWED_EMAIL_DOMAIN", "contoso.com")], &[]);
    assert_eq!(report.code, 1, "{}", report.stdout);
    let line = report.line("settings");
    assert!(
        line.starts_with("fail")
            && line.contains(
                "ALLOWED_EMAIL_DOMAIN is not a setting (did you mean ALLOWED_EMAIL_DOMAINS?)"
            ),
        "{line}"
    );
    let line = report.line("defaults");
    assert!(
        line.starts_with("warn")
            && line.contains("ALLOWED_EMAIL_DOMAINS=fabrikam.com, fabricam.com")
            && line.contains("DECISION_DEADLINE_MS=700"),
        "{line}"
    );
    let report = doctor(
        dir.path(),
        &[
            ("WEBSITE_SITE_NAME", "gate"),
            ("BASIC_AUTH_USERNAME", "u"),
            ("BASIC_AUTH_PASSWORD", PASSWORD),
        ],
        &[],
    );
    assert_eq!(report.code, 1, "{}", report.stdout);
    assert!(
        report
            .line("settings")
            .contains("ALLOWED_EMAIL_DOMAINS is not set: in Azure"),
        "{}",
        report.stdout
    );
    let report = doctor(
        dir.path(),
        &[
            ("WEBSITE_SITE_NAME", "gate"),
            ("ALLOWED_EMAIL_DOMAINS", "none"),
        ],
        &[],
    );
    assert!(
        report.line("settings").starts_with("ok"),
        "{}",
        report.stdout
    );
}

/// A deployment that refuses properly but slower than Entra waits is a warning; one whose
/// platform refuses without the handler's challenge (a missing function key) is a warning
/// that names --code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_or_platform_refused_deployment_warns() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes =
        warp::post()
            .and(warp::path!("api" / String))
            .then(|function: String| async move {
                let challenge = match function.as_str() {
                    "SignUpValidation" => "Basic realm=\"SignUpValidation\"",
                    "OnAttributeCollectionSubmit" => {
                        return warp::http::Response::builder()
                            .status(401)
                            .body(String::new())
                            .unwrap();
                    }
                    _ => "Bearer",
                };
                tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
                warp::http::Response::builder()
                    .status(401)
                    .header("www-authenticate", challenge)
                    .body(String::new())
                    .unwrap()
            });
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    let (key, _) = keys();
    let server = KeyServer::start(&[key]).await;
    let dir = tempfile::tempdir().unwrap();
    let report = doctor(
        dir.path(),
        &env_of(&sound(&server.authority(TENANT))),
        &["--url", &format!("http://127.0.0.1:{port}")],
    );
    assert_eq!(report.code, 0, "{}", report.stdout);
    for function in [
        "SignUpValidation",
        "OnAttributeCollectionStart",
        "OnTokenIssuanceStart",
    ] {
        let line = report.line(&format!("deployment: {function}"));
        assert!(
            line.starts_with("warn") && line.contains("Entra waits 1000 ms"),
            "{line}"
        );
    }
    let line = report.line("deployment: OnAttributeCollectionSubmit");
    assert!(
        line.starts_with("warn") && line.contains("without a Bearer challenge"),
        "{line}"
    );
    assert!(
        report.stdout.contains("pass --code with the function key"),
        "{}",
        report.stdout
    );
}

/// A loopback Microsoft Graph with the tenant's objects, shaped on Graph's documentation.
async fn graph(objects: Value) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes = warp::get()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("authorization"))
        .map(
            move |path: warp::path::FullPath, authorization: Option<String>| {
                if authorization.as_deref() != Some(&format!("Bearer {GRAPH_TOKEN}")) {
                    return warp::reply::with_status(
                        warp::reply::json(&json!({})),
                        warp::http::StatusCode::UNAUTHORIZED,
                    );
                }
                let path = percent_decode(path.as_str());
                match objects.get(&path) {
                    Some(body) => warp::reply::with_status(
                        warp::reply::json(body),
                        warp::http::StatusCode::OK,
                    ),
                    None => warp::reply::with_status(
                        warp::reply::json(&json!({"error": {"code": "Request_ResourceNotFound"}})),
                        warp::http::StatusCode::NOT_FOUND,
                    ),
                }
            },
        );
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    port
}

fn percent_decode(path: &str) -> String {
    path.replace("%27", "'")
        .replace("%28", "(")
        .replace("%29", ")")
}

fn tenant_objects(resource: &str, consent: bool, flows_use_it: bool) -> Value {
    let extension = json!({
        "@odata.type": "#microsoft.graph.onAttributeCollectionStartCustomExtension",
        "id": "6fc5012e-7665-43d6-9708-4370863f4e6e",
        "displayName": "Invite-only start",
        "endpointConfiguration": {"@odata.type": "#microsoft.graph.httpRequestEndpoint",
                                  "targetUrl": "https://127.0.0.1/api/OnAttributeCollectionStart?code=x"},
        "authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
                                        "resourceId": resource}
    });
    let flow = json!({
        "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
        "id": "0313cc37-d421-421d-857b-d0ffca0ad2ac",
        "displayName": "Invite-only sign-up",
        "onAttributeCollectionStart": if flows_use_it {
            json!({"@odata.type": "#microsoft.graph.onAttributeCollectionStartCustomExtensionHandler",
                   "customExtension": {"id": "6fc5012e-7665-43d6-9708-4370863f4e6e"}})
        } else {
            json!({"@odata.type": "#microsoft.graph.onAttributeCollectionStartHandler"})
        }
    });
    let assignments = if consent {
        json!([{"appRoleId": "214e810f-fda8-4fd7-a475-29461495eb00",
                "resourceId": "8c2f6d5e-0000-0000-0000-000000000001", "resourceDisplayName": "Microsoft Graph"}])
    } else {
        json!([])
    };
    let mut objects = json!({
        "/v1.0/servicePrincipals(appId='99045fe1-7639-4a75-9d4a-577b6ca3810f')": {"id": "e4d6c6b1-0000-0000-0000-000000000001", "appId": "99045fe1-7639-4a75-9d4a-577b6ca3810f"},
        "/v1.0/servicePrincipals/e4d6c6b1-0000-0000-0000-000000000002/appRoleAssignments": {"value": assignments},
        "/v1.0/identity/customAuthenticationExtensions": {"value": [extension]},
        "/v1.0/identity/authenticationEventsFlows": {"value": [flow]},
        "/v1.0/identity/authenticationEventListeners": {"value": []}
    });
    objects[format!("/v1.0/servicePrincipals(appId='{CLIENT}')")] =
        json!({"id": "e4d6c6b1-0000-0000-0000-000000000002", "appId": CLIENT});
    objects
}

/// The tenant through Graph: the extension's resource and function, its user flow, the events
/// service, admin consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_configuration_is_checked_through_graph() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        ("API_CONNECTOR_AUTH", "none".to_owned()),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt".to_owned()),
        ("AUTH_EVENTS_TENANT_ID", TENANT.to_owned()),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT.to_owned()),
        // Keys and deployment are not what this test is about.
        (
            "AUTH_EVENTS_AUTHORITY",
            "http://127.0.0.1:9/none/v2.0".to_owned(),
        ),
        ("WEBSITE_HOSTNAME", "127.0.0.1".to_owned()),
    ];
    let good = graph(tenant_objects(
        &format!("api://127.0.0.1/{CLIENT}"),
        true,
        true,
    ))
    .await;
    let graph_url = format!("http://127.0.0.1:{good}");
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &["--graph-url", &graph_url, "--graph-token", GRAPH_TOKEN],
    );
    assert_eq!(
        report.status("tenant: authentication events service"),
        "ok",
        "{}",
        report.stdout
    );
    assert_eq!(report.status("tenant: admin consent"), "ok");
    let line = report.line("tenant: extension Invite-only start");
    assert!(
        line.starts_with("ok") && line.contains("used by Invite-only sign-up"),
        "{line}"
    );
    // Graph documents a handler's customExtension as a relationship, which a response may
    // leave out: then whether the flow uses this extension is not known, no reason to warn.
    let mut unnamed = tenant_objects(&format!("api://127.0.0.1/{CLIENT}"), true, true);
    unnamed["/v1.0/identity/authenticationEventsFlows"]["value"][0]["onAttributeCollectionStart"]
        .as_object_mut()
        .unwrap()
        .remove("customExtension");
    let port = graph(unnamed).await;
    let graph_url = format!("http://127.0.0.1:{port}");
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &["--graph-url", &graph_url, "--graph-token", GRAPH_TOKEN],
    );
    let line = report.line("tenant: extension Invite-only start");
    assert!(
        line.starts_with("ok") && line.contains("not known"),
        "{line}"
    );
    // No user flow or listener calls any extension: this one is unused.
    let port = graph(tenant_objects(
        &format!("api://127.0.0.1/{CLIENT}"),
        true,
        false,
    ))
    .await;
    let graph_url = format!("http://127.0.0.1:{port}");
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &["--graph-url", &graph_url, "--graph-token", GRAPH_TOKEN],
    );
    let line = report.line("tenant: extension Invite-only start");
    assert!(
        line.starts_with("warn") && line.contains("no user flow or listener uses it"),
        "{line}"
    );
    // An unnamed handler of another event says nothing about this one.
    let mut other_event = tenant_objects(&format!("api://127.0.0.1/{CLIENT}"), true, false);
    other_event["/v1.0/identity/authenticationEventsFlows"]["value"][0]["onAttributeCollectionSubmit"] =
        json!({"@odata.type": "#microsoft.graph.onAttributeCollectionSubmitCustomExtensionHandler"});
    let port = graph(other_event).await;
    let graph_url = format!("http://127.0.0.1:{port}");
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &["--graph-url", &graph_url, "--graph-token", GRAPH_TOKEN],
    );
    let line = report.line("tenant: extension Invite-only start");
    assert!(
        line.starts_with("warn") && line.contains("no user flow or listener uses it"),
        "{line}"
    );

    let bad = graph(tenant_objects(&format!("api://{CLIENT}"), false, false)).await;
    let graph_url = format!("http://127.0.0.1:{bad}");
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &[
            "--graph-url",
            &graph_url,
            "--graph-token",
            GRAPH_TOKEN,
            "--json",
        ],
    );
    assert_eq!(report.code, 1);
    let checks: Value = serde_json::from_str(&report.stdout).unwrap();
    let find = |name: &str| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name}: {checks:#}"))
            .clone()
    };
    assert_eq!(find("tenant: admin consent")["status"], "fail");
    assert!(
        find("tenant: admin consent")["message"]
            .as_str()
            .unwrap()
            .contains("1003021")
    );
    let extension = find("tenant: extension Invite-only start");
    assert_eq!(extension["status"], "fail");
    assert!(
        extension["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("api://127.0.0.1/{CLIENT}"))
    );

    // A token Graph refuses, and no token at all.
    let report = doctor(
        dir.path(),
        &env_of(&env),
        &["--graph-url", &graph_url, "--graph-token", "wrong-token"],
    );
    assert!(
        report
            .line("tenant: authentication events service")
            .contains("HTTP 401")
    );
    let report = doctor(dir.path(), &env_of(&env), &[]);
    assert_eq!(report.status("tenant"), "skip");
}

/// The missing service principal of the authentication events service fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_without_the_events_service_principal_fails() {
    let mut objects = tenant_objects(&format!("api://127.0.0.1/{CLIENT}"), true, true);
    objects
        .as_object_mut()
        .unwrap()
        .remove("/v1.0/servicePrincipals(appId='99045fe1-7639-4a75-9d4a-577b6ca3810f')");
    let port = graph(objects).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("API_CONNECTOR_AUTH", "none"),
        ("AUTH_EVENTS_TENANT_ID", TENANT),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT),
        ("AUTH_EVENTS_AUTHORITY", "http://127.0.0.1:9/none/v2.0"),
        ("WEBSITE_HOSTNAME", "127.0.0.1"),
    ];
    let report = doctor(
        dir.path(),
        &env,
        &[
            "--graph-url",
            &format!("http://127.0.0.1:{port}"),
            "--graph-token",
            GRAPH_TOKEN,
        ],
    );
    assert_eq!(report.code, 1);
    assert_eq!(
        report.status("tenant: authentication events service"),
        "fail"
    );
    assert!(
        report.stdout.contains(
            "      fix: create it: az ad sp create --id 99045fe1-7639-4a75-9d4a-577b6ca3810f"
        ),
        "{}",
        report.stdout
    );
}

/// A package folder as `func azure functionapp publish` packs it: host.json, the function
/// folders, and `handler` (here this machine's own test build of it).
fn package_folder(dir: &Path, with_policy: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("host.json"), dir.join("host.json")).unwrap();
    for function in [
        "SignUpValidation",
        "OnAttributeCollectionStart",
        "OnAttributeCollectionSubmit",
        "OnTokenIssuanceStart",
    ] {
        std::fs::create_dir_all(dir.join(function)).unwrap();
        std::fs::copy(
            root.join(function).join("function.json"),
            dir.join(function).join("function.json"),
        )
        .unwrap();
    }
    std::fs::copy(handler_binary(), dir.join("handler")).unwrap();
    if with_policy {
        std::fs::write(dir.join("policy.toml"), "[default]\n").unwrap();
    }
}

/// Zips `dir` as scripts/package.py does, with `handler`'s mode as given.
fn zip_folder(dir: &Path, out: &Path, handler_mode: u32) {
    let status = Command::new("python3")
        .args([
            "-c",
            "import os, sys, zipfile\n\
             root, out, mode = sys.argv[1], sys.argv[2], int(sys.argv[3], 8)\n\
             with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:\n\
             \x20   for folder, _, files in os.walk(root):\n\
             \x20       for name in files:\n\
             \x20           path = os.path.join(folder, name)\n\
             \x20           rel = os.path.relpath(path, root)\n\
             \x20           info = zipfile.ZipInfo.from_file(path, rel)\n\
             \x20           info.compress_type = zipfile.ZIP_DEFLATED\n\
             \x20           bits = mode if rel == 'handler' else 0o644\n\
             \x20           info.external_attr = (0o100000 | bits) << 16\n\
             \x20           z.writestr(info, open(path, 'rb').read())\n",
        ])
        .arg(dir)
        .arg(out)
        .arg(format!("{handler_mode:o}"))
        .status()
        .unwrap();
    assert!(status.success());
}

/// What a local run builds is not what Azure runs: a package holding this machine's build
/// (glibc newer than 2.28) is refused, and so is one without the policy file the settings name,
/// one whose handler lost its execute bit, one that is not an ELF file, and one built from
/// other sources than the checkout's.
#[test]
fn a_package_that_azure_cannot_run_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("app");
    std::fs::create_dir(&folder).unwrap();
    package_folder(&folder, false);
    let env = [
        ("POLICY_FILE", "policy.toml"),
        ("ALLOWED_EMAIL_DOMAINS", "none"),
    ];
    let folder_arg = folder.to_str().unwrap();
    // The policy file the settings name is missing; doctor does not even need --url.
    let report = doctor(
        work.path(),
        &[("ALLOWED_EMAIL_DOMAINS", "none")],
        &["--package", folder_arg],
    );
    let line = report.line("package: executable");
    assert!(
        line.starts_with("fail")
            && line.contains("needs glibc 2.")
            && line.contains("built for this machine, not for Azure"),
        "{line}"
    );
    std::fs::write(work.path().join("policy.toml"), "[default]\n").unwrap();
    let report = doctor(work.path(), &env, &["--package", folder_arg]);
    assert_eq!(report.code, 1);
    let line = report.line("package: files");
    assert!(
        line.starts_with("fail")
            && line.contains("policy.toml (POLICY_FILE; without it the app exits 78)"),
        "{line}"
    );
    assert!(
        !report.stdout.contains("tenant keys") && !report.stdout.contains("invitation store"),
        "--package checks nothing over the network:\n{}",
        report.stdout
    );
    // In a zip: the execute bit.
    std::fs::write(folder.join("policy.toml"), "[default]\n").unwrap();
    std::fs::write(
        folder.join("invitations.csv"),
        "email,application_id,expires_at\n",
    )
    .unwrap();
    let zip = work.path().join("package.zip");
    zip_folder(&folder, &zip, 0o644);
    let report = doctor(work.path(), &env, &["--package", zip.to_str().unwrap()]);
    assert!(
        report.line("package: files").starts_with("ok"),
        "{}",
        report.stdout
    );
    let line = report.line("package: executable");
    assert!(line.starts_with("fail"), "{line}");
    // Not an ELF file at all.
    std::fs::write(folder.join("handler"), b"MZ\x90\x00 a Windows build").unwrap();
    zip_folder(&folder, &zip, 0o755);
    let report = doctor(work.path(), &env, &["--package", zip.to_str().unwrap()]);
    let line = report.line("package: executable");
    assert!(
        line.contains("handler is not an ELF file (Linux executable): it is a Windows executable"),
        "{line}"
    );
}

/// The build info a package check reads: `handler --version` prints it.
#[test]
fn the_version_names_the_commit_the_sources_and_the_target() {
    let output = Command::new(handler_binary())
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("handler {}", env!("CARGO_PKG_VERSION")));
    assert!(lines[1].starts_with("commit: "), "{text}");
    assert!(
        lines[2].starts_with("sources: sha256:") && lines[2].len() == 80,
        "{text}"
    );
    assert!(lines[3].starts_with("target: x86_64-"), "{text}");
}

/// The local-run override of host.json's executable belongs in a local run's own environment
/// only: in local.settings.json (which can be published) or in Azure it fails.
#[test]
fn the_executable_override_stays_out_of_settings_that_reach_azure() {
    let name = "AzureFunctionsJobHost__customHandler__description__defaultExecutablePath";
    let dir = tempfile::tempdir().unwrap();
    let report = doctor(dir.path(), &[(name, "target/release/handler")], &[]);
    assert!(
        report.line("executable").starts_with("ok"),
        "{}",
        report.stdout
    );
    std::fs::write(
        dir.path().join("local.settings.json"),
        format!(r#"{{"IsEncrypted": false, "Values": {{"{name}": "target/release/handler"}}}}"#),
    )
    .unwrap();
    let report = doctor(dir.path(), &[], &[]);
    assert_eq!(report.code, 1);
    assert!(
        report
            .line("executable")
            .contains("is set in local.settings.json"),
        "{}",
        report.stdout
    );
    let other = tempfile::tempdir().unwrap();
    let report = doctor(
        other.path(),
        &[
            (name, "target/release/handler"),
            ("WEBSITE_SITE_NAME", "gate"),
        ],
        &[],
    );
    assert!(
        report.line("executable").contains("is set in Azure"),
        "{}",
        report.stdout
    );
}
