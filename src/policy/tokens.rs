//! What a token gets from its user's invitation: its claims, where the invitation applies to
//! the application and was not revoked.

use super::applies_to;
use crate::domain::invitation::{Invitation, InvitationClaim};

/// What a token gets from the invitation of its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenClaims {
    /// The invitation applies to this application: its claims (perhaps none).
    Given(Box<[InvitationClaim]>),
    /// No invitation: no claims (a token is never refused for that).
    NoInvitation,
    /// The invitation is for another application: no claims.
    OtherApplication,
    /// The invitation was revoked: no claims.
    Revoked,
}

impl TokenClaims {
    /// The claims of the invitation of a user signing in to `application`. Expiry limits sign-up
    /// only: the user who signed up with an invitation keeps its claims after it expires, until
    /// it is removed.
    pub fn of(invitation: Option<&Invitation>, application: Option<&str>) -> Self {
        match invitation {
            None => Self::NoInvitation,
            Some(invitation) if invitation.revoked_at().is_some() => Self::Revoked,
            Some(invitation) if applies_to(invitation, application) => {
                Self::Given(invitation.claims().into())
            }
            Some(_) => Self::OtherApplication,
        }
    }

    /// The claims, none unless given.
    pub fn claims(&self) -> &[InvitationClaim] {
        match self {
            Self::Given(claims) => claims,
            Self::NoInvitation | Self::OtherApplication | Self::Revoked => &[],
        }
    }

    /// Why (for the decision log).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Given(_) => "invitation",
            Self::NoInvitation => "no_invitation",
            Self::OtherApplication => "invitation_for_other_application",
            Self::Revoked => "invitation_revoked",
        }
    }
}
