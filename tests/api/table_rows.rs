//! The Table store against what other tools write and what a real service does under faults:
//! rows of the wrong types or keys (written here straight through the REST API, as Storage
//! Explorer or the SDKs would), sign-up records that updates must keep and stops must finish,
//! record writes that hang, 404s that are not "no such invitation", throttled imports, and
//! record races. Against Azurite where it can show the behaviour; against a loopback stand-in
//! of the Table service where only a stand-in can produce the fault.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use signup_gate::invitations::table::shared_key_lite;
use warp::Filter;
use warp::http::{Method, Response, StatusCode};

use crate::helpers::{AZURITE_KEY, Azurite, Launch, RECORDS, TestApp};

const START: &str = "OnAttributeCollectionStart";
const SUBMIT: &str = "OnAttributeCollectionSubmit";
const APP: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const TRY_AGAIN: &str =
    "We cannot check your invitation right now. Please try again in a few minutes.";

fn event(kind: &str, email: &str) -> Value {
    json!({"type": format!("microsoft.graph.authenticationEvent.attributeCollection{kind}"),
           "data": {"authenticationContext": {"clientServicePrincipal": {"appId": APP}},
                    "userSignUpInfo": {"identities": [{"signInType": "email", "issuerAssignedId": email}],
                                       "attributes": {"email": {"value": email}}}}})
}

/// `(action, message)` of an event's answer (`showBlockPage`, ...).
async fn start(app: &TestApp, email: &str) -> (String, String) {
    let (status, _, answer) = app.event(START, &event("Start", email)).await;
    assert_eq!(status, 200, "{answer}");
    let action = &answer["data"]["actions"][0];
    (
        action["@odata.type"]
            .as_str()
            .unwrap_or_default()
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_owned(),
        action["message"].as_str().unwrap_or_default().to_owned(),
    )
}

fn cli(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let output = app.cli(args);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

async fn table_app(connection: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("RUST_LOG", RECORDS),
        ("INVITATION_STORE", "table"),
        ("INVITATIONS_TABLE_CONNECTION", connection),
    ];
    settings.extend_from_slice(extra);
    Launch::hosted(&settings).start().await
}

/// Writes an entity straight into Azurite's `Invitations` table (creating it), as another tool
/// would, without any of the CLI's checks.
async fn insert_raw(azurite: &Azurite, entity: Value) {
    let client = reqwest::Client::new();
    let key = base64_decode(AZURITE_KEY);
    for (resource, body) in [
        ("Tables", json!({"TableName": "Invitations"})),
        ("Invitations", entity),
    ] {
        let date = httpdate();
        let authorization = shared_key_lite(
            "devstoreaccount1",
            &key,
            &date,
            &format!("/devstoreaccount1/{resource}"),
        );
        let response = client
            .post(format!(
                "http://127.0.0.1:{}/devstoreaccount1/{resource}",
                azurite.port
            ))
            .header("x-ms-date", date)
            .header("x-ms-version", "2019-02-02")
            .header("Accept", "application/json;odata=nometadata")
            .header("Content-Type", "application/json")
            .header("Authorization", authorization)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            status < 300 || (resource == "Tables" && status == 409),
            "{resource}: {status} {}",
            response.text().await.unwrap()
        );
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn httpdate() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_other_tools_wrote_with_the_wrong_types_or_keys_admit_no_one() {
    let azurite = Azurite::start().await;
    let app = table_app(
        &azurite.connection_string(),
        &[("ALLOWED_EMAIL_DOMAINS", "")],
    )
    .await;
    let row = |row_key: &str, email: &str, extra: Value| {
        let mut entity = json!({"PartitionKey": "bad.test", "RowKey": row_key, "Email": email,
                                "Attributes": "{}", "Enforced": "{}"});
        for (name, value) in extra.as_object().unwrap() {
            entity[name] = value.clone();
        }
        entity
    };
    let malformed = [
        // An expiry stored as a number once read as "never expires".
        (
            "expint",
            json!({"ExpiresAt": 946_684_800}),
            "ExpiresAt is a number, not text",
        ),
        (
            "expbool",
            json!({"ExpiresAt": true}),
            "ExpiresAt is true/false, not text",
        ),
        (
            "expdouble",
            json!({"ExpiresAt": 1.5}),
            "ExpiresAt is a number, not text",
        ),
        // An application stored as a number once read as "every application".
        (
            "appint",
            json!({"ApplicationId": 7}),
            "ApplicationId is a number, not text",
        ),
        (
            "appbool",
            json!({"ApplicationId": false}),
            "ApplicationId is true/false, not text",
        ),
        // Enforced values stored as a number were dropped: nothing imposed.
        (
            "enfint",
            json!({"Enforced": 3}),
            "Enforced is a number, not text",
        ),
        (
            "noname",
            json!({"Enforced": "{\"no such attribute!\":\"x\"}"}),
            "Enforced: \"no such attribute!\" is not an attribute name",
        ),
        (
            "big",
            json!({"Attributes": json!({"displayName": "x".repeat(30 * 1024)}).to_string()}),
            "Attributes: the value of displayName is 30720 characters long; the directory takes at most 250",
        ),
    ];
    for (key, extra, _) in &malformed {
        insert_raw(
            &azurite,
            row(key, &format!("{key}@bad.test"), extra.clone()),
        )
        .await;
    }
    // Keys that disagree with the Email, or that this product would not write.
    insert_raw(
        &azurite,
        row("mismatch", "mallory@elsewhere.test", json!({})),
    )
    .await;
    insert_raw(
        &azurite,
        json!({"PartitionKey": "Bad.Test", "RowKey": "Upper", "Email": "upper@bad.test"}),
    )
    .await;
    // What other tools legitimately write: Edm.DateTime and Edm.Guid arrive as text.
    insert_raw(
        &azurite,
        row(
            "typed",
            "typed@bad.test",
            json!({"ExpiresAt@odata.type": "Edm.DateTime", "ExpiresAt": "2999-01-01T00:00:00Z",
                   "ApplicationId@odata.type": "Edm.Guid", "ApplicationId": APP}),
        ),
    )
    .await;
    insert_raw(
        &azurite,
        row(
            "expired",
            "expired@bad.test",
            json!({"ExpiresAt@odata.type": "Edm.DateTime", "ExpiresAt": "2001-01-01T00:00:00Z"}),
        ),
    )
    .await;

    for (key, _, problem) in &malformed {
        assert_eq!(
            start(&app, &format!("{key}@bad.test")).await,
            ("showBlockPage".to_owned(), TRY_AGAIN.to_owned()),
            "{key}"
        );
        let first = key.chars().next().unwrap();
        app.logs_containing(&format!("row {first}***@bad.test is malformed: {problem}"))
            .await;
    }
    for email in ["mismatch@bad.test", "upper@bad.test"] {
        let (action, _) = start(&app, email).await;
        assert_eq!(action, "showBlockPage", "{email}");
    }
    assert_eq!(
        start(&app, "typed@bad.test").await.0,
        "continueWithDefaultBehavior"
    );
    assert_eq!(
        start(&app, "expired@bad.test").await,
        (
            "showBlockPage".to_owned(),
            "Sign-up for Contoso is by invitation only. Please ask your contact at Contoso to invite you."
                .to_owned()
        )
    );
    app.logs_containing("reason=invitation_expired").await;

    // `list` shows the good rows and names the bad ones by their keys, as Storage Explorer shows
    // them, with why, exit code 1 (the server's logs mask them).
    let (code, stdout, stderr) = cli(&app, &["invitations", "list"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "typed@bad.test  {}  pending  app: 44445555-eeee-6666-ffff-7777aaaa8888  expires: 2999-01-01",
            crate::helpers::derived_id("typed@bad.test")
        )),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("2 invitation(s) in table Invitations\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("mallory"), "{stdout}");
    let keys_problem = "its keys are not those of its Email";
    for expected in [
        "row PartitionKey='bad.test' RowKey='expint' is malformed: ExpiresAt is a number, not text; it admits no one".to_owned(),
        format!("row PartitionKey='bad.test' RowKey='mismatch' is malformed: {keys_problem}"),
        format!("row PartitionKey='Bad.Test' RowKey='Upper' is malformed: {keys_problem}"),
        "10 row(s) of table Invitations cannot be used: fix or remove them (for example in Storage Explorer)".to_owned(),
    ] {
        assert!(stderr.contains(&expected), "{expected}\n{stderr}");
    }
    assert!(
        !stderr.contains("mallory") && !stderr.contains("expint@"),
        "{stderr}"
    );
    let (code, stdout, _) = cli(&app, &["invitations", "list", "--json"]);
    assert_eq!(code, 1);
    assert_eq!(
        serde_json::from_str::<Value>(&stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // No full address of a bad row in any log line either.
    let logs = app.output.all();
    assert!(
        !logs.contains("expint@bad.test") && !logs.contains("mallory"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_an_invitation_keeps_its_sign_up_record() {
    let azurite = Azurite::start().await;
    let app = table_app(
        &azurite.connection_string(),
        &[("ALLOWED_EMAIL_DOMAINS", "")],
    )
    .await;
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    let (status, _, _) = app.event(SUBMIT, &event("Submit", "ada@contoso.com")).await;
    assert_eq!(status, 200);
    let recorded = signed_up(&app).await;
    assert_eq!(recorded["signed_up_application"], APP);

    // A changed invitation is replaced, its record kept.
    let (code, stdout, _) = cli(
        &app,
        &[
            "invitations",
            "add",
            "ada@contoso.com",
            "--set",
            "displayName=Ada",
        ],
    );
    assert_eq!(
        (code, stdout.as_str()),
        (0, "updated ada@contoso.com in table Invitations\n")
    );
    let listed = list_json(&app);
    assert_eq!(listed[0]["attributes"], json!({"displayName": "Ada"}));
    assert_eq!(listed[0]["signed_up_at"], recorded["signed_up_at"]);
    // Importing it again (changed, then unchanged) keeps it too.
    std::fs::write(
        app.dir().join("again.csv"),
        "email,application_id,expires_at,displayName\nada@contoso.com,,,Ada L\n",
    )
    .unwrap();
    for expected in ["1 updated, 0 unchanged", "0 updated, 1 unchanged"] {
        let (code, stdout, _) = cli(&app, &["invitations", "import", "again.csv"]);
        assert_eq!(code, 0);
        assert!(stdout.contains(expected), "{stdout}");
        let listed = list_json(&app);
        assert_eq!(listed[0]["signed_up_at"], recorded["signed_up_at"]);
        assert_eq!(listed[0]["attributes"], json!({"displayName": "Ada L"}));
    }
}

fn list_json(app: &TestApp) -> Value {
    let (code, stdout, stderr) = cli(app, &["invitations", "list", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// Waits until the server says the sign-up of ada@contoso.com is on record; returns the first
/// invitation, which carries it.
async fn signed_up(app: &TestApp) -> Value {
    app.logs_containing("the sign-up of a***@contoso.com is on record")
        .await;
    let listed = list_json(app);
    assert!(listed[0].get("signed_up_at").is_some(), "{listed}");
    listed[0].clone()
}

/// Fifty instances' worth of concurrent Submits for one address: one records the sign-up, the
/// others find it recorded or lose the conditional write (412), which is not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_record_race_is_not_an_error() {
    let azurite = Azurite::start().await;
    let mut app = table_app(
        &azurite.connection_string(),
        &[
            ("ALLOWED_EMAIL_DOMAINS", ""),
            (
                "RUST_LOG",
                "info,signup_gate::invitations::table=debug,signup_gate::gate::recorder=debug",
            ),
        ],
    )
    .await;
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    let body = event("Submit", "ada@contoso.com");
    let submits: Vec<_> = (0..50).map(|_| app.event(SUBMIT, &body)).collect();
    for (status, _, _) in futures_util::future::join_all(submits).await {
        assert_eq!(status, 200);
    }
    signed_up(&app).await;
    // A stop lets every record finish first.
    app.signal("TERM");
    assert!(app.wait_for_exit().success());
    let logs = app.output.all();
    assert!(!logs.contains("could not record"), "{logs}");
    assert!(!logs.contains("HTTP 412"), "{logs}");

    // Whether Azurite's race produced a 412 above depends on timing: a stand-in that answers
    // every record's conditional write with 412 makes sure that one is no error.
    let store = StandIn::start(Faults {
        changed_merges: true,
        ..Faults::default()
    })
    .await;
    let app = table_app(
        &store.connection_string(),
        &[
            ("ALLOWED_EMAIL_DOMAINS", ""),
            ("RUST_LOG", "info,signup_gate::invitations::table=debug"),
        ],
    )
    .await;
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    let (status, _, _) = app.event(SUBMIT, &body).await;
    assert_eq!(status, 200);
    let logs = app
        .logs_containing("the sign-up of a***@contoso.com was recorded by someone else first")
        .await;
    assert_eq!(store.merges.load(Ordering::SeqCst), 1);
    assert!(!logs.contains("could not record"), "{logs}");
    assert!(!logs.contains("HTTP 412"), "{logs}");
}

/// How the loopback stand-in of the Table service behaves.
#[derive(Clone, Default)]
struct Faults {
    /// Every request is answered 404 with no error code, as a proxy or a wrong path would.
    bare_404: bool,
    /// Point reads wait this long before they are answered.
    read_delay: Duration,
    /// Conditional merges (sign-up records) are never answered.
    hang_merges: bool,
    /// Conditional merges are answered 412, as when another instance wrote the row first.
    changed_merges: bool,
    /// This insert (counting from 1) is answered 503 with `Retry-After: 1`, once.
    throttle_insert: Option<usize>,
    /// This insert (counting from 1) and every later one are refused with 403.
    refuse_inserts_from: Option<usize>,
    /// The first conditional delete is answered 412, as when a sign-up was recorded meanwhile.
    changed_first_delete: bool,
}

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    query: String,
    if_match: Option<String>,
}

/// A loopback stand-in for the Table service: entities kept in memory, no authentication.
struct StandIn {
    port: u16,
    merges: Arc<AtomicUsize>,
    inserts: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

type Entities = Arc<Mutex<HashMap<String, Value>>>;

impl StandIn {
    async fn start(faults: Faults) -> Self {
        let entities: Entities = Arc::default();
        let merges = Arc::new(AtomicUsize::new(0));
        let inserts = Arc::new(AtomicUsize::new(0));
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let deletes = Arc::new(AtomicUsize::new(0));
        let route = {
            let (merges, inserts) = (merges.clone(), inserts.clone());
            let (received, deletes) = (received.clone(), deletes.clone());
            warp::method()
                .and(warp::path::full())
                .and(warp::query::raw().or(warp::any().map(String::new)).unify())
                .and(warp::header::optional::<String>("if-match"))
                .and(warp::body::bytes())
                .and_then(
                    move |method: Method,
                          path: warp::path::FullPath,
                          query: String,
                          if_match: Option<String>,
                          body: bytes::Bytes| {
                        let (faults, entities) = (faults.clone(), entities.clone());
                        let (merges, inserts) = (merges.clone(), inserts.clone());
                        received.lock().unwrap().push(Received {
                            method: method.to_string(),
                            query,
                            if_match,
                        });
                        let first_delete =
                            method == Method::DELETE && deletes.fetch_add(1, Ordering::SeqCst) == 0;
                        async move {
                            if first_delete && faults.changed_first_delete {
                                return Ok::<_, Infallible>(reply(
                                    412,
                                    Some("UpdateConditionNotSatisfied"),
                                    Value::Null,
                                ));
                            }
                            Ok::<_, Infallible>(
                                answer(
                                    &faults,
                                    &entities,
                                    &merges,
                                    &inserts,
                                    &method,
                                    path.as_str(),
                                    &body,
                                )
                                .await,
                            )
                        }
                    },
                )
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            warp::serve(route)
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.await;
                })
                .run(),
        );
        Self {
            port,
            merges,
            inserts,
            received,
            _stop: stop,
        }
    }

    fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};TableEndpoint=http://127.0.0.1:{}/devstoreaccount1;",
            self.port
        )
    }
}

fn reply(status: u16, code: Option<&str>, body: Value) -> Response<String> {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("etag", "W/\"1\"");
    if let Some(code) = code {
        response = response.header("x-ms-error-code", code);
    }
    if status == 503 {
        response = response.header("retry-after", "1");
    }
    response
        .body(if body.is_null() {
            String::new()
        } else {
            body.to_string()
        })
        .unwrap()
}

async fn answer(
    faults: &Faults,
    entities: &Entities,
    merges: &AtomicUsize,
    inserts: &AtomicUsize,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Response<String> {
    if faults.bare_404 {
        return reply(404, None, Value::Null);
    }
    let resource = path.trim_start_matches("/devstoreaccount1/");
    let keys = resource
        .strip_prefix("Invitations(")
        .and_then(|rest| rest.strip_suffix(')'))
        .map(str::to_owned);
    match (method.as_str(), resource, keys) {
        ("POST", "Tables", _) => reply(204, None, Value::Null),
        // The check that the table answers: a query of at most one row.
        ("GET", "Invitations()", _) => reply(200, None, json!({"value": []})),
        ("POST", "Invitations", _) => {
            let number = inserts.fetch_add(1, Ordering::SeqCst) + 1;
            if faults
                .refuse_inserts_from
                .is_some_and(|from| number >= from)
            {
                return reply(403, Some("AuthorizationFailure"), Value::Null);
            }
            if faults.throttle_insert == Some(number) {
                return reply(503, Some("ServerBusy"), Value::Null);
            }
            let entity: Value = serde_json::from_slice(body).unwrap();
            let key = format!(
                "PartitionKey='{}',RowKey='{}'",
                entity["PartitionKey"].as_str().unwrap(),
                entity["RowKey"].as_str().unwrap()
            );
            entities.lock().unwrap().insert(key, entity);
            reply(204, None, Value::Null)
        }
        ("GET", _, Some(keys)) => {
            tokio::time::sleep(faults.read_delay).await;
            match entities.lock().unwrap().get(&keys) {
                Some(entity) => reply(200, None, entity.clone()),
                None => reply(404, Some("ResourceNotFound"), Value::Null),
            }
        }
        ("DELETE", _, Some(keys)) => match entities.lock().unwrap().remove(&keys) {
            Some(_) => reply(204, None, Value::Null),
            None => reply(404, Some("ResourceNotFound"), Value::Null),
        },
        ("MERGE", _, Some(_)) => {
            merges.fetch_add(1, Ordering::SeqCst);
            if faults.hang_merges {
                std::future::pending::<()>().await;
            }
            if faults.changed_merges {
                return reply(412, Some("UpdateConditionNotSatisfied"), Value::Null);
            }
            reply(204, None, Value::Null)
        }
        _ => reply(400, Some("NotImplemented"), Value::Null),
    }
}

/// The record of a sign-up is written while the process stops: SIGTERM (scale-in, redeploys)
/// waits for it within the stop's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_finishes_the_sign_up_records_in_flight() {
    let store = StandIn::start(Faults {
        read_delay: Duration::from_millis(800),
        ..Faults::default()
    })
    .await;
    let mut app = table_app(
        &store.connection_string(),
        &[
            ("ALLOWED_EMAIL_DOMAINS", ""),
            ("DECISION_DEADLINE_MS", "3000"),
        ],
    )
    .await;
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    let (status, _, answer) = app.event(SUBMIT, &event("Submit", "ada@contoso.com")).await;
    assert_eq!(status, 200, "{answer}");
    // The record's own read takes 800 ms: stop while it runs.
    app.signal("TERM");
    assert_eq!(app.wait_for_exit().code(), Some(0));
    assert_eq!(
        store.merges.load(Ordering::SeqCst),
        1,
        "{}",
        app.output.all()
    );
    assert!(
        !app.output.all().contains("not written"),
        "{}",
        app.output.all()
    );
}

/// A record the store never acknowledges, pending when the process is told to stop: the stop
/// waits for it to fail on its own deadline (5 s, within the stop's 10 s), names it (masked)
/// in the log, and still ends in time. (A record still pending when the stop's deadline runs
/// out is named by the recorder's unit tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_waits_for_a_hanging_record_and_logs_that_it_was_not_written() {
    let store = StandIn::start(Faults {
        hang_merges: true,
        ..Faults::default()
    })
    .await;
    let mut app = table_app(&store.connection_string(), &[("ALLOWED_EMAIL_DOMAINS", "")]).await;
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    let (status, _, answer) = app.event(SUBMIT, &event("Submit", "ada@contoso.com")).await;
    assert_eq!(status, 200, "{answer}");
    app.signal("TERM");
    assert_eq!(app.wait_for_exit().code(), Some(0));
    // The stop waited for the record to fail on its own deadline (not the stop's: no record was
    // left unwritten when it ended).
    let logs = app.output.all();
    assert!(
        !logs.contains("sign-up record(s) not written"),
        "the record was given up on before its own deadline:\n{logs}"
    );
    let line = logs
        .lines()
        .find(|line| line.contains("could not record the sign-up of a***@contoso.com"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("no answer within"), "{line}");
    assert!(!logs.contains("ada@"), "{logs}");
}

/// Merges that are never answered once held a connection each for 30 s, without limit: 1,100
/// Submits ran the process out of file descriptors. Records are now bounded in time and number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_record_writes_never_starve_the_decisions() {
    let store = StandIn::start(Faults {
        hang_merges: true,
        ..Faults::default()
    })
    .await;
    let app = table_app(&store.connection_string(), &[("ALLOWED_EMAIL_DOMAINS", "")]).await;
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    let body = event("Submit", "ada@contoso.com");
    let started = Instant::now();
    for round in 0..10 {
        let submits: Vec<_> = (0..20).map(|_| app.event(SUBMIT, &body)).collect();
        for (status, _, answer) in futures_util::future::join_all(submits).await {
            assert_eq!(status, 200, "round {round}: {answer}");
            assert!(
                answer.to_string().contains("continueWithDefaultBehavior"),
                "{answer}"
            );
        }
    }
    let elapsed = started.elapsed();
    eprintln!("200 Submits answered in {elapsed:?}");
    // At most 64 hanging records, 20 connections of this test, the reads' pool (up to 20 at
    // once, more when records' reads overlap them) and the process's own few; before, one per
    // Submit (200 here) for 30 s each, over 240 in all.
    let descriptors = std::fs::read_dir(format!("/proc/{}/fd", app.pid()))
        .unwrap()
        .count();
    assert!(descriptors < 150, "{descriptors} file descriptors open");
    // At most 64 at once; each slot is held 5 s (the record's deadline), then may be taken again.
    let merges = store.merges.load(Ordering::SeqCst);
    let rounds = 1 + elapsed.as_secs() as usize / 5;
    assert!(merges <= 64 * rounds, "{merges} merges in {elapsed:?}");
    app.logs_containing("is not recorded: 64 records are being written already")
        .await;
}

/// Only the service's own "no such entity" means "no invitation": a 404 from an unknown
/// account, a mistyped path or a proxy is a store failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_404_that_is_not_the_services_is_a_store_failure() {
    let store = StandIn::start(Faults {
        bare_404: true,
        ..Faults::default()
    })
    .await;
    let app = table_app(
        &store.connection_string(),
        &[("ALLOWED_EMAIL_DOMAINS", "contoso.com")],
    )
    .await;
    // An allowed domain was admitted: the 404 read as "no invitation".
    assert_eq!(
        start(&app, "ada@contoso.com").await,
        ("showBlockPage".to_owned(), TRY_AGAIN.to_owned())
    );
    app.logs_containing(
        "HTTP 404 without an error code (not the Table service's answer for a missing entity",
    )
    .await;
    let (code, stdout, stderr) = cli(&app, &["invitations", "add", "ada@contoso.com"]);
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stderr.contains("HTTP 404 without an error code"),
        "{stderr}"
    );
    let (code, _, stderr) = cli(&app, &["invitations", "remove", "ada@contoso.com"]);
    assert_eq!(code, 2);
    assert!(!stderr.contains("has no invitation"), "{stderr}");
    assert!(
        stderr.contains("HTTP 404 without an error code"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_rides_out_throttling_and_ends_its_progress_line_before_an_error() {
    let store = StandIn::start(Faults {
        throttle_insert: Some(5),
        ..Faults::default()
    })
    .await;
    let app = table_app(&store.connection_string(), &[]).await;
    let mut csv = String::from("email,application_id,expires_at\n");
    for i in 0..1500 {
        csv.push_str(&format!("user{i}@contoso.com,,\n"));
    }
    std::fs::write(app.dir().join("many.csv"), &csv).unwrap();
    let (code, stdout, stderr) = cli(&app, &["invitations", "import", "many.csv"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        "imported many.csv into table Invitations: 1500 added, 0 updated, 0 unchanged, 0 invalid\n"
    );
    assert_eq!(
        store.inserts.load(Ordering::SeqCst),
        1501,
        "one insert tried twice"
    );

    let refusing = StandIn::start(Faults {
        refuse_inserts_from: Some(1200),
        ..Faults::default()
    })
    .await;
    let app = table_app(&refusing.connection_string(), &[]).await;
    std::fs::write(app.dir().join("many.csv"), &csv).unwrap();
    let (code, _, stderr) = cli(&app, &["invitations", "import", "many.csv"]);
    assert_eq!(code, 2);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() >= 2, "{stderr}");
    assert!(
        lines[0].ends_with("written") || lines[0].contains("written ("),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("error: table Invitations at http://127.0.0.1:")
            && lines[1].contains("HTTP 403 AuthorizationFailure"),
        "{stderr}"
    );
}

/// A remove deletes only the version of the invitation it read (`If-Match` with that version,
/// never `*`): a delete that lands late, after the invitation was added again, fails instead of
/// removing it. A version changed meanwhile (412) is read again. Every administrative call asks
/// the service to abandon it after 20 s, before the CLI would retry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remove_deletes_only_the_version_it_read() {
    let store = StandIn::start(Faults {
        changed_first_delete: true,
        ..Faults::default()
    })
    .await;
    let app = table_app(&store.connection_string(), &[("ALLOWED_EMAIL_DOMAINS", "")]).await;
    assert_eq!(cli(&app, &["invitations", "add", "ada@contoso.com"]).0, 0);
    let (code, stdout, stderr) = cli(&app, &["invitations", "remove", "ada@contoso.com"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "removed ada@contoso.com from table Invitations\n"),
        "{stderr}"
    );
    let received = store.received.lock().unwrap().clone();
    let deletes: Vec<&Received> = received.iter().filter(|r| r.method == "DELETE").collect();
    assert_eq!(deletes.len(), 2, "{received:?}");
    for delete in &deletes {
        assert_eq!(delete.if_match.as_deref(), Some("W/\"1\""), "{delete:?}");
    }
    for request in received.iter().filter(|r| r.method != "GET") {
        assert!(
            request.query.split('&').any(|part| part == "timeout=20"),
            "{request:?}"
        );
    }
}

/// A single use is claimed in the store before the admit is answered: a store that takes the
/// claim and never answers gets "try again later" within the deadline, never an admit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_the_store_cannot_claim_in_time_is_not_admitted() {
    let store = StandIn::start(Faults {
        hang_merges: true,
        ..Faults::default()
    })
    .await;
    let app = table_app(
        &store.connection_string(),
        &[
            ("ALLOWED_EMAIL_DOMAINS", ""),
            ("DECISION_DEADLINE_MS", "300"),
        ],
    )
    .await;
    let (code, _, stderr) = cli(
        &app,
        &["invitations", "add", "ada@contoso.com", "--single-use"],
    );
    assert_eq!(code, 0, "{stderr}");
    let (status, _, answer) = app.event(SUBMIT, &event("Submit", "ada@contoso.com")).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["data"]["actions"][0]["title"], "Please try again later",
        "{answer}"
    );
    // The store's own timeout and the decision deadline are the same instant (the store is given
    // what is left of the deadline), so either may be the one to fire, in the same millisecond
    // tick or the next: each says so in its own words, once, naming the invitation.
    let logs = app
        .logs_containing_all(&["a use of invitation inv_", "answering with a block"])
        .await;
    assert_eq!(
        logs.matches("a use of invitation inv_").count(),
        1,
        "one line for one failed claim:\n{logs}"
    );
}
