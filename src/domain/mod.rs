//! The values a decision is about, as newtypes whose only constructors parse: an e-mail address,
//! an invitation and its parts. No I/O, no wire names.

pub mod application;
pub mod email;
pub mod invitation;
pub mod language;
