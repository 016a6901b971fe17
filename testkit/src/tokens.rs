//! Entra caller tokens for tests and benchmarks: RSA signing keys, tokens signed with them, and
//! a tenant's OpenID metadata and key set served on loopback (with the keys switchable, and
//! authorities whose fetches redirect).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{Value, json};
use warp::Filter;

/// A signing key with its `kid`.
pub struct Key {
    pub kid: &'static str,
    pub private: RsaPrivateKey,
}

impl Key {
    /// A fresh 2048-bit key (slow: share them, see [`keys`]).
    pub fn new(kid: &'static str) -> Self {
        Self {
            kid,
            private: RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key"),
        }
    }

    /// The public key as a JWK of a key set.
    pub fn jwk(&self) -> Value {
        let public = RsaPublicKey::from(&self.private);
        json!({"kty": "RSA", "use": "sig", "kid": self.kid, "n": b64(&public.n().to_bytes_be()),
               "e": b64(&public.e().to_bytes_be()), "x5t": self.kid, "issuer": "ignored"})
    }

    /// An RS256 token with these claims.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    /// A token with this header and these claims, RS256-signed with this key.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.private.clone());
        compact(header, claims, |signed| signer.sign(signed).to_vec())
    }
}

/// Two keys per process (generation is the slow part).
pub fn keys() -> &'static (Key, Key) {
    static KEYS: OnceLock<(Key, Key)> = OnceLock::new();
    KEYS.get_or_init(|| (Key::new("key-a"), Key::new("key-b")))
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature`, signed by `sign`.
pub fn compact(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(signed.as_bytes());
    format!("{signed}.{}", b64(&signature))
}

/// A tenant's OpenID metadata and key set on loopback, with the keys it serves switchable.
///
/// `<authority>` is `http://127.0.0.1:<port>/<tenant>/v2.0`; `moved/<host>/<tenant>/v2.0` is an
/// authority whose key set redirects to `<host>`, and `hop/<host>/<tenant>/v2.0` one whose
/// metadata does (0.0.0.0 reaches this server without being a loopback address, so only the
/// URL rule can refuse it).
pub struct KeyServer {
    pub port: u16,
    serving: Arc<Mutex<Vec<Value>>>,
    /// How often the key set was fetched.
    fetches: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl KeyServer {
    /// Serves `keys` on a free loopback port.
    pub async fn start(keys: &[&Key]) -> Self {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a loopback port");
        Self::on(listener, keys)
    }

    /// Serves `keys` on a listener bound before (so a handler can be pointed at it while it does
    /// not answer yet).
    pub fn on(listener: tokio::net::TcpListener, keys: &[&Key]) -> Self {
        let port = listener.local_addr().expect("an address").port();
        let serving = Arc::new(Mutex::new(
            keys.iter().map(|key| key.jwk()).collect::<Vec<_>>(),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let metadata = warp::path!(String / "v2.0" / ".well-known" / "openid-configuration").map(
            move |tenant: String| {
                warp::reply::json(&json!({
                    "issuer": format!("https://{tenant}.ciamlogin.com/{tenant}/v2.0"),
                    "jwks_uri": format!("http://127.0.0.1:{port}/{tenant}/discovery/v2.0/keys"),
                }))
            },
        );
        let key_set = {
            let (serving, fetches) = (serving.clone(), fetches.clone());
            warp::path!(String / "discovery" / "v2.0" / "keys").map(move |_tenant: String| {
                fetches.fetch_add(1, Ordering::SeqCst);
                warp::reply::json(&json!({"keys": *serving.lock().unwrap()}))
            })
        };
        let moved_metadata = warp::path!(
            "moved" / String / String / "v2.0" / ".well-known" / "openid-configuration"
        )
        .map(move |host: String, tenant: String| {
            warp::reply::json(&json!({
                "issuer": format!("https://{tenant}.ciamlogin.com/{tenant}/v2.0"),
                "jwks_uri": format!("http://127.0.0.1:{port}/moved-keys/{host}/{tenant}"),
            }))
        });
        let moved_keys =
            warp::path!("moved-keys" / String / String).map(move |host: String, tenant: String| {
                redirect(&format!(
                    "http://{host}:{port}/{tenant}/discovery/v2.0/keys"
                ))
            });
        let hop =
            warp::path!("hop" / String / String / "v2.0" / ".well-known" / "openid-configuration")
                .map(move |host: String, tenant: String| {
                    redirect(&format!(
                        "http://{host}:{port}/{tenant}/v2.0/.well-known/openid-configuration"
                    ))
                });
        // A key set of 2 MiB (its keys, then padding): a reader must stop at its own limit.
        let huge_metadata = warp::path!(
            "huge" / String / "v2.0" / ".well-known" / "openid-configuration"
        )
        .map(move |tenant: String| {
            warp::reply::json(&json!({
                "issuer": format!("https://{tenant}.ciamlogin.com/{tenant}/v2.0"),
                "jwks_uri": format!("http://127.0.0.1:{port}/huge-keys/{tenant}"),
            }))
        });
        let huge_keys = {
            let serving = serving.clone();
            warp::path!("huge-keys" / String).map(move |_tenant: String| {
                warp::reply::json(&json!({
                    "keys": *serving.lock().unwrap(),
                    "padding": "x".repeat(2 << 20),
                }))
            })
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(
            warp::serve(
                metadata
                    .or(key_set)
                    .or(moved_metadata)
                    .or(moved_keys)
                    .or(hop)
                    .or(huge_metadata)
                    .or(huge_keys),
            )
            .incoming(listener)
            .graceful(async move {
                let _ = stopped.await;
            })
            .run(),
        );
        Self {
            port,
            serving,
            fetches,
            _stop: stop,
        }
    }

    /// The authority of `tenant` on this server.
    pub fn authority(&self, tenant: &str) -> String {
        format!("http://127.0.0.1:{}/{tenant}/v2.0", self.port)
    }

    /// Serves these keys from now on.
    pub fn serve(&self, keys: &[&Key]) {
        *self.serving.lock().unwrap() = keys.iter().map(|key| key.jwk()).collect();
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn redirect(location: &str) -> warp::http::Response<String> {
    warp::http::Response::builder()
        .status(302)
        .header("location", location)
        .body(String::new())
        .unwrap()
}
