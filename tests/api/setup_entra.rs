//! `handler setup entra` against the Graph stand-in: the plan changes nothing, `--apply` creates
//! what the plan said, a second run plans nothing, a changed URL moves only what names the host,
//! nothing is ever deleted, throttling is waited out, a failure half-way leaves a plan the next
//! run completes, a refusal names the permission, and no token or key is ever printed.

use serde_json::{Value, json};

use crate::graph_stand_in::{
    EVENTS_APP, FLOW, FLOW_NAME, Fault, GRAPH_PRINCIPAL, GraphStandIn, Ran, SHOP_APP,
    SHOP_PRINCIPAL, Seen, TENANT, Tenant, handler, token,
};

const URL: &str = "https://gate.example.net";
const OTHER_URL: &str = "https://gate-west.example.net";
const KEY: &str = "Fk3y-that-must-never-be-printed==";
const START: &str = "signup-gate OnAttributeCollectionStart";
const SUBMIT: &str = "signup-gate OnAttributeCollectionSubmit";
const TOKEN_EXTENSION: &str = "signup-gate OnTokenIssuanceStart";
const TAG: &str = "signup-gate:signup-gate";

/// Runs `handler setup entra` against the stand-in with the token in SIGNUP_GATE_GRAPH_TOKEN,
/// and checks that nothing secret was printed.
fn setup(graph: &GraphStandIn, args: &[&str]) -> Ran {
    setup_with(graph, args, &[("SIGNUP_GATE_GRAPH_TOKEN", &token())], "")
}

fn setup_with(graph: &GraphStandIn, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let url = graph.url();
    let mut all = vec!["setup", "entra", "--graph-url", url.as_str()];
    all.extend_from_slice(args);
    let ran = handler(dir.path(), &all, env, stdin);
    no_secrets(&ran);
    ran
}

fn no_secrets(ran: &Ran) {
    let token = token();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    for secret in [token.as_str(), signature.as_str(), KEY, "Fk3y"] {
        assert!(
            !ran.stdout.contains(secret) && !ran.stderr.contains(secret),
            "a secret was printed:\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
    }
}

fn writes(requests: &[Seen]) -> Vec<String> {
    requests
        .iter()
        .filter(|request| request.is_write())
        .map(|request| format!("{} {}", request.method, request.path))
        .collect()
}

/// The resources of a `--json` report by resource and name: (action, state).
fn actions(report: &Value) -> Vec<(String, String, String)> {
    report["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            (
                format!(
                    "{} {}",
                    step["resource"].as_str().unwrap(),
                    step["name"].as_str().unwrap()
                ),
                step["action"].as_str().unwrap().to_owned(),
                step["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn action_of(report: &Value, resource: &str) -> String {
    actions(report)
        .into_iter()
        .find(|(name, _, _)| name.starts_with(resource))
        .unwrap_or_else(|| panic!("no {resource} in {report:#}"))
        .1
}

const WIRE: &[&str] = &["--url", URL, "--code", KEY, "--user-flow", FLOW_NAME];

/// A plan reads and changes nothing, and says resource by resource what it would create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_changes_nothing_and_says_what_it_would_create() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    let before = graph.tenant();
    let ran = setup(&graph, WIRE);
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    let requests = graph.take_requests();
    assert!(writes(&requests).is_empty(), "{:?}", writes(&requests));
    // Its own resources are found by their marker, not by guessing.
    let lookup = requests
        .iter()
        .find(|request| request.path == "/v1.0/applications")
        .expect("the app registration is looked up");
    assert!(
        lookup
            .query
            .starts_with("$filter=tags/any(t:t eq 'signup-gate:signup-gate')"),
        "{}",
        lookup.query
    );
    let after = graph.tenant();
    assert_eq!(before.applications, after.applications);
    assert_eq!(before.flows, after.flows);
    for line in [
        "Plan (nothing is changed without --apply) for https://gate.example.net in tenant aaaabbbb-0000-cccc-1111-dddd2222eeee:",
        "create   app registration \"signup-gate\"",
        "           identifier URI api://gate.example.net/(its app id)",
        "create   service principal of the app registration \"signup-gate\"",
        &format!("create   service principal of the authentication events service ({EVENTS_APP})"),
        "create   admin consent CustomAuthenticationExtension.Receive.Payload (app role 214e810f-fda8-4fd7-a475-29461495eb00)",
        &format!("create   custom authentication extension \"{START}\""),
        "           target URL https://gate.example.net/api/OnAttributeCollectionStart?code=(function key)",
        "           timeout 1000 ms, 1 retry",
        &format!("create   custom authentication extension \"{SUBMIT}\""),
        "update   user flow handler \"Sign up\": onAttributeCollectionStart",
        &format!("           calls \"{START}\" (now: no extension)"),
        "           via PATCH of the v1.0 user flow; a beta listener for its applications if Graph refuses it",
        "  AUTH_EVENTS_TENANT_ID=aaaabbbb-0000-cccc-1111-dddd2222eeee",
        "  AUTH_EVENTS_CLIENT_ID=<the app registration's application id>",
        "6 to create, 2 to update, 0 unchanged: run it again with --apply to make these changes.",
    ] {
        assert!(ran.stdout.contains(line), "no {line:?} in:\n{}", ran.stdout);
    }
    // The token issuance event is not wired unless asked.
    assert!(
        !ran.stdout.contains("OnTokenIssuanceStart"),
        "{}",
        ran.stdout
    );

    let ran = setup(&graph, &[WIRE, &["--json"]].concat());
    assert_eq!(ran.code(), 0);
    let report = ran.json();
    assert_eq!(report["mode"], "plan");
    assert_eq!(
        report["summary"],
        json!({"create": 6, "update": 2, "none": 0, "blocked": 0})
    );
    assert!(
        actions(&report)
            .iter()
            .all(|(_, action, state)| action != "none" && state == "planned"),
        "{report:#}"
    );
}

/// `--apply` creates what the plan said; a second run plans nothing and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_what_the_plan_said_and_a_second_run_plans_nothing() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    let tenant = graph.tenant();
    let app = tenant
        .app_by_tag(TAG)
        .expect("the app registration")
        .clone();
    let app_id = app["appId"].as_str().unwrap();
    assert_eq!(
        app["identifierUris"],
        json!([format!("api://gate.example.net/{app_id}")])
    );
    assert_eq!(app["api"]["requestedAccessTokenVersion"], 2);
    let principal = tenant
        .service_principals
        .iter()
        .find(|sp| sp["appId"] == app_id)
        .expect("its service principal")
        .clone();
    assert!(
        tenant
            .service_principals
            .iter()
            .any(|sp| sp["appId"] == EVENTS_APP)
    );
    assert!(tenant.role_assignments.iter().any(|assignment| {
        assignment["principalId"] == principal["id"]
            && assignment["resourceId"] == GRAPH_PRINCIPAL
            && assignment["appRoleId"] == "214e810f-fda8-4fd7-a475-29461495eb00"
    }));
    let start = tenant.extension_named(START).expect("the Start extension");
    assert_eq!(
        start["@odata.type"],
        "#microsoft.graph.onAttributeCollectionStartCustomExtension"
    );
    assert_eq!(
        start["endpointConfiguration"]["targetUrl"],
        format!("https://gate.example.net/api/OnAttributeCollectionStart?code={KEY}")
    );
    assert_eq!(
        start["authenticationConfiguration"]["resourceId"],
        format!("api://gate.example.net/{app_id}")
    );
    assert_eq!(
        start["clientConfiguration"],
        json!({"timeoutInMilliseconds": 1000, "maximumRetries": 1})
    );
    let submit = tenant
        .extension_named(SUBMIT)
        .expect("the Submit extension");
    let flow = tenant.flow();
    assert_eq!(
        flow["onAttributeCollectionStart"],
        json!({"@odata.type": "#microsoft.graph.onAttributeCollectionStartCustomExtensionHandler",
               "customExtension": {"id": start["id"]}})
    );
    assert_eq!(
        flow["onAttributeCollectionSubmit"]["customExtension"]["id"],
        submit["id"]
    );
    // Entra's validation of each, and the settings with the new app's id.
    for line in [
        "Entra's validation (validateAuthenticationConfiguration):",
        &format!("  ok       \"{START}\" (OnAttributeCollectionStart)"),
        &format!("  AUTH_EVENTS_CLIENT_ID={app_id}"),
        &format!("  AUTH_EVENTS_TENANT_ID={TENANT}"),
        "This run created (to undo the set-up, remove them):",
        &format!(
            "  app registration \"signup-gate\" (app id {app_id}): az ad app delete --id {app_id}"
        ),
        "6 created, 2 updated, 0 unchanged, 0 failed, 0 not done",
    ] {
        assert!(ran.stdout.contains(line), "no {line:?} in:\n{}", ran.stdout);
    }
    graph.take_requests();

    let ran = setup(&graph, &[WIRE, &["--json"]].concat());
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    let report = ran.json();
    assert_eq!(report["summary"]["create"], 0, "{report:#}");
    assert_eq!(report["summary"]["update"], 0, "{report:#}");
    assert_eq!(report["app_settings"]["AUTH_EVENTS_CLIENT_ID"], app_id);
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    assert!(
        ran.stdout.contains("This run created nothing."),
        "{}",
        ran.stdout
    );
    assert_eq!(writes(&graph.take_requests()), Vec::<String>::new());
}

/// A changed URL moves the identifier URI and each extension's target URL and resource, and
/// nothing else: the same extensions, the same handlers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_url_moves_only_what_names_the_host() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    assert_eq!(setup(&graph, &[WIRE, &["--apply"]].concat()).code(), 0);
    let before = graph.tenant();
    let app_id = before.app_by_tag(TAG).unwrap()["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = ["--url", OTHER_URL, "--code", KEY, "--user-flow", FLOW_NAME];
    let ran = setup(&graph, &[&moved[..], &["--json"]].concat());
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    let report = ran.json();
    let changed: Vec<String> = actions(&report)
        .into_iter()
        .filter(|(_, action, _)| action != "none")
        .map(|(name, action, _)| format!("{action} {name}"))
        .collect();
    assert_eq!(
        changed,
        [
            "update app registration \"signup-gate\"".to_owned(),
            format!("update custom authentication extension \"{START}\""),
            format!("update custom authentication extension \"{SUBMIT}\""),
        ]
    );
    let app_changes = report["resources"][0]["changes"].to_string();
    assert!(
        app_changes.contains(&format!(
            "identifier URI api://gate.example.net/{app_id} → api://gate-west.example.net/{app_id}"
        )),
        "{app_changes}"
    );
    let start_changes = report["resources"][4]["changes"].to_string();
    assert!(
        start_changes.contains("target URL https://gate.example.net/api/OnAttributeCollectionStart?code=(function key) → https://gate-west.example.net/api/OnAttributeCollectionStart?code=(function key)")
            && start_changes.contains(&format!("resource \\\"api://gate.example.net/{app_id}\\\" → api://gate-west.example.net/{app_id}")),
        "{start_changes}"
    );
    graph.take_requests();
    assert_eq!(
        setup(&graph, &[&moved[..], &["--apply"]].concat()).code(),
        0
    );
    let writes = writes(&graph.take_requests());
    assert_eq!(writes.len(), 3, "{writes:?}");
    assert!(
        writes.iter().all(|write| write.starts_with("PATCH ")),
        "{writes:?}"
    );
    let after = graph.tenant();
    assert_eq!(
        after.app_by_tag(TAG).unwrap()["identifierUris"],
        json!([format!("api://gate-west.example.net/{app_id}")])
    );
    for name in [START, SUBMIT] {
        let (old, new) = (
            before.extension_named(name).unwrap(),
            after.extension_named(name).unwrap(),
        );
        assert_eq!(old["id"], new["id"]);
        assert!(
            new["endpointConfiguration"]["targetUrl"]
                .as_str()
                .unwrap()
                .starts_with("https://gate-west.example.net/api/OnAttributeCollection")
        );
        assert_eq!(
            new["authenticationConfiguration"]["resourceId"],
            format!("api://gate-west.example.net/{app_id}")
        );
    }
    assert_eq!(before.flows, after.flows);
    assert_eq!(before.service_principals, after.service_principals);
    assert_eq!(before.role_assignments, after.role_assignments);
    assert_eq!(before.extensions.len(), after.extensions.len());
    let report = setup(&graph, &[&moved[..], &["--json"]].concat()).json();
    assert_eq!(report["summary"]["create"], 0);
    assert_eq!(report["summary"]["update"], 0);
}

/// Nothing is deleted, and what the set-up did not make stays as it was: another extension,
/// another user flow, the app registration's other identifier URIs and API permissions, the
/// user flow's other attributes, the client application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_deleted_and_what_it_did_not_make_stays() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    assert_eq!(setup(&graph, &[WIRE, &["--apply"]].concat()).code(), 0);
    graph.change(|tenant| {
        tenant.extensions.push(json!({
            "@odata.type": "#microsoft.graph.onAttributeCollectionStartCustomExtension",
            "id": "c0ffee00-0000-4000-8000-000000000001", "displayName": "Contoso start",
            "endpointConfiguration": {"@odata.type": "#microsoft.graph.httpRequestEndpoint",
                                      "targetUrl": "https://gate.example.net/api/OnAttributeCollectionStart"},
            "authenticationConfiguration": {"@odata.type": "#microsoft.graph.azureAdTokenAuthentication",
                                            "resourceId": "api://gate.example.net/c0ffee00-0000-4000-8000-000000000002"},
            "clientConfiguration": {"timeoutInMilliseconds": 2000, "maximumRetries": 0}
        }));
        let mut other = tenant.flow().clone();
        other["id"] = json!("0313cc37-0000-4000-8000-0000000000ff");
        other["displayName"] = json!("Partners");
        tenant.flows.push(other);
        let app = tenant
            .applications
            .iter_mut()
            .find(|app| app["tags"][0] == TAG)
            .unwrap();
        let id = app["appId"].as_str().unwrap().to_owned();
        app["identifierUris"] = json!([format!("api://gate.example.net/{id}"), "https://contoso.example/gate"]);
        app["requiredResourceAccess"]
            .as_array_mut()
            .unwrap()
            .push(json!({"resourceAppId": "c0ffee00-0000-4000-8000-0000000000aa",
                         "resourceAccess": [{"id": "c0ffee00-0000-4000-8000-0000000000bb", "type": "Scope"}]}));
    });
    let before = graph.tenant();
    graph.take_requests();
    let moved = [
        "--url",
        OTHER_URL,
        "--code",
        KEY,
        "--user-flow",
        FLOW_NAME,
        "--apply",
    ];
    let ran = setup(&graph, &moved);
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    let requests = graph.take_requests();
    assert!(
        requests
            .iter()
            .all(|request| ["GET", "POST", "PATCH"].contains(&request.method.as_str())),
        "only reads, creations and updates"
    );
    let after = graph.tenant();
    let app = after.app_by_tag(TAG).unwrap();
    let id = app["appId"].as_str().unwrap();
    assert_eq!(
        app["identifierUris"],
        json!([
            format!("api://gate-west.example.net/{id}"),
            "https://contoso.example/gate"
        ])
    );
    assert_eq!(
        app["requiredResourceAccess"],
        before.app_by_tag(TAG).unwrap()["requiredResourceAccess"]
    );
    assert_eq!(
        after.extension_named("Contoso start"),
        before.extension_named("Contoso start")
    );
    assert_eq!(after.flows, before.flows);
    assert_eq!(after.applications[0], before.applications[0]);
    for (was, is) in [
        (before.applications.len(), after.applications.len()),
        (
            before.service_principals.len(),
            after.service_principals.len(),
        ),
        (before.extensions.len(), after.extensions.len()),
        (before.role_assignments.len(), after.role_assignments.len()),
        (before.listeners.len(), after.listeners.len()),
    ] {
        assert_eq!(was, is);
    }
}

/// Graph's throttling is waited out as Retry-After says, and the request sent again; a wait
/// longer than the command will wait fails with what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_waited_out_as_retry_after_says() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    graph.fault(Fault {
        method: "POST",
        path: "/v1.0/applications".to_owned(),
        status: 429,
        retry_after: Some(1),
        times: 1,
    });
    graph.fault(Fault {
        method: "GET",
        path: "/v1.0/identity/customAuthenticationExtensions".to_owned(),
        status: 503,
        retry_after: Some(0),
        times: 2,
    });
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("Microsoft Graph answered 429 to POST /v1.0/applications: waiting 1 s as it asks, then sending it again"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("Microsoft Graph answered 503 to GET /v1.0/identity/customAuthenticationExtensions: waiting 0 s"));
    let requests = graph.take_requests();
    let count = |method: &str, path: &str| {
        requests
            .iter()
            .filter(|request| request.method == method && request.path == path)
            .count()
    };
    assert_eq!(count("POST", "/v1.0/applications"), 2);
    assert_eq!(
        count("GET", "/v1.0/identity/customAuthenticationExtensions"),
        3
    );
    assert_eq!(graph.tenant().applications.len(), 2, "created once");

    graph.fault(Fault {
        method: "GET",
        path: "/v1.0/applications".to_owned(),
        status: 429,
        retry_after: Some(3600),
        times: 1,
    });
    let ran = setup(&graph, WIRE);
    assert_eq!(ran.code(), 1, "{}", ran.stdout);
    assert!(
        ran.stdout.contains(
            "HTTP 429: Graph asks to wait 3600 s before the next request: run it again later"
        ),
        "{}",
        ran.stdout
    );
    // A write Graph may have made (503, 504) is not sent again: the next run's plan shows it.
    let graph = GraphStandIn::start(Tenant::external()).await;
    graph.fault(Fault {
        method: "POST",
        path: "/v1.0/applications".to_owned(),
        status: 503,
        retry_after: Some(0),
        times: 1,
    });
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 1, "{}", ran.stdout);
    let posts = graph
        .take_requests()
        .iter()
        .filter(|request| request.method == "POST" && request.path == "/v1.0/applications")
        .count();
    assert_eq!(posts, 1);
}

/// A write that fails half-way stops the writes; the report shows what was created and what
/// is left, the next plan shows exactly the rest, and the next apply completes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_half_way_leaves_a_plan_the_next_run_completes() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    graph.fault(Fault {
        method: "POST",
        path: "/v1.0/identity/customAuthenticationExtensions".to_owned(),
        status: 500,
        retry_after: None,
        times: 1,
    });
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 1, "{}", ran.stdout);
    for line in [
        &format!("failed   custom authentication extension \"{START}\""),
        "           error: POST /v1.0/identity/customAuthenticationExtensions: HTTP 500 UnknownError: The stand-in was told to refuse this request.",
        &format!("create (not done) custom authentication extension \"{SUBMIT}\""),
        "update (not done) user flow handler \"Sign up\": onAttributeCollectionStart",
        "This run created (to undo the set-up, remove them):",
        "4 created, 0 updated, 0 unchanged, 1 failed, 3 not done",
    ] {
        assert!(ran.stdout.contains(line), "no {line:?} in:\n{}", ran.stdout);
    }
    assert!(
        !ran.stdout.contains("Entra's validation"),
        "no validation after a failure"
    );
    let tenant = graph.tenant();
    assert!(tenant.extensions.is_empty());
    assert!(tenant.app_by_tag(TAG).is_some());
    // The app registration was created, then given its identifier URI (which names its id).
    let requests = graph.take_requests();
    let uri = requests
        .iter()
        .find(|request| {
            request.method == "PATCH" && request.path.starts_with("/v1.0/applications/")
        })
        .expect("the identifier URI is set");
    let app_id = tenant.app_by_tag(TAG).unwrap()["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        uri.body,
        json!({"identifierUris": [format!("api://gate.example.net/{app_id}")]})
    );

    let report = setup(&graph, &[WIRE, &["--json"]].concat()).json();
    assert_eq!(
        report["summary"],
        json!({"create": 2, "update": 2, "none": 4, "blocked": 0}),
        "{report:#}"
    );
    assert_eq!(action_of(&report, "app registration"), "none");
    assert_eq!(action_of(&report, "admin consent"), "none");
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("2 created, 2 updated, 4 unchanged, 0 failed, 0 not done"),
        "{}",
        ran.stdout
    );
    let report = setup(&graph, &[WIRE, &["--json"]].concat()).json();
    assert_eq!(
        report["summary"],
        json!({"create": 0, "update": 0, "none": 8, "blocked": 0})
    );
}

/// A 403 names the permission the refused request needs, for reads and writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_names_the_missing_permission() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    graph.fault(Fault {
        method: "POST",
        path: "/v1.0/identity/customAuthenticationExtensions".to_owned(),
        status: 403,
        retry_after: None,
        times: 1,
    });
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 1);
    assert!(
        ran.stdout.contains("HTTP 403 Authorization_RequestDenied: The stand-in was told to refuse this request. (the token lacks the permission CustomAuthenticationExtension.ReadWrite.All: grant it to the app the token is for, with admin consent)"),
        "{}",
        ran.stdout
    );
    graph.fault(Fault {
        method: "GET",
        path: "/v1.0/identity/authenticationEventsFlows".to_owned(),
        status: 403,
        retry_after: None,
        times: 1,
    });
    let ran = setup(&graph, WIRE);
    assert_eq!(ran.code(), 1);
    assert!(
        ran.stdout
            .contains("error: GET /v1.0/identity/authenticationEventsFlows: HTTP 403")
            && ran
                .stdout
                .contains("lacks the permission EventListener.Read.All"),
        "{}",
        ran.stdout
    );
}

/// Where Graph refuses the user flow's Start and Submit handlers, beta listeners for the flow's
/// applications call the extensions instead; the plan and the result say which was used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_user_flow_patch_falls_back_to_beta_listeners() {
    let mut tenant = Tenant::external();
    tenant.refuse_flow_handlers = true;
    let graph = GraphStandIn::start(tenant).await;
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    assert!(
        ran.stdout.contains("via a beta listener for the flow's applications (Graph refused the v1.0 user flow's handler: PATCH /v1.0/identity/authenticationEventsFlows/0313cc37-d421-421d-857b-87804d61e33e: HTTP 400 BadRequest: Invalid property 'onAttributeCollectionStart' for this update.)"),
        "{}",
        ran.stdout
    );
    let tenant = graph.tenant();
    let start = tenant.extension_named(START).unwrap()["id"].clone();
    let listener = tenant
        .listeners
        .iter()
        .find(|listener| {
            listener["@odata.type"] == "#microsoft.graph.onAttributeCollectionStartListener"
        })
        .expect("a Start listener");
    assert_eq!(listener["authenticationEventsFlowId"], FLOW);
    assert_eq!(
        listener["conditions"]["applications"]["includeApplications"],
        json!([{"appId": SHOP_APP}])
    );
    assert_eq!(
        listener["handler"],
        json!({"@odata.type": "#microsoft.graph.onAttributeCollectionStartCustomExtensionHandler",
               "customExtension": {"id": start}})
    );
    assert_eq!(tenant.listeners.len(), 2);
    let requests = graph.take_requests();
    assert_eq!(
        requests
            .iter()
            .filter(
                |r| r.method == "POST" && r.path == "/beta/identity/authenticationEventListeners"
            )
            .count(),
        2
    );
    let ran = setup(&graph, WIRE);
    assert!(
        ran.stdout
            .contains("0 to create, 0 to update, 8 unchanged: nothing to do."),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("via a beta listener (Graph refused the v1.0 user flow's handler)")
    );
}

/// Token issuance: the extension with its claims, a listener for the applications, a claims
/// mapping policy from the custom claims provider on each application; another policy on an
/// application stays (blocked, not replaced); applications and claims are only ever added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_issuance_gets_a_listener_and_a_claims_mapping_policy() {
    const PORTAL_APP: &str = "7d2e9c3a-1111-4222-8333-444455557777";
    const PORTAL_PRINCIPAL: &str = "7d2e9c3a-0000-4000-8000-000000000001";
    let mut tenant = Tenant::external();
    tenant.applications.push(
        json!({"id": "7d2e9c3a-0000-4000-8000-000000000002", "appId": PORTAL_APP,
        "displayName": "Portal", "api": {"acceptMappedClaims": true}, "tags": []}),
    );
    tenant
        .service_principals
        .push(json!({"id": PORTAL_PRINCIPAL, "appId": PORTAL_APP}));
    tenant.claims_policies.push(
        json!({"id": "7d2e9c3a-0000-4000-8000-0000000000cc", "displayName": "Portal's own",
        "definition": ["{\"ClaimsMappingPolicy\":{\"Version\":1,\"ClaimsSchema\":[]}}"]}),
    );
    tenant.policy_assignments.push((
        PORTAL_PRINCIPAL.to_owned(),
        "7d2e9c3a-0000-4000-8000-0000000000cc".to_owned(),
    ));
    let graph = GraphStandIn::start(tenant).await;
    let args = [
        "--url",
        URL,
        "--code",
        KEY,
        "--no-attribute-collection",
        "--token-issuance",
        "--app",
        SHOP_APP,
        "--app",
        PORTAL_APP,
        "--claim",
        "department",
        "--claim",
        "app_roles",
    ];
    let ran = setup(&graph, &[&args[..], &["--apply"]].concat());
    assert_eq!(ran.code(), 1, "blocked: {}", ran.stdout);
    assert!(
        ran.stdout.contains(&format!("blocked  claims mapping of application {PORTAL_APP}"))
            && ran.stdout.contains("its service principal has another claims mapping policy (\"Portal's own\", 7d2e9c3a-0000-4000-8000-0000000000cc), which stays"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("warning: its app registration does not accept mapped claims"),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("OnAttributeCollectionStart"));
    let tenant = graph.tenant();
    let extension = tenant
        .extension_named(TOKEN_EXTENSION)
        .expect("the token extension");
    assert_eq!(
        extension["claimsForTokenConfiguration"],
        json!([{"claimIdInApiResponse": "department"}, {"claimIdInApiResponse": "app_roles"}])
    );
    let listener = &tenant.listeners[0];
    assert_eq!(
        listener["@odata.type"],
        "#microsoft.graph.onTokenIssuanceStartListener"
    );
    assert_eq!(
        listener["conditions"]["applications"]["includeApplications"],
        json!([{"appId": SHOP_APP}, {"appId": PORTAL_APP}])
    );
    assert_eq!(
        listener["handler"]["customExtension"]["id"],
        extension["id"]
    );
    let policy = tenant
        .claims_policies
        .iter()
        .find(|policy| policy["displayName"] == "signup-gate claims")
        .expect("the policy");
    let definition: Value =
        serde_json::from_str(policy["definition"][0].as_str().unwrap()).unwrap();
    assert_eq!(
        definition["ClaimsMappingPolicy"]["ClaimsSchema"],
        json!([{"Source": "CustomClaimsProvider", "ID": "department", "JwtClaimType": "department"},
               {"Source": "CustomClaimsProvider", "ID": "app_roles", "JwtClaimType": "app_roles"}])
    );
    assert!(tenant.policy_assignments.contains(&(
        SHOP_PRINCIPAL.to_owned(),
        policy["id"].as_str().unwrap().to_owned()
    )));
    assert_eq!(
        tenant
            .policy_assignments
            .iter()
            .filter(|(sp, _)| sp == PORTAL_PRINCIPAL)
            .count(),
        1,
        "Portal keeps its own policy"
    );
    // Fewer applications and claims take nothing away.
    let fewer = [
        "--url",
        URL,
        "--no-attribute-collection",
        "--token-issuance",
        "--app",
        SHOP_APP,
        "--claim",
        "department",
        "--json",
    ];
    let report = setup(&graph, &fewer).json();
    assert_eq!(
        report["summary"],
        json!({"create": 0, "update": 0, "none": 8, "blocked": 0}),
        "{report:#}"
    );
    // A new claim is added to the extension and the policy, and the rest kept.
    let more = [
        "--url",
        URL,
        "--no-attribute-collection",
        "--token-issuance",
        "--app",
        SHOP_APP,
        "--claim",
        "department",
        "--claim",
        "region",
        "--apply",
    ];
    let ran = setup(&graph, &more);
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("claims: adds region (keeps department, app_roles)"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("adds region (keeps department, app_roles)")
    );
    let tenant = graph.tenant();
    assert_eq!(
        tenant.extension_named(TOKEN_EXTENSION).unwrap()["claimsForTokenConfiguration"],
        json!([{"claimIdInApiResponse": "department"}, {"claimIdInApiResponse": "app_roles"}, {"claimIdInApiResponse": "region"}])
    );
}

/// The invitation code attribute: created, on the flow's page, never written to the user, a
/// pattern that takes codes as typed, and every other input of the page as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invitation_code_attribute_is_never_written_to_the_user() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    let before = graph.tenant().flow().clone();
    let args = [WIRE, &["--invitation-code-attribute", "InvitationCode"]].concat();
    let ran = setup(&graph, &[&args[..], &["--apply"]].concat());
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    let tenant = graph.tenant();
    let id = "extension_6ea3bc85aec24b1c92ff4a117afb6621_InvitationCode";
    let attribute = tenant
        .user_flow_attributes
        .iter()
        .find(|attribute| attribute["id"] == id)
        .expect("the attribute");
    assert_eq!(attribute["dataType"], "string");
    let collection = &tenant.flow()["onAttributeCollection"];
    assert!(
        collection["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id)
    );
    let inputs = collection["attributeCollectionPage"]["views"][0]["inputs"]
        .as_array()
        .unwrap();
    assert_eq!(inputs.len(), 3);
    assert_eq!(
        inputs[..2],
        before["onAttributeCollection"]["attributeCollectionPage"]["views"][0]["inputs"]
            .as_array()
            .unwrap()[..]
    );
    assert_eq!(inputs[2]["attribute"], id);
    assert_eq!(inputs[2]["writeToDirectory"], false);
    assert_eq!(inputs[2]["required"], false);
    assert_eq!(inputs[2]["validationRegEx"], "^[0-9A-Za-z -]{0,64}$");
    let report = setup(&graph, &[&args[..], &["--json"]].concat()).json();
    assert_eq!(report["summary"]["create"], 0, "{report:#}");
    assert_eq!(report["summary"]["update"], 0, "{report:#}");
}

/// Input that cannot be used is refused before Graph is asked anything, with what to change,
/// and exit code 2; a user flow that does not exist names the ones that do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_what_to_change() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    let token = token();
    let other = "99998888-0000-cccc-1111-dddd2222eeee";
    for (args, expected) in [
        (
            vec!["--url", "http://gate.example.net"],
            "Entra calls https target URLs only",
        ),
        (
            vec!["--url", "https://gate.example.net/api"],
            "give the base URL alone",
        ),
        (
            vec!["--url", URL, "--timeout-ms", "5000"],
            "--timeout-ms 5000 is outside Entra's bounds: 200 to 2000 ms",
        ),
        (
            vec!["--url", URL, "--retries", "2"],
            "--retries 2: Entra calls again at most once",
        ),
        (
            vec!["--url", URL, "--token-issuance", "--claim", "x"],
            "--token-issuance needs the applications",
        ),
        (
            vec![
                "--url",
                URL,
                "--token-issuance",
                "--app",
                "shop",
                "--claim",
                "x",
            ],
            "--app: \"shop\" is not a GUID",
        ),
        (
            vec![
                "--url",
                URL,
                "--token-issuance",
                "--app",
                SHOP_APP,
                "--claim",
                "roles",
            ],
            "--claim:",
        ),
        (
            vec!["--url", URL, "--token-issuance", "--app", SHOP_APP],
            "--token-issuance needs the claims",
        ),
        (
            vec![
                "--url",
                URL,
                "--invitation-code-attribute",
                "InvitationCode",
            ],
            "give --user-flow",
        ),
        (
            vec![
                "--url",
                URL,
                "--invitation-code-attribute",
                "Invitation-Code",
                "--user-flow",
                "x",
            ],
            "letters and digits",
        ),
        (
            vec!["--url", URL, "--set-app-settings"],
            "--set-app-settings needs --function-app",
        ),
        (
            vec!["--url", URL, "--name", "my gate"],
            "--name \"my gate\"",
        ),
        (
            vec!["--url", URL, "--code", "a key"],
            "--code: a function key is printable text",
        ),
        (
            vec!["--url", URL, "--tenant", other],
            "the Graph token is for tenant aaaabbbb-0000-cccc-1111-dddd2222eeee, not --tenant 99998888",
        ),
    ] {
        let ran = setup(&graph, &args);
        assert_eq!(ran.code(), 2, "{args:?}: {}{}", ran.stdout, ran.stderr);
        assert!(
            ran.stderr.starts_with("error: ") && ran.stderr.contains(expected),
            "{args:?}: {}",
            ran.stderr
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let ran = handler(
        dir.path(),
        &[
            "setup",
            "entra",
            "--graph-url",
            "https://graph.example.net",
            "--url",
            URL,
        ],
        &[("SIGNUP_GATE_GRAPH_TOKEN", &token)],
        "",
    );
    assert_eq!(ran.code(), 2);
    assert!(
        ran.stderr
            .contains("is not Microsoft Graph: use https://graph.microsoft.com"),
        "{}",
        ran.stderr
    );
    let ran = setup_with(&graph, &["--url", URL, "--apply"], &[], "");
    assert_eq!(ran.code(), 2);
    assert!(ran.stderr.contains("--apply needs a Graph token of an app granted Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All, CustomAuthenticationExtension.ReadWrite.All, EventListener.ReadWrite.All, Policy.ReadWrite.ApplicationConfiguration"), "{}", ran.stderr);
    let ran = setup(&graph, &["--url", URL, "--json", "--retries", "3"]);
    assert_eq!(ran.code(), 2);
    assert!(
        ran.json()["error"]
            .as_str()
            .unwrap()
            .contains("--retries 3")
    );
    assert!(
        graph.take_requests().is_empty(),
        "nothing was asked of Graph"
    );
    let ran = setup(&graph, &["--url", URL, "--user-flow", "Sign in"]);
    assert_eq!(ran.code(), 1);
    assert!(ran.stdout.contains("error: --user-flow \"Sign in\": the tenant has no such user flow (its user flows: Sign up)"), "{}", ran.stdout);
}

/// The token and the key can come from standard input (and the key is still never printed);
/// a decision deadline over 80 % of the timeout is a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_and_the_key_can_come_from_standard_input() {
    let graph = GraphStandIn::start(Tenant::external()).await;
    let ran = setup_with(
        &graph,
        &[
            "--url",
            URL,
            "--graph-token",
            "-",
            "--code",
            "-",
            "--code",
            "OnAttributeCollectionSubmit=-",
            "--apply",
        ],
        &[("DECISION_DEADLINE_MS", "900")],
        &format!("{}\n{KEY}\n{KEY}-submit\n", token()),
    );
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("warning: DECISION_DEADLINE_MS (900 ms) is over 80 % of the extensions' timeout (1000 ms)"),
        "{}",
        ran.stdout
    );
    let tenant = graph.tenant();
    assert_eq!(
        tenant.extension_named(START).unwrap()["endpointConfiguration"]["targetUrl"],
        format!("https://gate.example.net/api/OnAttributeCollectionStart?code={KEY}")
    );
    assert_eq!(
        tenant.extension_named(SUBMIT).unwrap()["endpointConfiguration"]["targetUrl"],
        format!("https://gate.example.net/api/OnAttributeCollectionSubmit?code={KEY}-submit")
    );
    // Without --code the keys stay as they are.
    let report = setup(&graph, &["--url", URL, "--json"]).json();
    assert_eq!(report["summary"]["update"], 0, "{report:#}");
    let ran = setup_with(&graph, &["--url", URL, "--graph-token", "-"], &[], "\n");
    assert_eq!(ran.code(), 2);
    assert!(
        ran.stderr.contains("line 1 is empty or missing"),
        "{}",
        ran.stderr
    );
}

/// `--set-app-settings` hands the settings to the Azure CLI (a stand-in `az` here, which writes
/// down its arguments); a failing CLI fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_settings_are_set_with_the_azure_cli() {
    use std::os::unix::fs::PermissionsExt as _;
    let graph = GraphStandIn::start(Tenant::external()).await;
    let bin = tempfile::tempdir().unwrap();
    let recorded = bin.path().join("az-arguments");
    let az = bin.path().join("az");
    std::fs::write(&az, "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$AZ_RECORD\"\n[ -z \"$AZ_FAIL\" ] || { echo 'ERROR: (ResourceNotFound) no such app' >&2; exit 3; }\n").unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let token = token();
    let recorded_path = recorded.to_str().unwrap();
    let args = [
        WIRE,
        &[
            "--apply",
            "--set-app-settings",
            "--function-app",
            "gate",
            "--resource-group",
            "identity-rg",
        ],
    ]
    .concat();
    let env = [
        ("SIGNUP_GATE_GRAPH_TOKEN", token.as_str()),
        ("PATH", path.as_str()),
        ("AZ_RECORD", recorded_path),
    ];
    let ran = setup_with(&graph, &args, &env, "");
    assert_eq!(ran.code(), 0, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout.contains("  (set with the Azure CLI)"),
        "{}",
        ran.stdout
    );
    let app_id = graph.tenant().app_by_tag(TAG).unwrap()["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    let arguments: Vec<String> = std::fs::read_to_string(&recorded)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        arguments,
        [
            "functionapp",
            "config",
            "appsettings",
            "set",
            "--name",
            "gate",
            "--resource-group",
            "identity-rg",
            "--output",
            "none",
            "--settings",
            &format!("AUTH_EVENTS_TENANT_ID={TENANT}"),
            &format!("AUTH_EVENTS_CLIENT_ID={app_id}"),
        ]
    );
    let mut failing = env.to_vec();
    failing.push(("AZ_FAIL", "1"));
    let ran = setup_with(&graph, &args, &failing, "");
    assert_eq!(ran.code(), 1);
    assert!(ran.stdout.contains("error: --set-app-settings: the Azure CLI failed (exit status: 3): ERROR: (ResourceNotFound) no such app"), "{}", ran.stdout);
}

/// `handler doctor` agrees with what the set-up wired (admin consent spelt as Graph names it),
/// and names what fails before Entra makes any call: a timeout a user flow overrides below the
/// decision deadline, a user flow with no application, a handler naming an extension that does
/// not exist, an application of the token listener whose tokens map no claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_what_the_set_up_wired_and_what_fails_before_any_call() {
    const PORTAL_APP: &str = "7d2e9c3a-1111-4222-8333-444455557777";
    let mut tenant = Tenant::external();
    tenant
        .service_principals
        .push(json!({"id": "7d2e9c3a-0000-4000-8000-000000000001", "appId": PORTAL_APP}));
    let graph = GraphStandIn::start(tenant).await;
    let token_issuance = [
        "--token-issuance",
        "--app",
        SHOP_APP,
        "--claim",
        "department",
        "--apply",
    ];
    let ran = setup(&graph, &[WIRE, &token_issuance].concat());
    assert_eq!(ran.code(), 0, "{}", ran.stdout);
    let app_id = graph.tenant().app_by_tag(TAG).unwrap()["appId"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = token();
    let env = [
        ("API_CONNECTOR_AUTH", "none"),
        ("AUTH_EVENTS_TENANT_ID", TENANT),
        ("AUTH_EVENTS_CLIENT_ID", app_id.as_str()),
        ("AUTH_EVENTS_AUTHORITY", "http://127.0.0.1:9/none/v2.0"),
        ("WEBSITE_HOSTNAME", "gate.example.net"),
        ("SIGNUP_GATE_GRAPH_TOKEN", token.as_str()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let url = graph.url();
    let doctor = || handler(dir.path(), &["doctor", "--graph-url", &url], &env, "");
    let ran = doctor();
    no_secrets(&ran);
    let line = |ran: &Ran, start: &str| -> String {
        ran.stdout
            .lines()
            .find(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no {start:?} in:\n{}", ran.stdout))
            .to_owned()
    };
    assert_eq!(
        line(&ran, "ok    tenant: admin consent: "),
        format!(
            "ok    tenant: admin consent: {app_id} has admin consent for CustomAuthenticationExtension.Receive.Payload"
        )
    );
    assert!(
        !ran.stdout.contains("CustomAuthenticationExtensions."),
        "{}",
        ran.stdout
    );
    assert_eq!(
        line(&ran, &format!("ok    tenant: extension {START}: ")),
        format!(
            "ok    tenant: extension {START}: calls OnAttributeCollectionStart with resource api://gate.example.net/{app_id}; used by Sign up"
        )
    );
    assert_eq!(
        line(&ran, &format!("ok    tenant: extension {START} timeout: ")),
        format!("ok    tenant: extension {START} timeout: 1000 ms and 1 retry in the extension")
    );
    assert_eq!(
        line(&ran, "ok    tenant: user flow \"Sign up\" applications: "),
        format!(
            "ok    tenant: user flow \"Sign up\" applications: calls \"{START}\" for {SHOP_APP}"
        )
    );
    assert!(
        line(
            &ran,
            &format!("ok    tenant: claims mapping of {SHOP_APP}: ")
        )
        .contains("\"signup-gate claims\" takes claims from the custom claims provider")
    );

    graph.change(|tenant| {
        let listener = tenant.listeners.iter_mut().find(|l| l["@odata.type"] == "#microsoft.graph.onTokenIssuanceStartListener").unwrap();
        listener["conditions"]["applications"]["includeApplications"]
            .as_array_mut()
            .unwrap()
            .push(json!({"appId": PORTAL_APP}));
        let flow = tenant.flows.iter_mut().find(|flow| flow["id"] == FLOW).unwrap();
        flow["conditions"]["applications"]["includeApplications"] = json!([]);
        flow["onAttributeCollectionStart"]["configuration"] =
            json!({"@odata.type": "#microsoft.graph.customExtensionOverwriteConfiguration",
                   "clientConfiguration": {"timeoutInMilliseconds": 500}});
        flow["onAttributeCollectionSubmit"]["customExtension"]["id"] = json!("dead0000-0000-4000-8000-000000000000");
    });
    let ran = doctor();
    assert_eq!(ran.code(), 1);
    assert_eq!(
        line(&ran, &format!("warn  tenant: extension {START} timeout: ")),
        format!(
            "warn  tenant: extension {START} timeout: 1000 ms and 1 retry in the extension; 500 ms and 1 retry set by user flow \"Sign up\": DECISION_DEADLINE_MS (700 ms) is over 80 % of 500 ms (user flow \"Sign up\")"
        )
    );
    assert_eq!(
        line(&ran, "fail  tenant: user flow \"Sign up\" applications: "),
        format!(
            "fail  tenant: user flow \"Sign up\" applications: it calls \"{START}\" but is for no application: Entra never calls it"
        )
    );
    assert_eq!(
        line(&ran, "fail  tenant: user flow \"Sign up\": "),
        "fail  tenant: user flow \"Sign up\": its onAttributeCollectionSubmitCustomExtensionHandler names extension dead0000-0000-4000-8000-000000000000, which the tenant does not have: Entra fails each call (error 1003011)"
    );
    assert!(
        line(
            &ran,
            &format!("fail  tenant: claims mapping of {PORTAL_APP}: ")
        )
        .contains(
            "it has no claims mapping policy, so it maps no claim from the custom claims provider"
        ),
        "{}",
        ran.stdout
    );
}

/// What Entra's validation of an extension reports is shown, and its errors fail the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entras_validation_is_reported_and_its_errors_fail_the_run() {
    let mut tenant = Tenant::external();
    tenant.validation = Some(json!({
        "errors": [{"code": "DomainNameDoesNotMatch",
                    "message": "The fully qualified domain name in resourceId should match that of the targetUrl"}],
        "warnings": [{"code": "PermissionNotGrantedToServicePrincipal",
                      "message": "The permission CustomAuthenticationExtensions.Receive.Payload is not granted to the service principal of the resource app"}]
    }));
    let graph = GraphStandIn::start(tenant).await;
    let ran = setup(&graph, &[WIRE, &["--apply"]].concat());
    assert_eq!(ran.code(), 1, "{}", ran.stdout);
    assert!(
        ran.stdout.contains(&format!(
            "  errors   \"{START}\" (OnAttributeCollectionStart)\n           DomainNameDoesNotMatch: The fully qualified domain name in resourceId should match that of the targetUrl\n           PermissionNotGrantedToServicePrincipal: "
        )),
        "{}",
        ran.stdout
    );
    let report = setup(&graph, &[WIRE, &["--apply", "--json"]].concat()).json();
    assert_eq!(
        report["validation"][1]["errors"][0],
        "DomainNameDoesNotMatch: The fully qualified domain name in resourceId should match that of the targetUrl"
    );
}

/// docs/entra.md shows the plan of a run against the stand-in, exactly as printed (run with
/// SIGNUP_GATE_WRITE_DOCS=1 to write it there after a change of the output).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_show_a_plan_printed_against_the_stand_in() {
    const BEGIN: &str =
        "<!-- plan of a run against the Graph stand-in (tests/api/setup_entra.rs): begin -->\n";
    const END: &str = "<!-- plan: end -->";
    let graph = GraphStandIn::start(Tenant::external()).await;
    let ran = setup(&graph, WIRE);
    assert_eq!(ran.code(), 0);
    let shown = format!(
        "```text\n$ handler setup entra --url {URL} --code \"$FUNCTION_KEY\" --user-flow \"{FLOW_NAME}\"\n{}```\n",
        ran.stdout
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/entra.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (before, rest) = page.split_once(BEGIN).expect("the plan's begin marker");
    let (current, after) = rest.split_once(END).expect("the plan's end marker");
    if std::env::var_os("SIGNUP_GATE_WRITE_DOCS").is_some() {
        std::fs::write(&path, format!("{before}{BEGIN}{shown}{END}{after}")).unwrap();
    } else {
        assert_eq!(
            current, shown,
            "docs/entra.md's example plan differs from the output: SIGNUP_GATE_WRITE_DOCS=1 cargo test --test api the_docs_show"
        );
    }
}

/// A claims mapping policy of this set-up's name whose definition is not a policy document is
/// blocked (left as it is), never a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_claims_mapping_policy_is_blocked_not_a_crash() {
    let mut tenant = Tenant::external();
    tenant
        .claims_policies
        .push(json!({"id": "7d2e9c3a-0000-4000-8000-0000000000dd",
        "displayName": "signup-gate claims", "definition": ["[1, 2]"]}));
    let graph = GraphStandIn::start(tenant).await;
    let args = [
        "--url",
        URL,
        "--no-attribute-collection",
        "--token-issuance",
        "--app",
        SHOP_APP,
        "--claim",
        "department",
        "--apply",
    ];
    let ran = setup(&graph, &args);
    assert_eq!(ran.code(), 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains("blocked  claims mapping policy \"signup-gate claims\"")
            && ran
                .stdout
                .contains("its definition is not a claims mapping policy this can read"),
        "{}",
        ran.stdout
    );
    let tenant = graph.tenant();
    assert_eq!(tenant.claims_policies[0]["definition"], json!(["[1, 2]"]));
    assert!(
        tenant.policy_assignments.is_empty(),
        "not assigned while unreadable"
    );
}
