//! Proving who we are to the Table service with an account key: `SharedKeyLite` signatures (a
//! managed identity's bearer token comes from [`crate::identity`]).

use base64::Engine as _;
use time::OffsetDateTime;
use time::macros::format_description;

/// `SharedKeyLite` for the Table service: HMAC-SHA256 over `date \n /account/path`.
pub fn shared_key_lite(account: &str, key: &[u8], date: &str, path: &str) -> String {
    let string_to_sign = format!("{date}\n/{account}{path}");
    let signing_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let signature = ring::hmac::sign(&signing_key, string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(signature.as_ref());
    format!("SharedKeyLite {account}:{signature}")
}

/// RFC 1123 date as the service wants it in `x-ms-date`.
pub(super) fn http_date(now: OffsetDateTime) -> String {
    now.format(format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    ))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_key_lite_signs_the_documented_string() {
        // String-to-sign for SharedKeyLite (Table service): "<x-ms-date>\n/<account>/<path>".
        // The expected signature was computed independently (Python hmac/hashlib) for this
        // key, date and resource.
        let key = base64::engine::general_purpose::STANDARD
            .decode(
                "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
            )
            .unwrap();
        let header = shared_key_lite(
            "devstoreaccount1",
            &key,
            "Sun, 22 Nov 2026 06:00:00 GMT",
            "/devstoreaccount1/Invitations(PartitionKey='fabrikam.com',RowKey='ada')",
        );
        assert_eq!(
            header,
            "SharedKeyLite devstoreaccount1:FoLSRZiMkJCPq5nIiZ7GUraBxgI2vAnsPkIhThwR03E="
        );
    }

    #[test]
    fn dates_are_rfc_1123() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_327_200).unwrap();
        assert_eq!(http_date(at), "Sun, 22 Nov 2026 06:00:00 GMT");
    }
}
