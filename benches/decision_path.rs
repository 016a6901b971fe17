//! The decision path of each function once its body has arrived (parse, invitation lookup,
//! policy, response), with 1,000 and 1,000,000 invitations in the file store (criterion).
//!
//! And the answer when the store never answers (at the decision deadline), and the look-up of
//! an address's domain in the disposable providers' list.
//!
//! `cargo bench --bench decision_path`; under `cargo test` each benchmark runs once (smoke).
//! The million-invitation file takes a few seconds to write and load.

use std::hint::black_box;
use std::io::Write as _;

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::future::BoxFuture;
use serde_json::json;
use signup_gate::domain::email::EmailAddress;
use signup_gate::domain::invitation::Invitation;
use signup_gate::functions::{
    Function, OnAttributeCollectionStart, OnAttributeCollectionSubmit, OnTokenIssuanceStart,
    SignUpValidation,
};
use signup_gate::invitations::{InvitationStore, StoreError};
use signup_gate::policy::disposable::DisposableDomains;
use signup_gate_testkit::events::{Event, event_body, token_event};
use signup_gate_testkit::harness::Harness;

/// The functions over a file of `count` invitations, `user<i>@invited.example`.
fn harness(count: usize, dir: &std::path::Path) -> Harness {
    let path = dir.join(format!("invitations-{count}.csv"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
    writeln!(
        file,
        "email,application_id,expires_at,displayName,!jobTitle,claim:department,claim:app_roles[]"
    )
    .expect("write");
    for i in 0..count {
        writeln!(
            file,
            "user{i}@invited.example,,,User {i},Engineer,Ops,Pilot;Dispatcher"
        )
        .expect("write");
    }
    file.flush().expect("flush");
    Harness::over_file(&path, "")
}

fn event(event: Event, email: &str) -> Vec<u8> {
    event_body(event, &json!(email), &json!("Engineer"), &json!("a"))
        .to_string()
        .into_bytes()
}

fn decision_path(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    for count in [1_000, 1_000_000] {
        let harness = harness(count, dir.path());
        let mut group = c.benchmark_group(format!("decision_path/{count}_invitations"));
        for (who, email) in [
            ("invited", format!("user{}@invited.example", count / 2)),
            ("not_invited", "stranger@elsewhere.example".to_owned()),
        ] {
            let connector = json!({"email": email, "step": "PostAttributeCollection", "jobTitle": "Engineer", "ui_locales": "en-US"})
                .to_string()
                .into_bytes();
            let token = token_event(&json!(email), &json!("a"))
                .to_string()
                .into_bytes();
            let cases: [(&dyn Function, Vec<u8>, &str); 4] = [
                (
                    &SignUpValidation,
                    connector,
                    if who == "invited" {
                        "Continue\""
                    } else {
                        "ShowBlockPage\""
                    },
                ),
                (
                    &OnAttributeCollectionStart,
                    event(Event::Start, &email),
                    if who == "invited" {
                        "setPrefillValues\""
                    } else {
                        "showBlockPage\""
                    },
                ),
                (
                    &OnAttributeCollectionSubmit,
                    event(Event::Submit, &email),
                    if who == "invited" {
                        "modifyAttributeValues\""
                    } else {
                        "showBlockPage\""
                    },
                ),
                (
                    &OnTokenIssuanceStart,
                    token,
                    if who == "invited" {
                        "\"app_roles\":[\"Pilot\",\"Dispatcher\"]"
                    } else {
                        "\"claims\":{}"
                    },
                ),
            ];
            for (function, body, action) in cases {
                // Measures only what it claims to: the invited path admits, the other blocks.
                let text = String::from_utf8(harness.answer(function, &body).body).expect("UTF-8");
                assert!(text.contains(action), "expected {action}: {text}");
                group.bench_function(BenchmarkId::new(function.name(), who), |b| {
                    b.iter(|| harness.answer(function, &body))
                });
            }
        }
        group.finish();
    }
}

/// A store that never answers: every decision that needs it ends at the decision deadline, with
/// "try again later" (or, for a token, 503). What the black-box tests assert as behaviour
/// (tests/api/table_store.rs, token_issuance.rs) is timed here: the answer should come at the
/// deadline plus the decision's own few microseconds, never later.
struct Hanging;

impl InvitationStore for Hanging {
    fn find<'a>(
        &'a self,
        _: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        Box::pin(std::future::pending())
    }
}

fn hanging_store(c: &mut Criterion) {
    const DEADLINE: Duration = Duration::from_millis(50);
    let harness = Harness::over_store(Arc::new(Hanging), "", DEADLINE);
    let mut group = c.benchmark_group("hanging_store/deadline_50ms");
    group.sample_size(10);
    let email = "ada@contoso.com";
    let cases: [(&dyn Function, Vec<u8>, &str); 2] = [
        (
            &OnAttributeCollectionStart,
            event(Event::Start, email),
            "Please try again later",
        ),
        (
            &OnTokenIssuanceStart,
            token_event(&json!(email), &json!("a"))
                .to_string()
                .into_bytes(),
            "store_unavailable",
        ),
    ];
    for (function, body, answer) in cases {
        let text = String::from_utf8(harness.answer(function, &body).body).expect("UTF-8");
        assert!(text.contains(answer), "expected {answer}: {text}");
        group.bench_function(function.name(), |b| {
            b.iter(|| harness.answer(function, &body))
        });
    }
    group.finish();
}

/// `BLOCK_DISPOSABLE_DOMAINS`' look-up on the request path: the shipped list with a site's file,
/// asked for a listed domain, a subdomain of one (three look-ups) and a domain that is not
/// listed at any level (three look-ups, the most an address of that shape costs).
fn disposable_lookup(c: &mut Criterion) {
    let list =
        DisposableDomains::with_site_file("throwaway.example\n!eu.mailinator.com\n", "d.txt")
            .expect("a valid site file");
    let mut group = c.benchmark_group("disposable_lookup");
    for (name, address, disposable) in [
        ("listed", "ada@mailinator.com", true),
        ("subdomain", "ada@a.b.mailinator.com", true),
        ("excepted", "ada@x.eu.mailinator.com", false),
        ("not_listed", "ada@mail.eu.contoso.com", false),
    ] {
        let email = EmailAddress::parse(address).expect("an address");
        // Measures only what it claims to.
        assert_eq!(list.contains(&email), disposable, "{address}");
        group.bench_function(name, |b| b.iter(|| list.contains(black_box(&email))));
    }
    group.finish();
}

criterion_group!(benches, decision_path, hanging_store, disposable_lookup);
criterion_main!(benches);
