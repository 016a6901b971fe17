//! Black-box tests: every test starts the compiled `handler` the way the Functions host (or a
//! person, standalone) does and talks to it over loopback.

mod attribute_collection;
mod codes;
mod configuration;
mod doctor;
mod entra_tokens;
mod faults;
mod graph_stand_in;
mod helpers;
mod host_contract;
mod invitations_cli;
mod languages;
mod lifecycle;
mod policy_file;
mod restrictions;
mod setup_entra;
mod sign_up_validation;
mod signins;
mod standalone;
mod table_rows;
mod table_store;
mod telemetry;
mod token_issuance;
mod waitlist;
mod warm_up;
mod watched_files;
