//! `handler doctor --signins` against the Graph stand-in's sign-up and sign-in logs (beta
//! `selfServiceSignUp` and `signIn` records with their `appliedEventListeners`): calls and
//! failures per event with the error code's cause and fix, calls Entra never made, one count
//! per callout recorded in both logs, every page read, the decision log joined by correlation
//! id, addresses and IP addresses masked, and the exit status.

use serde_json::{Value, json};

use crate::graph_stand_in::{GraphStandIn, Ran, SHOP_APP, Tenant, handler, token};

const START_ID: &str = "5a7c0000-0000-4000-8000-00000000000a";
const SUBMIT_ID: &str = "5a7c0000-0000-4000-8000-00000000000b";
const TOKEN_ID: &str = "5a7c0000-0000-4000-8000-00000000000c";
/// An extension of another app: its calls are not this app's.
const FOREIGN_ID: &str = "5a7c0000-0000-4000-8000-00000000000f";
const ADDRESS: &str = "ada.lovelace@contoso.com";
const IP: &str = "203.0.113.9";

fn extension(id: &str, kind: &str, function: &str, host: &str) -> Value {
    json!({"@odata.type": format!("#microsoft.graph.{kind}CustomExtension"), "id": id,
           "displayName": format!("signup-gate {function}"),
           "endpointConfiguration": {"@odata.type": "#microsoft.graph.httpRequestEndpoint",
                                     "targetUrl": format!("https://{host}/api/{function}?code=k")},
           "authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
                                           "resourceId": format!("api://{host}/11112222-bbbb-3333-cccc-4444dddd5555")},
           "clientConfiguration": {"timeoutInMilliseconds": 1000, "maximumRetries": 1}})
}

/// An applied listener with its callout result, as the logs record it.
fn callout(
    event: &str,
    extension: &str,
    at: &str,
    status: i64,
    error: i64,
    attempts: i64,
) -> Value {
    json!({"eventType": event, "executedListenerId": "990d94e5-cc8f-4c4b-97b4-27e2678aac28",
           "handlerResult": {"@odata.type": "#microsoft.graph.customExtensionCalloutResult",
                             "customExtensionId": extension, "calloutDateTime": at,
                             "httpStatus": status, "errorCode": error, "numberOfAttempts": attempts}})
}

fn sign_up(correlation: &str, listeners: Vec<Value>) -> Value {
    json!({"@odata.type": "#microsoft.graph.selfServiceSignUp", "id": format!("su-{correlation}"),
           "appDisplayName": "Shop", "appId": SHOP_APP, "correlationId": correlation,
           "createdDateTime": "2026-05-01T10:00:00Z", "signUpStage": "attributeCollectionAndValidation",
           "signUpIdentity": {"signUpIdentifier": ADDRESS, "signUpIdentifierType": "emailAddress"},
           "signUpIdentityProvider": "Email OTP", "status": {"errorCode": 0},
           "appliedEventListeners": listeners})
}

fn sign_in(correlation: &str, listeners: Vec<Value>) -> Value {
    json!({"id": format!("si-{correlation}"), "createdDateTime": "2026-05-01T10:00:05Z",
           "userDisplayName": "Ada Lovelace", "userPrincipalName": "3f2a0b7c@contoso.onmicrosoft.com",
           "signInIdentifier": ADDRESS, "appId": SHOP_APP, "appDisplayName": "Shop",
           "ipAddress": IP, "correlationId": correlation, "status": {"errorCode": 0},
           "appliedEventListeners": listeners})
}

const C1: &str = "c1c1c1c1-0000-4000-8000-000000000001";
const C2: &str = "c2c2c2c2-0000-4000-8000-000000000002";
const C3: &str = "c3c3c3c3-0000-4000-8000-000000000003";
const C4: &str = "c4c4c4c4-0000-4000-8000-000000000004";
const C5: &str = "c5c5c5c5-0000-4000-8000-000000000005";
const C6: &str = "c6c6c6c6-0000-4000-8000-000000000006";
const C7: &str = "c7c7c7c7-0000-4000-8000-000000000007";
const C8: &str = "c8c8c8c8-0000-4000-8000-000000000008";

/// A tenant whose logs hold, for this app: Start 4 calls (a timeout, one never made), Submit 2
/// (one refused with 401), token issuance 2 (one connection error); one Start call recorded in
/// both logs; and a failed call to another app's extension. Two records a page.
fn tenant_with_failures() -> Tenant {
    let mut tenant = Tenant::external();
    tenant.extensions = vec![
        extension(
            START_ID,
            "onAttributeCollectionStart",
            "OnAttributeCollectionStart",
            "gate.example.net",
        ),
        extension(
            SUBMIT_ID,
            "onAttributeCollectionSubmit",
            "OnAttributeCollectionSubmit",
            "gate.example.net",
        ),
        extension(
            TOKEN_ID,
            "onTokenIssuanceStart",
            "OnTokenIssuanceStart",
            "gate.example.net",
        ),
        extension(
            FOREIGN_ID,
            "onAttributeCollectionStart",
            "OnAttributeCollectionStart",
            "other.example.net",
        ),
    ];
    let start = "attributeCollectionStart";
    let submit = "attributeCollectionSubmit";
    tenant.sign_ups = vec![
        sign_up(
            C1,
            vec![
                callout(start, START_ID, "2026-05-01T10:00:01Z", 200, 0, 1),
                callout(submit, SUBMIT_ID, "2026-05-01T10:00:09Z", 200, 0, 1),
            ],
        ),
        sign_up(
            C2,
            vec![callout(
                start,
                START_ID,
                "2026-05-01T10:01:01Z",
                0,
                1003005,
                2,
            )],
        ),
        sign_up(
            C3,
            vec![callout(
                start,
                START_ID,
                "2026-05-01T10:02:01Z",
                0,
                1003021,
                0,
            )],
        ),
        sign_up(
            C4,
            vec![
                callout(start, START_ID, "2026-05-01T10:03:01Z", 200, 0, 1),
                callout(submit, SUBMIT_ID, "2026-05-01T10:03:09Z", 401, 1003002, 1),
            ],
        ),
        sign_up(
            C5,
            vec![callout(
                start,
                FOREIGN_ID,
                "2026-05-01T10:04:01Z",
                500,
                1003002,
                2,
            )],
        ),
        sign_up(
            C6,
            vec![callout(start, START_ID, "2026-05-01T10:05:01Z", 200, 0, 1)],
        ),
    ];
    tenant.sign_ins = vec![
        sign_in(
            C6,
            vec![callout(start, START_ID, "2026-05-01T10:05:01Z", 200, 0, 1)],
        ),
        sign_in(
            C7,
            vec![callout(
                "tokenIssuanceStart",
                TOKEN_ID,
                "2026-05-01T10:06:01Z",
                200,
                0,
                1,
            )],
        ),
        sign_in(
            C8,
            vec![callout(
                "tokenIssuanceStart",
                TOKEN_ID,
                "2026-05-01T10:07:01Z",
                0,
                1003027,
                2,
            )],
        ),
    ];
    tenant.page_size = 2;
    tenant
}

/// `handler doctor --signins ARGS` against the stand-in, for the deployment at
/// gate.example.net; nothing secret or personal may be printed.
fn signins(graph: &GraphStandIn, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let url = graph.url();
    let mut all = vec!["doctor", "--signins", "--graph-url", url.as_str()];
    all.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(("WEBSITE_HOSTNAME", "gate.example.net"));
    let ran = handler(dir.path(), &all, &env, "");
    let token = token();
    for secret in [token.as_str(), ADDRESS, "ada.lovelace", IP, "3f2a0b7c@"] {
        assert!(
            !ran.stdout.contains(secret) && !ran.stderr.contains(secret),
            "{secret} was printed:\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
    }
    ran
}

fn line<'a>(ran: &'a Ran, start: &str) -> &'a str {
    ran.stdout
        .lines()
        .find(|line| line.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{}", ran.stdout))
}

/// Failures fail the report, per event and per error code with the cause and the fix; a call
/// Entra never made is named; a callout in both logs counts once; another app's calls do not
/// count; every page of both logs is read, asking for the newer event names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_per_event_and_error_code_with_cause_and_fix() {
    let graph = GraphStandIn::start(tenant_with_failures()).await;
    let ran = signins(
        &graph,
        &["--since", "2h"],
        &[("SIGNUP_GATE_GRAPH_TOKEN", &token())],
    );
    assert_eq!(ran.code(), 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        line(&ran, "ok    sign-ins: window: ")
            .ends_with("(--since 2h): 9 call(s) to the extensions of gate.example.net"),
        "{}",
        ran.stdout
    );
    assert!(
        line(&ran, "ok    sign-ins: window: ")
            .contains("6 sign-up and 3 sign-in record(s) since 20")
    );
    assert_eq!(
        line(&ran, "fail  sign-ins: OnAttributeCollectionStart: "),
        "fail  sign-ins: OnAttributeCollectionStart: 5 call(s), 2 failed, 1 of them never called: Entra gave up before reaching the API (numberOfAttempts 0)"
    );
    assert_eq!(
        line(&ran, "fail  sign-ins: OnAttributeCollectionStart 1003005: "),
        "fail  sign-ins: OnAttributeCollectionStart 1003005: CustomExtensionTimedOut: 1 call(s): no answer within the extension's timeout (Microsoft notes it can also mean the access token was not valid)"
    );
    assert!(ran.stdout.contains("      fix: keep the app warm (always-ready instances on Flex Consumption, or Premium), keep DECISION_DEADLINE_MS under 80 % of the timeout"));
    assert!(
        line(&ran, "fail  sign-ins: OnAttributeCollectionStart 1003021: ")
            .contains("CustomExtensionPermissionNotGrantedToServicePrincipal")
    );
    assert_eq!(
        line(&ran, "fail  sign-ins: OnAttributeCollectionSubmit: "),
        "fail  sign-ins: OnAttributeCollectionSubmit: 2 call(s), 1 failed"
    );
    assert!(
        line(
            &ran,
            "fail  sign-ins: OnAttributeCollectionSubmit 1003002: "
        )
        .contains("CustomExtensionInvalidHTTPStatus")
    );
    assert!(
        line(&ran, "fail  sign-ins: OnTokenIssuanceStart 1003027: ")
            .contains("CustomExtensionConnectionError")
    );
    let call = line(&ran, &format!("warn  sign-ins: call {C2}: "));
    assert!(
        call.contains("Entra (sign-up log): attributeCollectionStart at 2026-05-01T10:01:01Z: HTTP 0, error 1003005 after 2 attempt(s); user a***@contoso.com from -, application Shop"),
        "{call}"
    );
    let call = line(&ran, &format!("warn  sign-ins: call {C8}: "));
    assert!(
        call.contains("user a***@contoso.com from 203.0.x.x, application Shop"),
        "{call}"
    );
    assert!(
        !ran.stdout.contains(C5),
        "another app's call is not this app's"
    );
    let requests = graph.take_requests();
    let logs: Vec<_> = requests
        .iter()
        .filter(|request| request.path.starts_with("/beta/auditLogs/"))
        .collect();
    assert_eq!(
        logs.iter()
            .filter(|r| r.path == "/beta/auditLogs/signUps")
            .count(),
        3,
        "three pages"
    );
    assert_eq!(
        logs.iter()
            .filter(|r| r.path == "/beta/auditLogs/signIns")
            .count(),
        2,
        "two pages"
    );
    for request in logs {
        assert_eq!(
            request.prefer.as_deref(),
            Some("include-unknown-enum-members")
        );
        assert!(
            request.query.starts_with("$filter=createdDateTime ge 20"),
            "{}",
            request.query
        );
    }

    let ran = signins(
        &graph,
        &["--json"],
        &[("SIGNUP_GATE_GRAPH_TOKEN", &token())],
    );
    assert_eq!(ran.code(), 1);
    let report = ran.json();
    assert_eq!(report["failed"], true);
    let start = &report["events"]["OnAttributeCollectionStart"];
    assert_eq!(
        (
            start["calls"].as_u64(),
            start["failures"].as_u64(),
            start["never_called"].as_u64()
        ),
        (Some(5), Some(2), Some(1))
    );
    assert_eq!(start["errors"]["1003005"]["count"], 1);
    assert_eq!(
        start["errors"]["1003005"]["name"],
        "CustomExtensionTimedOut"
    );
    assert_eq!(start["errors"]["1003021"]["count"], 1);
    assert_eq!(
        report["events"]["OnAttributeCollectionSubmit"]["errors"]["1003002"]["count"],
        1
    );
    assert_eq!(report["events"]["OnTokenIssuanceStart"]["calls"], 2);
    assert_eq!(report["calls"].as_array().unwrap().len(), 9);
}

/// A window without failures passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_without_failures_passes() {
    let mut tenant = tenant_with_failures();
    tenant
        .sign_ups
        .retain(|record| [C1, C6].contains(&record["correlationId"].as_str().unwrap()));
    tenant
        .sign_ins
        .retain(|record| record["correlationId"] == C7);
    let graph = GraphStandIn::start(tenant).await;
    let ran = signins(&graph, &[], &[("SIGNUP_GATE_GRAPH_TOKEN", &token())]);
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    assert_eq!(
        line(&ran, "ok    sign-ins: OnAttributeCollectionStart: "),
        "ok    sign-ins: OnAttributeCollectionStart: 2 call(s), none failed"
    );
    assert_eq!(
        line(&ran, "ok    sign-ins: OnTokenIssuanceStart: "),
        "ok    sign-ins: OnTokenIssuanceStart: 1 call(s), none failed"
    );
    assert!(
        ran.stdout.ends_with("0 failure(s), 0 skipped\n"),
        "{}",
        ran.stdout
    );
}

/// With the function app's log, a call whose correlation id is on a decision line is shown
/// with both sides; an address on such a line is masked even if it was not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_log_shows_the_gates_side_of_each_call() {
    let graph = GraphStandIn::start(tenant_with_failures()).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("handler.log");
    std::fs::write(
        &log,
        format!(
            "2026-05-01T10:01:01.480Z [Information] decision function=OnAttributeCollectionStart outcome=showBlockPage reason=not_invited email=a***@contoso.com language=en tenant=aaaabbbb-0000-cccc-1111-dddd2222eeee entra_correlation_id={C2} correlation_id=inv-2\n\
             2026-05-01T10:05:01.100Z [Information] decision function=OnAttributeCollectionStart outcome=setPrefillValues reason=invitation email={ADDRESS} entra_correlation_id={C6} correlation_id=inv-6\n\
             2026-05-01T10:05:02.000Z [Information] listening on http://127.0.0.1:7071\n"
        ),
    )
    .unwrap();
    let ran = signins(
        &graph,
        &["--log", log.to_str().unwrap()],
        &[("SIGNUP_GATE_GRAPH_TOKEN", &token())],
    );
    assert_eq!(ran.code(), 1);
    assert_eq!(
        line(&ran, "ok    sign-ins: decision log: "),
        format!(
            "ok    sign-ins: decision log: 2 decision(s) with an Entra correlation id ({}); 2 of the window's call(s) found there",
            log.display()
        )
    );
    let call = line(&ran, &format!("warn  sign-ins: call {C2}: "));
    assert!(
        call.ends_with(&format!(". Gate: decision function=OnAttributeCollectionStart outcome=showBlockPage reason=not_invited email=a***@contoso.com language=en tenant=aaaabbbb-0000-cccc-1111-dddd2222eeee entra_correlation_id={C2} correlation_id=inv-2")),
        "{call}"
    );
    let call = line(&ran, &format!("ok    sign-ins: call {C6}: "));
    assert!(call.contains("Gate: decision function=OnAttributeCollectionStart outcome=setPrefillValues reason=invitation email=a***@contoso.com"), "{call}");
    let call = line(&ran, &format!("warn  sign-ins: call {C3}: "));
    assert!(
        call.ends_with(
            "Gate: no decision with this correlation id (the call may never have reached it)"
        ),
        "{call}"
    );
    let ran = signins(
        &graph,
        &["--log", "/nonexistent/handler.log"],
        &[("SIGNUP_GATE_GRAPH_TOKEN", &token())],
    );
    assert!(
        line(
            &ran,
            "fail  sign-ins: decision log: --log /nonexistent/handler.log: "
        )
        .contains("No such file")
    );
}

/// Without a token, with a refused token, with a bad window: what to change, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_read_says_what_to_change() {
    let graph = GraphStandIn::start(tenant_with_failures()).await;
    for since in ["1w", "0h", "31d", "soon"] {
        let ran = signins(
            &graph,
            &["--since", since],
            &[("SIGNUP_GATE_GRAPH_TOKEN", &token())],
        );
        assert_eq!(ran.code(), 2, "{since}");
        assert!(
            ran.stderr.starts_with(&format!("error: --since {since:?}")),
            "{}",
            ran.stderr
        );
    }
    let ran = signins(&graph, &[], &[]);
    assert_eq!(ran.code(), 1);
    assert!(line(&ran, "fail  sign-ins: ").contains("no Microsoft Graph token"));
    graph.fault(crate::graph_stand_in::Fault {
        method: "GET",
        path: "/beta/auditLogs/signIns".to_owned(),
        status: 403,
        retry_after: None,
        times: 1,
    });
    // The token from standard input: none given here, so the command says so.
    let ran = signins(&graph, &["--graph-token", "-"], &[]);
    assert_eq!(ran.code(), 1);
    assert!(line(&ran, "fail  sign-ins: ").contains("line 1 is empty or missing"));
    let dir = tempfile::tempdir().unwrap();
    let url = graph.url();
    let ran = handler(
        dir.path(),
        &[
            "doctor",
            "--signins",
            "--graph-url",
            &url,
            "--graph-token",
            "-",
        ],
        &[("WEBSITE_HOSTNAME", "gate.example.net")],
        &format!("{}\n", token()),
    );
    assert_eq!(ran.code(), 1);
    assert!(
        line(
            &ran,
            "fail  sign-ins: GET /beta/auditLogs/signIns?$filter=createdDateTime ge "
        )
        .contains("HTTP 403 Authorization_RequestDenied")
            && ran
                .stdout
                .contains("(the token lacks the permission AuditLog.Read.All"),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains(&token()));
    let ran = handler(
        dir.path(),
        &[
            "doctor",
            "--signins",
            "--graph-url",
            "https://graph.example.net",
        ],
        &[("SIGNUP_GATE_GRAPH_TOKEN", &token())],
        "",
    );
    assert_eq!(ran.code(), 1);
    assert!(
        ran.stdout.contains("is not Microsoft Graph"),
        "{}",
        ran.stdout
    );
}

/// The gate's side from Application Insights' query API (a loopback stand-in answering as its
/// documentation shows: one table of columns and rows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_insights_shows_the_gates_side_of_each_call() {
    use warp::Filter;
    const AI_APP: &str = "0a1b2c3d-0000-4000-8000-00000000a1a1";
    const AI_TOKEN: &str = "insights-token-that-must-never-be-printed";
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes = {
        let asked = asked.clone();
        warp::post()
            .and(warp::path!("v1" / "apps" / String / "query"))
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::body::json())
            .map(move |app: String, authorization: Option<String>, body: Value| {
                asked.lock().unwrap().push(body);
                if app != AI_APP || authorization.as_deref() != Some(&format!("Bearer {AI_TOKEN}")) {
                    return warp::reply::with_status(
                        warp::reply::json(&json!({"error": {"code": "InvalidTokenError", "message": "no"}})),
                        warp::http::StatusCode::UNAUTHORIZED,
                    );
                }
                let columns = ["timestamp", "function", "outcome", "reason", "email", "entra_correlation_id", "invocation_id"];
                warp::reply::with_status(
                    warp::reply::json(&json!({"tables": [{"name": "PrimaryResult",
                        "columns": columns.iter().map(|name| json!({"name": name, "type": "string"})).collect::<Vec<_>>(),
                        "rows": [["2026-05-01T10:01:01.48Z", "OnAttributeCollectionStart", "showBlockPage", "not_invited", ADDRESS, C2, "inv-2"]]}]})),
                    warp::http::StatusCode::OK,
                )
            })
    };
    tokio::spawn(warp::serve(routes).incoming(listener).run());
    let graph = GraphStandIn::start(tenant_with_failures()).await;
    let ai_url = format!("http://127.0.0.1:{port}");
    let ran = signins(
        &graph,
        &[
            "--ai-app-id",
            AI_APP,
            "--ai-token",
            AI_TOKEN,
            "--ai-url",
            &ai_url,
        ],
        &[("SIGNUP_GATE_GRAPH_TOKEN", &token())],
    );
    assert_eq!(ran.code(), 1);
    assert!(!ran.stdout.contains(AI_TOKEN));
    assert_eq!(
        line(&ran, "ok    sign-ins: decision log: "),
        "ok    sign-ins: decision log: 1 decision(s) with an Entra correlation id (Application Insights); 1 of the window's call(s) found there"
    );
    let call = line(&ran, &format!("warn  sign-ins: call {C2}: "));
    assert!(
        call.ends_with(&format!("Gate: decision function=OnAttributeCollectionStart outcome=showBlockPage reason=not_invited email=a***@contoso.com entra_correlation_id={C2} correlation_id=inv-2 (Application Insights, 2026-05-01T10:01:01.48Z)")),
        "{call}"
    );
    let query = asked.lock().unwrap()[0].clone();
    assert!(query["query"].as_str().unwrap().starts_with(
        "requests | where isnotempty(tostring(customDimensions.entra_correlation_id))"
    ));
    assert_eq!(query["timespan"], "PT3600S");
    let ran = signins(
        &graph,
        &[
            "--ai-app-id",
            AI_APP,
            "--ai-token",
            "wrong-token",
            "--ai-url",
            &ai_url,
        ],
        &[("SIGNUP_GATE_GRAPH_TOKEN", &token())],
    );
    assert!(
        line(&ran, "fail  sign-ins: Application Insights: ").contains(&format!("POST /v1/apps/{AI_APP}/query: HTTP 401 no (the token is not valid for https://api.applicationinsights.io)")),
        "{}",
        ran.stdout
    );
}

/// A next page on another host is not followed: the token goes to Graph's host only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_page_on_another_host_is_not_followed() {
    let mut tenant = tenant_with_failures();
    tenant.next_link_base = Some("https://graph.example.net".to_owned());
    let graph = GraphStandIn::start(tenant).await;
    let ran = signins(&graph, &[], &[("SIGNUP_GATE_GRAPH_TOKEN", &token())]);
    assert_eq!(ran.code(), 1);
    assert!(
        line(
            &ran,
            "fail  sign-ins: GET /beta/auditLogs/signUps?$filter=createdDateTime ge "
        )
        .ends_with("no answer: its @odata.nextLink is not on the same Graph host: not followed"),
        "{}",
        ran.stdout
    );
}
