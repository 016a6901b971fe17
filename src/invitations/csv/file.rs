//! The invitation file as the CLI edits it: rows in file order, written back whole and
//! atomically (temporary file + rename), so a running server never reads half a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::FileError;
use super::format::{
    APPLICATION_ID, AttributeColumn, ClaimColumn, Column, EMAIL, EXPIRES_AT, FileErrors, LIFE,
    LineError, Row, clashing_column, parse_rows,
};
use crate::domain::invitation::{
    ClaimValue, InvitationAttribute, InvitationId, InvitationKey, Uses,
};
use crate::invitations::{StoredInvitation, Upsert};

/// The file as the CLI edits it: rows in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvitationFile {
    pub rows: Vec<Row>,
}

impl InvitationFile {
    /// Reads a file; a missing file is an empty one.
    pub(crate) fn load(path: &Path) -> Result<Self, FileError> {
        match crate::files::read(path, super::MAX_FILE_BYTES) {
            Ok((text, _)) => Self::parse(&text).map_err(|errors| FileError::Invalid {
                path: path.to_owned(),
                errors,
            }),
            Err(error) if error.is_not_found() => Ok(Self::default()),
            Err(error) => Err(FileError::Read {
                path: path.to_owned(),
                error,
            }),
        }
    }

    /// Parses CSV text; any problem, duplicates included, is an error.
    pub fn parse(text: &[u8]) -> Result<Self, FileErrors> {
        let (rows, parsed) = parse_rows(text);
        parsed.map(|()| Self { rows })
    }

    /// Parses CSV text for import: the valid rows, and the problems of the others (a repeated
    /// address is a problem of the later row). A header that cannot be read is an error of the
    /// whole file: no row is read, and none is "invalid".
    pub fn parse_lenient(text: &[u8]) -> Result<(Vec<Row>, Vec<LineError>), FileErrors> {
        let (rows, parsed) = parse_rows(text);
        let errors = parsed.err().map(|errors| errors.0).unwrap_or_default();
        if errors.first().is_some_and(|error| error.line == 1) && rows.is_empty() {
            return Err(FileErrors(errors));
        }
        Ok((rows, errors))
    }

    pub(crate) fn find(&self, key: &InvitationKey) -> Option<&Row> {
        self.rows.iter().find(|row| row.entry.key == *key)
    }

    /// Adds the invitation, or replaces the one at its key; a sign-up record is kept unless
    /// the new entry brings one.
    pub(crate) fn upsert(&mut self, mut entry: StoredInvitation) -> Upsert {
        match self.rows.iter_mut().find(|row| row.entry.key == entry.key) {
            Some(row) => {
                if entry.signed_up.is_none() {
                    entry.signed_up = row.entry.signed_up.clone();
                }
                if row.entry == entry {
                    return Upsert::Unchanged;
                }
                row.entry = entry;
                Upsert::Updated
            }
            None => {
                self.rows.push(Row {
                    entry,
                    line: 0,
                    fresh: false,
                });
                Upsert::Added
            }
        }
    }

    /// Removes the invitation at `key`; `false` when there was none.
    pub(crate) fn remove(&mut self, key: &InvitationKey) -> bool {
        let before = self.rows.len();
        self.rows.retain(|row| row.entry.key != *key);
        self.rows.len() != before
    }

    /// The file's text: the fixed columns, `id`, the other columns of an invitation's life that
    /// any row needs, then one column per attribute name (`!name` for enforced ones, `name:int`
    /// for typed ones; names in any case are one column, spelled as first seen) in order of
    /// first appearance, then the claims. A name enforced (or typed) on some invitations and not
    /// on others cannot be written: a column is one or the other.
    pub fn to_csv(&self) -> Result<Vec<u8>, String> {
        let mut columns: Vec<AttributeColumn> = Vec::new();
        for row in &self.rows {
            for attribute in row.entry.invitation.attributes() {
                if let Some(reserved) =
                    clashing_column(attribute.name(), attribute.enforced(), attribute.kind())
                {
                    return Err(format!(
                        "attribute {} would be written as the column {reserved:?}, one of the invitation \
                         file's own columns; give the attribute another name",
                        attribute.name()
                    ));
                }
                match columns
                    .iter()
                    .find(|column| column.name.eq_ignore_ascii_case(attribute.name()))
                {
                    None => columns.push(AttributeColumn {
                        name: attribute.shared_name().clone(),
                        enforced: attribute.enforced(),
                        kind: attribute.kind(),
                    }),
                    Some(column) if column.enforced != attribute.enforced() => {
                        let name = &column.name;
                        return Err(format!(
                            "attribute {name} is enforced (!{name}) on some invitations and not on others; \
                             one column cannot be both"
                        ));
                    }
                    Some(column) if column.kind != attribute.kind() => {
                        return Err(format!(
                            "attribute {} is of type {} on some invitations and {} on others; one column has one type",
                            column.name,
                            column.kind.as_str(),
                            attribute.kind().as_str()
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let claim_columns = claim_columns(&self.rows)?;
        let life: Vec<(&str, Column)> = LIFE
            .iter()
            .copied()
            .filter(|(_, column)| match column {
                // A file of invitations whose ids are all derived from their keys needs no
                // column for them (as before ids existed).
                Column::Id => self.rows.iter().any(|row| {
                    *row.entry.invitation.id() != InvitationId::derived(&row.entry.key.text())
                }),
                column => self
                    .rows
                    .iter()
                    .any(|row| !life_cell(row, *column).is_empty()),
            })
            .collect();
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = vec![
            EMAIL.to_owned(),
            APPLICATION_ID.to_owned(),
            EXPIRES_AT.to_owned(),
        ];
        header.extend(life.iter().map(|(name, _)| (*name).to_owned()));
        header.extend(
            columns.iter().map(|column| {
                InvitationAttribute::column(&column.name, column.enforced, column.kind)
            }),
        );
        header.extend(claim_columns.iter().map(ClaimColumn::header));
        writer.write_record(&header).map_err(|e| e.to_string())?;
        for row in &self.rows {
            let invitation = &row.entry.invitation;
            let mut record = vec![
                row.entry
                    .email()
                    .map(|email| email.as_str().to_owned())
                    .unwrap_or_default(),
                invitation
                    .application_id()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                invitation
                    .expires_at()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            ];
            record.extend(life.iter().map(|(_, column)| life_cell(row, *column)));
            record.extend(columns.iter().map(|column| {
                invitation
                    .attributes()
                    .iter()
                    .find(|a| a.name().eq_ignore_ascii_case(&column.name))
                    .map(|a| a.value().to_owned())
                    .unwrap_or_default()
            }));
            record.extend(claim_columns.iter().map(|column| {
                invitation
                    .claims()
                    .iter()
                    .find(|claim| claim.name.eq_ignore_ascii_case(&column.name))
                    .map(|claim| claim.value.cell())
                    .unwrap_or_default()
            }));
            writer.write_record(&record).map_err(|e| e.to_string())?;
        }
        writer.into_inner().map_err(|e| e.to_string())
    }

    /// Replaces the file atomically: a reader sees the old file or the new one, never half.
    pub(crate) fn save(&self, path: &Path) -> Result<(), FileError> {
        let text = self.to_csv().map_err(|problem| FileError::Unwritable {
            path: path.to_owned(),
            problem,
        })?;
        write_atomically(path, &text).map_err(|error| FileError::Io {
            path: path.to_owned(),
            error,
        })
    }
}

/// A row's cell in one of the columns of an invitation's life (empty: the default).
fn life_cell(row: &Row, column: Column) -> String {
    let (entry, invitation) = (&row.entry, &row.entry.invitation);
    match column {
        Column::Id => invitation.id().to_string(),
        Column::Code => match &entry.key {
            InvitationKey::Code(digest) => digest.to_string(),
            InvitationKey::Email(_) => String::new(),
        },
        Column::Uses => match invitation.uses() {
            Uses::Unlimited => String::new(),
            uses => uses.to_string(),
        },
        Column::Used if invitation.used() > 0 => invitation.used().to_string(),
        Column::UseKeys => invitation
            .use_keys()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        Column::RevokedAt => invitation
            .revoked_at()
            .map(|at| at.to_string())
            .unwrap_or_default(),
        Column::SignedUpAt => entry
            .signed_up
            .as_ref()
            .map(|(at, _)| at.clone())
            .unwrap_or_default(),
        Column::SignedUpApplication => entry
            .signed_up
            .as_ref()
            .and_then(|(_, application)| application.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// One column per claim name (`claim:name`, or `claim:name[]` for a list), in order of first
/// appearance; a name that is a list on some invitations and a string on others cannot be
/// written.
fn claim_columns(rows: &[Row]) -> Result<Vec<ClaimColumn>, String> {
    let mut columns: Vec<ClaimColumn> = Vec::new();
    for claim in rows
        .iter()
        .flat_map(|row| row.entry.invitation.claims().iter())
    {
        let list = matches!(claim.value, ClaimValue::Many(_));
        match columns
            .iter()
            .find(|column| column.name.eq_ignore_ascii_case(&claim.name))
        {
            None => columns.push(ClaimColumn {
                name: claim.name.clone(),
                list,
            }),
            Some(column) if column.list != list => {
                return Err(format!(
                    "claim {} is a list on some invitations and a single value on others; one column is one or the other",
                    column.name
                ));
            }
            Some(_) => {}
        }
    }
    Ok(columns)
}

fn write_atomically(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut temporary = tempfile::NamedTempFile::new_in(&directory)?;
    temporary.write_all(text)?;
    temporary.as_file().sync_all()?;
    if let Ok(metadata) = std::fs::metadata(path) {
        temporary
            .as_file()
            .set_permissions(metadata.permissions())?;
    }
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}
