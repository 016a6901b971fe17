//! signup-gate: an Azure Functions custom handler that decides who may sign up to an Azure AD
//! B2C or Entra External ID tenant.

pub mod admission;
pub mod api_connector;
pub mod auth_events;
pub mod caller_auth;
pub mod cli;
pub mod invitations;
pub mod listener;
pub mod logging;
pub mod policy;
pub mod printable;
pub mod server;
pub mod settings;
