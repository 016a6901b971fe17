//! The warm-up: at start-up the handler begins everything the first decision needs (the Entra
//! signing keys, the managed identity's token, the table's connections) without delaying its
//! port. Requests that arrive meanwhile wait for those fetches instead of starting their own and
//! are answered right; a dependency that is down at start-up leaves the first decisions "try
//! again later" (or, for the caller check, a refusal), logged once, and the next decision after
//! it is back admits.
//!
//! Azure's services are loopback stand-ins that count what they are asked, can hold their
//! answers until the test releases them (so that requests are sure to arrive during the
//! warm-up), and can be down (their port refuses connections) until the test brings them up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use signup_gate_testkit::tokens::{Key, keys};
use tokio::sync::watch;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::{Reply, Response};

use crate::helpers::{Launch, TestApp};

const TENANT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
const CLIENT: &str = "11112222-bbbb-3333-cccc-4444dddd5555";
const EVENTS_SERVICE: &str = "99045fe1-7639-4a75-9d4a-577b6ca3810f";
const APP: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const START: &str = "OnAttributeCollectionStart";
const INVITED_DOMAIN: &str = "invited.example";
const STORAGE_TOKEN: &str = "storage-token";
const IDENTITY_SECRET: &str = "identity-secret";
/// Long enough that no request a test holds on purpose runs out of time while the test goes on.
const PATIENT_DEADLINE_MS: &str = "10000";
/// How long a test waits for a stand-in to be asked something.
const ASKED_WITHIN: Duration = Duration::from_secs(20);

/// How often each kind of request reached a stand-in.
type Counts = BTreeMap<&'static str, usize>;

/// What a stand-in's routes share: the counts, and whether answers are held.
#[derive(Clone)]
struct Books {
    counts: Arc<watch::Sender<Counts>>,
    held: watch::Receiver<bool>,
}

impl Books {
    /// Counts a request of `kind`, then waits while answers are held.
    async fn asked(&self, kind: &'static str) {
        self.counts
            .send_modify(|counts| *counts.entry(kind).or_default() += 1);
        let mut held = self.held.clone();
        let _ = held.wait_for(|held| !*held).await;
    }
}

/// One of Azure's services on loopback. Its port is bound from the start (so the handler can be
/// pointed at it) but refuses connections until [`Service::up`].
struct Service {
    port: u16,
    socket: Option<tokio::net::TcpSocket>,
    counts: watch::Receiver<Counts>,
    hold: watch::Sender<bool>,
    books: Books,
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Service {
    /// Down, and holding its answers when `held`.
    fn down(held: bool) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("a loopback port");
        let port = socket.local_addr().unwrap().port();
        let (counts, counted) = watch::channel(Counts::new());
        let (hold, held) = watch::channel(held);
        Self {
            port,
            socket: Some(socket),
            counts: counted,
            hold,
            books: Books {
                counts: Arc::new(counts),
                held,
            },
            _stop: None,
        }
    }

    /// Starts answering with `routes`.
    fn up(&mut self, routes: BoxedFilter<(Response,)>) {
        let listener = self
            .socket
            .take()
            .expect("a service comes up once")
            .listen(1024)
            .expect("listening");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            warp::serve(routes)
                .incoming(listener)
                .graceful(async move {
                    let _ = stopped.await;
                })
                .run(),
        );
        self._stop = Some(stop);
    }

    /// Answers what it holds, and everything from now on at once.
    fn release(&self) {
        let _ = self.hold.send(false);
    }

    fn count(&self, kind: &str) -> usize {
        self.counts.borrow().get(kind).copied().unwrap_or(0)
    }

    /// Waits (bounded) until it has been asked for `kind` at least `n` times.
    async fn asked(&self, kind: &'static str, n: usize) {
        let mut counts = self.counts.clone();
        let asked = tokio::time::timeout(
            ASKED_WITHIN,
            counts.wait_for(|counts| counts.get(kind).copied().unwrap_or(0) >= n),
        )
        .await;
        assert!(
            matches!(asked, Ok(Ok(_))),
            "{kind} asked {} time(s), not {n}",
            self.count(kind)
        );
    }
}

/// The tenant's OpenID metadata and key set (Entra's shape: the key set where the handler
/// expects it), serving `keys`.
fn key_routes(books: Books, port: u16, keys: Arc<Mutex<Vec<Value>>>) -> BoxedFilter<(Response,)> {
    let metadata = {
        let books = books.clone();
        warp::path!(String / "v2.0" / ".well-known" / "openid-configuration").then(
            move |tenant: String| {
                let books = books.clone();
                async move {
                    books.asked("metadata").await;
                    warp::reply::json(&json!({
                        "issuer": format!("https://{tenant}.ciamlogin.com/{tenant}/v2.0"),
                        "jwks_uri": format!("http://127.0.0.1:{port}/{tenant}/discovery/v2.0/keys"),
                    }))
                    .into_response()
                }
            },
        )
    };
    let key_set = warp::path!(String / "discovery" / "v2.0" / "keys").then(move |_: String| {
        let (books, keys) = (books.clone(), keys.clone());
        async move {
            books.asked("key set").await;
            let keys = keys.lock().unwrap().clone();
            warp::reply::json(&json!({ "keys": keys })).into_response()
        }
    });
    metadata.or(key_set).unify().boxed()
}

/// App Service's managed identity endpoint: a token for Azure Storage, valid for an hour.
fn identity_routes(books: Books) -> BoxedFilter<(Response,)> {
    warp::path!("msi" / "token")
        .and(warp::query::<std::collections::HashMap<String, String>>())
        .and(warp::header::optional::<String>("x-identity-header"))
        .then(
            move |query: std::collections::HashMap<String, String>, secret: Option<String>| {
                let books = books.clone();
                async move {
                    books.asked("token").await;
                    let right = secret.as_deref() == Some(IDENTITY_SECRET)
                        && query.get("resource").map(String::as_str)
                            == Some("https://storage.azure.com/");
                    if !right {
                        return warp::http::StatusCode::BAD_REQUEST.into_response();
                    }
                    let expires_on = now() + 3600;
                    warp::reply::json(&json!({"access_token": STORAGE_TOKEN,
                                              "expires_on": expires_on.to_string()}))
                    .into_response()
                }
            },
        )
        .boxed()
}

/// The Table service: a request without credentials is refused (401), the check that the table
/// answers gets an empty page, a point read finds an invitation for any address at
/// [`INVITED_DOMAIN`] and nothing for others.
fn table_routes(books: Books) -> BoxedFilter<(Response,)> {
    warp::path!("gatestore" / String)
        .and(warp::header::optional::<String>("authorization"))
        .then(move |resource: String, authorization: Option<String>| {
            let books = books.clone();
            async move { table_answer(&books, &resource, authorization.as_deref()).await }
        })
        .boxed()
}

async fn table_answer(books: &Books, resource: &str, authorization: Option<&str>) -> Response {
    let status = |status: u16, code: &str| {
        warp::http::Response::builder()
            .status(status)
            .header("x-ms-error-code", code)
            .body(String::new().into())
            .unwrap()
    };
    let Some(authorization) = authorization else {
        books.asked("without credentials").await;
        return status(401, "NoAuthenticationInformation");
    };
    if authorization != format!("Bearer {STORAGE_TOKEN}") {
        books.asked("refused").await;
        return status(403, "AuthenticationFailed");
    }
    if resource == "Invitations()" {
        books.asked("check").await;
        return warp::reply::json(&json!({"value": []})).into_response();
    }
    books.asked("read").await;
    let keys = resource
        .strip_prefix("Invitations(PartitionKey='")
        .and_then(|rest| rest.strip_suffix("')"))
        .and_then(|rest| rest.split_once("',RowKey='"));
    match keys {
        Some((INVITED_DOMAIN, local)) => {
            let entity = json!({"PartitionKey": INVITED_DOMAIN, "RowKey": local,
                                "Email": format!("{local}@{INVITED_DOMAIN}"),
                                "Attributes": json!({"displayName": format!("Guest {local}")}).to_string(),
                                "Enforced": "{}"});
            warp::http::Response::builder()
                .status(200)
                .header("etag", "W/\"1\"")
                .body(entity.to_string().into())
                .unwrap()
        }
        Some(_) => status(404, "ResourceNotFound"),
        None => status(400, "InvalidInput"),
    }
}

/// The three services, each down, holding its answers as asked.
struct Azure {
    keys: Service,
    identity: Service,
    table: Service,
    /// What the key set holds.
    serving: Arc<Mutex<Vec<Value>>>,
}

impl Azure {
    fn new(hold_keys: bool, hold_identity: bool) -> Self {
        let (a, _) = keys();
        Self {
            keys: Service::down(hold_keys),
            identity: Service::down(hold_identity),
            table: Service::down(false),
            serving: Arc::new(Mutex::new(vec![a.jwk()])),
        }
    }

    fn keys_up(&mut self) {
        let routes = key_routes(
            self.keys.books.clone(),
            self.keys.port,
            self.serving.clone(),
        );
        self.keys.up(routes);
    }

    fn identity_up(&mut self) {
        let routes = identity_routes(self.identity.books.clone());
        self.identity.up(routes);
    }

    fn table_up(&mut self) {
        let routes = table_routes(self.table.books.clone());
        self.table.up(routes);
    }

    fn serve(&self, keys: &[&Key]) {
        *self.serving.lock().unwrap() = keys.iter().map(|key| key.jwk()).collect();
    }

    /// Production's settings against these services: the Entra caller check on, invitations in
    /// the table read with the managed identity's token.
    fn settings(&self) -> Vec<(String, String)> {
        [
            ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt".to_owned()),
            ("AUTH_EVENTS_TENANT_ID", TENANT.to_owned()),
            ("AUTH_EVENTS_CLIENT_ID", CLIENT.to_owned()),
            (
                "AUTH_EVENTS_AUTHORITY",
                format!("http://127.0.0.1:{}/{TENANT}/v2.0", self.keys.port),
            ),
            ("ALLOWED_EMAIL_DOMAINS", String::new()),
            ("INVITATION_STORE", "table".to_owned()),
            (
                "INVITATIONS_TABLE_ENDPOINT",
                format!("http://127.0.0.1:{}/gatestore", self.table.port),
            ),
            (
                "IDENTITY_ENDPOINT",
                format!("http://127.0.0.1:{}/msi/token", self.identity.port),
            ),
            ("IDENTITY_HEADER", IDENTITY_SECRET.to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// A handler with these settings, and `extra` besides (or instead).
    async fn handler(&self, extra: &[(&str, &str)]) -> TestApp {
        let settings = self.settings();
        let mut all: Vec<(&str, &str)> = settings
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        all.extend_from_slice(extra);
        Launch::hosted(&all).start().await
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token of Entra's authentication events service for our tenant and app, signed by `key`.
fn caller_token(key: &Key) -> String {
    key.sign(&json!({
        "aud": CLIENT, "azp": EVENTS_SERVICE, "tid": TENANT,
        "iss": format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"),
        "iat": now() - 10, "nbf": now() - 10, "exp": now() + 3600,
        "ver": "2.0", "sub": "service-principal", "oid": "service-principal"
    }))
}

fn start_event(email: &str) -> Value {
    json!({"type": "microsoft.graph.authenticationEvent.attributeCollectionStart",
           "data": {"authenticationContext": {"clientServicePrincipal": {"appId": APP}},
                    "userSignUpInfo": {"identities": [{"signInType": "email", "issuerAssignedId": email}],
                                       "attributes": {"email": {"value": email}}}}})
}

/// Posts a Start event for `email` (with a caller token when given): status and body (`Null`
/// for a refusal's empty body).
async fn start(app: &TestApp, email: &str, token: Option<&str>) -> (u16, Value) {
    let authorization = token.map(|token| format!("Bearer {token}"));
    let response = app
        .post(
            &format!("/api/{START}"),
            &start_event(email).to_string(),
            authorization.as_deref(),
        )
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
    };
    (status, body)
}

/// The right answer for an invited guest: the page prefilled from the invitation.
fn prefilled(local: &str) -> Value {
    json!({"@odata.type": "microsoft.graph.attributeCollectionStart.setPrefillValues",
           "inputs": {"displayName": format!("Guest {local}")}})
}

fn try_again_later() -> Value {
    json!({"@odata.type": "microsoft.graph.attributeCollectionStart.showBlockPage",
           "title": "Please try again later",
           "message": "We cannot check your invitation right now. Please try again in a few minutes."})
}

fn action(body: &Value) -> &Value {
    &body["data"]["actions"][0]
}

/// Requests that arrive while every fetch of the warm-up is still in flight wait for those
/// fetches: each is answered right, and the burst costs one metadata, one key-set and one token
/// request, one check that the table answers, and one point read per request.
#[tokio::test]
async fn first_requests_during_the_warm_up_are_answered_right_with_one_fetch_of_each() {
    const BURST: usize = 8;
    let (a, _) = keys();
    let mut azure = Azure::new(true, true);
    azure.keys_up();
    azure.identity_up();
    azure.table_up();
    let app = Arc::new(
        azure
            .handler(&[
                ("DECISION_DEADLINE_MS", PATIENT_DEADLINE_MS),
                (
                    "RUST_LOG",
                    "info,signup_gate::callers=debug,signup_gate::identity=debug",
                ),
            ])
            .await,
    );
    // Start-up has begun the key fetch and the token fetch, and both are held.
    azure.keys.asked("key set", 1).await;
    azure.identity.asked("token", 1).await;
    let token = Arc::new(caller_token(a));
    let mut requests: Vec<_> = (0..BURST)
        .map(|i| {
            let (app, token) = (app.clone(), token.clone());
            tokio::spawn(async move {
                start(&app, &format!("guest{i}@{INVITED_DOMAIN}"), Some(&token)).await
            })
        })
        .collect();
    let stranger = {
        let (app, token) = (app.clone(), token.clone());
        tokio::spawn(async move { start(&app, "stranger@elsewhere.example", Some(&token)).await })
    };
    // Every request waits for the start-up key fetch...
    app.logs_containing_times("a call waits for the signing keys being fetched", BURST + 1)
        .await;
    azure.keys.release();
    // ...then for the start-up token fetch.
    app.logs_containing_times(
        "waiting for the managed identity token for https://storage.azure.com/ being fetched",
        BURST + 1,
    )
    .await;
    azure.identity.release();
    for (i, request) in requests.drain(..).enumerate() {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "guest{i}: {body}");
        assert_eq!(action(&body), &prefilled(&format!("guest{i}")), "guest{i}");
    }
    let (status, body) = stranger.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        action(&body)["@odata.type"],
        "microsoft.graph.attributeCollectionStart.showBlockPage"
    );
    assert_ne!(
        action(&body),
        &try_again_later(),
        "not invited, not unavailable"
    );
    assert_eq!(azure.keys.count("metadata"), 1);
    assert_eq!(azure.keys.count("key set"), 1);
    assert_eq!(azure.identity.count("token"), 1);
    assert_eq!(azure.table.count("check"), 1);
    assert_eq!(azure.table.count("read"), BURST + 1);
    assert_eq!(azure.table.count("refused"), 0);
}

/// A request that waits for the start-up key fetch neither fetches again nor spends the forced
/// refresh: a key rotated in during the first minute is still fetched when its first token
/// arrives, and accepted.
#[tokio::test]
async fn a_key_id_first_seen_in_the_first_minute_is_fetched_and_accepted() {
    let (a, b) = keys();
    let mut azure = Azure::new(true, false);
    azure.keys_up();
    let app = Launch::hosted(&[
        ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
        ("AUTH_EVENTS_TENANT_ID", TENANT),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT),
        (
            "AUTH_EVENTS_AUTHORITY",
            &format!("http://127.0.0.1:{}/{TENANT}/v2.0", azure.keys.port),
        ),
        ("ALLOWED_EMAIL_DOMAINS", "fabrikam.com"),
        ("DECISION_DEADLINE_MS", PATIENT_DEADLINE_MS),
        ("RUST_LOG", "info,signup_gate::callers=debug"),
    ])
    .start()
    .await;
    azure.keys.asked("key set", 1).await;
    let first = {
        let token = caller_token(a);
        let app = &app;
        async move { start(app, "ada@fabrikam.com", Some(&token)).await }
    };
    let released = async {
        app.logs_containing_times("a call waits for the signing keys being fetched", 1)
            .await;
        azure.keys.release();
    };
    let ((status, body), ()) = tokio::join!(first, released);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        action(&body)["@odata.type"],
        "microsoft.graph.attributeCollectionStart.continueWithDefaultBehavior"
    );
    assert_eq!(
        (azure.keys.count("metadata"), azure.keys.count("key set")),
        (1, 1),
        "the first call waited for the start-up fetch"
    );

    // Entra rotates to a key the handler has not seen, well within the first minute.
    azure.serve(&[a, b]);
    let (status, body) = start(&app, "ada@fabrikam.com", Some(&caller_token(b))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(azure.keys.count("key set"), 2, "one forced refresh");
}

/// A dependency the store needs failed at start-up: once that is logged, two decisions answer
/// "try again later" and the failure stays logged once. The logs so far.
async fn answers_try_again_later_logged_once(app: &TestApp) -> String {
    app.logs_containing("until it answers, every lookup fails")
        .await;
    for _ in 0..2 {
        let (status, body) = start(app, &format!("ada@{INVITED_DOMAIN}"), None).await;
        assert_eq!((status, action(&body)), (200, &try_again_later()));
    }
    let logs = app.logs_containing("answering with a block").await;
    assert_eq!(
        logs.matches("until it answers, every lookup fails").count(),
        1,
        "logged once:\n{logs}"
    );
    logs
}

/// The invited address is admitted, its attributes prefilled.
async fn admits_ada(app: &TestApp) {
    let (status, body) = start(app, &format!("ada@{INVITED_DOMAIN}"), None).await;
    assert_eq!((status, action(&body)), (200, &prefilled("ada")));
}

/// The identity endpoint is down at start-up: the start is not held up, the failure is logged
/// once, decisions answer "try again later" (each asking the endpoint again), and the first
/// decision after it is back admits.
#[tokio::test]
async fn an_identity_endpoint_down_at_start_up_delays_admits_until_it_is_back() {
    let mut azure = Azure::new(false, false);
    azure.table_up();
    let app = azure
        .handler(&[("AUTH_EVENTS_TOKEN_VALIDATION", "none")])
        .await;
    let logs = answers_try_again_later_logged_once(&app).await;
    assert!(logs.contains("managed identity endpoint"), "{logs}");
    assert_eq!(azure.table.count("read"), 0, "no read without a token");

    azure.identity_up();
    admits_ada(&app).await;
    assert_eq!(azure.identity.count("token"), 1);
    app.logs_containing("the invitation table answers now")
        .await;
}

/// The table refuses connections at start-up: the same, until it is back.
#[tokio::test]
async fn a_table_down_at_start_up_delays_admits_until_it_is_back() {
    let mut azure = Azure::new(false, false);
    azure.identity_up();
    let app = azure
        .handler(&[("AUTH_EVENTS_TOKEN_VALIDATION", "none")])
        .await;
    answers_try_again_later_logged_once(&app).await;

    azure.table_up();
    admits_ada(&app).await;
    // One token served every attempt, before and after.
    assert_eq!(azure.identity.count("token"), 1);
}

/// The key server is down at start-up: calls are refused (the caller cannot be checked, and
/// nothing is read before it is), the failure is logged once, and the first call after it is
/// back fetches the keys and is answered.
#[tokio::test]
async fn a_key_server_down_at_start_up_refuses_calls_until_it_is_back() {
    let (a, _) = keys();
    let mut azure = Azure::new(false, false);
    azure.identity_up();
    azure.table_up();
    let app = azure.handler(&[]).await;
    app.logs_containing("cannot fetch the Entra signing keys")
        .await;
    let token = caller_token(a);
    for _ in 0..2 {
        let (status, _) = start(&app, &format!("ada@{INVITED_DOMAIN}"), Some(&token)).await;
        assert_eq!(status, 401);
    }
    let logs = app.logs_containing("reason=keys_unavailable ").await;
    assert_eq!(
        logs.matches("cannot fetch the Entra signing keys").count(),
        1,
        "logged once:\n{logs}"
    );
    assert_eq!(
        azure.table.count("read"),
        0,
        "nothing read before the caller is checked"
    );

    azure.keys_up();
    let (status, body) = start(&app, &format!("ada@{INVITED_DOMAIN}"), Some(&token)).await;
    assert_eq!((status, action(&body)), (200, &prefilled("ada")));
}
