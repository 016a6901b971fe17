//! Properties that must hold for every input of a kind, not just the examples the other tests
//! pick: e-mail parsing, domain matching, the invitation file's round trip, and the answers of
//! each contract for every kind of decision.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;
use signup_gate::domain::email::EmailAddress;
use signup_gate::domain::invitation::{
    ApplicationId, ClaimValue, Expiry, Invitation, InvitationAttribute, InvitationClaim,
    InvitationKey, InvitationParts, ValueType,
};
use signup_gate::invitations::StoredInvitation;
use signup_gate::invitations::csv::{InvitationFile, Row};
use signup_gate::policy::domains::DomainList;
use signup_gate_testkit::events::{Event, event_body};
use signup_gate_testkit::harness::{check_event_answer, harness};

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
}

fn domain() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..4), "[a-z]{2,6}")
        .prop_map(|(labels, top)| format!("{}.{top}", labels.join(".")))
}

fn local_part() -> impl Strategy<Value = String> {
    "[a-z0-9_%+-]{1,10}(\\.[a-z0-9_%+-]{1,10}){0,2}"
}

fn address() -> impl Strategy<Value = (String, String)> {
    (local_part(), domain())
}

/// Mixes the case of ASCII letters by a bit pattern.
fn mix_case(text: &str, pattern: u64) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if pattern >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// Characters that Unicode case mapping relates to each other (and, for some, to ASCII letters).
const FAMILIES: &[&str] = &[
    "kK\u{212A}",
    "sS\u{17F}",
    "iI\u{130}\u{131}",
    "\u{DF}\u{1E9E}",
    "\u{3A3}\u{3C3}\u{3C2}",
    "aA",
    "\u{C5}\u{E5}\u{212B}",
];

proptest! {
    #[test]
    fn valid_addresses_parse_to_their_lower_case_form(
        (local, domain) in address(),
        pattern in any::<u64>(),
        padding in "[ \t]{0,2}",
    ) {
        let written = format!("{padding}{}{padding}", mix_case(&format!("{local}@{domain}"), pattern));
        let email = EmailAddress::parse(&written).unwrap();
        prop_assert_eq!(email.as_str(), format!("{local}@{domain}"));
        prop_assert_eq!(email.domain(), domain.as_str());
        // Logs show the first character and the domain, nothing more of the local part.
        let masked = email.masked().to_string();
        let expected = format!("{}***@{domain}", &local[..1]);
        prop_assert_eq!(masked, expected);
    }

    #[test]
    fn whatever_parses_is_a_plain_normalised_address(input in any::<String>()) {
        if let Ok(email) = EmailAddress::parse(&input) {
            let text = email.as_str();
            prop_assert!(text.len() <= 254);
            prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
            prop_assert!(!email.domain().contains('@'));
            prop_assert!(email.domain().contains('.'));
            prop_assert_eq!(EmailAddress::parse(text).unwrap(), email.clone());
        }
    }

    /// Case folding is ASCII only: a look-alike (the Kelvin sign, whose Unicode lower case is
    /// `k`; the dotted capital I; the long s; the capital sharp s) never takes another address's
    /// place. `b` swaps characters of `a` for others of their Unicode case family.
    #[test]
    fn addresses_that_differ_other_than_in_ascii_case_never_compare_equal(
        a in prop::collection::vec((0..FAMILIES.len(), any::<usize>()), 1..6),
        swaps in prop::collection::vec(any::<usize>(), 6),
        domain in domain(),
    ) {
        let family = |index: usize| FAMILIES[index].chars().collect::<Vec<_>>();
        let first: String = a.iter().map(|&(f, pick)| family(f)[pick % family(f).len()]).collect();
        let second: String = a
            .iter()
            .zip(&swaps)
            .map(|(&(f, _), &pick)| family(f)[pick % family(f).len()])
            .collect();
        let parse = |local: &str| EmailAddress::parse(&format!("{local}@{domain}")).unwrap();
        prop_assert_eq!(
            parse(&first) == parse(&second),
            first.eq_ignore_ascii_case(&second),
            "{:?} {:?}", first, second
        );
    }

    #[test]
    fn addresses_without_a_usable_domain_never_parse(local in local_part(), domain in "[a-z0-9-]{0,12}") {
        // One label is not a domain we admit.
        let text1 = format!("{local}@{domain}");
        prop_assert!(EmailAddress::parse(&text1).is_err());
        prop_assert!(EmailAddress::parse(&local).is_err());
    }

    #[test]
    fn an_exact_domain_rule_allows_that_domain_only(
        local in local_part(),
        allowed in domain(),
        sub in label(),
        other in label(),
        pattern in any::<u64>(),
    ) {
        let rules = DomainList::parse(&mix_case(&allowed, pattern)).unwrap();
        let allows = |domain: &str| rules.contains(&EmailAddress::parse(&format!("{local}@{domain}")).unwrap());
        prop_assert!(allows(&allowed));
        prop_assert!(allows(&mix_case(&allowed, !pattern)));
        let text2 = format!("{sub}.{allowed}");
        prop_assert!(!allows(&text2));
        // Look-alikes: a longer name ending the same, the domain under another one.
        let text3 = format!("{other}{allowed}");
        prop_assert!(!allows(&text3));
        let text4 = format!("{allowed}.{other}x");
        prop_assert!(!allows(&text4));
    }

    #[test]
    fn a_wildcard_rule_allows_subdomains_only(
        local in local_part(),
        parent in domain(),
        sub in label(),
        other in label(),
    ) {
        let rules = DomainList::parse(&format!("*.{parent}")).unwrap();
        let allows = |domain: &str| rules.contains(&EmailAddress::parse(&format!("{local}@{domain}")).unwrap());
        let text5 = format!("{sub}.{parent}");
        prop_assert!(allows(&text5));
        let text6 = format!("{other}.{sub}.{parent}");
        prop_assert!(allows(&text6));
        prop_assert!(!allows(&parent));
        let text7 = format!("{sub}{parent}");
        prop_assert!(!allows(&text7));
    }
}

fn invitation() -> impl Strategy<Value = InvitationParts> {
    let value = prop_oneof![
        "[^\r]{1,20}".prop_map(|text| (ValueType::String, text)),
        any::<i64>().prop_map(|number| (ValueType::Integer, number.to_string())),
        prop::sample::select(vec!["true", "false", "TRUE", "False"])
            .prop_map(|flag| (ValueType::Boolean, flag.to_owned())),
    ];
    let attribute = ("[a-zA-Z][a-zA-Z0-9_]{0,8}", any::<bool>(), value);
    // Claim names with a prefix no reserved claim has; list items without `;` (the separator)
    // and without `,` (which B2C would read as a separator).
    let claim_value = prop_oneof![
        "[^\r]{1,20}".prop_map(|text| (false, vec![text])),
        prop::collection::vec("[^;,\r]{1,8}", 1..4).prop_map(|items| (true, items)),
    ];
    let claim = ("c_[a-zA-Z0-9_.-]{0,8}", claim_value);
    (
        prop::option::of(
            "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        ),
        prop::option::of(0i64..4_102_444_800),
        prop::collection::vec(attribute, 0..4),
        prop::collection::vec(claim, 0..3),
    )
        .prop_map(|(application, expires, attributes, claims)| {
            let mut seen = Vec::new();
            let attributes = attributes
                .into_iter()
                // One value per attribute name (names are matched in any case).
                .filter(|(name, _, _)| {
                    let fresh = !seen.contains(&name.to_ascii_lowercase());
                    seen.push(name.to_ascii_lowercase());
                    fresh
                })
                .filter(|(_, _, (_, value))| !value.trim().is_empty())
                .filter_map(|(name, enforced, (kind, value))| {
                    InvitationAttribute::new(name.as_str(), value.trim(), enforced, kind).ok()
                })
                .collect();
            let mut names = Vec::new();
            let claims = claims
                .into_iter()
                .filter(|(name, _)| {
                    let fresh = !names.contains(&name.to_ascii_lowercase());
                    names.push(name.to_ascii_lowercase());
                    fresh
                })
                .filter_map(|(name, (list, items))| {
                    let items: Vec<Box<str>> = items
                        .iter()
                        .map(|item| item.trim())
                        .filter(|item| !item.is_empty())
                        .map(Into::into)
                        .collect();
                    let value = match (list, items.as_slice()) {
                        (_, []) => return None,
                        (false, [one]) => ClaimValue::One(one.clone()),
                        (false, _) => return None,
                        (true, _) => ClaimValue::Many(items.into()),
                    };
                    Some(InvitationClaim {
                        name: Arc::from(name.as_str()),
                        value,
                    })
                })
                .collect();
            InvitationParts {
                application_id: application.map(|id| ApplicationId::parse(&id).unwrap()),
                expires_at: expires.map(Expiry),
                attributes,
                claims,
                ..InvitationParts::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_invitation_file_reads_back_what_was_written(
        rows in prop::collection::btree_map(address(), invitation(), 0..12),
    ) {
        let mut file = InvitationFile { rows: Vec::new() };
        for ((local, domain), parts) in rows {
            let email = EmailAddress::parse(&format!("{local}@{domain}")).unwrap();
            let key = InvitationKey::Email(email);
            // Parts the checks refuse (two spellings of one attribute, claims too large) are
            // not invitations.
            let Ok(invitation) = Invitation::new(parts, &key) else { continue };
            let entry = StoredInvitation { key, invitation, signed_up: None };
            file.rows.push(Row { entry, line: 0, fresh: false });
        }
        let Ok(written) = file.to_csv() else {
            // The only refusals: one attribute name used both enforced and not, or in two types,
            // or a text attribute, not enforced, named like one of the file's own columns (it
            // would be read back as that column); one claim name both a list and not.
            let names: Vec<_> = file.rows.iter().flat_map(|row| row.entry.invitation.attributes().iter()).collect();
            let claims: Vec<_> = file.rows.iter().flat_map(|row| row.entry.invitation.claims().iter()).collect();
            let list = |claim: &InvitationClaim| matches!(claim.value, ClaimValue::Many(_));
            let columns = [
                "email", "application_id", "expires_at", "id", "code_sha256", "uses", "used",
                "use_keys", "revoked_at", "signed_up_at", "signed_up_application",
            ];
            prop_assert!(names.iter().any(|a| names.iter().any(|b| a.name().eq_ignore_ascii_case(b.name())
                && (a.enforced() != b.enforced() || a.kind() != b.kind())))
                || names.iter().any(|a| !a.enforced() && a.kind() == ValueType::String
                    && columns.iter().any(|column| a.name().eq_ignore_ascii_case(column)))
                || claims.iter().any(|a| claims.iter().any(|b| a.name.eq_ignore_ascii_case(&b.name) && list(a) != list(b))));
            return Ok(());
        };
        let again = InvitationFile::parse(&written).unwrap();
        prop_assert_eq!(again.rows.len(), file.rows.len());
        // Attribute names are one column whatever their case, spelled as first written, and
        // columns (so attributes) come in order of first appearance in the file.
        let folded = |invitation: &Invitation| {
            let mut parts = invitation.clone().into_parts();
            parts.attributes = parts
                .attributes
                .iter()
                .map(|a| {
                    InvitationAttribute::new(a.name().to_ascii_lowercase(), a.value(), a.enforced(), a.kind())
                        .unwrap()
                })
                .collect();
            parts.attributes.sort_by(|a, b| a.name().cmp(b.name()));
            for claim in parts.claims.iter_mut() {
                claim.name = Arc::from(claim.name.to_ascii_lowercase());
            }
            parts.claims.sort_by(|a, b| a.name.cmp(&b.name));
            parts
        };
        for (before, after) in file.rows.iter().zip(&again.rows) {
            prop_assert_eq!(&before.entry.key, &after.entry.key);
            prop_assert_eq!(
                format!("{:?}", folded(&before.entry.invitation)),
                format!("{:?}", folded(&after.entry.invitation))
            );
        }
    }
}

/// Every kind of address the policy tells apart (see `harness::INVITATIONS`).
fn any_email() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(json!("ada@invited.example")),
        Just(json!("ADA@Invited.Example")),
        Just(json!("old@invited.example")),
        Just(json!("app@invited.example")),
        Just(json!("someone@fabrikam.com")),
        Just(json!("someone@team.contoso.com")),
        Just(json!("someone@contoso.com")),
        Just(json!("nobody@elsewhere.example")),
        Just(json!("not an address")),
        Just(json!("")),
        Just(json!(42)),
        Just(serde_json::Value::Null),
    ]
}

fn any_job_title() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        Just(json!("Eng")),
        Just(json!("Engineer")),
        Just(json!("")),
        Just(json!(7)),
        "[a-z]{129,140}".prop_map(serde_json::Value::from),
    ]
}

fn any_application() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        Just(json!("00000000-0000-0000-0000-00000000000a")),
        Just(json!("00000000-0000-0000-0000-00000000000b")),
    ]
}

/// Whether the policy must admit this address at all (job title aside).
fn admissible(email: &serde_json::Value, application: &serde_json::Value) -> bool {
    match email.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("ada@invited.example" | "someone@fabrikam.com" | "someone@team.contoso.com") => true,
        // An invitation for one application needs the caller to name it (fail closed).
        Some("app@invited.example") => application == "00000000-0000-0000-0000-00000000000a",
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_connector_decision_is_a_valid_connector_answer(
        email in any_email(),
        job_title in any_job_title(),
        application in any_application(),
        step in prop::sample::select(vec!["PostFederationSignup", "PostAttributeCollection", "PreTokenIssuance", "Unknown"]),
    ) {
        let gate = harness();
        let mut body = json!({"email": email, "step": step, "ui_locales": "en-US"});
        if !job_title.is_null() { body["jobTitle"] = job_title.clone(); }
        if !application.is_null() { body["client_id"] = application.clone(); }
        let answer = gate.connector(body.to_string().as_bytes());
        let json = answer.json();
        prop_assert_eq!(&json["version"], "1.0.0");
        let action = json["action"].as_str().unwrap();
        match (answer.status, action) {
            // The token step allows nothing but Continue, and it admits no one: the account
            // exists already.
            (200, "Continue") if step == "PreTokenIssuance" => {}
            (_, _) if step == "PreTokenIssuance" => prop_assert!(false, "{} {} at the token step", answer.status, action),
            (200, "Continue") => prop_assert!(admissible(&email, &application), "{}", body),
            (200, "ShowBlockPage") => prop_assert!(!admissible(&email, &application), "{}", body),
            (400, "ValidationError") => {
                prop_assert_eq!(&json["status"], 400);
                prop_assert!(admissible(&email, &application), "{}", body);
            }
            (status, action) => prop_assert!(false, "{} {} for {}", status, action, body),
        }
    }

    #[test]
    fn every_event_decision_is_a_valid_event_answer(
        email in any_email(),
        job_title in any_job_title(),
        application in any_application(),
        submit in any::<bool>(),
    ) {
        let event = if submit { Event::Submit } else { Event::Start };
        let body = event_body(event, &email, &job_title, &application);
        let answer = harness().event(event, body.to_string().as_bytes());
        prop_assert_eq!(answer.status, 200);
        let admitted = check_event_answer(event, &answer);
        if admitted {
            prop_assert!(admissible(&email, &application), "{}", body);
        } else if !submit {
            // Start has no attribute checks: only the address decides.
            prop_assert!(!admissible(&email, &application), "{}", body);
        }
    }
}
