//! The attribute values an invitation carries (prefilled, or imposed at submit), each with the
//! JSON type Entra wants for it.

use std::sync::Arc;

/// An attribute value carried by an invitation; built only by [`InvitationAttribute::new`],
/// so its name is one Entra and B2C take and its value fits its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationAttribute {
    /// Shared by every invitation that has the attribute (one per file column).
    name: Arc<str>,
    /// The value as text; it fits `kind`.
    value: Box<str>,
    /// Imposed at submit (`!name` column) instead of only prefilled.
    enforced: bool,
    /// The JSON type the value is sent in where the request does not show the attribute's type.
    kind: ValueType,
}

/// The JSON type of an attribute's value. Entra requires each attribute's own type, and a
/// Start request often lists only the e-mail attribute, so an invitation can declare it
/// (`name:int` in a file header); the type the request shows still wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueType {
    #[default]
    String,
    /// A whole number (Entra's `int` attributes).
    Integer,
    /// `true` or `false` (Entra's `boolean` attributes).
    Boolean,
}

impl ValueType {
    /// The type's name as written after the attribute's name (`string`, `int`, `boolean`).
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "string" => Some(Self::String),
            "int" => Some(Self::Integer),
            "boolean" => Some(Self::Boolean),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "int",
            Self::Boolean => "boolean",
        }
    }

    /// `value` as JSON of this type; `None` when it cannot take the type.
    pub(crate) fn json(self, value: &str) -> Option<serde_json::Value> {
        match self {
            Self::String => Some(serde_json::Value::from(value)),
            Self::Integer => value
                .trim()
                .parse::<i64>()
                .ok()
                .map(serde_json::Value::from),
            Self::Boolean => match value.trim().to_ascii_lowercase().as_str() {
                "true" => Some(serde_json::Value::Bool(true)),
                "false" => Some(serde_json::Value::Bool(false)),
                _ => None,
            },
        }
    }

    /// What the type is called in an error: `text`, `a whole number (it is declared int)`.
    fn described(self) -> &'static str {
        match self {
            Self::String => "text",
            Self::Integer => "a whole number (it is declared int)",
            Self::Boolean => "true or false (it is declared boolean)",
        }
    }
}

/// Why an attribute cannot be kept; for files, tables and the CLI (never a user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAttribute {
    #[error("{0:?} is not an attribute name (letters, digits and '_', starting with a letter)")]
    Name(String),
    #[error(
        "the value of {name} is {length} characters long; the directory takes at most {MAX_ATTRIBUTE_CHARS}"
    )]
    TooLong { name: String, length: usize },
    #[error("the value {value:?} of {name} is not {}", kind.described())]
    Type {
        name: String,
        value: String,
        kind: ValueType,
    },
}

/// Longest attribute value, in characters: what the directory stores (B2C: 250 for any string
/// attribute), so that nothing longer is forwarded to Entra or B2C.
pub(crate) const MAX_ATTRIBUTE_CHARS: usize = 250;

/// Checks an attribute as every store must before keeping it: a name Entra and B2C accept
/// (letters, digits and `_`, starting with a letter), a value of at most
/// [`MAX_ATTRIBUTE_CHARS`] that fits its declared type.
pub(crate) fn check_attribute(
    name: &str,
    value: &str,
    kind: ValueType,
) -> Result<(), InvalidAttribute> {
    if !is_attribute_name(name) {
        return Err(InvalidAttribute::Name(name.to_owned()));
    }
    let length = value.chars().count();
    if length > MAX_ATTRIBUTE_CHARS {
        return Err(InvalidAttribute::TooLong {
            name: name.to_owned(),
            length,
        });
    }
    if kind.json(value).is_none() {
        return Err(InvalidAttribute::Type {
            name: name.to_owned(),
            value: value.to_owned(),
            kind,
        });
    }
    Ok(())
}

/// The JSON type a request shows for an attribute's value (Entra's Start and Submit): a value
/// sent back for that attribute must keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentType {
    Text,
    Integer,
    Boolean,
    /// Null, a fraction, a list or an object: not a type an invitation value is sent in.
    Other,
}

impl InvitationAttribute {
    /// The attribute `name` with `value` of type `kind` (see [`check_attribute`]).
    pub fn new(
        name: impl Into<Arc<str>>,
        value: &str,
        enforced: bool,
        kind: ValueType,
    ) -> Result<Self, InvalidAttribute> {
        let name = name.into();
        check_attribute(&name, value, kind)?;
        Ok(Self {
            name,
            value: value.into(),
            enforced,
            kind,
        })
    }

    /// A value a store checked with [`Self::new`] when it loaded it.
    pub(crate) fn trusted(name: Arc<str>, value: &str, enforced: bool, kind: ValueType) -> Self {
        Self {
            name,
            value: value.into(),
            enforced,
            kind,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name as shared by every invitation that has the attribute.
    pub(crate) fn shared_name(&self) -> &Arc<str> {
        &self.name
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn enforced(&self) -> bool {
        self.enforced
    }

    pub fn kind(&self) -> ValueType {
        self.kind
    }

    /// The value as JSON of the type the request showed for the attribute (the declared type
    /// where the request did not show one); `None` when the value cannot take that type.
    pub fn json_as(&self, sent: Option<SentType>) -> Option<serde_json::Value> {
        let text = self.value.trim();
        match sent {
            Some(SentType::Integer) => ValueType::Integer.json(text),
            Some(SentType::Boolean) => ValueType::Boolean.json(text),
            Some(SentType::Text | SentType::Other) => Some(serde_json::Value::from(&*self.value)),
            None => Some(self.json()),
        }
    }

    /// The value as JSON of its declared type (checked when it was loaded; text otherwise).
    pub(crate) fn json(&self) -> serde_json::Value {
        self.kind
            .json(&self.value)
            .unwrap_or_else(|| serde_json::Value::from(&*self.value))
    }

    /// How the attribute is named in a file header and on the command line: `!name:int`.
    pub(crate) fn column(name: &str, enforced: bool, kind: ValueType) -> String {
        let bang = if enforced { "!" } else { "" };
        match kind {
            ValueType::String => format!("{bang}{name}"),
            kind => format!("{bang}{name}:{}", kind.as_str()),
        }
    }
}

/// A name Entra and B2C accept for an attribute: letters, digits and `_`, starting with a
/// letter (built-in names like `displayName`, custom ones like `extension_<app>_Team`).
pub(crate) fn is_attribute_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
