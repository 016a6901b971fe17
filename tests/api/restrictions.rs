//! Sign-up restrictions: disposable e-mail providers (the shipped list, a site's additions and
//! exceptions) and `+` sub-addresses, each switched on per application; an invitation for the
//! exact address still admits, a code does not.

use serde_json::{Value, json};
use signup_gate::messages::{Args, Catalog, Text};

use crate::codes::{action, add_code, cli, entra};
use crate::helpers::{Launch, TestApp, json_answer};

/// The application id of the Entra events (`codes::entra`), which has its own section below.
const PILOTS: &str = "44445555-eeee-6666-ffff-7777aaaa8888";
const START: &str = "OnAttributeCollectionStart";
const SUBMIT: &str = "OnAttributeCollectionSubmit";

/// A site's own list: one addition, one exception to the shipped list, comments.
const SITE_LIST: &str = "# Contoso's own disposable domains\nthrowaway.example  # seen in March\n\n!eu.mailinator.com\n";

/// The catalog's `address_blocked` in a language.
fn address_blocked(code: &str) -> String {
    say(code, Text::AddressBlocked)
}

fn say(code: &str, text: Text) -> String {
    Catalog::built_in().from_code(code).unwrap().say(
        text,
        &Args {
            organization: "Contoso",
            domains: "",
            min: 4,
            max: 128,
        },
    )
}

/// B2C's connector: the action and, for a block, its message.
async fn connector(app: &TestApp, email: &str, extra: Value) -> (String, Option<String>) {
    let mut body = json!({"email": email, "step": "PostFederationSignup"});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let (_, _, answer) = json_answer(app.sign_up(&body.to_string()).await).await;
    (
        answer["action"].as_str().unwrap().to_owned(),
        answer["userMessage"].as_str().map(str::to_owned),
    )
}

/// Entra's Start for `email` in `locale`: the action's name and the whole action.
async fn start(app: &TestApp, email: &str, locale: &str) -> (String, Value) {
    let mut event = entra("Start", Some(email), None, "r-1");
    event["data"]["authenticationContext"]["client"]["locale"] = Value::from(locale);
    let (status, _, answer) = app.event(START, &event).await;
    assert_eq!(status, 200, "{answer}");
    action(&answer)
}

/// Open sign-up with disposable providers refused: the shipped list and its subdomains, the
/// site's addition refused and its exception admitted, at Entra's Start and at B2C's connector,
/// each in the user's language; an invitation for the exact address still admits.
#[tokio::test]
async fn disposable_domains_and_their_subdomains_are_refused_unless_invited_or_excepted() {
    let launch = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", "*"),
        ("BLOCK_DISPOSABLE_DOMAINS", "true"),
        ("DISPOSABLE_DOMAINS_FILE", "disposable.txt"),
    ])
    .invitations("email,application_id,expires_at\nada@mailinator.com,,\n");
    std::fs::write(launch.dir.join("disposable.txt"), SITE_LIST).unwrap();
    let app = launch.start().await;
    app.logs_containing("disposable domains: disposable-email-domains 0.0.")
        .await;
    app.logs_containing("with disposable.txt (1 addition, 1 exception)")
        .await;
    for (email, refused) in [
        ("bob@mailinator.com", true),
        ("bob@x.mailinator.com", true),
        ("Bob@MAILINATOR.com.", true),
        ("bob@a.b.mailinator.com", true),
        ("bob@throwaway.example", true),
        ("bob@news.throwaway.example", true),
        ("bob@eu.mailinator.com", false),
        ("bob@x.eu.mailinator.com", false),
        ("bob@contoso.com", false),
        ("bob@xmailinator.com", false),
        // Invited exactly: an administrator chose that person.
        ("ada@mailinator.com", false),
    ] {
        let (b2c, message) = connector(&app, email, json!({})).await;
        let (entra, answer) = start(&app, email, "en-us").await;
        if refused {
            assert_eq!(
                (b2c.as_str(), message),
                ("ShowBlockPage", Some(address_blocked("en"))),
                "{email}"
            );
            assert_eq!(entra, "showBlockPage", "{email}");
            assert_eq!(answer["message"], address_blocked("en"), "{email}");
            assert_eq!(answer["title"], say("en", Text::BlockPageTitle), "{email}");
        } else {
            assert_eq!((b2c.as_str(), message), ("Continue", None), "{email}");
            assert_eq!(entra, "continueWithDefaultBehavior", "{email}: {answer}");
        }
    }
    app.logs_containing_all(&[
        "outcome=ShowBlockPage reason=disposable_domain email=b***@mailinator.com",
        "reason=disposable_domain email=b***@news.throwaway.example",
        "reason=invitation email=a***@mailinator.com",
    ])
    .await;
    // The message in the user's language: B2C's ui_locales, Entra's client.locale.
    for (ui_locales, code) in [("de-DE", "de"), ("ja", "ja"), ("fr-CA, en", "fr")] {
        let (_, message) = connector(
            &app,
            "bob@mailinator.com",
            json!({"ui_locales": ui_locales}),
        )
        .await;
        assert_eq!(message, Some(address_blocked(code)), "{ui_locales}");
    }
    for (locale, code) in [("de-de", "de"), ("pt-br", "pt-BR"), ("ar-sa", "ar")] {
        let (_, answer) = start(&app, "bob@throwaway.example", locale).await;
        assert_eq!(answer["message"], address_blocked(code), "{locale}");
        assert_eq!(answer["title"], say(code, Text::BlockPageTitle), "{locale}");
    }
    // The CLI explains each outcome: the list and where the entry is written.
    let (status, stdout, _) = cli(&app, &["invitations", "check", "bob@x.mailinator.com"]);
    assert_eq!(status, 1, "{stdout}");
    assert!(
        stdout.contains("\ndisposable domains: refused (disposable-email-domains 0.0."),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "\nthis domain: disposable, a subdomain of mailinator.com, on the shipped list (disposable-email-domains 0.0."
        ),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!(
            "\nblocked (disposable_domain): {}\n",
            address_blocked("en")
        )),
        "{stdout}"
    );
    let (status, stdout, _) = cli(&app, &["invitations", "check", "bob@x.eu.mailinator.com"]);
    assert_eq!(status, 0, "{stdout}");
    assert!(
        stdout.contains(
            "\nthis domain: not disposable, excepted as !eu.mailinator.com (disposable.txt line 4)\nadmitted (allowed_domain)\n"
        ),
        "{stdout}"
    );
    let (status, stdout, _) = cli(&app, &["invitations", "check", "bob@throwaway.example"]);
    assert_eq!(status, 1, "{stdout}");
    assert!(
        stdout.contains(
            "\nthis domain: disposable, on disposable.txt line 2\nblocked (disposable_domain): "
        ),
        "{stdout}"
    );
    let (status, stdout, _) = cli(&app, &["invitations", "check", "ada@mailinator.com"]);
    assert_eq!(status, 0, "{stdout}");
    assert!(stdout.ends_with("\nadmitted (invitation)\n"), "{stdout}");
}

/// Sub-addresses, plain or quoted, are refused with the switch on; an invitation admits its
/// exact address only. With the switch off (the default) they and disposable domains pass.
#[tokio::test]
async fn sub_addresses_are_refused_with_the_switch_on_and_admitted_with_it_off() {
    let invited = "email,application_id,expires_at\nada+news@contoso.com,,\n";
    let on = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", "*"),
        ("BLOCK_SUBADDRESSES", "True"),
    ])
    .invitations(invited)
    .start()
    .await;
    let off = Launch::hosted(&[("ALLOWED_EMAIL_DOMAINS", "*")])
        .invitations(invited)
        .start()
        .await;
    for (email, refused) in [
        ("bob+shop@contoso.com", true),
        ("Bob+Shop@contoso.com", true),
        ("\"bob+shop\"@contoso.com", true),
        ("\"b\\ob+x\"@contoso.com", true),
        ("bob+@contoso.com", true),
        ("ada+other@contoso.com", true),
        ("bob@contoso.com", false),
        ("bob-shop@contoso.com", false),
        ("\"bob shop\"@contoso.com", false),
        // Invited exactly.
        ("ada+news@contoso.com", false),
    ] {
        let expected = if refused {
            ("ShowBlockPage".to_owned(), Some(address_blocked("en")))
        } else {
            ("Continue".to_owned(), None)
        };
        assert_eq!(connector(&on, email, json!({})).await, expected, "{email}");
        assert_eq!(
            connector(&off, email, json!({})).await,
            ("Continue".to_owned(), None),
            "{email}"
        );
    }
    for (email, refused) in [
        ("bob+shop@contoso.com", true),
        ("\"bob+shop\"@contoso.com", true),
        ("ada+news@contoso.com", false),
    ] {
        let (name, answer) = start(&on, email, "nl-nl").await;
        if refused {
            assert_eq!(name, "showBlockPage", "{email}");
            assert_eq!(answer["message"], address_blocked("nl"), "{email}");
        } else {
            assert_eq!(name, "continueWithDefaultBehavior", "{email}");
        }
        let (name, _) = start(&off, email, "nl-nl").await;
        assert_eq!(name, "continueWithDefaultBehavior", "{email}");
    }
    // Off is the default, for the disposable list too.
    assert_eq!(
        connector(&off, "bob@mailinator.com", json!({})).await.0,
        "Continue"
    );
    for code in ["sv", "zh-Hant", "ko"] {
        let (_, message) = connector(&on, "bob+x@contoso.com", json!({"ui_locales": code})).await;
        assert_eq!(message, Some(address_blocked(code)), "{code}");
    }
    on.logs_containing_all(&[
        "reason=subaddress_blocked email=b***@contoso.com",
        "reason=invitation email=a***@contoso.com",
        "sub-addresses refused",
    ])
    .await;
    let (status, stdout, _) = cli(&on, &["invitations", "check", "bob+shop@contoso.com"]);
    assert_eq!(status, 1, "{stdout}");
    assert!(
        stdout.ends_with(&format!(
            "\nsub-addresses: refused\nthis address: has a sub-address ('+' after the mailbox)\nblocked (subaddress_blocked): {}\n",
            address_blocked("en")
        )),
        "{stdout}"
    );
    let (status, stdout, _) = cli(&off, &["invitations", "check", "bob+shop@mailinator.com"]);
    assert_eq!(status, 0, "{stdout}");
    assert!(
        stdout.ends_with(
            " (not refused: BLOCK_DISPOSABLE_DOMAINS, block_disposable_domains, is off for these rules)\n\
             this address: has a sub-address ('+' after the mailbox) (not refused: BLOCK_SUBADDRESSES, \
             block_subaddresses, is off for these rules)\nadmitted (allowed_domain)\n"
        ),
        "{stdout}"
    );
}

/// Each application has its own switches in the policy file, over the settings'.
#[tokio::test]
async fn each_application_has_its_own_restrictions_from_the_policy_file() {
    let launch = Launch::hosted(&[
        ("POLICY_FILE", "policy.toml"),
        ("BLOCK_SUBADDRESSES", "true"),
    ]);
    std::fs::write(
        launch.dir.join("policy.toml"),
        format!(
            "[default]\nallowed_domains = [\"*\"]\nblock_disposable_domains = true\n\n\
             [applications.\"{PILOTS}\"]\nblock_disposable_domains = false\nblock_subaddresses = false\n"
        ),
    )
    .unwrap();
    let app = launch.start().await;
    let pilots = json!({"client_id": PILOTS});
    for (email, default, for_pilots) in [
        ("bob@mailinator.com", "ShowBlockPage", "Continue"),
        ("bob+x@contoso.com", "ShowBlockPage", "Continue"),
        ("bob@contoso.com", "Continue", "Continue"),
    ] {
        assert_eq!(
            connector(&app, email, json!({})).await.0,
            default,
            "{email}"
        );
        assert_eq!(
            connector(&app, email, pilots.clone()).await.0,
            for_pilots,
            "{email}"
        );
        // Entra's events name the pilots' application.
        let expected = if for_pilots == "Continue" {
            "continueWithDefaultBehavior"
        } else {
            "showBlockPage"
        };
        assert_eq!(start(&app, email, "en-us").await.0, expected, "{email}");
    }
    app.logs_containing_all(&[
        "reason=disposable_domain email=b***@mailinator.com step=PostFederationSignup language=en policy=default",
        "reason=subaddress_blocked email=b***@contoso.com step=PostFederationSignup language=en policy=default",
        &format!("reason=allowed_domain email=b***@mailinator.com step=PostFederationSignup language=en policy={PILOTS}"),
    ])
    .await;
    let (status, stdout, _) = cli(
        &app,
        &[
            "invitations",
            "check",
            "bob+x@mailinator.com",
            "--language",
            "de",
        ],
    );
    assert_eq!(status, 1, "{stdout}");
    assert!(
        stdout.contains("\ndisposable domains: refused (")
            && stdout.contains("\nsub-addresses: refused\n")
            && stdout.ends_with(&format!(
                "\nblocked (disposable_domain): {}\n",
                address_blocked("de")
            )),
        "{stdout}"
    );
    let (status, stdout, _) = cli(
        &app,
        &[
            "invitations",
            "check",
            "bob+x@mailinator.com",
            "--app",
            PILOTS,
        ],
    );
    assert_eq!(status, 0, "{stdout}");
    assert!(
        !stdout.contains("refused (") && stdout.ends_with("\nadmitted (allowed_domain)\n"),
        "{stdout}"
    );
}

/// A valid code admits only past the deny-lists: a disposable or sub-addressed address is refused
/// at Start, before the page, and at Submit with a code in hand.
#[tokio::test]
async fn a_code_does_not_get_a_disposable_or_sub_addressed_address_past_the_restrictions() {
    let app = Launch::hosted(&[
        ("ALLOWED_EMAIL_DOMAINS", ""),
        ("BLOCK_DISPOSABLE_DOMAINS", "true"),
        ("BLOCK_SUBADDRESSES", "true"),
        ("INVITATION_CODE_ATTRIBUTE", "InvitationCode"),
    ])
    .invitations("email,application_id,expires_at\n")
    .start()
    .await;
    let (_, code) = add_code(&app, &["--uses", "unlimited"]);
    app.logs_containing("reloaded 1 invitation(s) from invitations.csv")
        .await;
    for (email, reason) in [
        ("bob@mailinator.com", "disposable_domain"),
        ("bob+x@contoso.com", "subaddress_blocked"),
    ] {
        assert_eq!(start(&app, email, "en-us").await.0, "showBlockPage");
        let (_, _, answer) = app
            .event(SUBMIT, &entra("Submit", Some(email), Some(&code), "r-2"))
            .await;
        let (name, refused) = action(&answer);
        assert_eq!(name, "showBlockPage", "{email}: {answer}");
        assert_eq!(refused["message"], address_blocked("en"));
        app.logs_containing(&format!("outcome=showBlockPage reason={reason} "))
            .await;
    }
    // The same code admits an address no restriction refuses.
    let (_, _, answer) = app
        .event(
            SUBMIT,
            &entra("Submit", Some("bob@contoso.com"), Some(&code), "r-3"),
        )
        .await;
    assert_eq!(action(&answer).0, "modifyAttributeValues", "{answer}");
}

/// The server must not run on a list the operator did not write: a missing or bad site file at
/// start-up is a configuration error naming the file and each bad line.
#[test]
fn a_missing_or_bad_disposable_domains_file_stops_start_up() {
    let missing = Launch::hosted(&[("DISPOSABLE_DOMAINS_FILE", "disposable.txt")]);
    let (status, output) = missing.run_to_exit();
    assert_eq!(status.code(), Some(78), "{}", output.all());
    assert!(
        output.all().contains(
            "configuration error: DISPOSABLE_DOMAINS_FILE names disposable.txt, which cannot be read: No such file"
        ),
        "{}",
        output.all()
    );
    let bad = Launch::hosted(&[("DISPOSABLE_DOMAINS_FILE", "disposable.txt")]);
    std::fs::write(
        bad.dir.join("disposable.txt"),
        "throwaway.example\n*.wild.example\n!throwaway.example\n",
    )
    .unwrap();
    let (status, output) = bad.run_to_exit();
    assert_eq!(status.code(), Some(78), "{}", output.all());
    assert!(
        output.all().contains(
            "configuration error: DISPOSABLE_DOMAINS_FILE names disposable.txt, which has problems: \
             line 2: \"*.wild.example\": write \"wild.example\" alone, an entry covers its subdomains too; \
             line 3: throwaway.example is an exception here but an addition on line 1"
        ),
        "{}",
        output.all()
    );
}
