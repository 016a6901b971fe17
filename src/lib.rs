//! signup-gate: an Azure Functions custom handler that decides who may sign up to an Azure AD
//! B2C or Entra External ID tenant.
//!
//! The path of one request, each layer once:
//!
//! - [`server`]: the connection, the request's head, the route (`/api/<function>`), the method,
//!   the caller ([`callers`]: Basic, Entra's token, Easy Auth), the body; one log line.
//! - [`functions`]: one module per Microsoft contract, translating its wire format into a
//!   sign-up and the decision back into its answer.
//! - [`gate`]: the invitation lookup within the decision deadline, the [`policy`], the sign-up
//!   record.
//! - [`policy`] (pure rules) and [`invitations`] (one folder per store), both over the values of
//!   [`domain`].
//!
//! - [`messages`]: every text a user sees, in the user's language.
//!
//! Around them: [`config`] (environment → settings), [`cli`] (`handler invitations ...`),
//! [`logging`] and [`printable`] (what reaches a log line or a terminal).

pub mod build_info;
pub mod callers;
pub mod cli;
pub mod config;
pub mod decision_record;
pub mod domain;
pub(crate) mod files;
pub mod functions;
pub mod gate;
pub(crate) mod identity;
pub mod invitations;
pub mod logging;
pub mod messages;
pub mod outbound;
pub mod policy;
pub(crate) mod printable;
pub mod server;
pub mod setting;
pub mod telemetry;
pub(crate) mod watched;
