//! An invitation's life after it is made: `remove` deletes it, `revoke` keeps it on record and
//! refuses sign-ups from then on, `reissue` replaces a lost code.

use std::process::ExitCode;

use super::{CliError, EXIT_NO, find_target, named};
use crate::domain::invitation::{
    Expiry, Invitation, InvitationCode, InvitationId, InvitationKey, now,
};
use crate::invitations::{InvitationAdmin, StoredInvitation};

pub(super) async fn remove(
    store: &dyn InvitationAdmin,
    target: &str,
) -> Result<ExitCode, CliError> {
    let Some(entry) = find_target(store, target).await? else {
        return none(store, target);
    };
    if !store.remove(&entry.key).await? {
        return none(store, target);
    }
    println!("removed {} from {}", named(&entry), store.describe());
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn revoke(
    store: &dyn InvitationAdmin,
    target: &str,
) -> Result<ExitCode, CliError> {
    let Some(entry) = find_target(store, target).await? else {
        return none(store, target);
    };
    if let Some(at) = entry.invitation.revoked_at() {
        println!("{} was revoked already ({at})", named(&entry));
        return Ok(ExitCode::SUCCESS);
    }
    let mut parts = entry.invitation.clone().into_parts();
    parts.revoked_at = Some(Expiry(now()));
    let revoked = StoredInvitation {
        invitation: Invitation::new(parts, &entry.key)
            .map_err(|error| CliError::Usage(error.to_string()))?,
        signed_up: None,
        key: entry.key.clone(),
    };
    store.upsert(&revoked).await?;
    println!(
        "revoked {} in {}: it admits no one from now on and gives no claims (remove deletes it)",
        named(&entry),
        store.describe()
    );
    Ok(ExitCode::SUCCESS)
}

/// A new code for a code invitation: written first, then the old one removed, so that at no
/// moment is there no code at all; the invitation keeps its id, uses and record.
pub(super) async fn reissue(store: &dyn InvitationAdmin, id: &str) -> Result<ExitCode, CliError> {
    let parsed = InvitationId::parse(id).ok_or_else(|| {
        CliError::Usage(format!(
            "{id:?} is not an invitation's id (inv_..., as `list` shows it)"
        ))
    })?;
    let Some(entry) = store.get_by_id(&parsed).await? else {
        return none(store, id);
    };
    if !entry.is_code() {
        return Err(CliError::Usage(format!(
            "{id} is the invitation of an address, which needs no code; only a code invitation is reissued"
        )));
    }
    let code = InvitationCode::generate()
        .map_err(|_| CliError::Usage("the system's random generator failed".to_owned()))?;
    let key = InvitationKey::Code(code.digest());
    let replacement = StoredInvitation {
        invitation: Invitation::new(entry.invitation.clone().into_parts(), &key)
            .map_err(|error| CliError::Usage(error.to_string()))?,
        signed_up: entry.signed_up.clone(),
        key,
    };
    store.upsert(&replacement).await?;
    store.remove(&entry.key).await?;
    println!(
        "reissued code invitation {} in {}: the old code no longer works",
        entry.invitation.id(),
        store.describe()
    );
    println!("code: {code}");
    eprintln!("note: the code is shown this once and kept nowhere");
    Ok(ExitCode::SUCCESS)
}

fn none(store: &dyn InvitationAdmin, target: &str) -> Result<ExitCode, CliError> {
    eprintln!(
        "{} has no invitation in {}",
        crate::printable::Printable(target),
        store.describe()
    );
    Ok(ExitCode::from(EXIT_NO))
}
