//! The invitation file's format: a CSV with the header `email,application_id,expires_at`
//! followed by any attribute columns (`displayName`, `jobTitle`, `extension_<appid>_Team`; a
//! leading `!` marks a column enforced at submit instead of only prefilled, a trailing `:int` or
//! `:boolean` its type) and claim columns (`claim:department`, `claim:app_roles[]`). Empty cells
//! mean "any application", "never expires" and "no value".
//!
//! Optional columns carry the rest of an invitation's life, as `export` writes them: `id`,
//! `code_sha256` (a code invitation: the SHA-256 of its code; the `email` cell is then the
//! address it is bound to, or empty), `uses` (`unlimited` or a number), `used` and `use_keys`
//! (the uses claimed, and by which sign-ups), `revoked_at`, `signed_up_at` and
//! `signed_up_application`. A file without them reads as it always did. Reading collects every
//! problem with its line number.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use crate::domain::email::{EmailAddress, InvalidEmail};
use crate::domain::invitation::{
    ApplicationId, ClaimValue, CodeDigest, Expiry, Invitation, InvitationAttribute,
    InvitationClaim, InvitationId, InvitationKey, InvitationParts, MAX_USES, UseKey, Uses,
    ValueType, check_attribute, check_claim_name, check_claims, is_attribute_name,
};
use crate::invitations::{SignedUp, StoredInvitation};

/// The fixed leading columns.
pub(super) const EMAIL: &str = "email";
pub(super) const APPLICATION_ID: &str = "application_id";
pub(super) const EXPIRES_AT: &str = "expires_at";

/// The optional columns of an invitation's life, in the order they are written.
pub(super) const LIFE: [(&str, Column); 8] = [
    ("id", Column::Id),
    ("code_sha256", Column::Code),
    ("uses", Column::Uses),
    ("used", Column::Used),
    ("use_keys", Column::UseKeys),
    ("revoked_at", Column::RevokedAt),
    ("signed_up_at", Column::SignedUpAt),
    ("signed_up_application", Column::SignedUpApplication),
];

/// A problem on one line of the file (line 1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub(crate) line: u64,
    pub(crate) message: String,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    Email,
    ApplicationId,
    ExpiresAt,
    Id,
    Code,
    Uses,
    Used,
    UseKeys,
    RevokedAt,
    SignedUpAt,
    SignedUpApplication,
    /// Index into [`Header::attributes`].
    Attribute(u16),
    /// Index into [`Header::claims`].
    Claim(u16),
}

/// The header row: what each column holds, and the attribute columns' names.
#[derive(Debug, Clone, Default)]
pub(super) struct Header {
    columns: Vec<Column>,
    /// One per attribute column.
    pub(super) attributes: Vec<AttributeColumn>,
    /// One per claim column.
    pub(super) claims: Vec<ClaimColumn>,
}

/// A claim column: `claim:<name>` (a string) or `claim:<name>[]` (a list, `;` between items).
#[derive(Debug, Clone)]
pub(super) struct ClaimColumn {
    pub(super) name: Arc<str>,
    pub(super) list: bool,
}

impl ClaimColumn {
    /// The column's header: `claim:name` or `claim:name[]`.
    pub(super) fn header(&self) -> String {
        format!(
            "{CLAIM_PREFIX}{}{}",
            self.name,
            if self.list { "[]" } else { "" }
        )
    }

    /// A cell's value as the claim holds it; `None` for a list without items.
    pub(super) fn value(&self, cell: &str) -> Option<ClaimValue> {
        if self.list {
            ClaimValue::list(cell)
        } else {
            ClaimValue::one(cell)
        }
    }
}

/// What a claim column's header starts with.
pub(super) const CLAIM_PREFIX: &str = "claim:";

/// The file's own column an attribute would be written as, if any: a text attribute that is
/// not enforced is written under its bare name, so one named like a column (in any case) would
/// be read back as that column (`id:string` as `id`). `!id` and `id:int` are written as they are.
pub(super) fn clashing_column(name: &str, enforced: bool, kind: ValueType) -> Option<&'static str> {
    if enforced || kind != ValueType::String {
        return None;
    }
    [EMAIL, APPLICATION_ID, EXPIRES_AT]
        .into_iter()
        .chain(LIFE.iter().map(|(column, _)| *column))
        .find(|column| column.eq_ignore_ascii_case(name))
}

/// An attribute column: `[!]name[:type]`.
#[derive(Debug, Clone)]
pub(super) struct AttributeColumn {
    pub(super) name: Arc<str>,
    /// `!name`: imposed at submit instead of only prefilled.
    pub(super) enforced: bool,
    /// `name:int`, `name:boolean`; text without a type.
    pub(super) kind: ValueType,
}

/// One data row's non-empty cells, borrowed from the reader.
#[derive(Default)]
pub(super) struct Cells<'r> {
    /// The invited address, or (with `code`) the address the code is bound to.
    pub(super) email: &'r str,
    pub(super) application_id: Option<ApplicationId>,
    pub(super) expires_at: Option<Expiry>,
    pub(super) id: Option<InvitationId>,
    pub(super) code: Option<CodeDigest>,
    pub(super) uses: Uses,
    pub(super) used: u32,
    pub(super) use_keys: Vec<UseKey>,
    pub(super) revoked_at: Option<Expiry>,
    pub(super) signed_up_at: Option<&'r str>,
    pub(super) signed_up_application: Option<&'r str>,
    /// (attribute column, value)
    pub(super) attributes: Vec<(u16, &'r str)>,
    /// (claim column, value)
    pub(super) claims: Vec<(u16, &'r str)>,
}

/// One data row, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub entry: StoredInvitation,
    pub line: u64,
    /// Written without an id: not from an export (`import` gives it what new invitations get).
    pub fresh: bool,
}

/// Reads CSV text row by row, handing each row's cells to `row`; every problem (the reader's or
/// `row`'s) is collected with its line number.
pub(super) fn parse(
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
    // Excel writes `;` between cells in many locales: the whole header is then one cell.
    if let Some(first) = headers.get(0)
        && headers.len() == 1
        && first.contains(&b';')
        && first
            .get(..EMAIL.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(EMAIL.as_bytes()))
    {
        return Err(header_error(
            "the file must be comma-separated (',' between cells), but its header is separated by ';' \
             (as Excel writes in some locales): save it as 'CSV UTF-8 (Comma delimited)', or replace ';' by ','"
                .to_owned(),
        ));
    }
    for cell in headers {
        let name = std::str::from_utf8(cell)
            .map_err(|_| header_error("the header is not UTF-8".to_owned()))?;
        let column = match name {
            n if n.eq_ignore_ascii_case(EMAIL) => Column::Email,
            n if n.eq_ignore_ascii_case(APPLICATION_ID) => Column::ApplicationId,
            n if n.eq_ignore_ascii_case(EXPIRES_AT) => Column::ExpiresAt,
            n if let Some((_, column)) =
                LIFE.iter().find(|(name, _)| n.eq_ignore_ascii_case(name)) =>
            {
                *column
            }
            n if n
                .get(..CLAIM_PREFIX.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(CLAIM_PREFIX)) =>
            {
                let claim = parse_claim_column(n).map_err(header_error)?;
                let index = u16::try_from(header.claims.len())
                    .map_err(|_| header_error("too many claim columns".to_owned()))?;
                header.claims.push(claim);
                Column::Claim(index)
            }
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
            Column::Claim(index) => {
                format!("{CLAIM_PREFIX}{}", header.claims[usize::from(index)].name)
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

/// `claim:name` or `claim:name[]` → the column; the error says what is wrong with it.
fn parse_claim_column(text: &str) -> Result<ClaimColumn, String> {
    let rest = text.get(CLAIM_PREFIX.len()..).unwrap_or_default();
    let (name, list) = match rest.strip_suffix("[]") {
        Some(name) => (name, true),
        None => (rest, false),
    };
    check_claim_name(name).map_err(|error| format!("column {text:?}: {error}"))?;
    Ok(ClaimColumn {
        name: name.into(),
        list,
    })
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
    if let Some(reserved) = clashing_column(name, enforced, kind) {
        return Err(format!(
            "column {text:?} would be written back as {reserved:?}, one of the file's own columns: \
             write {reserved:?} for that column, or give the attribute another name"
        ));
    }
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

fn read_cells<'r>(header: &Header, record: &'r csv::ByteRecord) -> Result<Cells<'r>, String> {
    if record.len() > header.columns.len() {
        return Err(format!(
            "{} cells but the header has {} columns",
            record.len(),
            header.columns.len()
        ));
    }
    let mut cells = Cells::default();
    for (column, cell) in header.columns.iter().zip(record.iter()) {
        let cell = std::str::from_utf8(cell).map_err(|_| "a cell is not UTF-8".to_owned())?;
        if cell.is_empty() {
            continue;
        }
        match *column {
            Column::Email => cells.email = cell,
            Column::ApplicationId => {
                let id = ApplicationId::parse(cell).map_err(|error| {
                    format!("invalid application_id: {error} (an application's client id)")
                })?;
                cells.application_id = Some(id);
            }
            Column::ExpiresAt => {
                let expiry =
                    Expiry::parse(cell).map_err(|error| format!("invalid expires_at: {error}"))?;
                cells.expires_at = Some(expiry);
            }
            Column::Id => {
                cells.id = Some(InvitationId::parse(cell).ok_or_else(|| {
                    format!("invalid id {cell:?} (inv_ and 16 letters and digits)")
                })?);
            }
            Column::Code => {
                cells.code = Some(CodeDigest::parse(cell).ok_or_else(|| {
                    "invalid code_sha256: 64 hex digits, the SHA-256 of a code".to_owned()
                })?);
            }
            Column::Uses => {
                cells.uses = Uses::parse(cell).ok_or_else(|| {
                    format!("invalid uses {cell:?}: 'unlimited' or a number from 1 to {MAX_USES}")
                })?;
            }
            Column::Used => {
                cells.used = cell
                    .parse()
                    .map_err(|_| format!("invalid used {cell:?}: a whole number"))?;
            }
            Column::UseKeys => {
                cells.use_keys = cell
                    .split_whitespace()
                    .map(|key| {
                        UseKey::parse(key).ok_or_else(|| {
                            format!("invalid use_keys: {key:?} is not 16 hex digits")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // Refused here, not only when the invitation is built, so that the server (which
                // keeps no record of uses for a file) refuses the same files as the CLI.
                if cells.use_keys.len() > MAX_USES as usize {
                    return Err(format!(
                        "invalid use_keys: {} sign-ups recorded, more than the {MAX_USES} an invitation may have",
                        cells.use_keys.len()
                    ));
                }
            }
            Column::RevokedAt => {
                cells.revoked_at = Some(
                    Expiry::parse(cell).map_err(|error| format!("invalid revoked_at: {error}"))?,
                );
            }
            Column::SignedUpAt => cells.signed_up_at = Some(cell),
            Column::SignedUpApplication => cells.signed_up_application = Some(cell),
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
                check_attribute(name, cell, column.kind).map_err(|error| error.to_string())?;
                cells.attributes.push((index, cell));
            }
            Column::Claim(index) => cells.claims.push((index, cell)),
        }
    }
    if cells.email.is_empty() && cells.code.is_none() {
        return Err("the e-mail address is missing".to_owned());
    }
    if !cells.claims.is_empty() {
        // Their size together, now that the row's claims are known.
        claims_of(header, &cells)?;
    }
    Ok(cells)
}

/// A row's claims, checked together (at most 3 KB as JSON).
pub(super) fn claims_of(
    header: &Header,
    cells: &Cells<'_>,
) -> Result<Box<[InvitationClaim]>, String> {
    let claims: Box<[InvitationClaim]> = cells
        .claims
        .iter()
        .filter_map(|&(index, cell)| {
            let column = &header.claims[usize::from(index)];
            Some(InvitationClaim {
                name: column.name.clone(),
                value: column.value(cell)?,
            })
        })
        .collect();
    check_claims(&claims).map_err(|error| error.to_string())?;
    Ok(claims)
}

pub(super) fn invalid_email(error: InvalidEmail) -> String {
    format!("invalid e-mail address: {error}")
}

/// A row's key: its code, or its address.
pub(super) fn key_of(cells: &Cells<'_>) -> Result<InvitationKey, String> {
    match cells.code {
        Some(digest) => Ok(InvitationKey::Code(digest)),
        None => EmailAddress::parse(cells.email)
            .map(InvitationKey::Email)
            .map_err(invalid_email),
    }
}

/// A row's invitation, checked as every invitation is.
pub(super) fn invitation_of(
    header: &Header,
    cells: &Cells<'_>,
    key: &InvitationKey,
) -> Result<Invitation, String> {
    let bound_to = match (key, cells.email) {
        (InvitationKey::Code(_), "") => None,
        (InvitationKey::Code(_), email) => Some(EmailAddress::parse(email).map_err(invalid_email)?),
        (InvitationKey::Email(_), _) => None,
    };
    let attributes = cells
        .attributes
        .iter()
        .map(|&(index, value)| {
            let column = &header.attributes[usize::from(index)];
            InvitationAttribute::trusted(column.name.clone(), value, column.enforced, column.kind)
        })
        .collect();
    let parts = InvitationParts {
        id: cells.id.clone(),
        application_id: cells.application_id.clone(),
        expires_at: cells.expires_at,
        attributes,
        claims: claims_of(header, cells)?.into_vec(),
        uses: cells.uses,
        bound_to,
        revoked_at: cells.revoked_at,
        used: cells.used,
        use_keys: cells.use_keys.clone(),
    };
    Invitation::new(parts, key).map_err(|error| error.to_string())
}

/// A row as the CLI holds it.
fn to_row(header: &Header, line: u64, cells: Cells<'_>) -> Result<Row, String> {
    let key = key_of(&cells)?;
    let fresh = cells.id.is_none();
    let invitation = invitation_of(header, &cells, &key)?;
    let signed_up: Option<SignedUp> = cells.signed_up_at.map(|at| {
        (
            at.to_owned(),
            cells.signed_up_application.map(str::to_owned),
        )
    });
    Ok(Row {
        entry: StoredInvitation {
            key,
            invitation,
            signed_up,
        },
        line,
        fresh,
    })
}

/// Parses rows for the CLI: every row that reads, and every problem (the header's, or each bad
/// row's; a repeated address or code is a problem of the later row).
pub(super) fn parse_rows(text: &[u8]) -> (Vec<Row>, Result<(), FileErrors>) {
    let mut rows = Vec::new();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let parsed = parse(text, |header, line, cells| {
        let row = to_row(header, line, cells)?;
        match first_line.entry(row.entry.key.text()) {
            Entry::Occupied(first) => Err(match row.entry.key {
                InvitationKey::Email(_) => {
                    format!("duplicate of the address on line {}", first.get())
                }
                InvitationKey::Code(_) => format!("duplicate of the code on line {}", first.get()),
            }),
            Entry::Vacant(slot) => {
                slot.insert(line);
                rows.push(row);
                Ok(())
            }
        }
    });
    (rows, parsed.map(drop))
}
