//! Invitations in Azure Table Storage, against Azurite on loopback: the CLI round trip, the
//! sign-up record, and a store that is down, slow or missing its table (each answered within the
//! deadline with a block, never an admit).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::{Azurite, Launch, RECORDS, RefusingPort, TestApp};

const START: &str = "OnAttributeCollectionStart";
const SUBMIT: &str = "OnAttributeCollectionSubmit";
const APP: &str = "44445555-eeee-6666-ffff-7777aaaa8888";

async fn table_app(connection: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("RUST_LOG", RECORDS),
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", connection),
    ];
    settings.extend_from_slice(extra);
    Launch::hosted(&settings).start().await
}

fn event(kind: &str, email: &str) -> Value {
    json!({"type": format!("microsoft.graph.authenticationEvent.attributeCollection{kind}"),
           "data": {"authenticationContext": {"clientServicePrincipal": {"appId": APP}},
                    "userSignUpInfo": {"identities": [{"signInType": "email", "issuerAssignedId": email}],
                                       "attributes": {"email": {"value": email}}}}})
}

fn action_of(answer: &Value) -> String {
    let action = answer["data"]["actions"][0]["@odata.type"]
        .as_str()
        .unwrap_or_default();
    action.rsplit('.').next().unwrap_or_default().to_owned()
}

fn cli(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let output = app.cli(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_and_the_server_share_the_table_and_sign_ups_are_recorded() {
    let azurite = Azurite::start().await;
    let app = table_app(&azurite.connection_string(), &[]).await;
    let (code, stdout, _) = cli(
        &app,
        &[
            "invitations",
            "add",
            "Ada@Contoso.com",
            "--set",
            "displayName=Ada",
            "--enforce",
            "jobTitle=Analyst",
        ],
    );
    assert_eq!(
        (code, stdout.as_str()),
        (0, "added ada@contoso.com in table Invitations\n")
    );
    // No reload needed: every decision reads the table.
    let (_, _, answer) = app.event(START, &event("Start", "ada@contoso.com")).await;
    assert_eq!(
        answer["data"]["actions"][0]["inputs"],
        json!({"displayName": "Ada", "jobTitle": "Analyst"})
    );
    let (_, _, answer) = app.event(SUBMIT, &event("Submit", "ada@contoso.com")).await;
    assert_eq!(action_of(&answer), "modifyAttributeValues");

    // The Submit that admitted is recorded on the invitation (in the background).
    app.logs_containing("the sign-up of a***@contoso.com is on record")
        .await;
    let (code, stdout, stderr) = cli(&app, &["invitations", "list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let listed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(listed[0]["email"], "ada@contoso.com");
    assert_eq!(listed[0]["signed_up_application"], APP);
    let (_, stdout, _) = cli(&app, &["invitations", "list"]);
    assert!(
        stdout.contains(&"signed up: ".to_string()) && stdout.contains(&format!("({APP})")),
        "{stdout}"
    );

    let (code, stdout, _) = cli(&app, &["invitations", "check", "ada@contoso.com"]);
    assert_eq!(code, 0, "{stdout}");
    let (code, _, _) = cli(&app, &["invitations", "remove", "ada@contoso.com"]);
    assert_eq!(code, 0);
    let (_, _, answer) = app.event(START, &event("Start", "ada@contoso.com")).await;
    assert_eq!(action_of(&answer), "showBlockPage");
    let (code, _, stderr) = cli(&app, &["invitations", "remove", "ada@contoso.com"]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            1,
            "ada@contoso.com has no invitation in table Invitations\n"
        )
    );
}

#[tokio::test]
async fn import_pages_and_reports() {
    let azurite = Azurite::start().await;
    let app = table_app(&azurite.connection_string(), &[]).await;
    let mut csv = String::from("email,application_id,expires_at,displayName\n");
    for i in 0..1200 {
        csv.push_str(&format!("user{i}@contoso.com,,,User {i}\n"));
    }
    csv.push_str("broken,,,\nuser7@contoso.com,,,Again\n");
    std::fs::write(app.dir().join("many.csv"), csv).unwrap();
    let (code, stdout, stderr) = cli(&app, &["invitations", "import", "many.csv"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout,
        "imported many.csv into table Invitations: 1200 added, 0 updated, 0 unchanged, 2 invalid\n"
    );
    assert!(stderr.contains("1200/1200 written"), "{stderr}");
    assert!(
        stderr.contains("many.csv: line 1203: duplicate of the address on line 9"),
        "{stderr}"
    );
    // More than one page (1,000) comes back from list.
    let (_, stdout, _) = cli(&app, &["invitations", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1200
    );
    let (code, stdout, _) = cli(&app, &["invitations", "import", "many.csv"]);
    assert_eq!(
        (code, stdout.as_str()),
        (
            1,
            "imported many.csv into table Invitations: 0 added, 0 updated, 1200 unchanged, 2 invalid\n"
        )
    );
}

/// Sends a Start event and checks it is blocked with "try again later". (How soon is measured,
/// not asserted: PERFORMANCE.md, "A store that hangs".)
async fn blocked_for_now(app: &TestApp) {
    let (status, _, answer) = app.event(START, &event("Start", "ada@contoso.com")).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["data"]["actions"][0],
        json!({"@odata.type": "microsoft.graph.attributeCollectionStart.showBlockPage",
               "title": "Please try again later",
               "message": "We cannot check your invitation right now. Please try again in a few minutes."})
    );
}

#[tokio::test]
async fn a_store_that_goes_down_blocks_within_the_deadline() {
    let mut azurite = Azurite::start().await;
    let app = table_app(
        &azurite.connection_string(),
        &[("DECISION_DEADLINE_MS", "300")],
    )
    .await;
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    // The store answers (a first lookup on a busy machine may miss the 300 ms: retried).
    app.event_until(START, &event("Start", "ada@contoso.com"), |answer| {
        action_of(answer) == "continueWithDefaultBehavior"
    })
    .await;
    azurite.stop();
    blocked_for_now(&app).await;
    let logs = app.logs_containing("answering with a block").await;
    // The request's URL holds the address's keys: it must not reach the log.
    assert!(
        logs.contains("cannot reach http://127.0.0.1:") && !logs.contains("RowKey"),
        "{logs}"
    );
    assert!(!logs.contains("ada@") && !logs.contains("'ada'"), "{logs}");
}

/// A loopback proxy that accepts connections and never answers, like a store that hangs.
pub(crate) async fn black_hole() -> u16 {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..64 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.flush().await;
            held.push(stream);
        }
    });
    port
}

/// A loopback proxy in front of Azurite that waits `delay` before passing each connection on.
async fn slow_proxy(upstream: u16, delay: Duration) -> u16 {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut outbound) =
                    tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_slow_store_blocks_within_the_deadline() {
    let azurite = Azurite::start().await;
    let direct = table_app(&azurite.connection_string(), &[]).await;
    assert_eq!(
        cli(&direct, &["invitations", "add", "ada@contoso.com"]).0,
        0
    );
    let proxy = slow_proxy(azurite.port, Duration::from_secs(5)).await;
    let slow = azurite
        .connection_string()
        .replace(&format!(":{}/", azurite.port), &format!(":{proxy}/"));
    let app = table_app(&slow, &[("DECISION_DEADLINE_MS", "300")]).await;
    blocked_for_now(&app).await;
    // The store's own timeout or the decision deadline, whichever fires first.
    app.logs_containing("answering with a block").await;

    let hole = black_hole().await;
    let hung = azurite
        .connection_string()
        .replace(&format!(":{}/", azurite.port), &format!(":{hole}/"));
    let app = table_app(&hung, &[("DECISION_DEADLINE_MS", "300")]).await;
    blocked_for_now(&app).await;
    // Blocked by the deadline: the store never answered.
    app.logs_containing(
        "the invitation store did not answer within 300 ms (looking up a***@contoso.com)",
    )
    .await;
}

#[tokio::test]
async fn a_missing_table_is_reported_and_never_created_by_the_server() {
    let azurite = Azurite::start().await;
    let app = table_app(
        &azurite.connection_string(),
        &[("INVITATIONS_TABLE", "Nowhere")],
    )
    .await;
    blocked_for_now(&app).await;
    app.logs_containing("table Nowhere does not exist").await;
    // Still missing: the server only reads.
    let (code, _, stderr) = cli(&app, &["invitations", "list"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("table Nowhere does not exist"), "{stderr}");
}

/// A wrong endpoint path, or an account the service does not know, answers every point read
/// like a missing row: the server asks the table itself at start-up, says what is wrong, and
/// counts the store as unavailable ("try again later", never "not invited") until it answers.
#[tokio::test]
async fn a_wrong_table_endpoint_is_unavailable_not_empty() {
    let azurite = Azurite::start().await;
    let right = table_app(&azurite.connection_string(), &[]).await;
    assert_eq!(cli(&right, &["invitations", "add", "ada@contoso.com"]).0, 0);
    for wrong in ["/devstoreaccount2;", "/wrong/path;"] {
        let connection = azurite
            .connection_string()
            .replace("/devstoreaccount1;", wrong);
        let app = table_app(&connection, &[("DECISION_DEADLINE_MS", "300")]).await;
        app.logs_containing("the endpoint answers 404 without naming the table")
            .await;
        blocked_for_now(&app).await;
        let (code, _, stderr) = cli(&app, &["invitations", "add", "bob@contoso.com"]);
        assert_eq!(code, 2);
        assert!(
            stderr.contains("the endpoint answers 404 without naming the table")
                && stderr.contains("fix: the table endpoint must be the account's Table service"),
            "{stderr}"
        );
    }
}

/// A redirect from the table endpoint is a store failure: the answer must come from the
/// endpoint configured, never from wherever it points.
#[tokio::test]
async fn redirects_from_the_table_endpoint_are_not_followed() {
    use warp::Filter;
    let azurite = Azurite::start().await;
    let right = table_app(&azurite.connection_string(), &[]).await;
    assert_eq!(cli(&right, &["invitations", "add", "ada@contoso.com"]).0, 0);
    let target = azurite.port;
    let redirect = warp::path::full().map(move |path: warp::path::FullPath| {
        warp::http::Response::builder()
            .status(307)
            .header(
                "location",
                format!("http://127.0.0.1:{target}{}", path.as_str()),
            )
            .body(String::new())
            .unwrap()
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(warp::serve(redirect).incoming(listener).run());
    let connection = azurite
        .connection_string()
        .replace(&format!(":{}/", azurite.port), &format!(":{port}/"));
    let app = table_app(&connection, &[("DECISION_DEADLINE_MS", "300")]).await;
    app.logs_containing("HTTP 307: the endpoint answers with a redirect, which is not followed")
        .await;
    blocked_for_now(&app).await;
}

/// With the store down at start-up the server still starts (token issuance and the rest must
/// run), says so at once, and the CLI fails fast instead of retrying for seconds.
#[tokio::test]
async fn an_unreachable_store_is_said_at_start_up_and_the_cli_fails_fast() {
    let refusing = RefusingPort::new();
    let port = refusing.port;
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={};TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
        crate::helpers::AZURITE_KEY
    );
    let app = table_app(&connection, &[("DECISION_DEADLINE_MS", "300")]).await;
    app.logs_containing("until it answers, every lookup fails")
        .await;
    // With the table calls' debug lines on, which name every attempt after the first.
    let output = app.cli_with(
        &["invitations", "list"],
        &[("RUST_LOG", "signup_gate::invitations::table=debug")],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach http://127.0.0.1:")
            && stderr.contains("fix: check the endpoint and that the storage account is reachable"),
        "{stderr}"
    );
    // One attempt, no back-off.
    assert!(!stderr.contains("attempt 2"), "{stderr}");
}

#[tokio::test]
async fn nothing_listens_on_the_store_port() {
    let refusing = RefusingPort::new();
    let port = refusing.port;
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={};TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
        crate::helpers::AZURITE_KEY
    );
    let app = table_app(&connection, &[("DECISION_DEADLINE_MS", "300")]).await;
    blocked_for_now(&app).await;
}

/// A stand-in for the Table service and the platform's identity endpoint on loopback: it answers
/// point reads for `ada@contoso.com` only with the right bearer token, or always with `status`.
struct FakeAzure {
    port: u16,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeAzure {
    async fn start(status: u16) -> Self {
        use std::sync::atomic::Ordering;
        use warp::Filter;
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let identity = warp::path!("msi" / "token")
            .and(warp::query::<std::collections::HashMap<String, String>>())
            .and(warp::header::optional::<String>("x-identity-header"))
            .map(|query: std::collections::HashMap<String, String>, secret: Option<String>| {
                let ok = secret.as_deref() == Some("identity-secret")
                    && query.get("resource").map(String::as_str) == Some("https://storage.azure.com/");
                let expires_on = (std::time::SystemTime::now() + Duration::from_secs(3600))
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let body = json!({"access_token": "storage-token", "expires_on": expires_on.to_string()});
                let status = if ok { warp::http::StatusCode::OK } else { warp::http::StatusCode::BAD_REQUEST };
                warp::reply::with_status(warp::reply::json(&body), status)
            });
        let table = {
            let reads = reads.clone();
            warp::path!("gatestore" / String)
                .and(warp::header::optional::<String>("authorization"))
                .map(move |resource: String, authorization: Option<String>| {
                    if resource == "Invitations()" {
                        // The check that the table answers (a query of at most one row) passes:
                        // the faults are the point reads'.
                        let empty = json!({"value": []}).to_string();
                        return warp::http::Response::builder().status(200).body(empty).unwrap_or_default();
                    }
                    reads.fetch_add(1, Ordering::SeqCst);
                    let response = if status != 200 {
                        warp::http::Response::builder().status(status).header("x-ms-error-code", "ServerBusy").body(String::new())
                    } else if authorization.as_deref() != Some("Bearer storage-token") {
                        warp::http::Response::builder().status(403).body(String::new())
                    } else if resource == "Invitations(PartitionKey='contoso.com',RowKey='ada')" {
                        let entity = json!({"PartitionKey": "contoso.com", "RowKey": "ada", "Email": "ada@contoso.com",
                                            "Attributes": "{\"displayName\":\"Ada\"}", "Enforced": "{}"});
                        warp::http::Response::builder().status(200).header("etag", "W/\"1\"").body(entity.to_string())
                    } else {
                        warp::http::Response::builder().status(404).header("x-ms-error-code", "ResourceNotFound").body(String::new())
                    };
                    response.unwrap_or_default()
                })
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            warp::serve(identity.or(table))
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.await;
                })
                .run(),
        );
        Self {
            port,
            reads,
            _stop: stop,
        }
    }

    fn reads(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn app(&self, extra: &[(&str, &str)]) -> TestApp {
        let endpoint = format!("http://127.0.0.1:{}/gatestore", self.port);
        let identity = format!("http://127.0.0.1:{}/msi/token", self.port);
        let mut settings = vec![
            ("ALLOWED_EMAIL_DOMAINS", ""),
            ("INVITATION_STORE", "table"),
            ("INVITATIONS_TABLE_ENDPOINT", endpoint.as_str()),
            ("IDENTITY_ENDPOINT", identity.as_str()),
            ("IDENTITY_HEADER", "identity-secret"),
        ];
        settings.extend_from_slice(extra);
        Launch::hosted(&settings).start().await
    }
}

#[tokio::test]
async fn a_managed_identity_token_reads_the_table() {
    let azure = FakeAzure::start(200).await;
    let app = azure.app(&[]).await;
    let (_, _, answer) = app.event(START, &event("Start", "ada@contoso.com")).await;
    assert_eq!(
        answer["data"]["actions"][0]["inputs"],
        json!({"displayName": "Ada"})
    );
    let (_, _, answer) = app.event(START, &event("Start", "bob@contoso.com")).await;
    assert_eq!(action_of(&answer), "showBlockPage");
}

#[tokio::test]
async fn throttling_blocks_at_once_without_a_retry() {
    // The store answers at once: the block comes from its answer, not from the deadline, which is
    // long so that a machine busy with other tests cannot turn the answer into a missed deadline.
    let azure = FakeAzure::start(503).await;
    let app = azure.app(&[("DECISION_DEADLINE_MS", "10000")]).await;
    blocked_for_now(&app).await;
    app.logs_containing("throttled (HTTP 503)").await;
    assert_eq!(azure.reads(), 1, "a throttled read is not retried");
    let azure = FakeAzure::start(500).await;
    let app = azure.app(&[("DECISION_DEADLINE_MS", "10000")]).await;
    blocked_for_now(&app).await;
    assert_eq!(azure.reads(), 2, "a transient failure is retried once");
}
