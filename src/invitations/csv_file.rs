//! The invitation file: a CSV with the header `email,application_id,expires_at,` followed by any
//! attribute columns (`displayName`, `jobTitle`, `extension_<appid>_Team`; a leading `!` marks a
//! column enforced at submit instead of only prefilled). Empty cells mean "any application",
//! "never expires" and "no value".
//!
//! The server keeps the file in a hash map keyed by the normalised address and swaps in a new map
//! when the file changes; a bad edit keeps the last good map. The CLI edits the file through
//! [`InvitationFile`] and replaces it atomically (temporary file + rename).

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::fmt;
use std::hash::BuildHasher as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use hashbrown::HashTable;

use super::{Expiry, Invitation, InvitationAttribute, InvitationStore, StoreError, ValueType};
use crate::policy::email::{EmailAddress, normalise_into};

/// The fixed leading columns.
const EMAIL: &str = "email";
const APPLICATION_ID: &str = "application_id";
const EXPIRES_AT: &str = "expires_at";
/// How often the server looks at the file for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// A problem on one line of the file (line 1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Everything wrong with a file, in line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileErrors(pub Vec<LineError>);

impl fmt::Display for FileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        for (index, error) in self.0.iter().take(SHOWN).enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        if self.0.len() > SHOWN {
            write!(f, "; and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// One column of the file.
#[derive(Debug, Clone, Copy)]
enum Column {
    Email,
    ApplicationId,
    ExpiresAt,
    /// Index into [`Header::attributes`].
    Attribute(u16),
}

/// The header row: what each column holds, and the attribute columns' names.
#[derive(Debug, Clone, Default)]
struct Header {
    columns: Vec<Column>,
    /// One per attribute column.
    attributes: Vec<AttributeColumn>,
}

/// An attribute column: `[!]name[:type]`.
#[derive(Debug, Clone)]
struct AttributeColumn {
    name: Arc<str>,
    /// `!name`: imposed at submit instead of only prefilled.
    enforced: bool,
    /// `name:int`, `name:boolean`; text without a type.
    kind: ValueType,
}

/// One data row's non-empty cells, borrowed from the reader.
struct Cells<'r> {
    email: &'r str,
    application_id: Option<&'r str>,
    expires_at: Option<Expiry>,
    /// (attribute column, value)
    attributes: Vec<(u16, &'r str)>,
}

/// One data row, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub email: EmailAddress,
    pub invitation: Invitation,
    pub line: u64,
}

/// Reads CSV text row by row, handing each row's cells to `row`; every problem (the reader's or
/// `row`'s) is collected with its line number.
fn parse(
    text: &[u8],
    mut row: impl FnMut(&Header, u64, Cells<'_>) -> Result<(), String>,
) -> Result<Header, FileErrors> {
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let header = match reader.byte_headers() {
        Ok(headers) => parse_header(headers)?,
        Err(error) => {
            return Err(FileErrors(vec![LineError {
                line: 1,
                message: error.to_string(),
            }]));
        }
    };
    let mut errors = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                errors.push(LineError {
                    line,
                    message: error.to_string(),
                });
                if matches!(error.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(line, |position| position.line());
        if record.iter().all(<[u8]>::is_empty) {
            continue;
        }
        let outcome = read_cells(&header, &record).and_then(|cells| row(&header, line, cells));
        if let Err(message) = outcome {
            errors.push(LineError { line, message });
        }
    }
    if errors.is_empty() {
        Ok(header)
    } else {
        Err(FileErrors(errors))
    }
}

fn parse_header(headers: &csv::ByteRecord) -> Result<Header, FileErrors> {
    let header_error = |message: String| FileErrors(vec![LineError { line: 1, message }]);
    let mut header = Header::default();
    let mut seen = std::collections::HashSet::new();
    for cell in headers {
        let name = std::str::from_utf8(cell)
            .map_err(|_| header_error("the header is not UTF-8".to_owned()))?;
        let column = match name {
            n if n.eq_ignore_ascii_case(EMAIL) => Column::Email,
            n if n.eq_ignore_ascii_case(APPLICATION_ID) => Column::ApplicationId,
            n if n.eq_ignore_ascii_case(EXPIRES_AT) => Column::ExpiresAt,
            n => {
                let attribute = parse_attribute_column(n).map_err(header_error)?;
                let index = u16::try_from(header.attributes.len())
                    .map_err(|_| header_error("too many attribute columns".to_owned()))?;
                header.attributes.push(attribute);
                Column::Attribute(index)
            }
        };
        // One column per name (in any case, with or without a type), and one per `!name`.
        let key = match column {
            Column::Attribute(index) => {
                let attribute = &header.attributes[usize::from(index)];
                InvitationAttribute::column(&attribute.name, attribute.enforced, ValueType::String)
                    .to_ascii_lowercase()
            }
            _ => name.to_ascii_lowercase(),
        };
        if !seen.insert(key) {
            return Err(header_error(format!("column {name:?} appears twice")));
        }
        header.columns.push(column);
    }
    for required in [EMAIL, APPLICATION_ID, EXPIRES_AT] {
        if !seen.contains(required) {
            return Err(header_error(format!(
                "the header must start with email,application_id,expires_at (column {required:?} is missing)"
            )));
        }
    }
    Ok(header)
}

/// `[!]name[:type]` → the column; the error says what is wrong with it.
fn parse_attribute_column(text: &str) -> Result<AttributeColumn, String> {
    let (enforced, rest) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (name, kind) = match rest.split_once(':') {
        None => (rest, ValueType::String),
        Some((name, kind)) => (
            name,
            ValueType::parse(kind).ok_or_else(|| {
                format!("column {text:?} has an unknown type {kind:?} (string, int or boolean)")
            })?,
        ),
    };
    if !is_attribute_name(name) {
        return Err(format!(
            "column {text:?} is not an attribute name (letters, digits and '_', starting with a letter; '!' in front to enforce it, ':int' or ':boolean' after it for its type)"
        ));
    }
    Ok(AttributeColumn {
        name: name.into(),
        enforced,
        kind,
    })
}

pub(crate) fn is_attribute_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn read_cells<'r>(header: &Header, record: &'r csv::ByteRecord) -> Result<Cells<'r>, String> {
    if record.len() > header.columns.len() {
        return Err(format!(
            "{} cells but the header has {} columns",
            record.len(),
            header.columns.len()
        ));
    }
    let mut cells = Cells {
        email: "",
        application_id: None,
        expires_at: None,
        attributes: Vec::new(),
    };
    for (column, cell) in header.columns.iter().zip(record.iter()) {
        let cell = std::str::from_utf8(cell).map_err(|_| "a cell is not UTF-8".to_owned())?;
        if cell.is_empty() {
            continue;
        }
        match *column {
            Column::Email => cells.email = cell,
            Column::ApplicationId => cells.application_id = Some(cell),
            Column::ExpiresAt => {
                let expiry =
                    Expiry::parse(cell).map_err(|error| format!("invalid expires_at: {error}"))?;
                cells.expires_at = Some(expiry);
            }
            Column::Attribute(index) => {
                let column = &header.attributes[usize::from(index)];
                let name = &column.name;
                // Names match in any case (as Entra and B2C match them): `jobTitle` and
                // `!JOBTITLE` on one row would leave one of the values silently dropped.
                if cells.attributes.iter().any(|(other, _)| {
                    header.attributes[usize::from(*other)]
                        .name
                        .eq_ignore_ascii_case(name)
                }) {
                    return Err(format!("attribute {name} is both prefilled and enforced"));
                }
                super::check_attribute(name, cell, column.kind)?;
                cells.attributes.push((index, cell));
            }
        }
    }
    if cells.email.is_empty() {
        return Err("the e-mail address is missing".to_owned());
    }
    Ok(cells)
}

fn invalid_email(error: crate::policy::email::InvalidEmail) -> String {
    format!("invalid e-mail address: {error}")
}

/// A row as the CLI holds it.
fn to_row(header: &Header, line: u64, cells: Cells<'_>) -> Result<Row, String> {
    let email = EmailAddress::parse(cells.email).map_err(invalid_email)?;
    let attributes = cells
        .attributes
        .iter()
        .map(|&(index, value)| {
            let column = &header.attributes[usize::from(index)];
            InvitationAttribute {
                name: column.name.clone(),
                value: value.into(),
                enforced: column.enforced,
                kind: column.kind,
            }
        })
        .collect();
    let invitation = Invitation {
        application_id: cells.application_id.map(Into::into),
        expires_at: cells.expires_at,
        attributes,
    };
    Ok(Row {
        email,
        invitation,
        line,
    })
}

/// Parses rows for the CLI; a repeated address is an error of the later row.
fn parse_rows(text: &[u8]) -> (Vec<Row>, Result<(), FileErrors>) {
    let mut rows = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let parsed = parse(text, |header, line, cells| {
        let row = to_row(header, line, cells)?;
        match first_line.entry(row.email.as_str().to_owned()) {
            Entry::Occupied(first) => {
                Err(format!("duplicate of the address on line {}", first.get()))
            }
            Entry::Vacant(slot) => {
                slot.insert(line);
                rows.push(row);
                Ok(())
            }
        }
    });
    (rows, parsed.map(drop))
}

/// A stretch of [`InvitationIndex::text`].
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// One invitation in the index (32 bytes; everything variable-length lives in the text).
#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    email: Span,
    /// Line in the file, to name the first of two duplicates.
    line: u32,
    /// Index into `applications`, or [`ANY_APPLICATION`].
    application: u32,
    /// Seconds since the epoch, or [`NEVER`].
    expires_at: i64,
    /// Range of `attributes`.
    attributes: Span,
}

#[derive(Debug, Clone, Copy)]
struct AttributeRef {
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
    applications: Vec<Box<str>>,
    /// Each attribute column.
    columns: Vec<AttributeColumn>,
    attributes: Vec<AttributeRef>,
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
            attributes: Vec::new(),
        };
        let mut applications: HashMap<Box<str>, u32> = HashMap::new();
        let header = parse(text, |_, line, cells| {
            index.push(&mut applications, line, cells)
        })?;
        index.columns = header.attributes;
        index.text.shrink_to_fit();
        index.entries.shrink_to_fit();
        index.attributes.shrink_to_fit();
        Ok(index)
    }

    fn push(
        &mut self,
        applications: &mut HashMap<Box<str>, u32>,
        line: u64,
        cells: Cells<'_>,
    ) -> Result<(), String> {
        let too_large =
            || "the file is too large (the index holds at most 4 GiB of text)".to_owned();
        let start = self.text.len();
        normalise_into(cells.email, &mut self.text).map_err(invalid_email)?;
        let Self {
            text,
            entries,
            table,
            hasher,
            ..
        } = self;
        let email = &text[start..];
        let hash = hasher.hash_one(email);
        if let Some(&first) = table.find(hash, |&i| span(text, entries[i as usize].email) == email)
        {
            let first = entries[first as usize].line;
            text.truncate(start);
            return Err(format!("duplicate of the address on line {first}"));
        }
        let email = Span {
            start: u32::try_from(start).map_err(|_| too_large())?,
            len: u32::try_from(text.len() - start).map_err(|_| too_large())?,
        };
        let application = match cells.application_id {
            None => ANY_APPLICATION,
            Some(id) => match applications.get(id) {
                Some(&index) => index,
                None => {
                    let index = u32::try_from(self.applications.len()).map_err(|_| too_large())?;
                    self.applications.push(id.into());
                    applications.insert(id.into(), index);
                    index
                }
            },
        };
        let first_attribute = u32::try_from(self.attributes.len()).map_err(|_| too_large())?;
        for (column, value) in &cells.attributes {
            let start = u32::try_from(self.text.len()).map_err(|_| too_large())?;
            self.text.push_str(value);
            let len = u32::try_from(value.len()).map_err(|_| too_large())?;
            self.attributes.push(AttributeRef {
                column: *column,
                value: Span { start, len },
            });
        }
        let entry = IndexEntry {
            email,
            line: u32::try_from(line).map_err(|_| too_large())?,
            application,
            expires_at: cells.expires_at.map_or(NEVER, |expiry| expiry.0),
            attributes: Span {
                start: first_attribute,
                len: u32::try_from(cells.attributes.len()).map_err(|_| too_large())?,
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
            hasher.hash_one(span(text, entries[i as usize].email))
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
        let hash = self.hasher.hash_one(email);
        let &number = self.table.find(hash, |&i| {
            span(&self.text, self.entries[i as usize].email) == email
        })?;
        let entry = self.entries[number as usize];
        let first = entry.attributes.start as usize;
        let attributes = self.attributes[first..first + entry.attributes.len as usize]
            .iter()
            .map(|attribute| {
                let column = &self.columns[usize::from(attribute.column)];
                InvitationAttribute {
                    name: column.name.clone(),
                    value: span(&self.text, attribute.value).into(),
                    enforced: column.enforced,
                    kind: column.kind,
                }
            })
            .collect();
        Some(Invitation {
            application_id: (entry.application != ANY_APPLICATION)
                .then(|| self.applications[entry.application as usize].clone()),
            expires_at: (entry.expires_at != NEVER).then_some(Expiry(entry.expires_at)),
            attributes,
        })
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
            attributes: Vec::new(),
        }
    }
}

fn span(text: &str, span: Span) -> &str {
    let start = span.start as usize;
    &text[start..start + span.len as usize]
}

/// The file as the CLI edits it: rows in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvitationFile {
    pub rows: Vec<Row>,
}

/// What writing one invitation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Added,
    Updated,
    /// The address had this very invitation already.
    Unchanged,
}

impl InvitationFile {
    /// Reads a file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read(path) {
            Ok(text) => {
                Self::parse(&text).map_err(|errors| format!("{}: {errors}", path.display()))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(format!("{}: {error}", path.display())),
        }
    }

    /// Parses CSV text; any problem, duplicates included, is an error.
    pub fn parse(text: &[u8]) -> Result<Self, FileErrors> {
        let (rows, parsed) = parse_rows(text);
        parsed.map(|()| Self { rows })
    }

    /// Parses CSV text for import: the valid rows, and the problems of the others (a repeated
    /// address is a problem of the later row).
    pub fn parse_lenient(text: &[u8]) -> (Vec<Row>, Vec<LineError>) {
        let (rows, parsed) = parse_rows(text);
        (
            rows,
            parsed.err().map(|errors| errors.0).unwrap_or_default(),
        )
    }

    pub fn find(&self, email: &EmailAddress) -> Option<&Row> {
        self.rows.iter().find(|row| row.email == *email)
    }

    /// Adds the invitation, or replaces the one this address already holds.
    pub fn upsert(&mut self, email: EmailAddress, invitation: Invitation) -> Upsert {
        match self.rows.iter_mut().find(|row| row.email == email) {
            Some(row) if row.invitation == invitation => Upsert::Unchanged,
            Some(row) => {
                row.invitation = invitation;
                Upsert::Updated
            }
            None => {
                let line = 0;
                self.rows.push(Row {
                    email,
                    invitation,
                    line,
                });
                Upsert::Added
            }
        }
    }

    /// Removes the address's invitation; `false` when it had none.
    pub fn remove(&mut self, email: &EmailAddress) -> bool {
        let before = self.rows.len();
        self.rows.retain(|row| row.email != *email);
        self.rows.len() != before
    }

    /// The file's text: the fixed columns, then one column per attribute name (`!name` for
    /// enforced ones, `name:int` for typed ones; names in any case are one column, spelled as
    /// first seen) in order of first appearance. A name enforced (or typed) on some invitations
    /// and not on others cannot be written: a column is one or the other.
    pub fn to_csv(&self) -> Result<Vec<u8>, String> {
        let mut columns: Vec<AttributeColumn> = Vec::new();
        for row in &self.rows {
            for attribute in row.invitation.attributes.iter() {
                match columns
                    .iter()
                    .find(|column| column.name.eq_ignore_ascii_case(&attribute.name))
                {
                    None => columns.push(AttributeColumn {
                        name: attribute.name.clone(),
                        enforced: attribute.enforced,
                        kind: attribute.kind,
                    }),
                    Some(column) if column.enforced != attribute.enforced => {
                        let name = &column.name;
                        return Err(format!(
                            "attribute {name} is enforced (!{name}) on some invitations and not on others; \
                             one column cannot be both"
                        ));
                    }
                    Some(column) if column.kind != attribute.kind => {
                        return Err(format!(
                            "attribute {} is of type {} on some invitations and {} on others; one column has one type",
                            column.name,
                            column.kind.as_str(),
                            attribute.kind.as_str()
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        let mut writer = csv::Writer::from_writer(Vec::new());
        let mut header = vec![
            EMAIL.to_owned(),
            APPLICATION_ID.to_owned(),
            EXPIRES_AT.to_owned(),
        ];
        header.extend(
            columns.iter().map(|column| {
                InvitationAttribute::column(&column.name, column.enforced, column.kind)
            }),
        );
        writer.write_record(&header).map_err(|e| e.to_string())?;
        for row in &self.rows {
            let invitation = &row.invitation;
            let mut record = vec![
                row.email.as_str().to_owned(),
                invitation
                    .application_id
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned(),
                invitation
                    .expires_at
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            ];
            record.extend(columns.iter().map(|column| {
                invitation
                    .attributes
                    .iter()
                    .find(|a| a.name.eq_ignore_ascii_case(&column.name))
                    .map(|a| a.value.to_string())
                    .unwrap_or_default()
            }));
            writer.write_record(&record).map_err(|e| e.to_string())?;
        }
        writer.into_inner().map_err(|e| e.to_string())
    }

    /// Replaces the file atomically: a reader sees the old file or the new one, never half.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = self.to_csv()?;
        write_atomically(path, &text).map_err(|error| format!("{}: {error}", path.display()))
    }
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

/// What identifies one version of the file, to notice edits cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signature {
    modified: Option<SystemTime>,
    length: u64,
    #[cfg(unix)]
    inode: u64,
}

impl Signature {
    fn of(path: &Path) -> Option<Self> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Self {
            modified: metadata.modified().ok(),
            length: metadata.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(&metadata),
        })
    }
}

/// The file-backed store the server uses.
pub struct CsvStore {
    path: PathBuf,
    current: RwLock<Arc<InvitationIndex>>,
    /// The version of the file `current` came from (or the last bad version, so it is reported once).
    seen: RwLock<Option<Signature>>,
}

impl CsvStore {
    /// Loads the file at start-up: a missing file is no invitations (and says so), a bad one is
    /// an error with every problem and its line.
    pub fn open(path: PathBuf) -> Result<Self, String> {
        let signature = Signature::of(&path);
        let map = match std::fs::read(&path) {
            Ok(text) => InvitationIndex::parse(&text)
                .map_err(|errors| format!("{}: {errors}", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                log::info!(
                    "invitation file {} not found: no invitations until it appears",
                    path.display()
                );
                InvitationIndex::default()
            }
            Err(error) => return Err(format!("{}: {error}", path.display())),
        };
        log::info!("loaded {} invitation(s) from {}", map.len(), path.display());
        Ok(Self {
            path,
            current: RwLock::new(Arc::new(map)),
            seen: RwLock::new(signature),
        })
    }

    pub fn len(&self) -> usize {
        self.snapshot().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self) -> Arc<InvitationIndex> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Looks at the file once; reloads it when it changed. Blocking (file I/O).
    pub fn reload_if_changed(&self) {
        let signature = Signature::of(&self.path);
        {
            let seen = self
                .seen
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if *seen == signature {
                return;
            }
        }
        *self
            .seen
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = signature;
        let map = match std::fs::read(&self.path) {
            Ok(text) => match InvitationIndex::parse(&text) {
                Ok(map) => map,
                Err(errors) => {
                    log::error!(
                        "invitation file {} changed but is invalid; keeping the last good {} invitation(s): {errors}",
                        self.path.display(),
                        self.len()
                    );
                    return;
                }
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                log::warn!(
                    "invitation file {} was removed: no invitations until it reappears",
                    self.path.display()
                );
                InvitationIndex::default()
            }
            Err(error) => {
                log::error!(
                    "cannot read invitation file {}: {error}; keeping the last good set",
                    self.path.display()
                );
                // Try again next time.
                *self
                    .seen
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
                return;
            }
        };
        log::info!(
            "reloaded {} invitation(s) from {}",
            map.len(),
            self.path.display()
        );
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(map);
    }

    /// Keeps the map in step with the file for as long as the runtime runs.
    pub fn watch(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(RELOAD_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let store = self.clone();
                if let Err(error) =
                    tokio::task::spawn_blocking(move || store.reload_if_changed()).await
                {
                    log::error!("invitation reload failed: {error}");
                }
            }
        });
    }
}

impl InvitationStore for CsvStore {
    fn find<'a>(
        &'a self,
        email: &'a EmailAddress,
    ) -> BoxFuture<'a, Result<Option<Invitation>, StoreError>> {
        let found = self.snapshot().get(email.as_str());
        Box::pin(std::future::ready(Ok(found)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
email,application_id,expires_at,displayName,!jobTitle
ada@fabrikam.com,,,Ada Lovelace,Engineer
Grace@Contoso.com,93fd07aa-0000-0000-0000-000000000000,2030-01-01,,
\"\"\"quoted, name\"\"@contoso.com\",,2030-01-01T12:00:00Z,\"Doe, Jane\",
";

    #[test]
    fn parses_the_documented_layout() {
        let map = InvitationIndex::parse(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(map.len(), 3);
        let ada = map.get("ada@fabrikam.com").unwrap();
        assert_eq!(ada.application_id, None);
        assert_eq!(ada.expires_at, None);
        assert_eq!(
            ada.attributes
                .iter()
                .map(|a| (&*a.name, &*a.value, a.enforced))
                .collect::<Vec<_>>(),
            vec![
                ("displayName", "Ada Lovelace", false),
                ("jobTitle", "Engineer", true)
            ]
        );
        let grace = map.get("grace@contoso.com").unwrap();
        assert_eq!(
            grace.application_id.as_deref(),
            Some("93fd07aa-0000-0000-0000-000000000000")
        );
        assert_eq!(grace.expires_at, Some(Expiry::parse("2030-01-01").unwrap()));
        assert!(grace.attributes.is_empty());
        assert_eq!(
            &*map.get("\"quoted, name\"@contoso.com").unwrap().attributes[0].value,
            "Doe, Jane"
        );
    }

    #[test]
    fn reports_every_bad_line_with_its_number() {
        let text = "\
email,application_id,expires_at,displayName
ada@fabrikam.com,,,Ada
not-an-address,,,
bob@fabrikam.com,,next week,
ADA@fabrikam.com,,,
carol@fabrikam.com,,,x,extra
,app,,
";
        let errors = InvitationIndex::parse(text.as_bytes()).unwrap_err().0;
        let lines: Vec<(u64, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(lines.len(), 5, "{errors:?}");
        assert_eq!(lines[0].0, 3);
        assert!(lines[0].1.starts_with("invalid e-mail address"));
        assert_eq!(lines[1].0, 4);
        assert!(lines[1].1.starts_with("invalid expires_at"));
        assert_eq!(lines[2], (5, "duplicate of the address on line 2"));
        assert_eq!(lines[3], (6, "5 cells but the header has 4 columns"));
        assert_eq!(lines[4], (7, "the e-mail address is missing"));
    }

    #[test]
    fn writes_one_column_per_name_and_refuses_a_name_both_enforced_and_not() {
        let mut file = InvitationFile::parse(
            b"email,application_id,expires_at,!jobTitle\na@x.example,,,Engineer\n",
        )
        .unwrap();
        let attribute = |name: &str, enforced| InvitationAttribute {
            name: Arc::from(name),
            value: "Boss".into(),
            enforced,
            kind: ValueType::String,
        };
        let invitation = |attributes| Invitation {
            application_id: None,
            expires_at: None,
            attributes,
        };
        let b = EmailAddress::parse("b@x.example").unwrap();
        file.upsert(
            b.clone(),
            invitation(Box::new([attribute("JOBTITLE", true)])),
        );
        let written = file.to_csv().unwrap();
        assert_eq!(
            String::from_utf8(written.clone()).unwrap(),
            "email,application_id,expires_at,!jobTitle\na@x.example,,,Engineer\nb@x.example,,,Boss\n"
        );
        assert!(InvitationFile::parse(&written).is_ok());
        file.upsert(b, invitation(Box::new([attribute("jobtitle", false)])));
        assert_eq!(
            file.to_csv().unwrap_err(),
            "attribute jobTitle is enforced (!jobTitle) on some invitations and not on others; one column cannot be both"
        );
    }

    #[test]
    fn refuses_bad_headers() {
        for (text, expected) in [
            ("email,expires_at\n", "column \"application_id\" is missing"),
            (
                "email,application_id,expires_at,display name\n",
                "is not an attribute name",
            ),
            ("email,application_id,expires_at,x,X\n", "appears twice"),
        ] {
            let errors = InvitationIndex::parse(text.as_bytes()).unwrap_err();
            assert_eq!(errors.0[0].line, 1);
            assert!(errors.to_string().contains(expected), "{errors}");
        }
    }

    #[test]
    fn tolerates_a_byte_order_mark_blank_lines_and_short_rows() {
        let text = "\u{feff}email,application_id,expires_at,displayName\n\nada@fabrikam.com\n";
        let map = InvitationIndex::parse(text.as_bytes()).unwrap();
        assert_eq!(map.get("ada@fabrikam.com").unwrap(), Invitation::default());
    }

    #[test]
    fn the_file_round_trips() {
        let file = InvitationFile::parse(EXAMPLE.as_bytes()).unwrap();
        let text = file.to_csv().unwrap();
        let again = InvitationFile::parse(&text).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "email,application_id,expires_at,displayName,!jobTitle\n\
             ada@fabrikam.com,,,Ada Lovelace,Engineer\n\
             grace@contoso.com,93fd07aa-0000-0000-0000-000000000000,2030-01-01,,\n\
             \"\"\"quoted, name\"\"@contoso.com\",,2030-01-01T12:00:00Z,\"Doe, Jane\",\n"
        );
        let strip = |file: &InvitationFile| {
            file.rows
                .iter()
                .map(|r| (r.email.clone(), r.invitation.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&again), strip(&file));
    }

    #[test]
    fn saving_replaces_the_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invitations.csv");
        let mut file = InvitationFile::load(&path).unwrap();
        assert!(file.rows.is_empty());
        let email = EmailAddress::parse("ada@fabrikam.com").unwrap();
        assert_eq!(
            file.upsert(email.clone(), Invitation::default()),
            Upsert::Added
        );
        assert_eq!(
            file.upsert(email.clone(), Invitation::default()),
            Upsert::Unchanged
        );
        let other = Invitation {
            application_id: Some("app".into()),
            ..Invitation::default()
        };
        assert_eq!(file.upsert(email.clone(), other), Upsert::Updated);
        assert_eq!(
            file.upsert(email.clone(), Invitation::default()),
            Upsert::Updated
        );
        file.save(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "email,application_id,expires_at\nada@fabrikam.com,,\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left behind"
        );
        assert!(file.remove(&email));
        assert!(!file.remove(&email));
    }

    #[test]
    fn the_store_reloads_good_edits_and_keeps_the_last_good_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invitations.csv");
        let store = CsvStore::open(path.clone()).unwrap();
        assert!(store.is_empty());
        std::fs::write(
            &path,
            "email,application_id,expires_at\nada@fabrikam.com,,\n",
        )
        .unwrap();
        store.reload_if_changed();
        assert_eq!(store.len(), 1);
        std::fs::write(
            &path,
            "email,application_id,expires_at\nnot an address,,\nbob@fabrikam.com,,\n",
        )
        .unwrap();
        store.reload_if_changed();
        assert_eq!(store.len(), 1);
        assert!(store.snapshot().get("ada@fabrikam.com").is_some());
        std::fs::remove_file(&path).unwrap();
        store.reload_if_changed();
        assert!(store.is_empty());
    }

    #[test]
    fn a_bad_file_at_start_up_is_an_error_with_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("invitations.csv");
        std::fs::write(
            &path,
            "email,application_id,expires_at\nada@fabrikam.com,,soon\n",
        )
        .unwrap();
        let error = CsvStore::open(path).err().unwrap();
        assert!(error.ends_with("invitations.csv: line 2: invalid expires_at: \"soon\" is not an RFC 3339 date (2026-12-31) or date-time (2026-12-31T18:00:00Z)"), "{error}");
    }
}
