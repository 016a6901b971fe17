//! The decision path of each function once its body has arrived (parse, invitation lookup,
//! policy, response), with 1,000 and 1,000,000 invitations in the file store (criterion).
//!
//! `cargo bench --bench decision_path`; under `cargo test` each benchmark runs once (smoke).
//! The million-invitation file takes a few seconds to write and load.

use std::io::Write as _;

// The event bodies the property tests and fuzz targets use.
#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod gate;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::json;
use signup_gate::auth_events::contract::Event;
use signup_gate::server::{AppState, RequestContext};
use signup_gate::settings::{Environment, Settings};
use signup_gate::{api_connector, auth_events};

/// An app over a file of `count` invitations, `user<i>@invited.example`.
fn app(count: usize, dir: &std::path::Path) -> AppState {
    let path = dir.join(format!("invitations-{count}.csv"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
    writeln!(
        file,
        "email,application_id,expires_at,displayName,!jobTitle"
    )
    .expect("write");
    for i in 0..count {
        writeln!(file, "user{i}@invited.example,,,User {i},Engineer").expect("write");
    }
    file.flush().expect("flush");
    let vars = [
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "7071"),
        ("API_CONNECTOR_AUTH", "none"),
        ("AUTH_EVENTS_TOKEN_VALIDATION", "none"),
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("INVITATIONS_FILE", path.to_str().expect("UTF-8 path")),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()));
    let env = Environment::capture(vars, dir).expect("environment");
    AppState::over_file(Settings::from_env(&env).expect("settings")).expect("store")
}

fn event(event: Event, email: &str) -> Vec<u8> {
    gate::event_body(event, &json!(email), &json!("Engineer"), &json!("a"))
        .to_string()
        .into_bytes()
}

fn decision_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let context = RequestContext {
        correlation_id: "bench".to_owned(),
        headers: Default::default(),
    };
    for count in [1_000, 1_000_000] {
        let state = app(count, dir.path());
        let mut group = c.benchmark_group(format!("decision_path/{count}_invitations"));
        for (who, email) in [
            ("invited", format!("user{}@invited.example", count / 2)),
            ("not_invited", "stranger@elsewhere.example".to_owned()),
        ] {
            let connector = json!({"email": email, "step": "PostAttributeCollection", "jobTitle": "Engineer", "ui_locales": "en-US"})
                .to_string()
                .into_bytes();
            let answer = api_connector::answer(&connector, &state, &context);
            assert_action(
                &runtime,
                answer,
                if who == "invited" {
                    "Continue"
                } else {
                    "ShowBlockPage"
                },
            );
            group.bench_function(BenchmarkId::new(api_connector::FUNCTION, who), |b| {
                b.iter(|| runtime.block_on(api_connector::answer(&connector, &state, &context)))
            });
            for kind in [Event::Start, Event::Submit] {
                let body = event(kind, &email);
                let answer = auth_events::answer(kind, &body, &state, &context);
                let expected = match (kind, who) {
                    (_, "not_invited") => "showBlockPage",
                    (Event::Start, _) => "setPrefillValues",
                    (Event::Submit, _) => "modifyAttributeValues",
                };
                assert_action(&runtime, answer, expected);
                group.bench_function(BenchmarkId::new(auth_events::function(kind), who), |b| {
                    b.iter(|| runtime.block_on(auth_events::answer(kind, &body, &state, &context)))
                });
            }
        }
        group.finish();
    }
}

/// Measures only what it claims to: the invited path admits, the other blocks.
fn assert_action(
    runtime: &tokio::runtime::Runtime,
    answer: impl Future<Output = warp::reply::Response>,
    action: &str,
) {
    let answer = gate::collect(runtime, answer);
    let text = String::from_utf8_lossy(&answer.body);
    assert!(
        text.contains(&format!("{action}\"")),
        "expected {action}: {text}"
    );
}

criterion_group!(benches, decision_path);
criterion_main!(benches);
