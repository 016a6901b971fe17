//! One invitation as a table entity, and back.
//!
//! The key of an address is its domain (PartitionKey) and its local part (RowKey), escaped so
//! that no character the Table service forbids in keys, and none that needs URL quoting,
//! remains. A code invitation lives in the partition `~code` under the hex SHA-256 of its code;
//! the address a code was redeemed by is noted in the partition `~redeemed` (no domain's
//! escaped key starts with `~` followed by a lower-case letter). Properties: `Email` (a code's:
//! the address it is bound to), `Id`, `ApplicationId`, `ExpiresAt` (text, as in the file),
//! `Attributes` and `Enforced` (JSON objects of name → text, whole number or true/false, the
//! JSON type being the attribute's type), `Claims` (a JSON object of name → text or a list of
//! text), `Uses` (a limited invitation's number of uses), `RevokedAt`; and what the server
//! records: `Used`, `UseKeys` (the sign-ups that claimed a use), `SignedUpAt`,
//! `SignedUpApplication`.
//!
//! Rows may be written by other tools (Storage Explorer, the SDKs), so reading checks every
//! property it uses: one of the wrong type, an `Email` whose keys are not the row's, an attribute
//! name or value the file reader would refuse, make the row malformed. A malformed row never
//! admits anyone; it is reported with its keys masked.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::domain::email::EmailAddress;
use crate::domain::invitation::{
    ApplicationId, ClaimValue, CodeDigest, Expiry, Invitation, InvitationAttribute,
    InvitationClaim, InvitationId, InvitationKey, InvitationParts, UseKey, Uses, ValueType,
    claims_json,
};
use crate::invitations::StoredInvitation;

/// The partition of code invitations.
pub(crate) const CODES: &str = "~code";
/// The partition of the addresses codes were redeemed by.
pub(crate) const REDEEMED: &str = "~redeemed";
/// Properties the server writes on an invitation, which the CLI keeps when it replaces one.
pub(crate) const RECORDS: [&str; 4] = ["SignedUpAt", "SignedUpApplication", "Used", "UseKeys"];

/// PartitionKey and RowKey of an address: its domain and its local part. Every byte outside
/// `[a-z0-9._-]` becomes `~XX` (hex), so keys never hold `/ \ # ?`, control characters, quotes
/// or anything a URL would have to escape.
pub(crate) fn entity_keys(email: &EmailAddress) -> (String, String) {
    (escape_key(email.domain()), escape_key(email.local_part()))
}

/// PartitionKey and RowKey of an invitation.
pub(crate) fn keys_of(key: &InvitationKey) -> (String, String) {
    match key {
        InvitationKey::Email(email) => entity_keys(email),
        InvitationKey::Code(digest) => (CODES.to_owned(), digest.to_string()),
    }
}

/// PartitionKey and RowKey of the note that `email` redeemed a code.
pub(crate) fn redemption_keys(email: &EmailAddress) -> (String, String) {
    (REDEEMED.to_owned(), escape_key(email.as_str()))
}

pub(crate) fn escape_key(text: &str) -> String {
    let mut key = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || matches!(byte, b'.' | b'_' | b'-')
        {
            key.push(char::from(byte));
        } else {
            key.push_str(&format!("~{byte:02X}"));
        }
    }
    key
}

/// A row this product cannot use, and why. Shown in the server's logs with its keys masked
/// (the domain, and only the first character of the local part: `a***@fabrikam.com`); the CLI
/// names it by its keys as Storage Explorer shows them ([`Self::keys`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("row {} is malformed: {problem}", self.masked())]
pub struct MalformedRow {
    partition: String,
    row: String,
    pub(crate) problem: String,
}

impl MalformedRow {
    pub(crate) fn new(partition: &str, row: &str, problem: String) -> Self {
        Self {
            partition: partition.to_owned(),
            row: row.to_owned(),
            problem,
        }
    }

    /// `a***@fabrikam.com`, escaped for a log line.
    fn masked(&self) -> impl fmt::Display + '_ {
        let first = self.row.chars().next().unwrap_or('?');
        crate::printable::Printable(&format!("{first}***@{}", self.partition)).to_string()
    }

    /// `PartitionKey='fabrikam.com' RowKey='ada'`, escaped for a terminal: where the operator
    /// finds the row.
    pub(crate) fn keys(&self) -> String {
        format!(
            "PartitionKey='{}' RowKey='{}'",
            crate::printable::Printable(&self.partition),
            crate::printable::Printable(&self.row)
        )
    }
}

/// The entity of an invitation: its keys and properties, and the server's records where the
/// entry has them (an import of an export).
pub(crate) fn to_entity(entry: &StoredInvitation) -> Value {
    let invitation = &entry.invitation;
    let (partition, row) = keys_of(&entry.key);
    // Values in their declared JSON type: text, a whole number or true/false.
    let values = |enforced: bool| {
        let map: Map<String, Value> = invitation
            .attributes()
            .iter()
            .filter(|a| a.enforced() == enforced)
            .map(|a| (a.name().to_owned(), a.json()))
            .collect();
        Value::from(Value::Object(map).to_string())
    };
    let mut entity = json!({
        "PartitionKey": partition, "RowKey": row, "Id": invitation.id().as_str(),
        "Attributes": values(false), "Enforced": values(true),
    });
    if let Some(email) = entry.email() {
        entity["Email"] = Value::from(email.as_str());
    }
    if let Some(application) = invitation.application_id() {
        entity["ApplicationId"] = Value::from(application.as_str());
    }
    if let Some(expiry) = invitation.expires_at() {
        entity["ExpiresAt"] = Value::from(expiry.to_string());
    }
    if !invitation.claims().is_empty() {
        entity["Claims"] = Value::from(Value::Object(claims_json(invitation.claims())).to_string());
    }
    if let Uses::Limited(uses) = invitation.uses() {
        entity["Uses"] = Value::from(uses);
    }
    if let Some(revoked) = invitation.revoked_at() {
        entity["RevokedAt"] = Value::from(revoked.to_string());
    }
    if invitation.used() > 0 {
        entity["Used"] = Value::from(invitation.used());
        entity["UseKeys"] = Value::from(use_keys_text(invitation.use_keys()));
    }
    if let Some((at, application)) = &entry.signed_up {
        entity["SignedUpAt"] = Value::from(at.as_str());
        if let Some(application) = application {
            entity["SignedUpApplication"] = Value::from(application.as_str());
        }
    }
    entity
}

/// `UseKeys`: the keys separated by spaces.
pub(crate) fn use_keys_text(keys: &[UseKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a row of the table is.
#[derive(Debug)]
pub(crate) enum Entity {
    Invitation(Box<StoredInvitation>),
    /// `email` signed up with the code whose digest this is.
    Redemption {
        code: CodeDigest,
    },
}

/// Reads a row, checking every property it uses.
pub(crate) fn from_entity(entity: &Value) -> Result<Entity, MalformedRow> {
    let key = |name: &str| entity.get(name).and_then(Value::as_str).unwrap_or_default();
    let (partition, row) = (key("PartitionKey"), key("RowKey"));
    let malformed = |problem: String| MalformedRow::new(partition, row, problem);
    let text = |name: &str| text_property(entity, name).map_err(malformed);
    if partition == REDEEMED {
        let code = text("CodeSha256")?
            .and_then(CodeDigest::parse)
            .ok_or_else(|| malformed("its CodeSha256 is not a code's SHA-256".to_owned()))?;
        return Ok(Entity::Redemption { code });
    }
    let email = text("Email")?
        .map(|email| {
            EmailAddress::parse(email)
                .map_err(|error| malformed(format!("its Email is not a valid address: {error}")))
        })
        .transpose()?;
    let (key, bound_to) = if partition == CODES {
        let digest = CodeDigest::parse(row)
            .filter(|digest| digest.to_string() == row)
            .ok_or_else(|| {
                malformed(
                    "its RowKey is not a code's SHA-256 (64 lower-case hex digits)".to_owned(),
                )
            })?;
        (InvitationKey::Code(digest), email)
    } else {
        let email = email.ok_or_else(|| malformed("it has no Email".to_owned()))?;
        if entity_keys(&email) != (partition.to_owned(), row.to_owned()) {
            return Err(malformed(
                "its keys are not those of its Email (PartitionKey must be the domain and RowKey the \
                 escaped local part, as the CLI writes them)"
                    .to_owned(),
            ));
        }
        (InvitationKey::Email(email), None)
    };
    let mut attributes: Vec<InvitationAttribute> = Vec::new();
    for (property, enforced) in [("Attributes", false), ("Enforced", true)] {
        let Some(json) = text(property)? else {
            continue;
        };
        let values: Map<String, Value> = serde_json::from_str(json)
            .map_err(|_| malformed(format!("{property} is not a JSON object")))?;
        for (name, value) in values {
            // The JSON type is the attribute's declared type.
            let (value, kind) = match value {
                Value::String(text) => (text, ValueType::String),
                Value::Bool(flag) => (flag.to_string(), ValueType::Boolean),
                Value::Number(number) if number.is_i64() => {
                    (number.to_string(), ValueType::Integer)
                }
                other => {
                    return Err(malformed(format!(
                        "{property} gives {name} {}, not text, a whole number or true/false",
                        json_type(&other)
                    )));
                }
            };
            if attributes
                .iter()
                .any(|a| a.name().eq_ignore_ascii_case(&name))
            {
                return Err(malformed(format!(
                    "it names attribute {name} twice (names are compared in any case)"
                )));
            }
            attributes.push(
                InvitationAttribute::new(name, &value, enforced, kind)
                    .map_err(|problem| malformed(format!("{property}: {problem}")))?,
            );
        }
    }
    let claims = match text("Claims")? {
        None => Vec::new(),
        Some(json) => read_claims(json).map_err(malformed)?,
    };
    let expiry = |name: &str| -> Result<Option<Expiry>, MalformedRow> {
        text(name)?
            .map(Expiry::parse)
            .transpose()
            .map_err(|error| malformed(format!("{name}: {error}")))
    };
    let count = |name: &str| -> Result<Option<u32>, MalformedRow> {
        match entity.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => number
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| malformed(format!("{name} is not a whole number"))),
            Some(other) => Err(malformed(format!(
                "{name} is {}, not a whole number",
                json_type(other)
            ))),
        }
    };
    let uses = match count("Uses")? {
        None => Uses::Unlimited,
        Some(n) => Uses::parse(&n.to_string()).ok_or_else(|| {
            malformed(format!(
                "Uses is {n}, not 1 to {}",
                crate::domain::invitation::MAX_USES
            ))
        })?,
    };
    let use_keys = text("UseKeys")?
        .unwrap_or_default()
        .split_whitespace()
        .map(|key| {
            UseKey::parse(key)
                .ok_or_else(|| malformed(format!("UseKeys holds {key:?}, not a use key")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let id = text("Id")?
        .map(|id| {
            InvitationId::parse(id)
                .ok_or_else(|| malformed(format!("Id {id:?} is not an invitation id")))
        })
        .transpose()?;
    let parts = InvitationParts {
        id,
        application_id: text("ApplicationId")?
            .map(ApplicationId::parse)
            .transpose()
            .map_err(|error| malformed(format!("ApplicationId: {error}")))?,
        expires_at: expiry("ExpiresAt")?,
        attributes,
        claims,
        uses,
        bound_to,
        revoked_at: expiry("RevokedAt")?,
        used: count("Used")?.unwrap_or_default(),
        use_keys,
    };
    let invitation =
        Invitation::new(parts, &key).map_err(|problem| malformed(problem.to_string()))?;
    let (signed_up_at, signed_up_application) = (text("SignedUpAt")?, text("SignedUpApplication")?);
    Ok(Entity::Invitation(Box::new(StoredInvitation {
        key,
        invitation,
        signed_up: signed_up_at.map(|at| (at.to_owned(), signed_up_application.map(str::to_owned))),
    })))
}

/// `Claims`: a JSON object of claim name → a string or a list of strings, checked as the file
/// reader checks claims (names, no name twice, at most 3 KB). Empty values and items are dropped, as the file drops them.
fn read_claims(json: &str) -> Result<Vec<InvitationClaim>, String> {
    let values: Map<String, Value> =
        serde_json::from_str(json).map_err(|_| "Claims is not a JSON object".to_owned())?;
    let mut claims = Vec::new();
    for (name, value) in values {
        // Empty values and items are dropped, as the file drops them.
        let value = match value {
            Value::String(text) => ClaimValue::one(&text),
            Value::Array(items) => {
                let items = items
                    .iter()
                    .map(|item| match item {
                        Value::String(text) => Ok(text.as_str()),
                        other => Err(format!(
                            "Claims gives {name} a list holding {}, not only text",
                            json_type(other)
                        )),
                    })
                    .collect::<Result<Vec<&str>, String>>()?;
                ClaimValue::many(items)
            }
            other => {
                return Err(format!(
                    "Claims gives {name} {}, not text or a list of text",
                    json_type(&other)
                ));
            }
        };
        let Some(value) = value else {
            continue;
        };
        claims.push(InvitationClaim {
            name: name.into(),
            value,
        });
    }
    crate::domain::invitation::check_claims(&claims).map_err(|error| format!("Claims: {error}"))?;
    Ok(claims)
}

/// A text property: `None` when absent, null or empty. Any other JSON type makes the row
/// malformed: an `ExpiresAt` stored as a number must not read as "never expires", nor an
/// `ApplicationId` stored as a number as "every application". (Other tools' `Edm.DateTime`
/// and `Edm.Guid` arrive as text.)
fn text_property<'a>(entity: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match entity.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!("{name} is {}, not text", json_type(other))),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_domain_and_escaped_local_part() {
        let email = EmailAddress::parse("Ada.Lovelace+tag@Fabrikam.com").unwrap();
        assert_eq!(
            entity_keys(&email),
            ("fabrikam.com".to_owned(), "ada.lovelace~2Btag".to_owned())
        );
        let odd = EmailAddress::parse("\"a/b#c?d'e\"@fabrikam.com").unwrap();
        assert_eq!(entity_keys(&odd).1, "~22a~2Fb~23c~3Fd~27e~22");
        let unicode = EmailAddress::parse("jörg@fabrikam.com").unwrap();
        assert_eq!(entity_keys(&unicode).1, "j~C3~B6rg");
    }

    fn attribute(name: &str, value: &str, enforced: bool, kind: ValueType) -> InvitationAttribute {
        InvitationAttribute::new(name, value, enforced, kind).unwrap()
    }

    fn invitation_of(entity: &Value) -> StoredInvitation {
        match from_entity(entity).unwrap() {
            Entity::Invitation(stored) => *stored,
            Entity::Redemption { .. } => panic!("not an invitation"),
        }
    }

    #[test]
    fn entities_round_trip() {
        let email = EmailAddress::parse("ada@fabrikam.com").unwrap();
        let key = InvitationKey::Email(email.clone());
        let parts = InvitationParts {
            id: InvitationId::generate().ok(),
            application_id: ApplicationId::parse("44445555-eeee-6666-ffff-7777aaaa8888").ok(),
            expires_at: Some(Expiry::parse("2030-01-01").unwrap()),
            attributes: vec![
                attribute("displayName", "Ada", false, ValueType::String),
                attribute("extension_0a1b_News", "false", false, ValueType::Boolean),
                attribute("extension_0a1b_Level", "5", true, ValueType::Integer),
                attribute("jobTitle", "Engineer", true, ValueType::String),
            ],
            claims: vec![
                InvitationClaim {
                    name: "app_roles".into(),
                    value: ClaimValue::Many(vec!["Pilot".into(), "Dispatcher".into()].into()),
                },
                InvitationClaim {
                    name: "department".into(),
                    value: ClaimValue::One("Ops".into()),
                },
            ],
            uses: Uses::Limited(3),
            revoked_at: Some(Expiry::parse("2029-06-01T10:00:00Z").unwrap()),
            used: 1,
            use_keys: vec![UseKey::of(&["entra", "c-1"])],
            ..InvitationParts::default()
        };
        let stored = StoredInvitation {
            invitation: Invitation::new(parts, &key).unwrap(),
            key,
            signed_up: Some(("2029-01-01T00:00:00Z".to_owned(), None)),
        };
        let entity = to_entity(&stored);
        assert_eq!(
            entity["Claims"],
            "{\"app_roles\":[\"Pilot\",\"Dispatcher\"],\"department\":\"Ops\"}"
        );
        assert_eq!(
            entity["Attributes"],
            "{\"displayName\":\"Ada\",\"extension_0a1b_News\":false}"
        );
        assert_eq!(
            entity["Enforced"],
            "{\"extension_0a1b_Level\":5,\"jobTitle\":\"Engineer\"}"
        );
        assert_eq!(invitation_of(&entity), stored);
        // A code: its own partition, keyed by its digest, bound to an address.
        let code = crate::domain::invitation::InvitationCode::generate().unwrap();
        let key = InvitationKey::Code(code.digest());
        let bound = StoredInvitation {
            invitation: Invitation::new(
                InvitationParts {
                    bound_to: Some(email),
                    ..InvitationParts::default()
                },
                &key,
            )
            .unwrap(),
            key,
            signed_up: None,
        };
        let entity = to_entity(&bound);
        assert_eq!(entity["PartitionKey"], CODES);
        assert_eq!(entity["RowKey"], code.digest().to_string());
        assert!(!entity.to_string().contains(&code.to_string()));
        assert_eq!(invitation_of(&entity), bound);
    }

    fn row(properties: Value) -> Value {
        let mut entity = json!({"PartitionKey": "bad.test", "RowKey": "expint",
                                "Email": "expint@bad.test", "Attributes": "{}", "Enforced": "{}"});
        for (name, value) in properties.as_object().unwrap() {
            entity[name] = value.clone();
        }
        entity
    }

    /// The problem as the server logs it (keys masked).
    fn problem(entity: Value) -> String {
        let error = from_entity(&entity).err().unwrap();
        let logged = error.to_string();
        let (masked, _) = logged
            .strip_prefix("row ")
            .and_then(|rest| rest.split_once(" is malformed: "))
            .unwrap();
        format!("{masked}: {}", error.problem)
    }

    #[test]
    fn a_property_of_another_type_makes_the_row_malformed() {
        for (property, value, kind) in [
            ("ExpiresAt", json!(946_684_800), "a number"),
            ("ExpiresAt", json!(0), "a number"),
            ("ExpiresAt", json!(true), "true/false"),
            ("ExpiresAt", json!(1.5), "a number"),
            ("ApplicationId", json!(7), "a number"),
            ("ApplicationId", json!(false), "true/false"),
            ("Enforced", json!(1), "a number"),
            ("Attributes", json!(true), "true/false"),
            ("Email", json!(["expint@bad.test"]), "a list"),
            ("SignedUpAt", json!(3), "a number"),
        ] {
            assert_eq!(
                problem(row(json!({property: value}))),
                format!("e***@bad.test: {property} is {kind}, not text"),
                "{property} {value}"
            );
        }
        // What other tools write for Edm.DateTime and Edm.Guid arrives as text.
        let stored = invitation_of(&row(json!({"ExpiresAt": "2030-01-01T00:00:00.0000000Z",
            "ApplicationId": "93FD07AA-0000-0000-0000-000000000000"})));
        assert_eq!(
            stored.invitation.expires_at(),
            Expiry::parse("2030-01-01").ok()
        );
    }

    #[test]
    fn rows_whose_keys_are_not_their_emails_are_malformed() {
        let keys = "its keys are not those of its Email (PartitionKey must be the domain and RowKey \
                    the escaped local part, as the CLI writes them)";
        for (partition, row_key, email) in [
            ("bad.test", "mismatch", "mallory@elsewhere.test"),
            ("Bad.Test", "Upper", "upper@bad.test"),
            ("bad.test", "upper", "Upper@bad.test.extra"),
        ] {
            let entity = json!({"PartitionKey": partition, "RowKey": row_key, "Email": email});
            assert_eq!(
                from_entity(&entity).err().unwrap().problem,
                keys,
                "{partition}/{row_key}"
            );
        }
        assert_eq!(
            problem(json!({"PartitionKey": "bad.test", "RowKey": "x"})),
            "x***@bad.test: it has no Email"
        );
    }

    #[test]
    fn attributes_are_checked_as_the_file_reader_checks_them() {
        let long = "x".repeat(251);
        for (attributes, expected) in [
            (
                json!({"no such attribute!": "x"}),
                "Enforced: \"no such attribute!\" is not an attribute name (letters, digits and '_', starting with a letter)",
            ),
            (
                json!({"displayName": long}),
                "Enforced: the value of displayName is 251 characters long; the directory takes at most 250",
            ),
            (
                json!({"jobTitle": "a", "JOBTITLE": "b"}),
                "it names attribute jobTitle twice (names are compared in any case)",
            ),
            (
                json!({"x": 1.5}),
                "Enforced gives x a number, not text, a whole number or true/false",
            ),
            (
                json!({"x": null}),
                "Enforced gives x null, not text, a whole number or true/false",
            ),
        ] {
            let entity = row(json!({"Enforced": attributes.to_string()}));
            assert_eq!(
                from_entity(&entity).err().unwrap().problem,
                expected,
                "{attributes}"
            );
        }
        assert_eq!(
            from_entity(&row(json!({"Attributes": "[1]"})))
                .err()
                .unwrap()
                .problem,
            "Attributes is not a JSON object"
        );
    }

    #[test]
    fn claims_are_checked_as_the_file_reader_checks_them() {
        for (claims, expected) in [
            (
                json!({"tid": "x"}),
                "Claims: tid is a claim the platform sets itself or will not take from an extension; \
                 an invitation cannot give it (for application roles use another name, such as app_roles)",
            ),
            (
                json!({"app_roles": ["Read,Write"]}),
                "Claims: an item of the list claim app_roles holds ',': B2C receives a list as its items \
                 joined by ',', so it would read as two items",
            ),
            (
                json!({"app_roles": [1]}),
                "Claims gives app_roles a list holding a number, not only text",
            ),
            (
                json!({"level": 3}),
                "Claims gives level a number, not text or a list of text",
            ),
            (
                json!({"big": "x".repeat(4000)}),
                "Claims: the invitation's claims take 4010 bytes as JSON; a token takes at most 3072",
            ),
        ] {
            let entity = row(json!({"Claims": claims.to_string()}));
            assert_eq!(
                from_entity(&entity).err().unwrap().problem,
                expected,
                "{claims}"
            );
        }
        assert_eq!(
            from_entity(&row(json!({"Claims": 5})))
                .err()
                .unwrap()
                .problem,
            "Claims is a number, not text"
        );
    }

    /// Empty values and list items are dropped exactly as the file drops them, so both stores
    /// give a token the same claims.
    #[test]
    fn empty_claims_are_dropped_as_the_file_drops_them() {
        let claims =
            json!({"app_roles": ["", "  ", " Pilot "], "department": "", "team": " ", "none": []});
        let entity = row(json!({"Claims": claims.to_string()}));
        let stored = invitation_of(&entity);
        assert_eq!(
            stored.invitation.claims(),
            &[InvitationClaim {
                name: "app_roles".into(),
                value: ClaimValue::Many(vec!["Pilot".into()].into()),
            }]
        );
        let file = crate::invitations::csv::InvitationIndex::parse(
            b"email,application_id,expires_at,claim:app_roles[],claim:department,claim:team\n\
              ada@fabrikam.com,,,; ;  Pilot ,, \n",
        )
        .unwrap();
        assert_eq!(
            file.get("ada@fabrikam.com").unwrap().claims(),
            stored.invitation.claims()
        );
    }
}
