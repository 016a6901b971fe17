//! Reading Entra's authentication events leniently, in one pass, without a JSON tree.
//!
//! Real traffic differs from the documentation, so keys are matched case-insensitively
//! (`@odata.Type` appears), unknown keys are ignored, any part of the envelope may be missing.
//! Each part of the body a decision uses has a type that implements [`Object`] (for an object)
//! or [`Shape`] (for any JSON value); an event's module declares the parts it needs with these,
//! and [`parse`] reads the envelope (`type`, `data.@odata.type`, `data.authenticationContext`)
//! around them. Anything else is read as [`Skip`], which checks it as JSON and keeps nothing:
//! a body is refused exactly when `serde_json::Value` would refuse it.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{EventTypes, RequestError};
use crate::messages::{Catalog, Language};

// Reading the event. Each part of the body the decision uses has a type below; every other value
// is read as `Skip`, which checks it as JSON (numbers in range, strings valid, nesting within
// serde_json's limit) and keeps nothing. A key matches in any case, the exact spelling first: a
// value under the exact key replaces one under another spelling, never the other way round.
// A value of an unexpected JSON type counts as absent, as a lookup in a JSON tree would.

/// Any JSON value, read as `T` reads it.
pub(crate) struct Read<T>(pub T);

/// How a part of the event is read from each JSON type; what a type does not override is
/// checked and dropped, and the part reads as it would from `null`-like `Scalar::Other`.
pub(crate) trait Shape<'de>: Sized {
    fn scalar(value: Scalar<'de>) -> Self;

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_key::<Read<Skip>>()?.is_some() {
            map.next_value::<Read<Skip>>()?;
        }
        Ok(Self::scalar(Scalar::Other))
    }

    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<Read<Skip>>()?.is_some() {}
        Ok(Self::scalar(Scalar::Other))
    }
}

impl<'de, T: Shape<'de>> Deserialize<'de> for Read<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(ShapeVisitor(PhantomData))
            .map(Read)
    }
}

struct ShapeVisitor<T>(PhantomData<T>);

impl<'de, T: Shape<'de>> Visitor<'de> for ShapeVisitor<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<T, E> {
        Ok(T::scalar(Scalar::Boolean(value)))
    }

    fn visit_i64<E>(self, value: i64) -> Result<T, E> {
        Ok(T::scalar(Scalar::Integer(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<T, E> {
        Ok(T::scalar(
            i64::try_from(value).map_or(Scalar::Other, Scalar::Integer),
        ))
    }

    fn visit_f64<E>(self, _: f64) -> Result<T, E> {
        Ok(T::scalar(Scalar::Other))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<T, E> {
        Ok(T::scalar(Scalar::Text(Cow::Borrowed(value))))
    }

    fn visit_str<E>(self, value: &str) -> Result<T, E> {
        Ok(T::scalar(Scalar::Text(Cow::Owned(value.to_owned()))))
    }

    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::scalar(Scalar::Null))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::array(seq)
    }
}

/// A JSON value that is not an object or array (those read as `Other` here).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Scalar<'de> {
    #[default]
    Null,
    Text(Cow<'de, str>),
    Integer(i64),
    Boolean(bool),
    /// Another number, or an array or object.
    Other,
}

impl<'de> Shape<'de> for Scalar<'de> {
    fn scalar(value: Scalar<'de>) -> Self {
        value
    }
}

/// Checked and dropped.
pub(crate) struct Skip;

impl<'de> Shape<'de> for Skip {
    fn scalar(_: Scalar<'de>) -> Self {
        Skip
    }
}

/// Text, or absent when the value is not a string.
impl<'de> Shape<'de> for Option<Cow<'de, str>> {
    fn scalar(value: Scalar<'de>) -> Self {
        match value {
            Scalar::Text(text) => Some(text),
            _ => None,
        }
    }
}

/// A part that is a JSON object, or absent when the value is anything else.
pub(crate) trait Object<'de>: Default {
    /// Reads the value of `key` if this part uses it, and says whether it did. Keys it does not
    /// read are skipped by the caller.
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
}

impl<'de, T: Object<'de>> Shape<'de> for Option<T> {
    fn scalar(_: Scalar<'de>) -> Self {
        None
    }

    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut object = T::default();
        while let Some(Read(Key(key))) = map.next_key::<Read<Key<'de>>>()? {
            if !object.field(&key, &mut map)? {
                map.next_value::<Read<Skip>>()?;
            }
        }
        Ok(Some(object))
    }
}

/// An object key (always a string in JSON).
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl<'de> Shape<'de> for Key<'de> {
    fn scalar(value: Scalar<'de>) -> Self {
        match value {
            Scalar::Text(text) => Key(text),
            _ => Key(Cow::Borrowed("")),
        }
    }
}

/// Whether `key` is `wanted`: exactly (and from then on only exactly, as `exact` records), or
/// in another case while the exact spelling has not been seen.
pub(crate) fn claims(key: &str, wanted: &str, exact: &mut bool) -> bool {
    if key == wanted {
        *exact = true;
        true
    } else {
        !*exact && key.eq_ignore_ascii_case(wanted)
    }
}

/// Reads the value of a claimed key into `slot`.
pub(crate) fn read_into<'de, A: MapAccess<'de>, T: Shape<'de>>(
    map: &mut A,
    slot: &mut T,
) -> Result<bool, A::Error> {
    *slot = map.next_value::<Read<T>>()?.0;
    Ok(true)
}

/// `{"type": ..., "data": {"@odata.type": ..., "authenticationContext": ..., <the event's own
/// parts>}}`.
#[derive(Default)]
struct Envelope<'de, P> {
    event_type: Option<Cow<'de, str>>,
    data: Option<Data<'de, P>>,
    exact: [bool; 2],
}

impl<'de, P: Object<'de>> Object<'de> for Envelope<'de, P> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let [event_type, data] = &mut self.exact;
        if claims(key, "type", event_type) {
            read_into(map, &mut self.event_type)
        } else if claims(key, "data", data) {
            read_into(map, &mut self.data)
        } else {
            Ok(false)
        }
    }
}

#[derive(Default)]
struct Data<'de, P> {
    /// `@odata.type`
    data_type: Option<Cow<'de, str>>,
    /// `tenantId`
    tenant_id: Option<Cow<'de, str>>,
    context: Option<AuthenticationContext<'de>>,
    /// The event's own parts of `data`.
    payload: P,
    exact: [bool; 3],
}

impl<'de, P: Object<'de>> Object<'de> for Data<'de, P> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let [data_type, tenant, context] = &mut self.exact;
        if claims(key, "@odata.type", data_type) {
            read_into(map, &mut self.data_type)
        } else if claims(key, "tenantId", tenant) {
            read_into(map, &mut self.tenant_id)
        } else if claims(key, "authenticationContext", context) {
            read_into(map, &mut self.context)
        } else {
            self.payload.field(key, map)
        }
    }
}

/// `data.authenticationContext`: what every event says about the sign-in or sign-up.
#[derive(Debug, Default)]
pub(crate) struct AuthenticationContext<'de> {
    client_service_principal: Option<ServicePrincipal<'de>>,
    /// `user` (token issuance: the user signing in).
    user: Option<User<'de>>,
    /// `client`: the user's browser (`locale`, `market`).
    client: Option<Client<'de>>,
    /// `correlationId`: the id of the sign-in logs' entry.
    correlation_id: Option<Cow<'de, str>>,
    /// `data.tenantId` (read with the envelope, kept here).
    tenant_id: Option<Cow<'de, str>>,
    exact: [bool; 4],
}

impl<'de> AuthenticationContext<'de> {
    /// `user.mail`: the address of the user signing in.
    pub(crate) fn user_mail(&self) -> Option<&str> {
        self.user.as_ref()?.mail.as_deref()
    }

    /// `clientServicePrincipal.appId`: the application signed in or up to.
    pub(crate) fn application(&self) -> Option<String> {
        self.client_service_principal
            .as_ref()
            .and_then(|principal| principal.app_id.as_deref())
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }

    /// `correlationId`.
    pub(crate) fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// `data.tenantId`.
    pub(crate) fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    /// `client.locale` as sent.
    pub(crate) fn client_locale(&self) -> Option<&str> {
        self.client.as_ref()?.locale.as_deref()
    }

    /// `client.ip`: where the user's browser connects from, masked for logs and telemetry
    /// (the last part of an IPv4 address, all but the first three groups of an IPv6 one).
    pub(crate) fn masked_client_ip(&self) -> Option<String> {
        let ip = self.client.as_ref()?.ip.as_deref()?.trim();
        let address: std::net::IpAddr = ip.parse().ok()?;
        Some(match address {
            std::net::IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                format!("{a}.{b}.{c}.x")
            }
            std::net::IpAddr::V6(v6) => {
                let segments = v6.segments();
                format!("{:x}:{:x}:{:x}::x", segments[0], segments[1], segments[2])
            }
        })
    }

    /// The user's language: `client.locale`, then `client.market`, else English.
    pub(crate) fn language(&self, catalog: &'static Catalog) -> Language {
        let client = self.client.as_ref();
        catalog.from_entra(
            client.and_then(|c| c.locale.as_deref()),
            client.and_then(|c| c.market.as_deref()),
        )
    }
}

impl<'de> Object<'de> for AuthenticationContext<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let [principal, user, client, correlation] = &mut self.exact;
        if claims(key, "clientServicePrincipal", principal) {
            read_into(map, &mut self.client_service_principal)
        } else if claims(key, "user", user) {
            read_into(map, &mut self.user)
        } else if claims(key, "client", client) {
            read_into(map, &mut self.client)
        } else if claims(key, "correlationId", correlation) {
            read_into(map, &mut self.correlation_id)
        } else {
            Ok(false)
        }
    }
}

/// `authenticationContext.client`.
#[derive(Debug, Default)]
struct Client<'de> {
    locale: Option<Cow<'de, str>>,
    market: Option<Cow<'de, str>>,
    ip: Option<Cow<'de, str>>,
    exact: [bool; 3],
}

impl<'de> Object<'de> for Client<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let [locale, market, ip] = &mut self.exact;
        if claims(key, "locale", locale) {
            read_into(map, &mut self.locale)
        } else if claims(key, "market", market) {
            read_into(map, &mut self.market)
        } else if claims(key, "ip", ip) {
            read_into(map, &mut self.ip)
        } else {
            Ok(false)
        }
    }
}

#[derive(Debug, Default)]
struct User<'de> {
    mail: Option<Cow<'de, str>>,
    exact: bool,
}

impl<'de> Object<'de> for User<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if claims(key, "mail", &mut self.exact) {
            read_into(map, &mut self.mail)
        } else {
            Ok(false)
        }
    }
}

/// An event that has no part of its own in `data` beyond the envelope's.
#[derive(Debug, Default)]
pub(crate) struct NoPayload;

impl<'de> Object<'de> for NoPayload {
    fn field<A: MapAccess<'de>>(&mut self, _: &str, _: &mut A) -> Result<bool, A::Error> {
        Ok(false)
    }
}

#[derive(Debug, Default)]
struct ServicePrincipal<'de> {
    app_id: Option<Cow<'de, str>>,
    exact: bool,
}

impl<'de> Object<'de> for ServicePrincipal<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        if claims(key, "appId", &mut self.exact) {
            read_into(map, &mut self.app_id)
        } else {
            Ok(false)
        }
    }
}

/// An event's body: its authentication context and its own parts (`P`), once the body is
/// known to be a JSON object of the `expected` event (when it says which it is).
pub(crate) fn parse<'de, P: Object<'de>>(
    body: &'de [u8],
    expected: &EventTypes,
) -> Result<(AuthenticationContext<'de>, P), RequestError> {
    let envelope = match serde_json::from_slice::<Read<Option<Envelope<'de, P>>>>(body) {
        Ok(Read(Some(envelope))) => envelope,
        Ok(Read(None)) => return Err(RequestError::NotAnObject),
        Err(_) => return Err(RequestError::NotJson),
    };
    let data = envelope.data.unwrap_or_default();
    for (received, wanted) in [
        (envelope.event_type, expected.event_type),
        (data.data_type, expected.data_type),
    ] {
        if let Some(received) = received
            && !received.trim().eq_ignore_ascii_case(wanted)
        {
            return Err(RequestError::WrongEvent {
                expected: wanted,
                received: received.into_owned(),
            });
        }
    }
    let mut context = data.context.unwrap_or_default();
    context.tenant_id = data.tenant_id;
    Ok((context, data.payload))
}
