//! One version of the invitation file as the server holds it: compact, read in one pass, looked
//! up by normalised address or by code digest (`sha256:<hex>`, which no address can be).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher as _;

use hashbrown::HashTable;

use super::format::{AttributeColumn, Cells, ClaimColumn, FileErrors, invalid_email, parse};
use crate::domain::email::{EmailAddress, normalise_into};
use crate::domain::invitation::{
    ApplicationId, CodeDigest, Expiry, Invitation, InvitationAttribute, InvitationClaim,
    InvitationId, InvitationKey, InvitationParts, Uses,
};

/// A stretch of [`InvitationIndex::text`].
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// One invitation in the index (56 bytes; everything variable-length lives in the text).
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    /// The normalised address, or `sha256:<hex>` of a code.
    key: Span,
    /// Empty when the row has none (its id is then derived from the key).
    id: Span,
    /// A code's bound address (normalised); empty when open.
    bound: Span,
    revoked: Option<Expiry>,
    /// Line in the file, to name the first of two duplicates.
    line: u32,
    /// Index into `applications`, or [`ANY_APPLICATION`].
    application: u32,
    /// Seconds since the epoch, or [`NEVER`].
    expires_at: i64,
    /// Range of `values`: the attributes, then the claims.
    values: Span,
}

/// An attribute's or claim's value: `column` counts the attribute columns first, then the
/// claim columns.
#[derive(Debug, Clone, Copy)]
struct ValueRef {
    column: u16,
    value: Span,
}

const ANY_APPLICATION: u32 = u32::MAX;
const NEVER: i64 = i64::MAX;

/// One version of the file as the server holds it: every string in one buffer, fixed-size entries
/// and a hash table of entry numbers, so a million invitations take well under 200 MB and load in
/// one pass.
pub struct InvitationIndex {
    text: String,
    entries: Vec<IndexEntry>,
    table: HashTable<u32>,
    hasher: RandomState,
    applications: Vec<ApplicationId>,
    /// Each attribute column.
    columns: Vec<AttributeColumn>,
    /// Each claim column.
    claim_columns: Vec<ClaimColumn>,
    values: Vec<ValueRef>,
}

impl InvitationIndex {
    /// Parses a whole file; duplicate addresses are errors naming both lines.
    pub fn parse(text: &[u8]) -> Result<Self, FileErrors> {
        let rows = text.iter().filter(|&&b| b == b'\n').count();
        let mut index = Self {
            text: String::with_capacity(text.len()),
            entries: Vec::with_capacity(rows),
            table: HashTable::with_capacity(rows),
            hasher: RandomState::new(),
            applications: Vec::new(),
            columns: Vec::new(),
            claim_columns: Vec::new(),
            values: Vec::new(),
        };
        let mut applications: HashMap<ApplicationId, u32> = HashMap::new();
        let header = parse(text, |header, line, cells| {
            index.push(&mut applications, header.attributes.len(), line, cells)
        })?;
        index.columns = header.attributes;
        index.claim_columns = header.claims;
        index.text.shrink_to_fit();
        index.entries.shrink_to_fit();
        index.values.shrink_to_fit();
        Ok(index)
    }

    /// Adds a row; claim columns are numbered after the `attribute_columns`.
    fn push(
        &mut self,
        applications: &mut HashMap<ApplicationId, u32>,
        attribute_columns: usize,
        line: u64,
        cells: Cells<'_>,
    ) -> Result<(), String> {
        let too_large =
            || "the file is too large (the index holds at most 4 GiB of text)".to_owned();
        if let Uses::Limited(_) = cells.uses {
            return Err(format!(
                "uses {}: the invitation file cannot count uses (it is read-only where it is deployed); \
                 keep limited invitations in a table (INVITATION_STORE=table), or make it unlimited",
                cells.uses
            ));
        }
        let start = self.text.len();
        let (bound, code) = match cells.code {
            Some(digest) => {
                self.text.push_str(&InvitationKey::Code(digest).text());
                (cells.email, true)
            }
            None => {
                normalise_into(cells.email, &mut self.text).map_err(invalid_email)?;
                ("", false)
            }
        };
        let Self {
            text,
            entries,
            table,
            hasher,
            ..
        } = self;
        let key = &text[start..];
        let hash = hasher.hash_one(key);
        if let Some(&first) = table.find(hash, |&i| span(text, entries[i as usize].key) == key) {
            let first = entries[first as usize].line;
            text.truncate(start);
            let what = if code { "code" } else { "address" };
            return Err(format!("duplicate of the {what} on line {first}"));
        }
        let key = Span {
            start: u32::try_from(start).map_err(|_| too_large())?,
            len: u32::try_from(text.len() - start).map_err(|_| too_large())?,
        };
        let mut stretch = |write: &dyn Fn(&mut String) -> Result<(), String>| {
            let start = self.text.len();
            write(&mut self.text)?;
            Ok::<Span, String>(Span {
                start: u32::try_from(start).map_err(|_| too_large())?,
                len: u32::try_from(self.text.len() - start).map_err(|_| too_large())?,
            })
        };
        let id = stretch(&|text| {
            if let Some(id) = &cells.id {
                text.push_str(id.as_str());
            }
            Ok(())
        })?;
        let bound = stretch(&|text| match bound {
            "" => Ok(()),
            bound => normalise_into(bound, text).map(drop).map_err(invalid_email),
        })?;
        let application = match &cells.application_id {
            None => ANY_APPLICATION,
            Some(id) => match applications.get(id) {
                Some(&index) => index,
                None => {
                    let index = u32::try_from(self.applications.len()).map_err(|_| too_large())?;
                    self.applications.push(id.clone());
                    applications.insert(id.clone(), index);
                    index
                }
            },
        };
        let first_value = u32::try_from(self.values.len()).map_err(|_| too_large())?;
        let claims = cells
            .claims
            .iter()
            .map(|&(column, value)| (usize::from(column) + attribute_columns, value));
        let values = cells
            .attributes
            .iter()
            .map(|&(column, value)| (usize::from(column), value))
            .chain(claims);
        for (column, value) in values {
            let start = u32::try_from(self.text.len()).map_err(|_| too_large())?;
            self.text.push_str(value);
            let len = u32::try_from(value.len()).map_err(|_| too_large())?;
            self.values.push(ValueRef {
                column: u16::try_from(column).map_err(|_| "too many columns".to_owned())?,
                value: Span { start, len },
            });
        }
        let value_count = cells.attributes.len() + cells.claims.len();
        let entry = IndexEntry {
            key,
            id,
            bound,
            revoked: cells.revoked_at,
            line: u32::try_from(line).map_err(|_| too_large())?,
            application,
            expires_at: cells.expires_at.map_or(NEVER, |expiry| expiry.0),
            values: Span {
                start: first_value,
                len: u32::try_from(value_count).map_err(|_| too_large())?,
            },
        };
        let number = u32::try_from(self.entries.len()).map_err(|_| too_large())?;
        self.entries.push(entry);
        let Self {
            text,
            entries,
            table,
            hasher,
            ..
        } = self;
        table.insert_unique(hash, number, |&i| {
            hasher.hash_one(span(text, entries[i as usize].key))
        });
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The invitation of a normalised address.
    pub fn get(&self, email: &str) -> Option<Invitation> {
        self.get_key(email)
    }

    /// The invitation of a code.
    pub fn get_code(&self, digest: &CodeDigest) -> Option<Invitation> {
        self.get_key(&InvitationKey::Code(*digest).text())
    }

    fn get_key(&self, key: &str) -> Option<Invitation> {
        let hash = self.hasher.hash_one(key);
        let &number = self.table.find(hash, |&i| {
            span(&self.text, self.entries[i as usize].key) == key
        })?;
        let entry = self.entries[number as usize];
        let first = entry.values.start as usize;
        let values = &self.values[first..first + entry.values.len as usize];
        let (mut attributes, mut claims) = (Vec::new(), Vec::new());
        for value in values {
            let text = span(&self.text, value.value);
            match self.columns.get(usize::from(value.column)) {
                Some(column) => attributes.push(InvitationAttribute::trusted(
                    column.name.clone(),
                    text,
                    column.enforced,
                    column.kind,
                )),
                None => {
                    let column =
                        &self.claim_columns[usize::from(value.column) - self.columns.len()];
                    if let Some(value) = column.value(text) {
                        claims.push(InvitationClaim {
                            name: column.name.clone(),
                            value,
                        });
                    }
                }
            }
        }
        let id = match span(&self.text, entry.id) {
            "" => InvitationId::derived(key),
            id => InvitationId::parse(id)?,
        };
        let bound_to = match span(&self.text, entry.bound) {
            "" => None,
            bound => Some(EmailAddress::parse(bound).ok()?),
        };
        let parts = InvitationParts {
            id: Some(id.clone()),
            application_id: (entry.application != ANY_APPLICATION)
                .then(|| self.applications[entry.application as usize].clone()),
            expires_at: (entry.expires_at != NEVER).then_some(Expiry(entry.expires_at)),
            attributes,
            claims,
            bound_to,
            revoked_at: entry.revoked,
            ..InvitationParts::default()
        };
        // Every part was checked when the row was read.
        Some(Invitation::trusted(parts, &id))
    }
}

/// Only the size: addresses never reach logs by accident.
impl fmt::Debug for InvitationIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvitationIndex")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for InvitationIndex {
    fn default() -> Self {
        Self {
            text: String::new(),
            entries: Vec::new(),
            table: HashTable::new(),
            hasher: RandomState::new(),
            applications: Vec::new(),
            columns: Vec::new(),
            claim_columns: Vec::new(),
            values: Vec::new(),
        }
    }
}

fn span(text: &str, span: Span) -> &str {
    let start = span.start as usize;
    &text[start..start + span.len as usize]
}
