//! `invitations check`: what the policy would decide for an address, and why.

use std::process::ExitCode;

use super::show::describe;
use super::{CliError, EXIT_NO, parse_application, parse_email};
use crate::config::Settings;
use crate::domain::email::EmailAddress;
use crate::domain::invitation::{InvitationKey, now};
use crate::invitations::InvitationAdmin;
use crate::policy::{Decision, EmailClaim, InvitationLookup, Policy, PolicyName, SignUp, Stage};
use crate::printable::Printable;

pub(super) async fn check(
    store: &dyn InvitationAdmin,
    settings: &Settings,
    email: &str,
    app: Option<String>,
    language: Option<&str>,
) -> Result<ExitCode, CliError> {
    let email = parse_email(email)?;
    if let Some(app) = &app {
        parse_application(app)?;
    }
    let language = settings.catalog.from_ui_locales(language);
    let policies = settings.policies()?;
    let (policy, name) = policies.for_application(app.as_deref());
    let stored = store.get(&InvitationKey::Email(email.clone())).await?;
    let lookup = match &stored {
        Some(entry) => InvitationLookup::Found(entry.invitation.clone()),
        None => InvitationLookup::NotFound,
    };
    let sign_up = SignUp {
        email: EmailClaim::Valid(email.clone()),
        job_title: None,
        stage: Stage::BeforeAttributes,
        application: app,
        ..SignUp::default()
    };
    let now = now();
    match &stored {
        Some(entry) => println!("invitation: {}", describe(entry, now)),
        None => println!("invitation: none in {}", store.describe()),
    }
    let from = policies
        .file()
        .map(|path| format!(" ({})", path.display()))
        .unwrap_or_default();
    match name {
        PolicyName::Default => println!("policy: default{from}"),
        PolicyName::Application(id) => println!("policy: application {id}{from}"),
    }
    println!("allowed domains: [{}]", policy.allowed_domains);
    if !policy.blocked_domains.is_empty() {
        println!("blocked domains: [{}]", policy.blocked_domains);
    }
    if !policy.blocked_local_parts.is_empty() {
        println!("blocked local parts: [{}]", policy.blocked_local_parts);
    }
    if policy.block_disposable_domains {
        println!(
            "disposable domains: refused ({})",
            policy.disposable_domains
        );
    }
    if policy.block_subaddresses {
        println!("sub-addresses: refused");
    }
    explain_restrictions(&policy, &email);
    if let Some(attribute) = &policy.code_attribute {
        println!(
            "invitation code attribute: {} (Start lets the address on to the page; Submit decides by the code)",
            attribute.name()
        );
    }
    match policy.decide(&sign_up, &lookup, now) {
        Decision::Admit {
            reason, attributes, ..
        } => {
            println!("admitted ({})", reason.as_str());
            for attribute in attributes {
                let verb = if attribute.enforced() {
                    "enforce"
                } else {
                    "prefill"
                };
                println!(
                    "  {verb} {} = {}",
                    attribute.name(),
                    Printable(attribute.value())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Decision::Block { reason, text } => {
            let message = policy.say(text, language);
            println!("blocked ({}): {}", reason.as_str(), Printable(&message));
            Ok(ExitCode::from(EXIT_NO))
        }
        Decision::Invalid { fields, reason } => {
            let message = policy.say_all(&fields, language);
            println!("invalid ({}): {}", reason.as_str(), Printable(&message));
            Ok(ExitCode::from(EXIT_NO))
        }
    }
}

/// What the disposable list and the sub-address rule say of this address, whether or not they
/// are switched on for these rules (so that switching one on holds no surprise).
fn explain_restrictions(policy: &Policy, email: &EmailAddress) {
    let list = &policy.disposable_domains;
    if let Some(listed) = list.listed(email.domain()) {
        let written = list.where_written(listed.origin);
        if listed.excepted {
            println!(
                "this domain: not disposable, excepted as !{} ({written})",
                listed.domain
            );
        } else {
            let off = if policy.block_disposable_domains {
                ""
            } else {
                " (not refused: BLOCK_DISPOSABLE_DOMAINS, block_disposable_domains, is off for these rules)"
            };
            let under = if listed.domain == email.domain() {
                String::new()
            } else {
                format!(" a subdomain of {},", listed.domain)
            };
            println!("this domain: disposable,{under} on {written}{off}");
        }
    }
    if email.mailbox().tag.is_some() {
        let off = if policy.block_subaddresses {
            ""
        } else {
            " (not refused: BLOCK_SUBADDRESSES, block_subaddresses, is off for these rules)"
        };
        println!("this address: has a sub-address ('+' after the mailbox){off}");
    }
}
