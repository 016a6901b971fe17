//! `invitations add`: an address's invitation, or an invitation code (printed once).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use super::{CliError, parse_application, parse_email};
use crate::domain::invitation::{
    ClaimValue, Expiry, Invitation, InvitationAttribute, InvitationClaim, InvitationCode,
    InvitationId, InvitationKey, InvitationParts, Uses, ValueType, check_claims, now,
};
use crate::invitations::table::TableError;
use crate::invitations::{Defaults, InvitationAdmin, StoreError, StoredInvitation, Upsert};

#[derive(Debug, Args)]
pub(super) struct AddArgs {
    /// The address to invite; with --code, the address the code is bound to (both must then
    /// match), or none for an open code.
    email: Option<String>,
    /// Make an invitation code instead: random, printed once, kept only as its SHA-256.
    #[arg(long)]
    code: bool,
    /// How many sign-ups the code admits: a number, or `unlimited` (default 1).
    #[arg(long, value_name = "N", requires = "code")]
    uses: Option<String>,
    /// The address's invitation admits one sign-up only (INVITATION_SINGLE_USE=true makes it
    /// the default).
    #[arg(long, conflicts_with = "code")]
    single_use: bool,
    /// Only for this application (client) id; default: every application.
    #[arg(long, value_name = "ID")]
    app: Option<String>,
    /// Expiry: 2026-12-31 (midnight UTC) or an RFC 3339 date-time; default: never, or
    /// INVITATION_DEFAULT_DAYS from now.
    #[arg(long, value_name = "DATE", conflicts_with = "days")]
    expires: Option<String>,
    /// Expiry this many days from now.
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    /// Prefill an attribute: --set displayName="Ada Lovelace" (repeatable); an int or boolean
    /// attribute with its type: --set extension_<app>_Level:int=3.
    #[arg(long = "set", value_name = "NAME[:TYPE]=VALUE")]
    set: Vec<String>,
    /// Impose an attribute at submit: --enforce jobTitle=Engineer (repeatable; a type as with
    /// --set).
    #[arg(long = "enforce", value_name = "NAME[:TYPE]=VALUE")]
    enforce: Vec<String>,
    /// A claim for the user's tokens: --claim department=Ops, or a list with `[]` after the
    /// name and `;` between the items: --claim 'app_roles[]=Pilot;Dispatcher' (repeatable).
    #[arg(long = "claim", value_name = "NAME[[]]=VALUE")]
    claim: Vec<String>,
}

pub(super) async fn add(
    store: &dyn InvitationAdmin,
    args: AddArgs,
    defaults: Defaults,
) -> Result<ExitCode, CliError> {
    let email = args.email.as_deref().map(parse_email).transpose()?;
    let expires_at = expiry(args.expires.as_deref(), args.days, defaults)?;
    if let Some(expiry) = expires_at.filter(|expiry| expiry.has_passed(now())) {
        eprintln!(
            "warning: {expiry} has passed: this invitation admits no one until its expiry is changed"
        );
    }
    let claims = parse_claims(&args.claim)?;
    let mut parts = InvitationParts {
        application_id: args.app.as_deref().map(parse_application).transpose()?,
        expires_at,
        attributes: parse_attributes(&args.set, &args.enforce)?,
        claims,
        ..InvitationParts::default()
    };
    if args.code {
        return add_code(store, parts, email, args.uses.as_deref()).await;
    }
    let email = email.ok_or_else(|| {
        CliError::Usage("give the address to invite (or --code for an invitation code)".to_owned())
    })?;
    if args.single_use || defaults.single_use {
        if !store.counts_uses() {
            return Err(CliError::Usage(format!(
                "{} cannot count uses, so it holds no single-use invitations; keep them in a table \
                 (INVITATION_STORE=table){}",
                store.describe(),
                if args.single_use {
                    ""
                } else {
                    ", or unset INVITATION_SINGLE_USE"
                }
            )));
        }
        parts.uses = Uses::Limited(1);
    }
    let key = InvitationKey::Email(email.clone());
    // The address's invitation keeps its id (and what the store recorded) when it is replaced;
    // one derived from the address (written before ids existed) gets a random one.
    let existing = match store.get(&key).await {
        // A table the CLI is about to create holds nothing yet.
        Err(StoreError::Table(TableError::NoTable { .. })) => None,
        found => found?,
    };
    parts.id = Some(match &existing {
        Some(entry) if *entry.invitation.id() != InvitationId::derived(&key.text()) => {
            entry.invitation.id().clone()
        }
        _ => new_id()?,
    });
    let invitation =
        Invitation::new(parts, &key).map_err(|error| CliError::Usage(error.to_string()))?;
    let entry = StoredInvitation {
        key,
        invitation,
        signed_up: None,
    };
    let outcome = store.upsert(&entry).await?;
    let (email, store) = (email.as_str(), store.describe());
    match outcome {
        Upsert::Added => println!("added {email} in {store}"),
        Upsert::Updated => println!("updated {email} in {store}"),
        Upsert::Unchanged => println!("{email} in {store} has this invitation already"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn add_code(
    store: &dyn InvitationAdmin,
    mut parts: InvitationParts,
    bound_to: Option<crate::domain::email::EmailAddress>,
    uses: Option<&str>,
) -> Result<ExitCode, CliError> {
    parts.uses = match uses {
        None => Uses::Limited(1),
        Some(text) => Uses::parse(text).ok_or_else(|| {
            CliError::Usage(format!(
                "--uses {text}: a number from 1 to {} or 'unlimited'",
                crate::domain::invitation::MAX_USES
            ))
        })?,
    };
    if parts.uses != Uses::Unlimited && !store.counts_uses() {
        return Err(CliError::Usage(format!(
            "{} cannot count uses: a code kept there must be --uses unlimited (or keep codes in a table: \
             INVITATION_STORE=table)",
            store.describe()
        )));
    }
    if !parts.claims.is_empty() {
        let note = if store.counts_uses() {
            "a code's claims reach the tokens of a user whose sign-up carried an e-mail address (the \
             address is noted when the code is used); a sign-up without one gets no claims"
        } else {
            "the invitation file cannot note who used a code, so a code's claims reach no token; keep \
             codes with claims in a table (INVITATION_STORE=table), or invite the addresses"
        };
        eprintln!("note: {note}");
    }
    parts.bound_to = bound_to;
    parts.id = Some(new_id()?);
    let code = InvitationCode::generate()
        .map_err(|_| CliError::Usage("the system's random generator failed".to_owned()))?;
    let key = InvitationKey::Code(code.digest());
    let invitation =
        Invitation::new(parts, &key).map_err(|error| CliError::Usage(error.to_string()))?;
    let id = invitation.id().clone();
    let uses = invitation.uses();
    let entry = StoredInvitation {
        key,
        invitation,
        signed_up: None,
    };
    store.upsert(&entry).await?;
    println!(
        "added code invitation {id} ({} use{}) in {}",
        uses,
        if uses == Uses::Limited(1) { "" } else { "s" },
        store.describe()
    );
    println!("code: {code}");
    eprintln!(
        "note: the code is shown this once and kept nowhere; `reissue {id}` replaces a lost one"
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn new_id() -> Result<InvitationId, CliError> {
    InvitationId::generate()
        .map_err(|_| CliError::Usage("the system's random generator failed".to_owned()))
}

/// `--expires`, else `--days`, else the default days, else never.
fn expiry(
    expires: Option<&str>,
    days: Option<u32>,
    defaults: Defaults,
) -> Result<Option<Expiry>, CliError> {
    if let Some(text) = expires {
        return Expiry::parse(text)
            .map(Some)
            .map_err(|e| CliError::Usage(e.to_string()));
    }
    Ok(days.or(defaults.days).map(days_from_now))
}

/// `days` from now.
pub(super) fn days_from_now(days: u32) -> Expiry {
    Expiry(now() + i64::from(days) * 86_400)
}

/// `--set` and `--enforce` pairs as attributes.
fn parse_attributes(
    set: &[String],
    enforce: &[String],
) -> Result<Vec<InvitationAttribute>, CliError> {
    let mut attributes: Vec<InvitationAttribute> = Vec::new();
    for (pairs, enforced) in [(set, false), (enforce, true)] {
        for pair in pairs {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| CliError::Usage(format!("{pair:?} is not NAME=VALUE")))?;
            let (name, kind) = match name.trim().split_once(':') {
                None => (name.trim(), ValueType::String),
                Some((name, kind)) => (
                    name,
                    ValueType::parse(kind).ok_or_else(|| {
                        CliError::Usage(format!(
                            "{kind:?} is not an attribute type (string, int or boolean)"
                        ))
                    })?,
                ),
            };
            let attribute = InvitationAttribute::new(Arc::from(name), value.trim(), enforced, kind)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            // Entra and B2C match attribute names in any case: two spellings of one name
            // would leave one value silently dropped.
            if let Some(other) = attributes
                .iter()
                .find(|a| a.name().eq_ignore_ascii_case(name))
            {
                return Err(CliError::Usage(if other.name() == name {
                    format!("attribute {name} is given twice")
                } else {
                    format!(
                        "attributes {} and {name} are the same attribute (names are compared in any case)",
                        other.name()
                    )
                }));
            }
            attributes.push(attribute);
        }
    }
    Ok(attributes)
}

/// `--claim name=value` and `--claim 'name[]=a;b'`, checked together.
fn parse_claims(pairs: &[String]) -> Result<Vec<InvitationClaim>, CliError> {
    let mut claims = Vec::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("{pair:?} is not NAME=VALUE")))?;
        let value = value.trim();
        let (name, value) = match name.trim().strip_suffix("[]") {
            Some(name) => (name, ClaimValue::list(value)),
            None => (
                name.trim(),
                (!value.is_empty()).then(|| ClaimValue::One(value.into())),
            ),
        };
        let value = value.ok_or_else(|| CliError::Usage(format!("claim {name} has no value")))?;
        claims.push(InvitationClaim {
            name: name.into(),
            value,
        });
    }
    check_claims(&claims).map_err(|error| CliError::Usage(error.to_string()))?;
    Ok(claims)
}
