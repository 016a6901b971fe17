//! Application Insights: decisions and metrics reach the connection string's ingestion endpoint
//! (a loopback stand-in here, which accepts what Application Insights accepts: a gzip'd JSON
//! array of envelopes), never slow or change a decision, are flushed on SIGTERM, and carry no
//! address, token or secret.

use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{Launch, PASSWORD, RefusingPort, TestApp, json_answer};

const APP: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const TENANT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
const ENTRA_CORRELATION: &str = "5c0d1e2f-3a4b-4c5d-8e9f-0a1b2c3d4e5f";
const KEY: &str = "00000000-1111-2222-3333-444444444444";
const INVITATIONS: &str = "email,application_id,expires_at,displayName,claim:department\n\
    ada@contoso.com,,,Ada Lovelace,Secret-Department-Value\n";

/// How the stand-in answers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// 200 with every item accepted, as Application Insights answers.
    Accept,
    /// Reads the request and never answers.
    Hang,
    /// Answers 307 to the same path on this loopback port.
    Redirect(u16),
}

/// A loopback ingestion endpoint that keeps what it is sent, unzipped.
struct Ingestion {
    port: u16,
    received: Arc<Mutex<Vec<Upload>>>,
    /// Told of every upload.
    arrived: Arc<tokio::sync::Notify>,
}

#[derive(Clone, Debug)]
struct Upload {
    path: String,
    encoding: String,
    /// The `Authorization` header, if any.
    authorization: String,
    body: String,
}

impl Ingestion {
    async fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let (kept, told) = (received.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, mode, kept.clone(), told.clone()));
            }
        });
        Self {
            port,
            received,
            arrived,
        }
    }

    fn connection_string(&self) -> String {
        format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{}/;LiveEndpoint=http://127.0.0.1:{}/",
            self.port, self.port
        )
    }

    /// Every envelope received so far.
    fn envelopes(&self) -> Vec<Value> {
        self.uploads()
            .iter()
            .flat_map(|upload| match serde_json::from_str::<Value>(&upload.body) {
                Ok(Value::Array(items)) => items,
                other => panic!("not a JSON array of envelopes: {other:?}"),
            })
            .collect()
    }

    fn uploads(&self) -> Vec<Upload> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (at most 20 s: the exporter sends every few seconds) until an upload arrives.
    async fn wait_for_upload(&self) {
        let arrived = self.arrived.notified();
        tokio::pin!(arrived);
        arrived.as_mut().enable();
        if self.uploads().is_empty() {
            tokio::time::timeout(Duration::from_secs(20), arrived)
                .await
                .expect("an upload in time");
        }
    }

    /// The requests (decisions) received, by function name.
    /// The name of every metric received.
    fn metric_names(&self) -> Vec<String> {
        self.envelopes()
            .iter()
            .filter(|e| e["data"]["baseType"] == "MetricData")
            .flat_map(|e| {
                e["data"]["baseData"]["metrics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|m| m["name"].as_str().map(str::to_owned))
            .collect()
    }

    fn requests(&self) -> Vec<Value> {
        self.envelopes()
            .into_iter()
            .filter(|envelope| envelope["data"]["baseType"] == "RequestData")
            .collect()
    }
}

/// One connection: HTTP/1.1 requests with a Content-Length body, kept alive.
async fn serve(
    mut stream: TcpStream,
    mode: Mode,
    kept: Arc<Mutex<Vec<Upload>>>,
    arrived: Arc<tokio::sync::Notify>,
) {
    let mut buffer = Vec::new();
    loop {
        let head_end = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
        let header = |name: &str| {
            head.lines()
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let length: usize = header("content-length").parse().unwrap_or(0);
        while buffer.len() < head_end + length {
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buffer.drain(..head_end + length).skip(head_end).collect();
        let encoding = header("content-encoding");
        let text = if encoding.eq_ignore_ascii_case("gzip") {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .expect("a gzip'd body");
            text
        } else {
            String::from_utf8_lossy(&body).to_string()
        };
        let items = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0);
        kept.lock().unwrap().push(Upload {
            path: head.lines().next().unwrap_or_default().to_owned(),
            encoding,
            authorization: header("authorization"),
            body: text,
        });
        arrived.notify_waiters();
        if mode == Mode::Hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        if let Mode::Redirect(port) = mode {
            let path = head
                .lines()
                .next()
                .and_then(|line| line.split(' ').nth(1))
                .unwrap_or("/")
                .to_owned();
            let response = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: http://127.0.0.1:{port}{path}\r\ncontent-length: 0\r\n\r\n"
            );
            if stream.write_all(response.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let answer =
            json!({"itemsReceived": items, "itemsAccepted": items, "errors": []}).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn app_with(connection_string: Option<&str>) -> TestApp {
    let mut launch =
        Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com")]).invitations(INVITATIONS);
    if let Some(connection_string) = connection_string {
        launch.set("APPLICATIONINSIGHTS_CONNECTION_STRING", connection_string);
    }
    launch.start().await
}

fn start_event(email: &str) -> Value {
    json!({
        "type": "microsoft.graph.authenticationEvent.attributeCollectionStart",
        "data": {
            "@odata.type": "microsoft.graph.onAttributeCollectionStartCalloutData",
            "tenantId": TENANT,
            "authenticationContext": {
                "correlationId": ENTRA_CORRELATION,
                "client": {"ip": "203.0.113.9", "locale": "de-de", "market": "de-de"},
                "clientServicePrincipal": {"appId": APP}
            },
            "userSignUpInfo": {"identities": [{"signInType": "email", "issuerAssignedId": email}]}
        }
    })
}

fn token_event(email: &str) -> Value {
    json!({
        "type": "microsoft.graph.authenticationEvent.tokenIssuanceStart",
        "data": {
            "@odata.type": "microsoft.graph.onTokenIssuanceStartCalloutData",
            "tenantId": TENANT,
            "authenticationContext": {
                "correlationId": ENTRA_CORRELATION,
                "clientServicePrincipal": {"appId": APP},
                "user": {"mail": email}
            }
        }
    })
}

/// Decisions arrive as requests named after the function, with the decision line's fields; the
/// metrics arrive too; nothing sent holds an address, a token, a password or a claim's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_and_metrics_reach_application_insights_without_secrets() {
    let ingestion = Ingestion::start(Mode::Accept).await;
    let mut app = app_with(Some(&ingestion.connection_string())).await;
    let (status, _, _) = app
        .event(
            "OnAttributeCollectionStart",
            &start_event("ada@contoso.com"),
        )
        .await;
    assert_eq!(status, 200);
    app.event(
        "OnAttributeCollectionStart",
        &start_event("bob@contoso.com"),
    )
    .await;
    let (_, _, answer) = app
        .event("OnTokenIssuanceStart", &token_event("ada@contoso.com"))
        .await;
    assert_eq!(
        answer["data"]["actions"][0]["claims"]["department"],
        "Secret-Department-Value"
    );
    let b2c = json!({"email": "grace@fabrikam.com", "step": "PostFederationSignup",
                     "client_id": APP, "ui_locales": "fr"});
    let (status, _, _) = json_answer(app.sign_up(&b2c.to_string()).await).await;
    assert_eq!(status, 200);
    // The decision line joins our log with Entra's sign-in logs.
    app.logs_containing(&format!(
        "reason=invitation email=a***@contoso.com language=de policy=default application={APP} tenant={TENANT} entra_correlation_id={ENTRA_CORRELATION} invitation={} correlation_id=",
        crate::helpers::derived_id("ada@contoso.com")
    ))
    .await;
    app.signal("TERM");
    assert!(app.wait_for_exit().success());

    let uploads = ingestion.uploads();
    assert!(!uploads.is_empty());
    for upload in &uploads {
        assert_eq!(upload.encoding, "gzip");
        assert!(upload.path.starts_with("POST /v2"), "{}", upload.path);
    }
    let requests = ingestion.requests();
    let find = |name: &str, email: &str| {
        requests
            .iter()
            .find(|r| {
                r["data"]["baseData"]["name"] == name
                    && r["data"]["baseData"]["properties"]["email"] == email
            })
            .unwrap_or_else(|| panic!("no {name} for {email} in {requests:#?}"))
            .clone()
    };
    let start = find("OnAttributeCollectionStart", "a***@contoso.com");
    let data = &start["data"]["baseData"];
    let properties = &data["properties"];
    for (key, value) in [
        ("function", "OnAttributeCollectionStart"),
        ("outcome", "setPrefillValues"),
        ("reason", "invitation"),
        ("application_id", APP),
        ("tenant_id", TENANT),
        ("entra_correlation_id", ENTRA_CORRELATION),
        ("language", "de"),
        ("policy", "default"),
    ] {
        assert_eq!(properties[key], value, "{key}: {start:#}");
    }
    // The invitation by its id, never its address.
    assert_eq!(
        properties["invitation_id"],
        crate::helpers::derived_id("ada@contoso.com")
    );
    assert!(
        properties["invocation_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(data["responseCode"], "200");
    assert!(
        data["duration"]
            .as_str()
            // d.hh:mm:ss.ffffff, well under a second.
            .is_some_and(|d| d.starts_with("0.00:00:00.")),
        "{data}"
    );
    assert_eq!(start["iKey"], KEY);
    let blocked = find("OnAttributeCollectionStart", "b***@contoso.com");
    assert_eq!(
        blocked["data"]["baseData"]["properties"]["reason"],
        "domain_not_allowed"
    );
    let token = find("OnTokenIssuanceStart", "a***@contoso.com");
    assert_eq!(
        token["data"]["baseData"]["properties"]["claims"],
        "department"
    );
    let connector = find("SignUpValidation", "g***@fabrikam.com");
    let properties = &connector["data"]["baseData"]["properties"];
    assert_eq!(properties["language"], "fr");
    assert_eq!(properties["step"], "PostFederationSignup");
    assert_eq!(properties["application_id"], APP);
    // Metrics: decisions by outcome and reason, the store's lookups.
    let metrics = ingestion.metric_names();
    for name in ["signup_gate.decisions", "signup_gate.store.lookup_ms"] {
        assert!(metrics.iter().any(|m| m == name), "{name} in {metrics:?}");
    }
    // The documented queries and the workbook use only dimensions that are exported.
    let exported: std::collections::BTreeSet<String> = requests
        .iter()
        .flat_map(|r| {
            r["data"]["baseData"]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    let (doc, workbook) = documented_queries();
    assert_eq!(
        workbook,
        doc.iter()
            .map(|q| q.replace(
                "\"5c0d1e2f-3a4b-4c5d-8e9f-0a1b2c3d4e5f\"",
                "\"{CorrelationId}\""
            ))
            .collect::<Vec<_>>(),
        "docs/workbook.json holds the queries of docs/telemetry.md"
    );
    for query in doc.iter().chain(&workbook) {
        for (index, marker) in query.match_indices("customDimensions.") {
            let rest = &query[index + marker.len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let metric_dimension = ["store", "result"].contains(&name.as_str());
            assert!(
                exported.contains(&name) || metric_dimension,
                "{name} is not exported: {exported:?}"
            );
        }
    }
    // Nothing that must never leave: addresses, the claim's value, the connector's password.
    let everything: String = uploads.iter().map(|u| u.body.as_str()).collect();
    for secret in [
        "ada@contoso.com",
        "bob@contoso.com",
        "grace@fabrikam.com",
        "Secret-Department-Value",
        PASSWORD,
        "Ada Lovelace",
    ] {
        assert!(!everything.contains(secret), "{secret} was sent");
    }
}

/// Decisions get the same answers whether the endpoint is unreachable, hangs, or there is none
/// — before the first upload, and while it hangs or after it failed. (That an upload adds no
/// latency to a decision is measured, not asserted: PERFORMANCE.md, "Telemetry".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_or_hanging_endpoint_changes_no_answer() {
    let hanging = Ingestion::start(Mode::Hang).await;
    let closed = RefusingPort::new();
    let unreachable = format!(
        "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{}/",
        closed.port
    );
    let apps = [
        app_with(None).await,
        app_with(Some(&hanging.connection_string())).await,
        app_with(Some(&unreachable)).await,
    ];
    let mut answers = vec![Vec::new(); apps.len()];
    let decide = |answers: &mut Vec<Vec<(u16, Value)>>, rounds: std::ops::Range<usize>| {
        let apps = &apps;
        let mut answers = std::mem::take(answers);
        async move {
            for round in rounds {
                let email = if round % 2 == 0 {
                    "ada@contoso.com"
                } else {
                    "bob@contoso.com"
                };
                let event = start_event(email);
                for (index, app) in apps.iter().enumerate() {
                    let (status, _, answer) = app.event("OnAttributeCollectionStart", &event).await;
                    answers[index].push((status, answer));
                }
            }
            answers
        }
    };
    answers = decide(&mut answers, 0..25).await;
    // The first export: it hangs at one endpoint and fails at the other.
    hanging.wait_for_upload().await;
    let logs = apps[2]
        .logs_containing("telemetry upload to Application Insights failed")
        .await;
    answers = decide(&mut answers, 25..50).await;
    assert_eq!(answers[1], answers[0]);
    assert_eq!(answers[2], answers[0]);
    // The failure was said once.
    assert_eq!(
        logs.matches("telemetry upload to Application Insights failed")
            .count(),
        1,
        "{logs}"
    );
}

/// With local authentication off, Application Insights takes only Entra-authenticated
/// telemetry: `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` makes every upload carry the managed
/// identity's token for Azure Monitor (from the platform's identity endpoint, for the
/// user-assigned identity it names).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_carry_the_managed_identitys_token_when_asked() {
    use warp::Filter;
    let asked = Arc::new(Mutex::new(
        Vec::<std::collections::HashMap<String, String>>::new(),
    ));
    let identity = {
        let asked = asked.clone();
        warp::path!("msi" / "token")
            .and(warp::query::<std::collections::HashMap<String, String>>())
            .and(warp::header::optional::<String>("x-identity-header"))
            .map(
                move |query: std::collections::HashMap<String, String>, secret: Option<String>| {
                    asked.lock().unwrap().push(query);
                    assert_eq!(secret.as_deref(), Some("identity-secret"));
                    let expires_on = (std::time::SystemTime::now() + Duration::from_secs(3600))
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs()
                        .to_string();
                    warp::reply::json(
                        &json!({"access_token": "monitor-token", "expires_on": expires_on}),
                    )
                },
            )
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(warp::serve(identity).incoming(listener).run());
    let ingestion = Ingestion::start(Mode::Accept).await;
    let client_id = "77778888-aaaa-bbbb-cccc-ddddeeeeffff";
    let mut launch =
        Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com")]).invitations(INVITATIONS);
    launch.set(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        &ingestion.connection_string(),
    );
    launch.set(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        &format!("ClientId={client_id};Authorization=AAD"),
    );
    launch.set(
        "IDENTITY_ENDPOINT",
        &format!("http://127.0.0.1:{port}/msi/token"),
    );
    launch.set("IDENTITY_HEADER", "identity-secret");
    let mut app = launch.start().await;
    let (status, _, _) = app
        .event(
            "OnAttributeCollectionStart",
            &start_event("ada@contoso.com"),
        )
        .await;
    assert_eq!(status, 200);
    app.signal("TERM");
    assert!(app.wait_for_exit().success());
    let uploads = ingestion.uploads();
    assert!(!uploads.is_empty());
    for upload in &uploads {
        assert_eq!(upload.authorization, "Bearer monitor-token", "{upload:?}");
    }
    let asked = asked.lock().unwrap().clone();
    assert!(!asked.is_empty());
    for query in &asked {
        assert_eq!(query["resource"], "https://monitor.azure.com/");
        assert_eq!(query["client_id"], client_id);
    }
    // Without it, the instrumentation key alone (no token).
    let plain = Ingestion::start(Mode::Accept).await;
    let mut app = app_with(Some(&plain.connection_string())).await;
    app.event(
        "OnAttributeCollectionStart",
        &start_event("ada@contoso.com"),
    )
    .await;
    app.signal("TERM");
    assert!(app.wait_for_exit().success());
    assert!(
        plain
            .uploads()
            .iter()
            .all(|upload| upload.authorization.is_empty())
    );
}

/// An upload is never sent on where a redirect points (perhaps plain http elsewhere, with the
/// records and the instrumentation key): a redirect is a failed upload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_do_not_follow_redirects() {
    let elsewhere = Ingestion::start(Mode::Accept).await;
    let redirecting = Ingestion::start(Mode::Redirect(elsewhere.port)).await;
    let mut app = app_with(Some(&redirecting.connection_string())).await;
    let (status, _, _) = app
        .event(
            "OnAttributeCollectionStart",
            &start_event("ada@contoso.com"),
        )
        .await;
    assert_eq!(status, 200);
    app.signal("TERM");
    assert!(app.wait_for_exit().success());
    assert!(!redirecting.uploads().is_empty(), "nothing was uploaded");
    assert!(
        elsewhere.uploads().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.uploads()
    );
    app.logs_containing("telemetry upload to Application Insights failed (HTTP 307")
        .await;
}

/// An ingestion endpoint with a user name or password in it is refused (it would be logged at
/// start-up and sent with every upload); the server runs without telemetry and shows neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_with_credentials_is_refused_and_never_logged() {
    let app = app_with(Some(&format!(
        "InstrumentationKey={KEY};IngestionEndpoint=https://user:hunter2@dc.example.com/"
    )))
    .await;
    let logs = app
        .logs_containing(
            "its IngestionEndpoint holds a user name or password; running without telemetry",
        )
        .await;
    assert!(!logs.contains("hunter2"), "{logs}");
}

/// What is queued when SIGTERM arrives is sent before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_what_is_queued() {
    let ingestion = Ingestion::start(Mode::Accept).await;
    let mut app = app_with(Some(&ingestion.connection_string())).await;
    for index in 0..5 {
        let (status, _, _) = app
            .event(
                "OnAttributeCollectionStart",
                &start_event(&format!("user{index}@contoso.com")),
            )
            .await;
        assert_eq!(status, 200);
    }
    // Well before the 5 s export interval.
    app.signal("TERM");
    assert!(app.wait_for_exit().success());
    let emails: Vec<String> = ingestion
        .requests()
        .iter()
        .filter_map(|r| {
            r["data"]["baseData"]["properties"]["email"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        emails
            .iter()
            .filter(|email| *email == "u***@contoso.com")
            .count(),
        5,
        "{emails:?}"
    );
    app.logs_containing("telemetry flushed").await;
}

/// A connection string Application Insights would refuse leaves the server running without
/// telemetry, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_connection_string_runs_without_telemetry() {
    let app = app_with(Some("InstrumentationKey=;IngestionEndpoint=not a url")).await;
    let (status, _, _) = app
        .event(
            "OnAttributeCollectionStart",
            &start_event("ada@contoso.com"),
        )
        .await;
    assert_eq!(status, 200);
    app.logs_containing("running without telemetry").await;
}

/// The Kusto queries of docs/telemetry.md, and those of the workbook in docs/workbook.json.
fn documented_queries() -> (Vec<String>, Vec<String>) {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/docs/telemetry.md")).unwrap();
    let queries: Vec<String> = doc
        .split("```kusto\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().trim().to_owned())
        .collect();
    let template: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/docs/workbook.json")).unwrap(),
    )
    .unwrap();
    let serialized: Value = serde_json::from_str(
        template["resources"][0]["properties"]["serializedData"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let workbook = serialized["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|item| item["content"]["query"].as_str().map(str::to_owned))
        .collect();
    (queries, workbook)
}

/// Under production settings the key set's fetches are measured, a failed fetch is counted,
/// and the caller's token never leaves the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_fetches_are_measured_and_the_callers_token_is_never_sent() {
    use signup_gate_testkit::tokens::{KeyServer, keys};
    const CLIENT: &str = "11112222-bbbb-3333-cccc-4444dddd5555";
    let ingestion = Ingestion::start(Mode::Accept).await;
    let (key, _) = keys();
    let server = KeyServer::start(&[key]).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = key.sign(&json!({
        "aud": CLIENT, "azp": "99045fe1-7639-4a75-9d4a-577b6ca3810f", "tid": TENANT,
        "iss": format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"),
        "iat": now - 10, "nbf": now - 10, "exp": now + 3600, "ver": "2.0"
    }));
    let guarded = |authority: String| {
        let mut launch = Launch::hosted(&[
            ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
            ("AUTH_EVENTS_TENANT_ID", TENANT),
            ("AUTH_EVENTS_CLIENT_ID", CLIENT),
            ("AUTH_EVENTS_AUTHORITY", &authority),
            ("ALLOWED_EMAIL_DOMAINS", "fabrikam.com"),
        ])
        .invitations(INVITATIONS);
        launch.set(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            &ingestion.connection_string(),
        );
        launch.start()
    };
    let body = start_event("ada@contoso.com").to_string();
    let bearer = format!("Bearer {token}");
    let mut app = guarded(server.authority(TENANT)).await;
    // Start-up never waits for the keys; a call before they arrive waits DECISION_DEADLINE_MS.
    app.logs_containing("fetched 1 signing key(s)").await;
    let response = app
        .post("/api/OnAttributeCollectionStart", &body, Some(&bearer))
        .await;
    assert_eq!(response.status(), 200);
    // An authority that does not answer: the fetch fails, the call is refused, and counted.
    let closed = RefusingPort::new();
    let mut broken = guarded(format!("http://127.0.0.1:{}/nowhere/v2.0", closed.port)).await;
    let response = broken
        .post("/api/OnAttributeCollectionStart", &body, Some(&bearer))
        .await;
    assert_ne!(response.status(), 200);
    for app in [&mut app, &mut broken] {
        app.signal("TERM");
        assert!(app.wait_for_exit().success());
    }
    let metrics = ingestion.metric_names();
    for name in [
        "signup_gate.keys.fetch_ms",
        "signup_gate.keys.fetch_failures",
    ] {
        assert!(metrics.iter().any(|m| m == name), "{name} in {metrics:?}");
    }
    let signature = token.rsplit('.').next().unwrap();
    for upload in ingestion.uploads() {
        assert!(
            !upload.body.contains(signature) && !upload.body.contains("ada@"),
            "{}",
            upload.body
        );
    }
}

/// Refused invitation codes are counted per application and per (masked) client address, so a
/// guessing run shows; the code itself is never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_codes_are_counted_per_application_and_client() {
    let ingestion = Ingestion::start(Mode::Accept).await;
    let mut launch = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATION_CODE_ATTRIBUTE", "InvitationCode"),
    ])
    .invitations(INVITATIONS);
    launch.set(
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        &ingestion.connection_string(),
    );
    let mut app = launch.start().await;
    let mut body = crate::codes::entra(
        "Submit",
        Some("mallory@elsewhere.example"),
        Some("ZZZZ-ZZZZ-ZZZZ-ZZZZ"),
        "guess-1",
    );
    body["data"]["authenticationContext"]["clientServicePrincipal"]["appId"] = json!(APP);
    let (status, _, _) = app.event("OnAttributeCollectionSubmit", &body).await;
    assert_eq!(status, 200);
    app.signal("TERM");
    assert!(app.wait_for_exit().success());
    let counted: Vec<Value> = ingestion
        .envelopes()
        .into_iter()
        .filter(|e| e["data"]["baseType"] == "MetricData")
        .filter(|e| {
            e["data"]["baseData"]["metrics"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["name"] == "signup_gate.codes.failed"))
        })
        .collect();
    assert_eq!(counted.len(), 1, "{counted:#?}");
    let properties = &counted[0]["data"]["baseData"]["properties"];
    assert_eq!(properties["application_id"], APP);
    assert_eq!(properties["client_ip"], "203.0.113.x");
    assert_eq!(properties["reason"], "code_not_found");
    let everything: String = ingestion.uploads().iter().map(|u| u.body.clone()).collect();
    assert!(!everything.contains("ZZZZ"), "the code was sent");
    assert!(
        !everything.contains("203.0.113.77"),
        "the address was sent unmasked"
    );
}
