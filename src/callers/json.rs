//! The JSON a caller's claims arrive in (a token's claims set, Easy Auth's principal), read
//! strictly: all of it well-formed, an object at the top, and no member named twice at any
//! depth.
//!
//! Read straight into typed structs, serde would accept an array for an object (fields in
//! order) and skip the members the checks ignore without checking them (numbers out of range,
//! lone surrogates, nesting without limit). Read into a `serde_json::Value`, a member named
//! twice keeps its last value (`{"tid": "theirs", "tid": "ours"}` reads as ours), where another
//! reader may keep the first: a claims set that means two things is refused.

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::entra::TokenFailure;

/// `bytes` as one JSON object, every member named once.
pub fn json_object(bytes: &[u8]) -> Result<Value, TokenFailure> {
    match serde_json::from_slice::<Unique>(bytes) {
        Ok(Unique(object @ Value::Object(_))) => Ok(object),
        _ => Err(TokenFailure::Malformed),
    }
}

/// A JSON value whose objects name each member once.
struct Unique(Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("JSON")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(value)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut array = Vec::new();
        while let Some(Unique(item)) = items.next_element()? {
            array.push(item);
        }
        Ok(Value::Array(array))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some((name, Unique(value))) = members.next_entry::<String, Unique>()? {
            if object.contains_key(&name) {
                return Err(A::Error::custom(format_args!(
                    "member {name:?} is named twice"
                )));
            }
            object.insert(name, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_whole_object_each_member_named_once() {
        let read = |text: &str| json_object(text.as_bytes());
        assert_eq!(
            read(r#" {"a": [1, -2, 2.5, "x", true, null, {"b": {}}], "c": "\u00e9"} "#),
            Ok(serde_json::json!({"a": [1, -2, 2.5, "x", true, null, {"b": {}}], "c": "é"}))
        );
        for refused in [
            "",
            "[]",
            "\"text\"",
            "{} {}",
            r#"{"a": 1e400}"#,
            r#"{"a": "\ud800"}"#,
            r#"{"a": 1, "a": 1}"#,
            r#"{"a": {"b": 1, "b": 2}}"#,
            r#"{"a": [{"b": 1, "b": 2}]}"#,
            // Names are compared once unescaped, as every reader compares them.
            r#"{"tid": 1, "t\u0069d": 2}"#,
        ] {
            assert_eq!(read(refused), Err(TokenFailure::Malformed), "{refused}");
        }
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(read(&deep), Err(TokenFailure::Malformed));
    }
}
