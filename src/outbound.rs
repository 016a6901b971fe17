//! Requests the handler makes (key sets, the invitation table, the managed identity, telemetry
//! uploads, the CLI's checks): where they may go, whether a redirect is followed, and how much of
//! an answer is read.
//!
//! Every configured URL is https, or plain http to this machine only, and holds no user name or
//! password (it would reach logs and `doctor`'s report). No client follows a redirect unless it
//! says so, and then only to a URL that passes the same rule on every hop.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};

/// A URL keys, invitations or telemetry must not be fetched from or sent to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeUrl {
    #[error("{url:?} is not a URL: {reason}")]
    NotAUrl { url: String, reason: String },
    #[error("{0:?} must use https (plain http only for loopback hosts)")]
    PlainHttp(String),
    #[error("{0:?} must be an https URL")]
    NotHttps(String),
    /// Shown with the user name and password replaced by `***`.
    #[error("{0:?} holds a user name or password: give credentials in their own settings")]
    Credentials(String),
}

/// Keys, invitations and telemetry travel over HTTPS; plain HTTP only to this machine (tests,
/// local emulation); never with credentials in the URL.
pub fn check_fetch_url(url: &str) -> Result<(), UnsafeUrl> {
    let parsed = reqwest::Url::parse(url).map_err(|error| UnsafeUrl::NotAUrl {
        url: url.to_owned(),
        reason: error.to_string(),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UnsafeUrl::Credentials(without_credentials(&parsed)));
    }
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(UnsafeUrl::PlainHttp(url.to_owned())),
        _ => Err(UnsafeUrl::NotHttps(url.to_owned())),
    }
}

/// `localhost` or a loopback address (`127.0.0.1`, `[::1]`).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A URL as it may be shown: any user name and password replaced by `***`.
pub(crate) fn without_credentials(url: &reqwest::Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    let _ = shown.set_username("***");
    shown.to_string()
}

static TLS: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();

/// The TLS settings every client of the process shares: reqwest's own (the platform's trust
/// store and verifier, TLS 1.2 and 1.3, HTTP/1.1), built once. Reading and parsing the trust
/// store takes milliseconds (hundreds of certificates); each client built with reqwest's defaults
/// would read it again.
fn tls() -> &'static Result<rustls::ClientConfig, String> {
    TLS.get_or_init(|| {
        // Several parts of a process ask; the first installation wins, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
            .map_err(|error| format!("the platform's trust store: {error}"))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|error| error.to_string())?
            // The platform's verifier, exactly as reqwest installs it.
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    })
}

/// Reads the platform's trust store, once, on the blocking pool (the warm-up calls it first
/// thing, so that no client is built before it and no runtime thread waits on the files).
pub(crate) async fn load_trust_store() {
    if TLS.get().is_some() {
        return;
    }
    if let Err(error) = tokio::task::spawn_blocking(tls).await {
        log::debug!("loading the trust store: {error}");
    }
}

/// A client builder with the shared TLS settings and redirects off.
pub(crate) fn client() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    match tls() {
        Ok(config) => builder.tls_backend_preconfigured(config.clone()),
        // reqwest then tries for itself, and its build says why it cannot.
        Err(_) => builder,
    }
}

/// Redirects followed only to URLs that pass [`check_fetch_url`], every hop (a redirect to plain
/// http on another host would let whoever answers there sign tokens), and at most a few hops.
pub(crate) fn checked_redirects() -> reqwest::redirect::Policy {
    const MAX_REDIRECTS: usize = 5;
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        match check_fetch_url(attempt.url().as_str()) {
            Ok(()) => attempt.follow(),
            Err(error) => attempt.error(format!("refused a redirect: {error}")),
        }
    })
}

/// Why an answer's body was not read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Read(String),
}

/// An answer's body, read chunk by chunk and never beyond `limit` bytes (a key set of hundreds of
/// megabytes would otherwise be held whole in memory).
pub(crate) async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| BodyError::Read(crate::printable::with_causes(&error)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_urls_are_https_or_loopback() {
        assert!(
            check_fetch_url(
                "https://contoso.ciamlogin.com/t/v2.0/.well-known/openid-configuration"
            )
            .is_ok()
        );
        assert!(check_fetch_url("http://127.0.0.1:8080/keys").is_ok());
        assert!(check_fetch_url("http://localhost:8080/keys").is_ok());
        assert!(check_fetch_url("http://[::1]:8080/keys").is_ok());
        assert!(check_fetch_url("http://10.0.0.5/keys").is_err());
        assert!(check_fetch_url("http://contoso.example/keys").is_err());
        assert!(check_fetch_url("ftp://contoso.example/keys").is_err());
        assert!(check_fetch_url("not a url").is_err());
    }

    /// A body sent in chunks without a length is read only up to the limit.
    #[tokio::test]
    async fn a_body_is_read_up_to_its_limit_and_no_further() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut head = [0u8; 1024];
                let _ = stream.read(&mut head).await.unwrap();
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")
                    .await;
                // 64 chunks of 1 KiB: 64 KiB in all.
                for _ in 0..64 {
                    let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
                    if stream.write_all(chunk.as_bytes()).await.is_err() {
                        break;
                    }
                }
                let _ = stream.write_all(b"0\r\n\r\n").await;
            }
        });
        let http = client().build().unwrap();
        let url = format!("http://127.0.0.1:{port}/");
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(
            read_capped(response, 16 * 1024).await,
            Err(BodyError::TooLarge(16 * 1024))
        );
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(
            read_capped(response, 64 * 1024).await.unwrap().len(),
            64 * 1024
        );
        server.await.unwrap();
    }

    #[test]
    fn credentials_in_a_url_are_refused_and_never_shown() {
        for url in [
            "https://user:hunter2@contoso.ciamlogin.com/t/v2.0",
            "http://user:hunter2@127.0.0.1:8080/",
            "https://:hunter2@contoso.example/",
            "https://hunter2@contoso.example/",
        ] {
            let error = check_fetch_url(url).unwrap_err();
            assert!(matches!(error, UnsafeUrl::Credentials(_)), "{url}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
            assert!(error.to_string().contains("***@"), "{error}");
        }
    }
}
