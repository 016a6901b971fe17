#![no_main]
//! The invitation file: any bytes are read without a panic; the compact index the server uses
//! and the editable file the CLI uses agree on what is valid (except that the server also refuses
//! limited uses, which a file cannot count) and on every invitation (apart from the record of
//! past uses, which the server does not keep for a file); a valid file written back out reads the
//! same (attributes compared as a set: columns may move).

use libfuzzer_sys::fuzz_target;
use signup_gate::domain::invitation::{Invitation, InvitationKey, Uses};
use signup_gate::invitations::csv::{InvitationFile, InvitationIndex};

fuzz_target!(|data: &[u8]| {
    let _ = InvitationFile::parse_lenient(data);
    let index = InvitationIndex::parse(data);
    let file = match InvitationFile::parse(data) {
        Ok(file) => file,
        Err(_) => {
            assert!(index.is_err(), "the server reads a file the CLI refuses");
            return;
        }
    };
    let Ok(index) = index else {
        // Export and import carry limited invitations through a file; the server refuses them.
        assert!(
            file.rows
                .iter()
                .any(|row| matches!(row.entry.invitation.uses(), Uses::Limited(_))),
            "the server refuses a file the CLI reads, without limited uses"
        );
        return;
    };
    for row in &file.rows {
        let entry = &row.entry;
        let found = match &entry.key {
            InvitationKey::Email(email) => index.get(email.as_str()),
            InvitationKey::Code(digest) => index.get_code(digest),
        };
        let mut served = entry.invitation.clone().into_parts();
        (served.used, served.use_keys) = (0, Vec::new());
        let served = Invitation::new(served, &entry.key).expect("a valid invitation, unused");
        assert_eq!(found.as_ref(), Some(&served), "{}", entry.key.text());
    }
    if let Ok(written) = file.to_csv() {
        let again = InvitationFile::parse(&written).expect("what was written reads back");
        // Attributes come back in column order, which need not be the order they were read in.
        let pairs = |file: &InvitationFile| {
            file.rows
                .iter()
                .map(|row| {
                    let key = &row.entry.key;
                    let mut parts = row.entry.invitation.clone().into_parts();
                    parts.attributes.sort_by(|a, b| a.name().cmp(b.name()));
                    let sorted = Invitation::new(parts, key).expect("a valid invitation, sorted");
                    (key.text(), sorted)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(pairs(&file), pairs(&again));
    }
});
