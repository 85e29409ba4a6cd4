//! Request bodies read from JSON objects only.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

/// A value of `T` that was written as a JSON object.
///
/// serde's derived `Deserialize` for a struct also takes an array and fills the fields by
/// position, so `["yaw@example.com", "Yaw Mensah"]` would read as a [`NewCustomer`]. A request
/// body (and a line of an import file) is an object with named fields: through this wrapper
/// an array is refused like any other shape, with "expected a JSON object". Inside the object
/// nothing changes: field names, defaults and unknown-field errors are the derived ones.
///
/// [`NewCustomer`]: crate::NewCustomer
///
/// # Errors
///
/// Deserialising fails on anything but an object, and on whatever `T` refuses inside it.
///
/// # Example
///
/// ```
/// use customer_store::NewCustomer;
/// use customer_store::server::JsonObject;
///
/// let JsonObject(new) =
///     serde_json::from_str::<JsonObject<NewCustomer>>(r#"{"email": "yaw@example.com", "name": "Yaw"}"#)
///         .unwrap();
/// assert_eq!(new.name, "Yaw");
///
/// // The same fields by position: refused.
/// let error = serde_json::from_str::<JsonObject<NewCustomer>>(r#"["yaw@example.com", "Yaw"]"#)
///     .unwrap_err();
/// assert!(error.to_string().starts_with("invalid type: sequence, expected a JSON object"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct JsonObject<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor(PhantomData))
    }
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = JsonObject<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(JsonObject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CustomerPatch, ListQuery, NewCustomer};

    fn read<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
        serde_json::from_str::<JsonObject<T>>(text)
            .map(|JsonObject(value)| value)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn only_objects_are_read() {
        let new: NewCustomer = read(r#"{"email": "a@b.co", "name": "A"}"#).unwrap();
        assert_eq!(new, NewCustomer::new("a@b.co", "A"));
        let patch: CustomerPatch = read(r#"{"name": "B"}"#).unwrap();
        assert_eq!(patch, CustomerPatch::default().set_name("B"));
        // What the derived impls alone take by position.
        assert!(serde_json::from_str::<NewCustomer>(r#"["a@b.co", "A"]"#).is_ok());
        for text in [
            r#"["a@b.co", "A"]"#,
            "[]",
            "null",
            "5",
            r#""a@b.co""#,
            "true",
        ] {
            let error = read::<NewCustomer>(text).unwrap_err();
            assert!(error.contains("expected a JSON object"), "{text}: {error}");
            let error = read::<CustomerPatch>(text).unwrap_err();
            assert!(error.contains("expected a JSON object"), "{text}: {error}");
            let error = read::<ListQuery>(text).unwrap_err();
            assert!(error.contains("expected a JSON object"), "{text}: {error}");
        }
    }

    #[test]
    fn inside_the_object_the_derived_rules_hold() {
        let unknown = read::<NewCustomer>(r#"{"email": "a@b.co", "name": "A", "nick": 1}"#);
        assert!(unknown.unwrap_err().starts_with("unknown field `nick`"));
        let missing = read::<NewCustomer>(r#"{"name": "A"}"#);
        assert!(missing.unwrap_err().starts_with("missing field `email`"));
        let cleared: CustomerPatch = read(r#"{"phone": null}"#).unwrap();
        assert_eq!(cleared.phone, Some(None));
    }
}
