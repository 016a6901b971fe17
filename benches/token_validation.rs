//! Cost of validating an Entra caller token (criterion): `full` verifies it every time (RS256
//! with the key set already fetched: what a token seen for the first time costs), `cached` is a
//! token validated before (what Entra's reused token costs on every later call).
//!
//! `cargo bench --bench token_validation`; under `cargo test` each benchmark runs once, as a
//! smoke test. The key set comes from a loopback server so the real fetch and caches are used.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use signup_gate::callers::entra::{EntraTokens, TokenSettings};
use signup_gate::telemetry::Telemetry;
use signup_gate_testkit::tokens::{KeyServer, keys};
use warp::http::HeaderValue;

const TENANT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
const CLIENT: &str = "11112222-bbbb-3333-cccc-4444dddd5555";

fn token_validation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (name, capacity) in [("full", 0), ("cached", 4096)] {
        let (tokens, authorization, _server) = runtime.block_on(set_up(capacity));
        c.bench_function(&format!("token_validation/{name}"), |b| {
            b.iter(|| {
                runtime
                    .block_on(tokens.verify(Some(&authorization)))
                    .expect("valid token")
            })
        });
    }
}

criterion_group!(benches, token_validation);
criterion_main!(benches);

/// A validator (remembering at most `capacity` tokens) whose key cache holds the key of a freshly
/// signed token, that token's header, and the key server (which must live as long as the
/// validator).
async fn set_up(capacity: usize) -> (EntraTokens, HeaderValue, KeyServer) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (key, _) = keys();
    let server = KeyServer::start(&[key]).await;
    let tokens = EntraTokens::with_token_cache(
        TokenSettings {
            tenant_id: TENANT.to_owned(),
            client_id: CLIENT.to_owned(),
            metadata_url: format!(
                "{}/.well-known/openid-configuration",
                server.authority(TENANT)
            ),
            refresh: Duration::from_secs(86_400),
            key_wait: Duration::from_millis(700),
        },
        capacity,
        Telemetry::off(),
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({"aud": CLIENT, "azp": "99045fe1-7639-4a75-9d4a-577b6ca3810f", "tid": TENANT,
        "iss": format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"), "iat": now, "nbf": now, "exp": now + 3600});
    let authorization =
        HeaderValue::from_str(&format!("Bearer {}", key.sign(&claims))).expect("header");
    // The first call fetches the key set (an unknown kid forces it); then the cache is warm.
    tokens
        .verify(Some(&authorization))
        .await
        .expect("valid token");
    (tokens, authorization, server)
}
