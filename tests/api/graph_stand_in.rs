//! A Microsoft Graph stand-in on loopback, shaped on Microsoft's documentation
//! (microsoft-graph-docs-contrib, v1.0 and beta): an external tenant held in memory that
//! answers the reads and writes `handler setup entra` and `handler doctor` make, with faults on
//! demand (throttling with `Retry-After`, a failure, a refusal), and the sign-up and sign-in
//! logs paged by `@odata.nextLink`. Every request is recorded for the tests to look at.
//!
//! What it models of Graph's behaviour, each from the documentation: a `PATCH` replaces each
//! property it names (and a user flow's or an extension's needs its `@odata.type`); a write
//! answers 201 with the object or 204; an unknown path is 404 with `Request_ResourceNotFound`;
//! app role assignments and claims mapping assignments refuse a duplicate; sign-in logs name
//! the attribute collection events `unknownFutureValue` unless asked with
//! `Prefer: include-unknown-enum-members`.

use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use warp::Filter;

use crate::helpers::handler_binary;

/// The external tenant's id.
pub const TENANT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
/// Microsoft Graph's application id, and its service principal's id in the tenant.
pub const GRAPH_APP: &str = "00000003-0000-0000-c000-000000000000";
pub const GRAPH_PRINCIPAL: &str = "8c2f6d5e-0000-4000-8000-000000000003";
/// The authentication events service.
pub const EVENTS_APP: &str = "99045fe1-7639-4a75-9d4a-577b6ca3810f";
/// A client application of the tenant, with its service principal.
pub const SHOP_APP: &str = "5b1e9c3a-1111-4222-8333-444455556666";
pub const SHOP_PRINCIPAL: &str = "5b1e9c3a-0000-4000-8000-000000000001";
pub const SHOP_OBJECT: &str = "5b1e9c3a-0000-4000-8000-000000000002";
/// The sign-up user flow, for Shop.
pub const FLOW: &str = "0313cc37-d421-421d-857b-87804d61e33e";
pub const FLOW_NAME: &str = "Sign up";
/// The b2c-extensions-app whose id names custom attributes.
const EXTENSIONS_APP: &str = "6ea3bc85aec24b1c92ff4a117afb6621";

/// A token shaped like Entra's (header.payload.signature), naming the tenant in `tid`.
pub fn token() -> String {
    use base64::Engine as _;
    let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    format!(
        "{}.{}.graph-token-signature-never-printed",
        encode(r#"{"alg":"RS256","typ":"JWT"}"#),
        encode(&format!(
            r#"{{"aud":"https://graph.microsoft.com","tid":"{TENANT}","roles":["Application.ReadWrite.All"]}}"#
        ))
    )
}

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    pub prefer: Option<String>,
}

impl Seen {
    /// Whether it changed something (validation is a POST that changes nothing).
    pub fn is_write(&self) -> bool {
        self.method != "GET" && !self.path.ends_with("/validateAuthenticationConfiguration")
    }
}

/// An answer given instead of the real one, `times` times, to requests whose method is
/// `method` and whose path contains `path`.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub retry_after: Option<u64>,
    pub times: usize,
}

/// The tenant's objects.
#[derive(Debug, Clone, Default)]
pub struct Tenant {
    pub applications: Vec<Value>,
    pub service_principals: Vec<Value>,
    pub role_assignments: Vec<Value>,
    pub extensions: Vec<Value>,
    pub flows: Vec<Value>,
    pub listeners: Vec<Value>,
    pub user_flow_attributes: Vec<Value>,
    pub claims_policies: Vec<Value>,
    /// (service principal id, policy id)
    pub policy_assignments: Vec<(String, String)>,
    pub sign_ups: Vec<Value>,
    pub sign_ins: Vec<Value>,
    pub page_size: usize,
    pub requests: Vec<Seen>,
    pub faults: Vec<Fault>,
    /// Graph refuses a user flow PATCH that names a Start or Submit handler (the open question
    /// of the documentation), so the beta listeners are used.
    pub refuse_flow_handlers: bool,
    /// What `validateAuthenticationConfiguration` answers instead of its own checks.
    pub validation: Option<Value>,
    /// Where the logs' `@odata.nextLink` points instead of the stand-in (another host).
    pub next_link_base: Option<String>,
    next: u64,
    port: u16,
}

impl Tenant {
    /// A new external tenant: Graph's service principal, a client application (Shop) with its
    /// own, and a sign-up user flow for Shop with e-mail and display name on its page. No
    /// authentication events service principal yet.
    pub fn external() -> Self {
        let input = |attribute: &str, label: &str, hidden: bool| {
            json!({"attribute": attribute, "label": label, "inputType": "text", "defaultValue": null,
                   "hidden": hidden, "editable": !hidden, "writeToDirectory": true, "required": hidden,
                   "validationRegEx": "^.*", "options": []})
        };
        Self {
            applications: vec![json!({
                "id": SHOP_OBJECT, "appId": SHOP_APP, "displayName": "Shop",
                "identifierUris": [], "tags": [], "signInAudience": "AzureADMyOrg",
                "api": {"acceptMappedClaims": null, "requestedAccessTokenVersion": null},
                "requiredResourceAccess": []
            })],
            service_principals: vec![
                json!({"id": GRAPH_PRINCIPAL, "appId": GRAPH_APP, "displayName": "Microsoft Graph"}),
                json!({"id": SHOP_PRINCIPAL, "appId": SHOP_APP, "displayName": "Shop"}),
            ],
            flows: vec![json!({
                "@odata.type": "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow",
                "id": FLOW, "displayName": FLOW_NAME, "description": null, "priority": 500,
                "conditions": {"applications": {"includeApplications": [{"appId": SHOP_APP}]}},
                "onAttributeCollectionStart": {"@odata.type": "#microsoft.graph.onAttributeCollectionStartHandler"},
                "onAttributeCollectionSubmit": {"@odata.type": "#microsoft.graph.onAttributeCollectionSubmitHandler"},
                "onAttributeCollection": {
                    "@odata.type": "#microsoft.graph.onAttributeCollectionExternalUsersSelfServiceSignUp",
                    "attributes": [{"id": "email", "displayName": "Email Address", "userFlowAttributeType": "builtIn", "dataType": "string"},
                                   {"id": "displayName", "displayName": "Display Name", "userFlowAttributeType": "builtIn", "dataType": "string"}],
                    "attributeCollectionPage": {"views": [{"title": null, "description": null,
                        "inputs": [input("email", "Email Address", true), input("displayName", "Display Name", false)]}]}
                }
            })],
            user_flow_attributes: vec![
                json!({"id": "email", "displayName": "Email Address", "userFlowAttributeType": "builtIn", "dataType": "string"}),
                json!({"id": "displayName", "displayName": "Display Name", "userFlowAttributeType": "builtIn", "dataType": "string"}),
            ],
            page_size: 100,
            next: 0x100,
            ..Self::default()
        }
    }

    /// A new id, the same in every run (so example output stays the same).
    fn id(&mut self) -> String {
        self.next += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.next, self.next)
    }

    pub fn app_by_tag(&self, tag: &str) -> Option<&Value> {
        self.applications.iter().find(|app| {
            app["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t == tag))
        })
    }

    pub fn extension_named(&self, name: &str) -> Option<&Value> {
        self.extensions.iter().find(|e| e["displayName"] == name)
    }

    pub fn flow(&self) -> &Value {
        self.flows.iter().find(|flow| flow["id"] == FLOW).unwrap()
    }

    fn principal_by_app(&self, app_id: &str) -> Option<&Value> {
        self.service_principals.iter().find(|sp| {
            sp["appId"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(app_id))
        })
    }

    fn principal(&self, id: &str) -> Option<&Value> {
        self.service_principals.iter().find(|sp| sp["id"] == id)
    }
}

/// The stand-in, serving on a loopback port the system chose.
#[derive(Clone)]
pub struct GraphStandIn {
    pub port: u16,
    state: Arc<Mutex<Tenant>>,
    token: String,
}

impl GraphStandIn {
    pub async fn start(tenant: Tenant) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Tenant { port, ..tenant }));
        let stand_in = Self {
            port,
            state,
            token: token(),
        };
        let serving = stand_in.clone();
        let routes = warp::method()
            .and(warp::path::full())
            .and(warp::query::raw().or(warp::any().map(String::new)).unify())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::header::optional::<String>("prefer"))
            .and(warp::body::bytes())
            .map(
                move |method: warp::http::Method,
                      path: warp::path::FullPath,
                      query: String,
                      authorization: Option<String>,
                      prefer: Option<String>,
                      body: bytes::Bytes| {
                    serving.answer(
                        method.as_str(),
                        &decode(path.as_str()),
                        &decode(&query),
                        authorization,
                        prefer,
                        &body,
                    )
                },
            );
        tokio::spawn(warp::serve(routes).incoming(listener).run());
        stand_in
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The tenant as it is now.
    pub fn tenant(&self) -> Tenant {
        self.state.lock().unwrap().clone()
    }

    pub fn change(&self, change: impl FnOnce(&mut Tenant)) {
        change(&mut self.state.lock().unwrap());
    }

    pub fn fault(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    /// The requests seen so far, and forgets them.
    pub fn take_requests(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        query: &str,
        authorization: Option<String>,
        prefer: Option<String>,
        body: &[u8],
    ) -> warp::http::Response<String> {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut tenant = self.state.lock().unwrap();
        tenant.requests.push(Seen {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            body: body.clone(),
            prefer: prefer.clone(),
        });
        let respond = |status: u16, body: Value, retry_after: Option<u64>| {
            let mut response = warp::http::Response::builder()
                .status(status)
                .header("content-type", "application/json");
            if let Some(seconds) = retry_after {
                response = response.header("retry-after", seconds.to_string());
            }
            let text = if body.is_null() {
                String::new()
            } else {
                body.to_string()
            };
            response.body(text).unwrap()
        };
        if authorization.as_deref() != Some(&format!("Bearer {}", self.token)) {
            return respond(
                401,
                error(
                    "InvalidAuthenticationToken",
                    "Access token validation failure.",
                ),
                None,
            );
        }
        if let Some(fault) = tenant
            .faults
            .iter_mut()
            .find(|fault| fault.times > 0 && fault.method == method && path.contains(&fault.path))
        {
            fault.times -= 1;
            let code = match fault.status {
                429 => "TooManyRequests",
                403 => "Authorization_RequestDenied",
                _ => "UnknownError",
            };
            return respond(
                fault.status,
                error(code, "The stand-in was told to refuse this request."),
                fault.retry_after,
            );
        }
        let unknown_enums = prefer
            .as_deref()
            .is_some_and(|prefer| prefer.contains("include-unknown-enum-members"));
        let (status, answer) = route(&mut tenant, method, path, query, body, unknown_enums);
        respond(status, answer, None)
    }
}

fn error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message,
                     "innerError": {"date": "2026-05-01T10:00:00", "request-id": "00000000-0000-0000-0000-000000000000"}}})
}

fn not_found() -> (u16, Value) {
    (
        404,
        error(
            "Request_ResourceNotFound",
            "Resource does not exist or one of its queried reference-property objects are not present.",
        ),
    )
}

fn bad_request(message: &str) -> (u16, Value) {
    (400, error("BadRequest", message))
}

fn collection(items: Vec<Value>) -> (u16, Value) {
    (200, json!({"value": items}))
}

/// `%XX` sequences decoded (paths and queries as the client encoded them).
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `name` in a query (`$filter=...&$skiptoken=...`).
fn parameter<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// A `PATCH`: each property named replaces the one the object has.
fn merge(object: &mut Value, patch: &Value) {
    if let (Some(object), Some(patch)) = (object.as_object_mut(), patch.as_object()) {
        for (key, value) in patch {
            object.insert(key.clone(), value.clone());
        }
    }
}

/// `(appId='…')` of a path segment.
fn app_id_of(segment: &str, prefix: &str) -> Option<String> {
    segment
        .strip_prefix(prefix)?
        .strip_prefix("(appId='")?
        .strip_suffix("')")
        .map(str::to_ascii_lowercase)
}

fn route(
    tenant: &mut Tenant,
    method: &str,
    path: &str,
    query: &str,
    body: Value,
    unknown_enums: bool,
) -> (u16, Value) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (version, rest) = match segments.split_first() {
        Some((version, rest)) => (*version, rest),
        None => return not_found(),
    };
    if version != "v1.0" && version != "beta" {
        return not_found();
    }
    match (method, rest) {
        ("GET", ["applications"]) => {
            let tag = parameter(query, "$filter")
                .and_then(|filter| filter.strip_prefix("tags/any(t:t eq '"))
                .and_then(|rest| rest.strip_suffix("')"));
            match tag {
                Some(tag) => collection(
                    tenant
                        .applications
                        .iter()
                        .filter(|app| {
                            app["tags"]
                                .as_array()
                                .is_some_and(|tags| tags.iter().any(|t| t == tag))
                        })
                        .cloned()
                        .collect(),
                ),
                None => collection(tenant.applications.clone()),
            }
        }
        ("POST", ["applications"]) => {
            let Some(name) = body["displayName"].as_str() else {
                return bad_request("displayName is required");
            };
            let (id, app_id) = (tenant.id(), tenant.id());
            let mut app = json!({"id": id, "appId": app_id, "displayName": name, "identifierUris": [],
                                 "tags": [], "api": {"acceptMappedClaims": null, "requestedAccessTokenVersion": null},
                                 "requiredResourceAccess": []});
            merge(&mut app, &body);
            tenant.applications.push(app.clone());
            (201, app)
        }
        ("PATCH", ["applications", id]) => {
            match tenant.applications.iter_mut().find(|app| app["id"] == *id) {
                Some(app) => {
                    merge(app, &body);
                    (204, Value::Null)
                }
                None => not_found(),
            }
        }
        ("GET", [segment]) if segment.starts_with("applications(") => {
            let Some(app_id) = app_id_of(segment, "applications") else {
                return not_found();
            };
            tenant
                .applications
                .iter()
                .find(|app| app["appId"] == app_id.as_str())
                .map(|app| (200, app.clone()))
                .unwrap_or_else(not_found)
        }
        ("GET", [segment]) if segment.starts_with("servicePrincipals(") => {
            let Some(app_id) = app_id_of(segment, "servicePrincipals") else {
                return not_found();
            };
            tenant
                .principal_by_app(&app_id)
                .map(|sp| (200, sp.clone()))
                .unwrap_or_else(not_found)
        }
        ("POST", ["servicePrincipals"]) => {
            let Some(app_id) = body["appId"].as_str().map(str::to_ascii_lowercase) else {
                return bad_request("appId is required");
            };
            if tenant.principal_by_app(&app_id).is_some() {
                return (
                    409,
                    error(
                        "Request_MultipleObjectsWithSameKeyValue",
                        "The service principal exists.",
                    ),
                );
            }
            let known = app_id == EVENTS_APP
                || tenant
                    .applications
                    .iter()
                    .any(|app| app["appId"] == app_id.as_str());
            if !known {
                return bad_request("No application with that appId.");
            }
            let id = tenant.id();
            let sp = json!({"id": id, "appId": app_id});
            tenant.service_principals.push(sp.clone());
            (201, sp)
        }
        ("GET", ["servicePrincipals", id, "appRoleAssignments"]) => collection(
            tenant
                .role_assignments
                .iter()
                .filter(|assignment| assignment["principalId"] == *id)
                .cloned()
                .collect(),
        ),
        ("POST", ["servicePrincipals", resource, "appRoleAssignedTo"]) => {
            if body["resourceId"] != *resource || tenant.principal(resource).is_none() {
                return bad_request("resourceId must be the service principal of the path");
            }
            let duplicate = tenant.role_assignments.iter().any(|assignment| {
                assignment["principalId"] == body["principalId"]
                    && assignment["resourceId"] == body["resourceId"]
                    && assignment["appRoleId"] == body["appRoleId"]
            });
            if duplicate {
                return bad_request("Permission being assigned already exists on the object");
            }
            let id = tenant.id();
            let assignment = json!({"id": id, "principalId": body["principalId"], "resourceId": resource,
                                    "appRoleId": body["appRoleId"], "resourceDisplayName": "Microsoft Graph"});
            tenant.role_assignments.push(assignment.clone());
            (201, assignment)
        }
        ("GET", ["servicePrincipals", id, "claimsMappingPolicies"]) => {
            let ids: Vec<String> = tenant
                .policy_assignments
                .iter()
                .filter(|(sp, _)| sp == id)
                .map(|(_, policy)| policy.clone())
                .collect();
            collection(
                tenant
                    .claims_policies
                    .iter()
                    .filter(|policy| ids.iter().any(|id| policy["id"] == id.as_str()))
                    .cloned()
                    .collect(),
            )
        }
        ("POST", ["servicePrincipals", id, "claimsMappingPolicies", "$ref"]) => {
            let Some(policy) = body["@odata.id"]
                .as_str()
                .and_then(|link| link.rsplit('/').next())
            else {
                return bad_request("@odata.id is required");
            };
            if tenant.principal(id).is_none() {
                return not_found();
            }
            if tenant.policy_assignments.iter().any(|(sp, _)| sp == id) {
                return bad_request("A service principal can have one claims mapping policy.");
            }
            tenant
                .policy_assignments
                .push((id.to_string(), policy.to_owned()));
            (204, Value::Null)
        }
        ("GET", ["identity", "customAuthenticationExtensions"]) => {
            collection(tenant.extensions.clone())
        }
        ("POST", ["identity", "customAuthenticationExtensions"]) => {
            if !body["@odata.type"]
                .as_str()
                .is_some_and(|kind| kind.ends_with("CustomExtension"))
            {
                return bad_request("@odata.type is required");
            }
            let id = tenant.id();
            let mut extension = json!({"id": id});
            merge(&mut extension, &body);
            tenant.extensions.push(extension.clone());
            (201, extension)
        }
        ("PATCH", ["identity", "customAuthenticationExtensions", id]) => {
            let Some(extension) = tenant.extensions.iter_mut().find(|e| e["id"] == *id) else {
                return not_found();
            };
            if body["@odata.type"] != extension["@odata.type"] {
                return bad_request("@odata.type must be the extension's type");
            }
            merge(extension, &body);
            (204, Value::Null)
        }
        (
            "POST",
            [
                "identity",
                "customAuthenticationExtensions",
                id,
                "validateAuthenticationConfiguration",
            ],
        ) => {
            let Some(extension) = tenant.extensions.iter().find(|e| e["id"] == *id).cloned() else {
                return not_found();
            };
            match &tenant.validation {
                Some(answer) => (200, answer.clone()),
                None => (200, validate(tenant, &extension)),
            }
        }
        ("GET", ["identity", "authenticationEventsFlows"]) => collection(tenant.flows.clone()),
        ("GET", ["identity", "authenticationEventsFlows", id]) => tenant
            .flows
            .iter()
            .find(|flow| flow["id"] == *id)
            .map(|flow| (200, flow.clone()))
            .unwrap_or_else(not_found),
        (
            "GET",
            [
                "identity",
                "authenticationEventsFlows",
                id,
                "conditions",
                "applications",
                "includeApplications",
            ],
        ) => match tenant.flows.iter().find(|flow| flow["id"] == *id) {
            Some(flow) => collection(
                flow["conditions"]["applications"]["includeApplications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            ),
            None => not_found(),
        },
        ("PATCH", ["identity", "authenticationEventsFlows", id]) => {
            if body["@odata.type"] != "#microsoft.graph.externalUsersSelfServiceSignUpEventsFlow" {
                return bad_request("The @odata.type of the user flow is required.");
            }
            let refuse = tenant.refuse_flow_handlers;
            let Some(flow) = tenant.flows.iter_mut().find(|flow| flow["id"] == *id) else {
                return not_found();
            };
            for stage in ["onAttributeCollectionStart", "onAttributeCollectionSubmit"] {
                if body.get(stage).is_some() && refuse {
                    return bad_request(&format!("Invalid property '{stage}' for this update."));
                }
            }
            for (key, value) in body.as_object().unwrap() {
                if key == "onAttributeCollection" {
                    merge(&mut flow["onAttributeCollection"], value);
                } else if key != "@odata.type" {
                    flow[key] = value.clone();
                }
            }
            (204, Value::Null)
        }
        (
            "POST",
            [
                "identity",
                "authenticationEventsFlows",
                id,
                _,
                "onAttributeCollection",
                _,
                "attributes",
                "$ref",
            ],
        ) => {
            let Some(attribute) = body["@odata.id"]
                .as_str()
                .and_then(|link| link.rsplit('/').next())
                .and_then(|id| {
                    tenant
                        .user_flow_attributes
                        .iter()
                        .find(|a| a["id"] == id)
                        .cloned()
                })
            else {
                return bad_request("@odata.id must name a user flow attribute");
            };
            let Some(flow) = tenant.flows.iter_mut().find(|flow| flow["id"] == *id) else {
                return not_found();
            };
            let collection = &mut flow["onAttributeCollection"];
            if let Some(attributes) = collection["attributes"].as_array_mut() {
                attributes.push(attribute.clone());
            }
            if let Some(inputs) =
                collection["attributeCollectionPage"]["views"][0]["inputs"].as_array_mut()
            {
                inputs.push(json!({"attribute": attribute["id"], "label": attribute["displayName"],
                                   "inputType": "text", "defaultValue": null, "hidden": false, "editable": true,
                                   "writeToDirectory": true, "required": false, "validationRegEx": "^.*", "options": []}));
            }
            (204, Value::Null)
        }
        ("GET", ["identity", "authenticationEventListeners"]) => {
            collection(tenant.listeners.clone())
        }
        ("POST", ["identity", "authenticationEventListeners"]) => {
            let kind = body["@odata.type"].as_str().unwrap_or_default();
            let attribute_listener = kind.contains("AttributeCollection");
            if attribute_listener && version != "beta" {
                return bad_request("This listener type is available in beta only.");
            }
            if !kind.ends_with("Listener") {
                return bad_request("@odata.type is required");
            }
            let id = tenant.id();
            let mut listener = json!({"id": id, "priority": 500});
            merge(&mut listener, &body);
            tenant.listeners.push(listener.clone());
            (201, listener)
        }
        ("PATCH", ["identity", "authenticationEventListeners", id]) => {
            match tenant.listeners.iter_mut().find(|l| l["id"] == *id) {
                Some(listener) => {
                    merge(listener, &body);
                    (204, Value::Null)
                }
                None => not_found(),
            }
        }
        ("GET", ["identity", "userFlowAttributes"]) => {
            collection(tenant.user_flow_attributes.clone())
        }
        ("POST", ["identity", "userFlowAttributes"]) => {
            let Some(name) = body["displayName"].as_str() else {
                return bad_request("displayName is required");
            };
            let attribute = json!({"id": format!("extension_{EXTENSIONS_APP}_{name}"), "displayName": name,
                                   "description": body["description"], "userFlowAttributeType": "custom",
                                   "dataType": body["dataType"]});
            tenant.user_flow_attributes.push(attribute.clone());
            (201, attribute)
        }
        ("GET", ["policies", "claimsMappingPolicies"]) => {
            collection(tenant.claims_policies.clone())
        }
        ("POST", ["policies", "claimsMappingPolicies"]) => {
            let definition_reads = body["definition"][0]
                .as_str()
                .is_some_and(|text| serde_json::from_str::<Value>(text).is_ok());
            if !definition_reads {
                return bad_request("definition must hold one JSON document");
            }
            let id = tenant.id();
            let mut policy = json!({"id": id});
            merge(&mut policy, &body);
            tenant.claims_policies.push(policy.clone());
            (201, policy)
        }
        ("PATCH", ["policies", "claimsMappingPolicies", id]) => {
            match tenant.claims_policies.iter_mut().find(|p| p["id"] == *id) {
                Some(policy) => {
                    merge(policy, &body);
                    (204, Value::Null)
                }
                None => not_found(),
            }
        }
        ("GET", ["auditLogs", log @ ("signUps" | "signIns")]) if version == "beta" => {
            let records = if *log == "signUps" {
                tenant.sign_ups.clone()
            } else {
                tenant.sign_ins.clone()
            };
            let skip: usize = parameter(query, "$skiptoken")
                .and_then(|skip| skip.parse().ok())
                .unwrap_or(0);
            let page: Vec<Value> = records
                .iter()
                .skip(skip)
                .take(tenant.page_size)
                .map(|record| {
                    let mut record = record.clone();
                    if !unknown_enums
                        && let Some(listeners) = record["appliedEventListeners"].as_array_mut()
                    {
                        for listener in listeners {
                            let kind = listener["eventType"].as_str().unwrap_or_default();
                            if kind.starts_with("attributeCollection") || kind == "emailOtpSend" {
                                listener["eventType"] = json!("unknownFutureValue");
                            }
                        }
                    }
                    record
                })
                .collect();
            let mut answer = json!({"@odata.context": format!("https://graph.microsoft.com/beta/$metadata#auditLogs/{log}"), "value": page});
            if skip + tenant.page_size < records.len() {
                let filter = parameter(query, "$filter").unwrap_or_default();
                let base = tenant
                    .next_link_base
                    .clone()
                    .unwrap_or_else(|| format!("http://127.0.0.1:{}", tenant.port));
                answer["@odata.nextLink"] = json!(format!(
                    "{base}/beta/auditLogs/{log}?$filter={}&$skiptoken={}",
                    filter.replace(' ', "%20"),
                    skip + tenant.page_size
                ));
            }
            (200, answer)
        }
        _ => not_found(),
    }
}

/// What `validateAuthenticationConfiguration` says of an extension, by its documented checks.
fn validate(tenant: &Tenant, extension: &Value) -> Value {
    let resource = extension["authenticationConfiguration"]["resourceId"]
        .as_str()
        .unwrap_or_default();
    let target = extension["endpointConfiguration"]["targetUrl"]
        .as_str()
        .unwrap_or_default();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let parts: Option<(&str, &str)> = resource
        .strip_prefix("api://")
        .and_then(|rest| rest.split_once('/'));
    match parts {
        None => errors.push(json!({"code": "IncorrectResourceIdFormat",
            "message": "ResourceId should be in the format of 'api://{fully qualified domain name}/{appid}'"})),
        Some((host, app_id)) => {
            let target_host = target
                .strip_prefix("https://")
                .and_then(|rest| rest.split(['/', '?']).next())
                .unwrap_or_default();
            if !host.eq_ignore_ascii_case(target_host) {
                errors.push(json!({"code": "DomainNameDoesNotMatch",
                    "message": "The fully qualified domain name in resourceId should match that of the targetUrl"}));
            }
            match tenant.principal_by_app(app_id) {
                None => errors.push(json!({"code": "ServicePrincipalNotFound",
                    "message": "The appId of the resourceId should correspond to a real service principal in the tenant"})),
                Some(sp) => {
                    let granted = tenant.role_assignments.iter().any(|assignment| {
                        assignment["principalId"] == sp["id"]
                            && assignment["appRoleId"] == "214e810f-fda8-4fd7-a475-29461495eb00"
                    });
                    if !granted {
                        warnings.push(json!({"code": "PermissionNotGrantedToServicePrincipal",
                            "message": "The permission CustomAuthenticationExtensions.Receive.Payload is not granted to the service principal of the resource app"}));
                    }
                }
            }
        }
    }
    json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.authenticationConfigurationValidation",
           "errors": errors, "warnings": warnings})
}

/// What a command printed and how it ended.
pub struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|_| panic!("not JSON:\n{}\n{}", self.stdout, self.stderr))
    }
}

/// How long a command may run before the test gives up (it waits out Retry-After seconds).
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `handler ARGS` with exactly `env` (and PATH), in `dir`, with `stdin` as its standard
/// input; bounded in time, its output read to the end by threads that are joined.
pub fn handler(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Ran {
    let mut child = Command::new(handler_binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("handler starts");
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let read = |mut stream: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > COMMAND_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("handler {args:?} did not finish in {COMMAND_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ran {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
