//! The invitation file's format: a CSV with the header `email,application_id,expires_at`
//! followed by any attribute columns (`displayName`, `jobTitle`, `extension_<appid>_Team`; a
//! leading `!` marks a column enforced at submit instead of only prefilled, a trailing `:int` or
//! `:boolean` its type). Empty cells mean "any application", "never expires" and "no value".
//! Reading collects every problem with its line number.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::sync::Arc;

use crate::domain::email::{EmailAddress, InvalidEmail};
use crate::domain::invitation::{
    ApplicationId, ClaimValue, Expiry, Invitation, InvitationAttribute, InvitationClaim, ValueType,
    check_attribute, check_claim_name, check_claims, is_attribute_name,
};

/// The fixed leading columns.
pub(super) const EMAIL: &str = "email";
pub(super) const APPLICATION_ID: &str = "application_id";
pub(super) const EXPIRES_AT: &str = "expires_at";

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
#[derive(Debug, Clone, Copy)]
pub(super) enum Column {
    Email,
    ApplicationId,
    ExpiresAt,
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
pub(super) struct Cells<'r> {
    pub(super) email: &'r str,
    pub(super) application_id: Option<ApplicationId>,
    pub(super) expires_at: Option<Expiry>,
    /// (attribute column, value)
    pub(super) attributes: Vec<(u16, &'r str)>,
    /// (claim column, value)
    pub(super) claims: Vec<(u16, &'r str)>,
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
    let mut cells = Cells {
        email: "",
        application_id: None,
        expires_at: None,
        attributes: Vec::new(),
        claims: Vec::new(),
    };
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
    if cells.email.is_empty() {
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
        application_id: cells.application_id.clone(),
        expires_at: cells.expires_at,
        attributes,
        claims: claims_of(header, &cells)?,
    };
    Ok(Row {
        email,
        invitation,
        line,
    })
}

/// Parses rows for the CLI; a repeated address is an error of the later row.
/// Every row that reads, and every problem (the header's, or each bad row's).
pub(super) fn parse_rows(text: &[u8]) -> (Vec<Row>, Result<(), FileErrors>) {
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
