//! Microsoft Graph as the command line speaks to it (`doctor`'s tenant checks and sign-in
//! report, `setup entra`): where Graph may be, where the token comes from, and one client that
//! reads, writes, follows `@odata.nextLink`, waits out throttling and says which permission a
//! refusal names.
//!
//! Graph is reached only at a national cloud's Graph host (or, for stand-ins, a loopback
//! address): the token goes wherever `--graph-url` says. No redirect is followed (the token would
//! go with it), a next page is fetched only from the same base, and every answer is read up to a
//! cap.

use std::io::BufRead;
use std::time::Duration;

use serde_json::Value;

use crate::domain::application::Guid;
use crate::functions::{self, Function};
use crate::outbound::{is_loopback_host, read_capped};

/// Microsoft Graph's own application id.
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// Graph's application permission a custom authentication extension's app needs, and its app
/// role id (Entra error 1003021 without it).
pub(crate) const RECEIVE_PAYLOAD: &str = "CustomAuthenticationExtension.Receive.Payload";
pub(crate) const RECEIVE_PAYLOAD_ROLE: &str = "214e810f-fda8-4fd7-a475-29461495eb00";

/// The Graph hosts of Microsoft's clouds: global, US Government L4, US Government L5 (DoD),
/// China (21Vianet).
pub(crate) const CLOUD_HOSTS: &[&str] = &[
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
];

/// The permissions each request needs, as Graph's permission reference names them (a 403 names
/// the one of the request it refused).
pub(crate) mod permission {
    pub(crate) const APPLICATION_READ: &str = "Application.Read.All";
    pub(crate) const APPLICATION_WRITE: &str = "Application.ReadWrite.All";
    pub(crate) const ROLE_ASSIGNMENT_WRITE: &str = "AppRoleAssignment.ReadWrite.All";
    pub(crate) const EXTENSION_READ: &str = "CustomAuthenticationExtension.Read.All";
    pub(crate) const EXTENSION_WRITE: &str = "CustomAuthenticationExtension.ReadWrite.All";
    pub(crate) const LISTENER_READ: &str = "EventListener.Read.All";
    pub(crate) const LISTENER_WRITE: &str = "EventListener.ReadWrite.All";
    pub(crate) const POLICY_READ: &str = "Policy.Read.All";
    pub(crate) const POLICY_WRITE: &str = "Policy.ReadWrite.ApplicationConfiguration";
    pub(crate) const USER_FLOW_READ: &str = "IdentityUserFlow.Read.All";
    pub(crate) const USER_FLOW_WRITE: &str = "IdentityUserFlow.ReadWrite.All";
    pub(crate) const AUDIT_LOG_READ: &str = "AuditLog.Read.All";
}

/// Where `GRAPH_TOKEN` may come from besides the flag, so that it stays out of shell history.
pub(crate) const TOKEN_VARIABLE: &str = "SIGNUP_GATE_GRAPH_TOKEN";

/// How long one request may take, waits for throttling aside.
const REQUEST_DEADLINE: Duration = Duration::from_secs(20);
/// The largest answer read (a page of sign-in logs is up to 1000 records).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// How often one request is sent again after Graph asked to wait (429, 503, 504).
const MAX_RETRIES: u32 = 4;
/// The longest wait for one `Retry-After`: a longer one fails the request, to be run again later.
const MAX_WAIT: Duration = Duration::from_secs(120);
/// How many pages of one collection are followed.
pub(crate) const MAX_PAGES: usize = 50;

/// The base URL of Graph (`https://graph.microsoft.com`), checked: a national cloud's Graph host
/// over https, or a loopback host (http or https) for a stand-in; no credentials, no path.
pub(crate) fn check_graph_url(url: &str) -> Result<String, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|error| format!("{url:?} is not a URL: {error}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("a Graph URL holds no user name or password".to_owned());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || parsed.path() != "/" {
        return Err(format!(
            "{url:?} must be a Graph host alone (https://graph.microsoft.com), without a path"
        ));
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let allowed = match parsed.scheme() {
        "https" => CLOUD_HOSTS.contains(&host.as_str()) || is_loopback_host(&host),
        "http" => is_loopback_host(&host),
        _ => false,
    };
    if !allowed {
        return Err(format!(
            "{url:?} is not Microsoft Graph: use https://{} (or a national cloud's: {})",
            CLOUD_HOSTS[0],
            CLOUD_HOSTS[1..].join(", ")
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Lines of standard input, read one at a time when a value is given as `-`.
#[derive(Default)]
pub(crate) struct StandardInput {
    read: usize,
}

impl StandardInput {
    /// The next line, trimmed; an error when there is none or it is empty.
    pub(crate) fn next_line(&mut self, what: &str) -> Result<String, String> {
        // Lines are short (a token is a few kilobytes): a bound keeps a stray binary pipe out.
        const MAX_LINE: u64 = 64 * 1024;
        let mut line = String::new();
        let stdin = std::io::stdin();
        let mut handle = std::io::Read::take(stdin.lock(), MAX_LINE);
        handle
            .read_line(&mut line)
            .map_err(|error| format!("cannot read {what} from standard input: {error}"))?;
        self.read += 1;
        let value = line.trim().to_owned();
        if value.is_empty() {
            return Err(format!(
                "{what} was to come from standard input (`-`), but line {} is empty or missing",
                self.read
            ));
        }
        Ok(value)
    }
}

/// Where a Graph token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// `--graph-token`, `SIGNUP_GATE_GRAPH_TOKEN` or standard input: the operator's.
    Given,
    /// `az account get-access-token`: the Azure CLI's, with its fixed set of scopes.
    AzureCli,
}

/// A Graph token given on the command line (`-`: standard input) or in
/// `SIGNUP_GATE_GRAPH_TOKEN`; `None` when neither.
pub(crate) fn given_token(
    flag: Option<&str>,
    environment: Option<&str>,
    stdin: &mut StandardInput,
) -> Result<Option<String>, String> {
    let token = match flag {
        Some("-") => Some(stdin.next_line("the Graph token")?),
        Some(token) => Some(token.trim().to_owned()),
        None => environment
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .map(str::to_owned),
    };
    match token {
        Some(token) if token.is_empty() => Err("the Graph token is empty".to_owned()),
        Some(token) if token.chars().any(|c| c.is_whitespace() || c.is_control()) => Err(
            "the Graph token holds white space or control characters: give the access token alone"
                .to_owned(),
        ),
        token => Ok(token),
    }
}

/// The Azure CLI's Graph token, when it is installed and signed in.
pub(crate) async fn azure_cli_token(base: &str) -> Option<String> {
    let resource = if base.contains("://graph.") || base.contains("://dod-graph.") {
        base
    } else {
        "https://graph.microsoft.com"
    };
    azure_cli_token_for(resource).await
}

/// The Azure CLI's token for `resource`, when it is installed and signed in.
pub(crate) async fn azure_cli_token_for(resource: &str) -> Option<String> {
    let output = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::new("az")
            .args(["account", "get-access-token", "--resource", resource])
            .args(["--query", "accessToken", "-o", "tsv"])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let token = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !token.is_empty()).then_some(token)
}

/// The tenant a token is for (its `tid` claim), read without checking the signature: it only
/// tells the operator which tenant the token would change, Graph checks the token itself.
pub(crate) fn token_tenant(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let tid = claims["tid"].as_str()?;
    Guid::parse(tid).ok().map(|tid| tid.to_string())
}

/// An Entra event this app handles, by the names Graph gives it in each place, all derived from
/// the function's [`crate::functions::entra::EventTypes`].
#[derive(Clone, Copy)]
pub(crate) struct GraphEvent {
    pub(crate) function: &'static dyn Function,
    /// `microsoft.graph.onAttributeCollectionStartCustomExtension`.
    extension_type: &'static str,
    /// `microsoft.graph.authenticationEvent.attributeCollectionStart`.
    event_type: &'static str,
}

impl std::fmt::Debug for GraphEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("GraphEvent").field(&self.name()).finish()
    }
}

impl GraphEvent {
    /// Every Entra event of [`functions::ALL`], in its order.
    pub(crate) fn all() -> Vec<Self> {
        functions::ALL
            .iter()
            .filter_map(|function| {
                function.entra_event().map(|types| Self {
                    function: *function,
                    extension_type: types.extension_type,
                    event_type: types.event_type,
                })
            })
            .collect()
    }

    /// The function's name (`OnAttributeCollectionStart`).
    pub(crate) fn name(&self) -> &'static str {
        self.function.name()
    }

    /// The extension's `@odata.type` (`#microsoft.graph.onAttributeCollectionStartCustomExtension`).
    pub(crate) fn extension_type(&self) -> String {
        format!("#{}", self.extension_type)
    }

    /// The handler's `@odata.type` in a user flow or listener.
    pub(crate) fn handler_type(&self) -> String {
        format!("#{}Handler", self.extension_type)
    }

    /// The stage's name: a user flow's property (`onAttributeCollectionStart`), a listener's type
    /// without `Listener`.
    pub(crate) fn stage(&self) -> &'static str {
        self.extension_type
            .trim_start_matches("microsoft.graph.")
            .trim_end_matches("CustomExtension")
    }

    /// The listener's `@odata.type` (`#microsoft.graph.onTokenIssuanceStartListener`).
    pub(crate) fn listener_type(&self) -> String {
        format!("#microsoft.graph.{}Listener", self.stage())
    }

    /// The event as sign-in logs name it (`attributeCollectionStart`).
    pub(crate) fn log_name(&self) -> &'static str {
        self.event_type
            .rsplit('.')
            .next()
            .unwrap_or(self.event_type)
    }

    /// Whether this is token issuance (a listener for applications) rather than a user flow's
    /// attribute collection.
    pub(crate) fn is_token_issuance(&self) -> bool {
        self.stage() == "onTokenIssuanceStart"
    }

    /// Whether an `@odata.type` (with or without `#`, any case) names this event's extension.
    pub(crate) fn is_extension_type(&self, kind: &str) -> bool {
        kind.trim_start_matches('#')
            .eq_ignore_ascii_case(self.extension_type)
    }
}

/// A refused or failed request.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    /// The HTTP status, when Graph answered.
    pub(crate) status: Option<u16>,
    /// Graph's `error.code`.
    pub(crate) code: Option<String>,
    pub(crate) message: String,
    /// The permission the request needs (named when Graph answers 403).
    pub(crate) permission: &'static str,
}

impl GraphError {
    /// Whether Graph refused the request as such (400, 405, 501: it does not take this form),
    /// rather than the caller, the token or the network.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self.status, Some(400 | 405 | 409 | 422 | 501))
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: ", self.method, self.path)?;
        match self.status {
            Some(status) => write!(f, "HTTP {status}")?,
            None => f.write_str("no answer")?,
        }
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        match self.status {
            Some(401) => f.write_str(
                " (the token is not valid for Microsoft Graph: expired, or for another resource)",
            ),
            Some(403) => write!(
                f,
                " (the token lacks the permission {}: grant it to the app the token is for, with admin consent)",
                self.permission
            ),
            _ => Ok(()),
        }
    }
}

/// The methods the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Patch => "PATCH",
        }
    }
}

/// Microsoft Graph at one base URL with one token.
pub(crate) struct Graph {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Graph {
    /// A client for `base` (checked with [`check_graph_url`]).
    pub(crate) fn new(base: &str, token: &str) -> Result<Self, String> {
        let base = check_graph_url(base)?;
        let client = crate::outbound::client()
            .timeout(REQUEST_DEADLINE)
            .build()
            .map_err(|error| crate::printable::with_causes(&error))?;
        Ok(Self {
            client,
            base,
            token: token.to_owned(),
        })
    }

    /// The base URL (`https://graph.microsoft.com`).
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `GET <base><path>`: the JSON body, `None` for 404.
    pub(crate) async fn get(
        &self,
        path: &str,
        permission: &'static str,
    ) -> Result<Option<Value>, GraphError> {
        match self.send(Method::Get, path, None, false, permission).await {
            Ok(body) => Ok(Some(body.unwrap_or(Value::Null))),
            Err(error) if error.status == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Every item of a collection, following `@odata.nextLink` (at most [`MAX_PAGES`] pages);
    /// with `unknown_enums`, asks for enumeration members newer than the caller
    /// (`Prefer: include-unknown-enum-members`). The second value is whether pages were left.
    pub(crate) async fn list(
        &self,
        path: &str,
        unknown_enums: bool,
        permission: &'static str,
    ) -> Result<(Vec<Value>, bool), GraphError> {
        let mut items = Vec::new();
        let mut next = Some(path.to_owned());
        for _ in 0..MAX_PAGES {
            let Some(page_path) = next.take() else {
                return Ok((items, false));
            };
            let page = self
                .send(Method::Get, &page_path, None, unknown_enums, permission)
                .await?
                .unwrap_or(Value::Null);
            items.extend(page["value"].as_array().cloned().unwrap_or_default());
            next =
                match page["@odata.nextLink"].as_str() {
                    None => None,
                    Some(link) => Some(self.same_base(link).ok_or_else(|| {
                        GraphError {
                            method: "GET",
                            path: page_path.clone(),
                            status: None,
                            code: None,
                            message:
                                "its @odata.nextLink is not on the same Graph host: not followed"
                                    .to_owned(),
                            permission,
                        }
                    })?),
                };
        }
        Ok((items, next.is_some()))
    }

    /// Every item of a collection (see [`Graph::list`]), pages left aside.
    pub(crate) async fn all(
        &self,
        path: &str,
        permission: &'static str,
    ) -> Result<Vec<Value>, GraphError> {
        self.list(path, false, permission)
            .await
            .map(|(items, _)| items)
    }

    /// `POST <base><path>` with a JSON body (or none): the answer's body (`None` for 204).
    pub(crate) async fn post(
        &self,
        path: &str,
        body: Option<&Value>,
        permission: &'static str,
    ) -> Result<Option<Value>, GraphError> {
        self.send(Method::Post, path, body, false, permission).await
    }

    /// `PATCH <base><path>` with a JSON body.
    pub(crate) async fn patch(
        &self,
        path: &str,
        body: &Value,
        permission: &'static str,
    ) -> Result<(), GraphError> {
        self.send(Method::Patch, path, Some(body), false, permission)
            .await
            .map(|_| ())
    }

    /// The path of a next-page link on this base, `None` for any other host.
    fn same_base(&self, link: &str) -> Option<String> {
        let rest = link.strip_prefix(&self.base)?;
        rest.starts_with('/').then(|| rest.to_owned())
    }

    /// Sends one request, again after each wait Graph asks for (`Retry-After` in seconds, or 1,
    /// 2, 4, 8 s without one), at most [`MAX_RETRIES`] times: a read after 429, 503 or 504, a
    /// write after 429 only (a write that timed out at the gateway may have been made, and
    /// making it twice would leave two of a resource).
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        unknown_enums: bool,
        permission: &'static str,
    ) -> Result<Option<Value>, GraphError> {
        let error = |status: Option<u16>, code: Option<String>, message: String| GraphError {
            method: method.name(),
            path: path.to_owned(),
            status,
            code,
            message,
            permission,
        };
        let url = format!("{}{path}", self.base);
        for attempt in 0..=MAX_RETRIES {
            let mut request = match method {
                Method::Get => self.client.get(&url),
                Method::Post => self.client.post(&url),
                Method::Patch => self.client.patch(&url),
            }
            .bearer_auth(&self.token);
            if unknown_enums {
                request = request.header("prefer", "include-unknown-enum-members");
            }
            if let Some(body) = body {
                request = request
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            let response = request.send().await.map_err(|failure| {
                error(
                    None,
                    None,
                    crate::printable::with_causes(&failure.without_url()),
                )
            })?;
            let status = response.status().as_u16();
            let again = match method {
                Method::Get => matches!(status, 429 | 503 | 504),
                Method::Post | Method::Patch => status == 429,
            };
            if again && attempt < MAX_RETRIES {
                let wait = retry_after(response.headers())
                    .unwrap_or(Duration::from_secs(1 << attempt.min(3)));
                if wait > MAX_WAIT {
                    return Err(error(
                        Some(status),
                        None,
                        format!(
                            "Graph asks to wait {} s before the next request: run it again later",
                            wait.as_secs()
                        ),
                    ));
                }
                log::warn!(
                    "Microsoft Graph answered {status} to {} {path}: waiting {} s as it asks, then sending it again",
                    method.name(),
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            let bytes = read_capped(response, MAX_ANSWER_BYTES)
                .await
                .map_err(|failure| error(Some(status), None, failure.to_string()))?;
            if (200..300).contains(&status) {
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                return serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|failure| error(Some(status), None, format!("not JSON: {failure}")));
            }
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let code = answer["error"]["code"].as_str().map(str::to_owned);
            let message = answer["error"]["message"]
                .as_str()
                .map(|message| message.chars().take(300).collect())
                .unwrap_or_default();
            return Err(error(Some(status), code, message));
        }
        Err(error(
            None,
            None,
            format!("still throttled after {MAX_RETRIES} waits: run it again later"),
        ))
    }
}

/// `text` with every secret of 4 characters or more replaced by `(secret)`: a last guard, for
/// whatever an answer or an error might echo.
pub(crate) fn mask_secrets(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|secret| secret.len() >= 4)
        .fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "(secret)")
        })
}

/// The same over every string of a JSON value, before it is written (where escaping would hide
/// a secret's quotes or backslashes from a search of the finished text).
pub(crate) fn mask_secrets_in(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(text) => *text = mask_secrets(text, secrets),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| mask_secrets_in(item, secrets)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| mask_secrets_in(item, secrets)),
        _ => {}
    }
}

/// `Retry-After` in seconds (Graph's form; an HTTP date is not used by Graph and reads as none).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    value.parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_is_a_clouds_graph_host_or_loopback() {
        for good in [
            "https://graph.microsoft.com",
            "https://graph.microsoft.com/",
            "https://graph.microsoft.us",
            "https://dod-graph.microsoft.us",
            "https://microsoftgraph.chinacloudapi.cn",
            "http://127.0.0.1:8080",
            "http://localhost:9",
            "http://[::1]:7",
        ] {
            assert!(check_graph_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://graph.microsoft.com",
            "https://graph.microsoft.com.evil.example",
            "https://evil.example",
            "https://graph.microsoft.com/v1.0",
            "https://user:pw@graph.microsoft.com",
            "http://10.0.0.1:80",
            "ftp://graph.microsoft.com",
            "graph.microsoft.com",
        ] {
            assert!(check_graph_url(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_graph_url("https://graph.microsoft.com/").unwrap(),
            "https://graph.microsoft.com"
        );
    }

    #[test]
    fn a_tokens_tenant_is_its_tid() {
        use base64::Engine as _;
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        let token = format!(
            "{}.{}.sig",
            encode(r#"{"alg":"RS256"}"#),
            encode(r#"{"tid":"AAAABBBB-0000-CCCC-1111-DDDD2222EEEE"}"#)
        );
        assert_eq!(
            token_tenant(&token).as_deref(),
            Some("aaaabbbb-0000-cccc-1111-dddd2222eeee")
        );
        let not_a_guid = format!("x.{}.y", encode(r#"{"tid":"../../etc"}"#));
        assert_eq!(token_tenant(&not_a_guid), None);
        assert_eq!(token_tenant("opaque"), None);
    }

    #[test]
    fn each_event_has_its_graph_names() {
        let names: Vec<(&str, &str, String, &str)> = GraphEvent::all()
            .iter()
            .map(|event| {
                (
                    event.name(),
                    event.stage(),
                    event.listener_type(),
                    event.log_name(),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    "OnAttributeCollectionStart",
                    "onAttributeCollectionStart",
                    "#microsoft.graph.onAttributeCollectionStartListener".to_owned(),
                    "attributeCollectionStart"
                ),
                (
                    "OnAttributeCollectionSubmit",
                    "onAttributeCollectionSubmit",
                    "#microsoft.graph.onAttributeCollectionSubmitListener".to_owned(),
                    "attributeCollectionSubmit"
                ),
                (
                    "OnTokenIssuanceStart",
                    "onTokenIssuanceStart",
                    "#microsoft.graph.onTokenIssuanceStartListener".to_owned(),
                    "tokenIssuanceStart"
                ),
            ]
        );
        let start = GraphEvent::all()[0];
        assert_eq!(
            start.handler_type(),
            "#microsoft.graph.onAttributeCollectionStartCustomExtensionHandler"
        );
        assert!(
            start.is_extension_type("#Microsoft.Graph.onAttributeCollectionStartCustomExtension")
        );
        assert!(!start.is_token_issuance());
    }

    #[test]
    fn tokens_come_from_the_flag_then_the_environment() {
        let mut stdin = StandardInput::default();
        assert_eq!(
            given_token(Some("abc"), Some("env"), &mut stdin).unwrap(),
            Some("abc".to_owned())
        );
        assert_eq!(
            given_token(None, Some(" env "), &mut stdin).unwrap(),
            Some("env".to_owned())
        );
        assert_eq!(given_token(None, Some(""), &mut stdin).unwrap(), None);
        assert!(given_token(Some("two words"), None, &mut stdin).is_err());
    }
}
