#![no_main]
//! The `Authorization` header of `SignUpValidation`: accepted exactly when it is `Basic` (any
//! case) and its base64 is the configured `username:password`, refused otherwise, never a panic.

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use signup_gate::callers::basic::BasicCredentials;
use warp::http::HeaderValue;

const USERNAME: &str = "gate-user";
const PASSWORD: &str = "s3cret:with:colons";

fuzz_target!(|data: &[u8]| {
    let Ok(header) = HeaderValue::from_bytes(data) else {
        return; // not a header the HTTP parser would hand over
    };
    let credentials = BasicCredentials::new(USERNAME, PASSWORD);
    let accepted = credentials.verify(Some(&header)).is_ok();
    assert_eq!(
        accepted,
        expected(data),
        "{:?}",
        String::from_utf8_lossy(data)
    );
});

/// Written apart from the product: scheme, spaces, then base64 (padding optional).
fn expected(header: &[u8]) -> bool {
    let text = header.trim_ascii();
    let Some(space) = text.iter().position(|&b| b == b' ') else {
        return false;
    };
    let (scheme, rest) = (&text[..space], text[space..].trim_ascii());
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return false;
    }
    let unpadded = rest
        .strip_suffix(b"==")
        .or(rest.strip_suffix(b"="))
        .unwrap_or(rest);
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD.decode(unpadded);
    let wanted = format!("{USERNAME}:{PASSWORD}");
    decoded.is_ok_and(|bytes| bytes == wanted.as_bytes())
}
