//! Only Entra's authentication events service of our tenant may call the attribute-collection
//! functions. The tests mint their own RSA keys and tokens and serve the OpenID metadata and key
//! set from a loopback server of their own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::Mac as _;
use rsa::RsaPublicKey;
use serde_json::{Value, json};
use signup_gate_testkit::tokens::{KeyServer, compact, keys};

use crate::helpers::{Launch, TestApp};

const TENANT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
const OTHER_TENANT: &str = "99998888-0000-cccc-1111-dddd2222eeee";
const CLIENT: &str = "11112222-bbbb-3333-cccc-4444dddd5555";
const EVENTS_SERVICE: &str = "99045fe1-7639-4a75-9d4a-577b6ca3810f";
const START: &str = "OnAttributeCollectionStart";
const CHALLENGE: &str = "Bearer error=\"invalid_token\"";

/// A handler that validates tokens against `server`.
async fn guarded(server: &KeyServer) -> TestApp {
    guarded_by(&server.authority(TENANT)).await
}

/// A handler that validates tokens with the keys found through `authority`.
async fn guarded_by(authority: &str) -> TestApp {
    Launch::hosted(&[
        ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
        ("AUTH_EVENTS_TENANT_ID", TENANT),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT),
        ("AUTH_EVENTS_AUTHORITY", authority),
        ("ALLOWED_EMAIL_DOMAINS", "fabrikam.com"),
    ])
    .start()
    .await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a valid v2 token.
fn v2_claims() -> Value {
    json!({
        "aud": CLIENT, "azp": EVENTS_SERVICE, "tid": TENANT,
        "iss": format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"),
        "iat": now() - 10, "nbf": now() - 10, "exp": now() + 3600,
        "ver": "2.0", "sub": "service-principal", "oid": "service-principal"
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    if value.is_null() {
        claims.as_object_mut().unwrap().remove(key);
    } else {
        claims[key] = value;
    }
    claims
}

fn start_event() -> Value {
    json!({"type": "microsoft.graph.authenticationEvent.attributeCollectionStart",
           "data": {"userSignUpInfo": {"identities": [{"signInType": "email", "issuerAssignedId": "ada@fabrikam.com"}]}}})
}

/// Posts a Start event with `Authorization: Bearer <token>`; the status.
async fn call(app: &TestApp, token: Option<&str>) -> u16 {
    let authorization = token.map(|token| format!("Bearer {token}"));
    let response = app
        .post(
            &format!("/api/{START}"),
            &start_event().to_string(),
            authorization.as_deref(),
        )
        .await;
    let status = response.status().as_u16();
    if status == 401 {
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            CHALLENGE
        );
        assert_eq!(
            response.text().await.unwrap(),
            "",
            "a refusal carries no details"
        );
    } else {
        let body: Value = response.json_body().await;
        assert_eq!(
            body["data"]["actions"][0]["@odata.type"],
            "microsoft.graph.attributeCollectionStart.continueWithDefaultBehavior"
        );
    }
    status
}

trait JsonBody {
    async fn json_body(self) -> Value;
}

impl JsonBody for reqwest::Response {
    async fn json_body(self) -> Value {
        serde_json::from_str(&self.text().await.unwrap()).unwrap()
    }
}

/// Waits until the key set has been fetched (start-up never waits for it).
async fn keys_loaded(app: &TestApp) {
    app.logs_containing("fetched 1 signing key(s)").await;
}

#[tokio::test]
async fn valid_v2_and_v1_tokens_in_every_issuer_form_are_accepted() {
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded(&server).await;
    keys_loaded(&app).await;
    let v1 = json!({
        "aud": format!("api://signup-gate.azurewebsites.net/{CLIENT}"), "appid": EVENTS_SERVICE, "tid": TENANT,
        "ver": "1.0", "iat": now() - 10, "nbf": now() - 10, "exp": now() + 3600
    });
    for iss in [
        format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"),
        format!("https://contoso.ciamlogin.com/{TENANT}/v2.0"),
        format!("https://login.microsoftonline.com/{TENANT}/v2.0"),
        format!("https://sts.windows.net/{TENANT}/"),
    ] {
        for (version, claims) in [("v2", v2_claims()), ("v1", v1.clone())] {
            let token = a.sign(&with(claims, "iss", json!(iss)));
            assert_eq!(call(&app, Some(&token)).await, 200, "{version} {iss}");
        }
    }
    // Within the five minutes of leeway.
    let just_expired = with(v2_claims(), "exp", json!(now() - 120));
    assert_eq!(call(&app, Some(&a.sign(&just_expired))).await, 200);
}

#[tokio::test]
async fn each_wrong_claim_is_refused_and_named_in_the_log() {
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded(&server).await;
    keys_loaded(&app).await;
    let cases = [
        (
            "aud",
            with(
                v2_claims(),
                "aud",
                json!("00000003-0000-0000-c000-000000000000"),
            ),
        ),
        ("aud", with(v2_claims(), "aud", Value::Null)),
        ("azp", with(v2_claims(), "azp", json!(CLIENT))),
        ("azp", with(v2_claims(), "azp", Value::Null)),
        ("tid", with(v2_claims(), "tid", json!(OTHER_TENANT))),
        (
            "iss",
            with(
                v2_claims(),
                "iss",
                json!(format!(
                    "https://{OTHER_TENANT}.ciamlogin.com/{OTHER_TENANT}/v2.0"
                )),
            ),
        ),
        (
            "iss",
            with(
                v2_claims(),
                "iss",
                json!(format!("https://evil.example/{TENANT}/v2.0")),
            ),
        ),
        ("exp", with(v2_claims(), "exp", json!(now() - 400))),
        ("nbf", with(v2_claims(), "nbf", json!(now() + 400))),
    ];
    for (check, claims) in cases {
        let token = a.sign(&claims);
        assert_eq!(call(&app, Some(&token)).await, 401, "{check}: {claims}");
        let logs = app
            .logs_containing(&format!("outcome=Unauthorized reason={check} "))
            .await;
        assert!(!logs.contains(&token), "the token must never be logged");
    }
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused() {
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded(&server).await;
    keys_loaded(&app).await;
    let b64 =
        |value: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string());

    // alg: none, no signature.
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": a.kid})),
        b64(&v2_claims())
    );
    assert_eq!(call(&app, Some(&unsigned)).await, 401);
    app.logs_containing("reason=alg ").await;

    // HS256 with the public key as the shared secret (the classic key-confusion forgery).
    let public_pem = {
        use rsa::pkcs1::EncodeRsaPublicKey;
        RsaPublicKey::from(&a.private)
            .to_pkcs1_pem(Default::default())
            .unwrap()
    };
    let confused = compact(
        &json!({"alg": "HS256", "typ": "JWT", "kid": a.kid}),
        &v2_claims(),
        |signed| {
            let mut mac =
                hmac::Hmac::<sha2::Sha256>::new_from_slice(public_pem.as_bytes()).unwrap();
            mac.update(signed);
            mac.finalize().into_bytes().to_vec()
        },
    );
    assert_eq!(call(&app, Some(&confused)).await, 401);
    app.logs_containing("reason=alg ").await;

    // A tampered payload keeps a signature that no longer matches.
    let token = a.sign(&v2_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with(v2_claims(), "tid", json!(OTHER_TENANT))),
        parts[2]
    );
    assert_eq!(call(&app, Some(&tampered)).await, 401);
    app.logs_containing("reason=signature ").await;

    for garbage in ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"] {
        assert_eq!(call(&app, Some(garbage)).await, 401, "{garbage:?}");
    }
    assert_eq!(call(&app, None).await, 401);
    let basic = app
        .post(
            &format!("/api/{START}"),
            &start_event().to_string(),
            Some("Basic YTpi"),
        )
        .await;
    assert_eq!(basic.status().as_u16(), 401);
    // The right token still works after all that.
    assert_eq!(call(&app, Some(&token)).await, 200);
}

#[tokio::test]
async fn a_token_with_critical_extensions_is_refused() {
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded(&server).await;
    keys_loaded(&app).await;
    for crit in [json!(["x-unknown"]), json!(["exp"]), json!([]), json!("x")] {
        let header =
            json!({"alg": "RS256", "typ": "JWT", "kid": a.kid, "crit": crit, "x-unknown": 1});
        let token = a.sign_with_header(&header, &v2_claims());
        assert_eq!(call(&app, Some(&token)).await, 401, "{crit}");
        app.logs_containing("outcome=Unauthorized reason=crit ")
            .await;
    }
    assert_eq!(call(&app, Some(&a.sign(&v2_claims()))).await, 200);
}

/// An audience with a character of several bytes where `api://` would end once made the check
/// panic: the connection dropped without an answer.
#[tokio::test]
async fn an_audience_with_multi_byte_characters_is_refused_not_a_crash() {
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded(&server).await;
    keys_loaded(&app).await;
    for aud in [
        format!("abcde\u{e9}-{CLIENT}"),
        "\u{e9}".to_owned(),
        format!("api:/\u{e9}/{CLIENT}"),
        "abcd\u{1f600}".to_owned(),
    ] {
        let token = a.sign(&with(v2_claims(), "aud", json!(aud)));
        assert_eq!(call(&app, Some(&token)).await, 401, "{aud}");
    }
    app.logs_containing("outcome=Unauthorized reason=aud ")
        .await;
    assert_eq!(call(&app, Some(&a.sign(&v2_claims()))).await, 200);
}

/// Keys are taken only from https or loopback URLs, and that holds for every redirect too: a
/// key set that moved to plain http elsewhere would let whoever answers there sign tokens.
#[tokio::test]
async fn key_fetches_refuse_redirects_off_https_or_loopback() {
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let port = server.port;
    let token = a.sign(&v2_claims());
    for prefix in ["moved", "hop"] {
        let app = guarded_by(&format!(
            "http://127.0.0.1:{port}/{prefix}/0.0.0.0/{TENANT}/v2.0"
        ))
        .await;
        app.logs_containing("refused a redirect").await;
        assert_eq!(call(&app, Some(&token)).await, 401, "{prefix}");
        app.logs_containing_all(&[
            "reason=keys_unavailable ",
            "\"http://0.0.0.0:",
            "must use https",
        ])
        .await;
        // The same redirect to a loopback address is followed.
        let app = guarded_by(&format!(
            "http://127.0.0.1:{port}/{prefix}/127.0.0.1/{TENANT}/v2.0"
        ))
        .await;
        keys_loaded(&app).await;
        assert_eq!(call(&app, Some(&token)).await, 200, "{prefix}");
    }
}

/// A key set (or metadata) larger than 1 MiB is not read whole: the fetch fails and the calls
/// are refused, instead of the process growing with the answer.
#[tokio::test]
async fn a_key_set_over_the_limit_is_refused_not_held() {
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded_by(&format!(
        "http://127.0.0.1:{}/huge/{TENANT}/v2.0",
        server.port
    ))
    .await;
    app.logs_containing("the answer is larger than 1048576 bytes")
        .await;
    assert_eq!(call(&app, Some(&a.sign(&v2_claims()))).await, 401);
}

#[tokio::test]
async fn an_unknown_kid_refreshes_the_keys_once_so_rotation_just_works() {
    let (a, b) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded(&server).await;
    keys_loaded(&app).await;
    assert_eq!(call(&app, Some(&a.sign(&v2_claims()))).await, 200);
    let fetched = server.fetches();

    // Entra rotates: the key set now holds only B, and tokens are signed with B.
    server.serve(&[b]);
    assert_eq!(call(&app, Some(&b.sign(&v2_claims()))).await, 200);
    assert_eq!(server.fetches(), fetched + 1, "one forced refresh");
    // A's tokens are refused now, and an unknown kid does not refresh again within the minute.
    assert_eq!(call(&app, Some(&a.sign(&v2_claims()))).await, 401);
    app.logs_containing("reason=kid ").await;
    assert_eq!(
        server.fetches(),
        fetched + 1,
        "at most one forced refresh a minute"
    );
}

/// A cached token is the same token: when its key is withdrawn, the next refresh ends it.
#[tokio::test]
async fn a_cached_token_whose_key_is_withdrawn_is_refused_after_the_next_refresh() {
    let (a, b) = keys();
    let server = KeyServer::start(&[a, b]).await;
    let app = guarded(&server).await;
    app.logs_containing("fetched 2 signing key(s)").await;
    let token = a.sign(&v2_claims());
    for _ in 0..3 {
        assert_eq!(call(&app, Some(&token)).await, 200);
    }
    // The tenant withdraws A; a token with a kid the handler has not seen... is B's, which it
    // knows, so nothing forces a refresh: the cached token stays good until the key set is
    // fetched again. An unknown kid forces that fetch.
    server.serve(&[b]);
    let unknown = compact(
        &json!({"alg": "RS256", "kid": "never-published"}),
        &v2_claims(),
        |_| vec![0; 256],
    );
    assert_eq!(call(&app, Some(&unknown)).await, 401);
    app.logs_containing("fetched 1 signing key(s)").await;
    assert_eq!(call(&app, Some(&token)).await, 401);
    app.logs_containing("reason=kid ").await;
    assert_eq!(call(&app, Some(&b.sign(&v2_claims()))).await, 200);
}

/// A cached token expires like any other: `exp` plus the leeway, then 401.
#[tokio::test]
async fn a_cached_token_is_refused_once_it_expires() {
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded(&server).await;
    keys_loaded(&app).await;
    // Valid for about two more seconds (five minutes of leeway after `exp`).
    let exp = now() - 298;
    let token = a.sign(&with(v2_claims(), "exp", json!(exp)));
    assert_eq!(call(&app, Some(&token)).await, 200);
    assert_eq!(call(&app, Some(&token)).await, 200);
    while now() <= exp + 300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(call(&app, Some(&token)).await, 401);
    app.logs_containing("reason=exp ").await;
}

/// Only the exact token is taken from the cache: the same claims under another signature are
/// verified in full (and refused when the signature is wrong); another valid token with the
/// same claims is verified and cached on its own.
#[tokio::test]
async fn a_different_token_with_the_same_claims_is_verified_in_full() {
    let (a, b) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = Launch::hosted(&[
        ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
        ("AUTH_EVENTS_TENANT_ID", TENANT),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT),
        ("AUTH_EVENTS_AUTHORITY", &server.authority(TENANT)),
        ("RUST_LOG", "info,signup_gate::callers=debug"),
    ])
    .start()
    .await;
    keys_loaded(&app).await;
    let claims = v2_claims();
    let token = a.sign(&claims);
    assert_eq!(call(&app, Some(&token)).await, 200);
    assert_eq!(call(&app, Some(&token)).await, 200);
    // The same header and claims, signed by another key: not the cached token.
    let (signed, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", b.sign(&claims).rsplit_once('.').unwrap().1);
    assert_eq!(call(&app, Some(&forged)).await, 401);
    app.logs_containing("reason=signature ").await;
    // Another token of A with the same claims (another header): verified, then cached.
    let other = a.sign_with_header(&json!({"alg": "RS256", "kid": a.kid}), &claims);
    assert_ne!(other, token);
    assert_eq!(call(&app, Some(&other)).await, 200);
    assert_eq!(call(&app, Some(&other)).await, 200);
    let logs = app
        .logs_containing("1 call(s) so far with a token seen before")
        .await;
    assert_eq!(
        logs.matches("caller token validated and cached").count(),
        2,
        "{logs}"
    );
}

#[tokio::test]
async fn a_key_server_down_at_start_up_refuses_calls_until_it_is_up() {
    let (a, _) = keys();
    // Bound but not answering yet: the port is ours, and every fetch runs into the deadline.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = guarded_by(&format!("http://127.0.0.1:{port}/{TENANT}/v2.0")).await;
    let token = a.sign(&v2_claims());
    assert_eq!(call(&app, Some(&token)).await, 401);
    app.logs_containing("reason=keys_unavailable ").await;
    // After the first fetch's own timeout (5 s).
    app.logs_containing_within(
        &["cannot fetch the Entra signing keys"],
        Duration::from_secs(20),
    )
    .await;

    let _server = KeyServer::on(listener, &[a]);
    let started = std::time::Instant::now();
    while call(&app, Some(&token)).await != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "keys never arrived:\n{}",
            app.output.all()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn without_tenant_and_client_the_process_starts_and_refuses_every_call() {
    let app = Launch::hosted(&[("AUTH_EVENTS_TOKEN_VALIDATION", "jwt")])
        .start()
        .await;
    app.logs_containing("AUTH_EVENTS_TENANT_ID is not set: OnAttributeCollectionStart, OnAttributeCollectionSubmit and OnTokenIssuanceStart refuse every call with 401").await;
    let (a, _) = keys();
    assert_eq!(call(&app, Some(&a.sign(&v2_claims()))).await, 401);
    app.logs_containing("reason=token_validation_not_configured")
        .await;
    // The API connector is not affected.
    let response = app.sign_up(r#"{"email":"ada@fabrikam.com"}"#).await;
    assert_eq!(response.status().as_u16(), 200);
}

fn principal(claims: &[(&str, &str)]) -> String {
    let claims: Vec<Value> = claims
        .iter()
        .map(|(typ, val)| json!({"typ": typ, "val": val}))
        .collect();
    let principal =
        json!({"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"});
    base64::engine::general_purpose::STANDARD.encode(principal.to_string())
}

async fn call_with_principal(app: &TestApp, principal: &str, idp: &str) -> u16 {
    app.client
        .post(app.url(&format!("/api/{START}")))
        .header("x-ms-client-principal", principal)
        .header("x-ms-client-principal-idp", idp)
        .header("x-ms-client-principal-id", "service-principal")
        .body(start_event().to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn easy_auth_principals_get_the_same_checks() {
    let app = Launch::hosted(&[
        ("AUTH_EVENTS_TOKEN_VALIDATION", "easyauth"),
        ("WEBSITE_AUTH_ENABLED", "True"),
        ("AUTH_EVENTS_TENANT_ID", TENANT),
        ("AUTH_EVENTS_CLIENT_ID", CLIENT),
        ("ALLOWED_EMAIL_DOMAINS", "fabrikam.com"),
    ])
    .start()
    .await;
    let iss = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let good = principal(&[
        ("aud", CLIENT),
        ("azp", EVENTS_SERVICE),
        ("tid", TENANT),
        ("iss", &iss),
    ]);
    assert_eq!(call_with_principal(&app, &good, "aad").await, 200);
    let long = principal(&[
        ("aud", CLIENT),
        (
            "http://schemas.microsoft.com/identity/claims/appid",
            EVENTS_SERVICE,
        ),
        (
            "http://schemas.microsoft.com/identity/claims/tenantid",
            TENANT,
        ),
        ("iss", &iss),
    ]);
    assert_eq!(call_with_principal(&app, &long, "aad").await, 200);
    let other_tenant = principal(&[
        ("aud", CLIENT),
        ("azp", EVENTS_SERVICE),
        ("tid", OTHER_TENANT),
        ("iss", &iss),
    ]);
    assert_eq!(call_with_principal(&app, &other_tenant, "aad").await, 401);
    let other_caller = principal(&[
        ("aud", CLIENT),
        ("azp", CLIENT),
        ("tid", TENANT),
        ("iss", &iss),
    ]);
    assert_eq!(call_with_principal(&app, &other_caller, "aad").await, 401);
    assert_eq!(call_with_principal(&app, &good, "google").await, 401);
    assert_eq!(call_with_principal(&app, "%%%", "aad").await, 401);
    // A multi-byte character where `api://` would end once made the check panic.
    let multi_byte = principal(&[
        ("aud", &format!("abcde\u{e9}-{CLIENT}")),
        ("azp", EVENTS_SERVICE),
        ("tid", TENANT),
        ("iss", &iss),
    ]);
    assert_eq!(call_with_principal(&app, &multi_byte, "aad").await, 401);
    assert_eq!(call(&app, None).await, 401);
}

#[tokio::test]
async fn a_forged_principal_is_worthless_without_easy_auth() {
    // In-process validation ignores Easy Auth headers entirely.
    let (a, _) = keys();
    let server = KeyServer::start(&[a]).await;
    let app = guarded(&server).await;
    let iss = format!("https://login.microsoftonline.com/{TENANT}/v2.0");
    let forged = principal(&[
        ("aud", CLIENT),
        ("azp", EVENTS_SERVICE),
        ("tid", TENANT),
        ("iss", &iss),
    ]);
    assert_eq!(call_with_principal(&app, &forged, "aad").await, 401);
    // And Easy Auth mode refuses to start where Easy Auth is not on.
    for enabled in [None, Some("False")] {
        let mut launch = Launch::hosted(&[
            ("AUTH_EVENTS_TOKEN_VALIDATION", "easyauth"),
            ("AUTH_EVENTS_TENANT_ID", TENANT),
            ("AUTH_EVENTS_CLIENT_ID", CLIENT),
        ]);
        if let Some(enabled) = enabled {
            launch.set("WEBSITE_AUTH_ENABLED", enabled);
        }
        let (status, output) = launch.run_to_exit();
        assert_eq!(status.code(), Some(78));
        assert!(output.stderr().contains(
            "configuration error: AUTH_EVENTS_TOKEN_VALIDATION is 'easyauth' but Easy Auth is not enabled (WEBSITE_AUTH_ENABLED is not True): its headers could be forged"
        ));
    }
}

#[test]
fn token_settings_are_validated_at_start_up() {
    for (settings, expected) in [
        (
            &[
                ("AUTH_EVENTS_TOKEN_VALIDATION", "none"),
                ("WEBSITE_SITE_NAME", "gate"),
            ][..],
            "AUTH_EVENTS_TOKEN_VALIDATION must be 'jwt' or 'easyauth' in Azure (WEBSITE_SITE_NAME is set); 'none' is only for local runs",
        ),
        (
            &[
                ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
                ("AUTH_EVENTS_TENANT_ID", "contoso"),
            ][..],
            "AUTH_EVENTS_TENANT_ID must be a GUID like 00000000-0000-0000-0000-000000000000, got \"contoso\"",
        ),
        (
            &[
                ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
                ("AUTH_EVENTS_TENANT_ID", TENANT),
                ("AUTH_EVENTS_CLIENT_ID", CLIENT),
                ("AUTH_EVENTS_AUTHORITY", "http://login.example/tenant/v2.0"),
            ][..],
            "AUTH_EVENTS_AUTHORITY must be the tenant's authority URL: \"http://login.example/tenant/v2.0\" must use https (plain http only for loopback hosts)",
        ),
        // Credentials in the URL would reach the start-up line and doctor's report: refused,
        // and not repeated in the refusal.
        (
            &[
                ("AUTH_EVENTS_TOKEN_VALIDATION", "jwt"),
                ("AUTH_EVENTS_TENANT_ID", TENANT),
                ("AUTH_EVENTS_CLIENT_ID", CLIENT),
                (
                    "AUTH_EVENTS_AUTHORITY",
                    "https://user:hunter2@login.example/tenant/v2.0",
                ),
            ][..],
            "AUTH_EVENTS_AUTHORITY must be the tenant's authority URL: \"https://***@login.example/tenant/v2.0\" holds a user name or password: give credentials in their own settings",
        ),
        (
            &[("AUTH_EVENTS_TOKEN_VALIDATION", "saml")][..],
            "AUTH_EVENTS_TOKEN_VALIDATION must be 'jwt', 'easyauth' or 'none', got \"saml\"",
        ),
    ] {
        let (status, output) = Launch::hosted(settings).run_to_exit();
        assert_eq!(status.code(), Some(78), "{settings:?}");
        assert!(
            output
                .stderr()
                .trim_end()
                .ends_with(&format!("configuration error: {expected}")),
            "{}",
            output.stderr()
        );
    }
}

#[tokio::test]
async fn no_validation_is_announced_on_every_start() {
    let app = Launch::hosted(&[("AUTH_EVENTS_TOKEN_VALIDATION", "none")])
        .start()
        .await;
    app.logs_containing("AUTH_EVENTS_TOKEN_VALIDATION=none: OnAttributeCollectionStart, OnAttributeCollectionSubmit and OnTokenIssuanceStart accept calls from anyone").await;
}
