//! Cost of validating an Entra caller token with a warm key cache (criterion).
//!
//! `cargo bench --bench token_validation`; under `cargo test` each benchmark runs once, as a
//! smoke test. The key set comes from a loopback server so the real fetch and cache are used.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use rsa::RsaPrivateKey;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts;
use serde_json::json;
use signup_gate::caller_auth::entra_token::{EntraTokens, TokenSettings};
use warp::Filter;
use warp::http::HeaderValue;

const TENANT: &str = "aaaabbbb-0000-cccc-1111-dddd2222eeee";
const CLIENT: &str = "11112222-bbbb-3333-cccc-4444dddd5555";

fn token_validation(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tokens, authorization) = runtime.block_on(set_up());
    c.bench_function("token_validation/warm_cache", |b| {
        b.iter(|| {
            runtime
                .block_on(tokens.verify(Some(&authorization)))
                .expect("valid token")
        })
    });
}

criterion_group!(benches, token_validation);
criterion_main!(benches);

/// A validator whose cache holds the key of a freshly signed token, and that token's header.
async fn set_up() -> (EntraTokens, HeaderValue) {
    let _ = rustls::crypto::ring::default_provider().install_default();

    let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("key");
    let b64 = |bytes: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let jwk = json!({"kty": "RSA", "use": "sig", "kid": "bench", "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be())});
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    let routes = warp::path!("metadata")
        .map(move || {
            warp::reply::json(&json!({"jwks_uri": format!("http://127.0.0.1:{port}/keys")}))
        })
        .or(warp::path!("keys").map(move || warp::reply::json(&json!({"keys": [jwk.clone()]}))));
    tokio::spawn(warp::serve(routes).incoming(listener).run());

    let tokens = EntraTokens::new(TokenSettings {
        tenant_id: TENANT.to_owned(),
        client_id: CLIENT.to_owned(),
        metadata_url: format!("http://127.0.0.1:{port}/metadata"),
        refresh: Duration::from_secs(86_400),
        fetch_deadline: Duration::from_millis(700),
    })
    .expect("validator");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({"aud": CLIENT, "azp": "99045fe1-7639-4a75-9d4a-577b6ca3810f", "tid": TENANT,
        "iss": format!("https://{TENANT}.ciamlogin.com/{TENANT}/v2.0"), "iat": now, "nbf": now, "exp": now + 3600});
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "bench"});
    let signed = format!(
        "{}.{}",
        b64(header.to_string().into_bytes()),
        b64(claims.to_string().into_bytes())
    );
    let signature =
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone()).sign(signed.as_bytes());
    let token = format!("{signed}.{}", b64(signature.to_vec()));
    let authorization = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");

    // The first call fetches the key set (an unknown kid forces it); then the cache is warm.
    tokens
        .verify(Some(&authorization))
        .await
        .expect("valid token");
    (tokens, authorization)
}
