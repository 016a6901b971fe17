//! Every answer a user reads is in the user's language: negotiated from B2C's `ui_locales` or
//! Entra's `client.locale` / `market`, with the operator's own wording winning over ours.
//!
//! Expected texts come from the catalog through the library (so a better translation does not
//! break these tests); what is tested is which language and whose wording each answer carries.

use serde_json::{Value, json};
use signup_gate::messages::{Args, Language, Text};

use crate::helpers::{Launch, TestApp, json_answer};

const START: &str = "OnAttributeCollectionStart";
const SUBMIT: &str = "OnAttributeCollectionSubmit";

fn language(code: &str) -> Language {
    signup_gate::messages::Catalog::built_in()
        .from_code(code)
        .unwrap()
}

/// The catalog's text with the settings these tests run with.
fn catalog(code: &str, text: Text) -> String {
    catalog_for(code, text, "Contoso")
}

fn catalog_for(code: &str, text: Text, organization: &str) -> String {
    language(code).say(
        text,
        &Args {
            organization,
            domains: "fabrikam.com",
            min: 4,
            max: 128,
        },
    )
}

async fn b2c() -> TestApp {
    Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com")])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await
}

/// The `userMessage` of the connector's answer to `body`.
async fn user_message(app: &TestApp, body: Value) -> String {
    let (status, _, answer) = json_answer(app.sign_up(&body.to_string()).await).await;
    assert_eq!(status, 200, "{answer}");
    answer["userMessage"].as_str().unwrap().to_owned()
}

fn blocked(ui_locales: Option<&str>) -> Value {
    let mut body = json!({"email": "ada@contoso.com", "step": "PostFederationSignup"});
    if let Some(ui_locales) = ui_locales {
        body["ui_locales"] = Value::from(ui_locales);
    }
    body
}

/// `ui_locales`: the first tag the catalog has wins, in any case; a regional tag falls back to
/// its language; Chinese and Portuguese go by script or region; anything else is English.
#[tokio::test]
async fn b2c_answers_in_the_first_language_of_ui_locales_the_gate_speaks() {
    let app = b2c().await;
    for (ui_locales, expected) in [
        (Some("de-DE"), "de"),
        (Some("fr-CA"), "fr"),
        (Some("FR-ca"), "fr"),
        (Some("es-419"), "es"),
        (Some("zh-TW"), "zh-Hant"),
        (Some("zh-HK"), "zh-Hant"),
        (Some("zh-CN"), "zh-Hans"),
        (Some("zh-SG"), "zh-Hans"),
        (Some("zh-Hant"), "zh-Hant"),
        (Some("pt-BR"), "pt-BR"),
        (Some("pt-PT"), "pt-PT"),
        (Some("pt"), "pt-BR"),
        (Some("nb-NO"), "nb"),
        (Some("no"), "nb"),
        (Some("vi-VN ja-JP"), "ja"),
        (Some("x-pirate tlh en-GB de"), "en"),
        (Some("vi"), "en"),
        (Some("!!! ¿? de--DE"), "en"),
        (Some(""), "en"),
        (None, "en"),
    ] {
        assert_eq!(
            user_message(&app, blocked(ui_locales)).await,
            catalog(expected, Text::DomainNotAllowed),
            "{ui_locales:?}"
        );
    }
    // Not a string: no language, never an error.
    let mut body = blocked(None);
    body["ui_locales"] = json!(["de"]);
    assert_eq!(
        user_message(&app, body).await,
        catalog("en", Text::DomainNotAllowed)
    );
    app.logs_containing_all(&[
        "language=zh-Hant",
        "reason=domain_not_allowed email=a***@contoso.com step=PostFederationSignup language=pt-PT policy=default correlation_id=",
    ])
    .await;
}

/// Every shipped language has its own text for each message, with the organization and the
/// domains filled in, and the Job Title lengths in the validation errors.
#[tokio::test]
async fn every_shipped_language_answers_with_its_own_complete_texts() {
    let app = b2c().await;
    let mut seen = Vec::new();
    let mut codes = Vec::new();
    for language in signup_gate::messages::Catalog::built_in().languages() {
        let code = language.code();
        codes.push(code);
        let message = user_message(&app, blocked(Some(code))).await;
        assert_eq!(message, catalog(code, Text::DomainNotAllowed), "{code}");
        assert!(message.contains("fabrikam.com"), "{code}: {message}");
        assert!(message.contains("Contoso"), "{code}: {message}");
        assert!(!message.contains('{'), "{code}: {message}");
        assert!(!seen.contains(&message), "{code} repeats another language");
        seen.push(message);
        let short = json!({"email": "ada@fabrikam.com", "step": "PostAttributeCollection",
                           "jobTitle": "x", "ui_locales": code});
        let (status, _, answer) = json_answer(app.sign_up(&short.to_string()).await).await;
        assert_eq!(status, 400, "{code}");
        let message = answer["userMessage"].as_str().unwrap();
        assert_eq!(message, catalog(code, Text::JobTitleTooShort), "{code}");
        assert!(message.contains('4'), "{code}: {message}");
        let long = json!({"email": "ada@fabrikam.com", "step": "PostAttributeCollection",
                          "jobTitle": "x".repeat(129), "ui_locales": code});
        let (_, _, answer) = json_answer(app.sign_up(&long.to_string()).await).await;
        let message = answer["userMessage"].as_str().unwrap();
        assert!(message.contains("128"), "{code}: {message}");
        let missing = json!({"step": "PostFederationSignup", "ui_locales": code});
        assert_eq!(
            user_message(&app, missing).await,
            catalog(code, Text::EmailMandatory),
            "{code}"
        );
    }
    // At least the languages the gate promises; a language added later needs no change here.
    for promised in [
        "ar", "cs", "da", "de", "el", "en", "es", "fi", "fr", "he", "hu", "it", "ja", "ko", "nb",
        "nl", "pl", "pt-BR", "pt-PT", "ro", "ru", "sv", "th", "tr", "uk", "zh-Hans", "zh-Hant",
    ] {
        assert!(codes.contains(&promised), "{promised} is not shipped");
    }
}

fn event(name: &str, email: &str, locale: Option<&str>, market: Option<&str>) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    *event
        .pointer_mut("/data/userSignUpInfo/identities/0/issuerAssignedId")
        .unwrap() = Value::from(email);
    let client = event
        .pointer_mut("/data/authenticationContext/client")
        .unwrap()
        .as_object_mut()
        .unwrap();
    client.remove("locale");
    client.remove("market");
    if let Some(locale) = locale {
        client.insert("locale".into(), Value::from(locale));
    }
    if let Some(market) = market {
        client.insert("market".into(), Value::from(market));
    }
    event
}

/// The block page's title and message, or the validation error's messages.
fn texts(answer: &Value) -> Vec<String> {
    let action = &answer["data"]["actions"][0];
    let mut texts = vec![];
    for key in ["title", "message"] {
        if let Some(text) = action[key].as_str() {
            texts.push(text.to_owned());
        }
    }
    if let Some(errors) = action["attributeErrors"].as_object() {
        texts.extend(errors.values().map(|v| v.as_str().unwrap().to_owned()));
    }
    texts
}

/// Entra: `client.locale`, then `market`, else English; the block page and the validation
/// errors alike.
#[tokio::test]
async fn entra_answers_in_the_locale_then_the_market() {
    let app = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "fabrikam.com")])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    for (locale, market, expected) in [
        (Some("de-de"), Some("en-us"), "de"),
        (Some("vi-vn"), Some("ja-jp"), "ja"),
        (Some("not a tag"), Some("ko-kr"), "ko"),
        (None, Some("zh-tw"), "zh-Hant"),
        (Some("pt-pt"), None, "pt-PT"),
        (Some("vi-vn"), None, "en"),
        (None, None, "en"),
    ] {
        let (_, _, answer) = app
            .event(
                START,
                &event("start_documented", "ada@contoso.com", locale, market),
            )
            .await;
        assert_eq!(
            texts(&answer),
            [
                catalog(expected, Text::BlockPageTitle),
                catalog(expected, Text::BlockPageMessage)
            ],
            "{locale:?} {market:?}"
        );
        let mut submit = event("submit_documented", "ada@fabrikam.com", locale, market);
        *submit
            .pointer_mut("/data/userSignUpInfo/attributes/jobTitle/value")
            .unwrap() = Value::from("x");
        let (_, _, answer) = app.event(SUBMIT, &submit).await;
        let error = catalog(expected, Text::JobTitleTooShort);
        assert_eq!(
            texts(&answer),
            [error.clone(), error],
            "{locale:?} {market:?}"
        );
    }
    app.logs_containing("outcome=showValidationError reason=invalid_attributes email=a***@fabrikam.com language=ko policy=default")
        .await;
}

/// The operator's wording wins: a variant in the user's language, else the operator's own
/// text; what the operator did not word at all is ours, in the user's language, with the
/// organization's name in that language.
#[tokio::test]
async fn operator_wording_wins_over_the_catalog_in_every_language() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", "fabrikam.com"),
        ("ORGANIZATION_NAME", "City of Vienna"),
        ("ORGANIZATION_NAME_DE", "Stadt Wien"),
        (
            "BLOCK_PAGE_MESSAGE",
            "Please ask City Hall for an invitation.",
        ),
        (
            "BLOCK_PAGE_MESSAGE_DE",
            "Bitte fragen Sie das Rathaus nach einer Einladung.",
        ),
    ])
    .invitations("email,application_id,expires_at\n")
    .start()
    .await;
    for (locale, title, message) in [
        (
            "de-at",
            catalog_for("de", Text::BlockPageTitle, "Stadt Wien"),
            "Bitte fragen Sie das Rathaus nach einer Einladung.",
        ),
        (
            "fr-fr",
            catalog("fr", Text::BlockPageTitle),
            "Please ask City Hall for an invitation.",
        ),
        (
            "en-us",
            catalog("en", Text::BlockPageTitle),
            "Please ask City Hall for an invitation.",
        ),
    ] {
        let (_, _, answer) = app
            .event(
                START,
                &event("start_documented", "ada@contoso.com", Some(locale), None),
            )
            .await;
        assert_eq!(texts(&answer), [title, message.to_owned()], "{locale}");
    }
    // B2C's texts name the organization in the user's language.
    for (code, organization) in [("de", "Stadt Wien"), ("fr", "City of Vienna")] {
        assert_eq!(
            user_message(&app, blocked(Some(code))).await,
            catalog_for(code, Text::DomainNotAllowed, organization)
        );
    }
    // Without variants the operator's text is the same in every language.
    let plain = Launch::hosted(&[("BLOCK_PAGE_TITLE", "Members only")])
        .invitations("email,application_id,expires_at\n")
        .start()
        .await;
    for locale in ["de-de", "ja-jp", "ar-sa"] {
        let (_, _, answer) = plain
            .event(
                START,
                &event("start_documented", "ada@contoso.com", Some(locale), None),
            )
            .await;
        assert_eq!(answer["data"]["actions"][0]["title"], "Members only");
    }
}
