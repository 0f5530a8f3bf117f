//! How values become column values and back, for both backends alike: times are unix
//! milliseconds (UTC) in a 64-bit integer, JSON columns are text, hashes are bytes in
//! the database and lowercase hex on the change feed.

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use keyward_core::{KeyHash, Owner};

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or_default()
}

pub(crate) fn opt_ms(v: Option<i64>) -> Option<DateTime<Utc>> {
    v.map(from_ms)
}

/// The error for a value the database holds but this version cannot read.
pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Other(format!("unreadable {what} in the database: {value:?}").into())
}

/// A JSON text column of a typed value.
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("the store's records serialize")
}

/// A nullable JSON text column.
pub(crate) fn json_opt<T: serde::Serialize>(value: &Option<T>) -> Option<String> {
    value.as_ref().map(json)
}

/// A JSON text column read back.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    column: &str,
    raw: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|_| corrupt(column, raw))
}

/// A nullable JSON text column read back.
pub(crate) fn from_json_opt<T: serde::de::DeserializeOwned>(
    column: &str,
    raw: Option<&str>,
) -> Result<Option<T>, StoreError> {
    raw.map(|s| from_json(column, s)).transpose()
}

/// A hash column (`BLOB` / `BYTEA`) read back.
pub(crate) fn hash_from_bytes(raw: &[u8]) -> Result<KeyHash, StoreError> {
    KeyHash::from_bytes(raw).ok_or_else(|| corrupt("key hash", "…"))
}

/// A hash as 64 lowercase hex digits (the change feed's payload for a key).
pub(crate) fn to_hex(hash: &KeyHash) -> String {
    use std::fmt::Write;
    hash.as_bytes()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The hash that [`to_hex`] wrote, or `None` for anything else.
pub(crate) fn from_hex(hex: &str) -> Option<KeyHash> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let bytes = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    KeyHash::from_bytes(&bytes)
}

/// `owner_type`, `owner_id` and `owner_name` of an owner.
pub(crate) fn owner_columns(
    owner: &Option<Owner>,
) -> (Option<&'static str>, Option<&str>, Option<&str>) {
    match owner {
        None => (None, None, None),
        Some(o @ Owner::External { id }) => (Some(o.type_str()), Some(id), None),
        Some(o) => (Some(o.type_str()), Some(o.id()), Some(o.label())),
    }
}

/// The owner that [`owner_columns`] wrote.
pub(crate) fn owner_from_columns(
    owner_type: Option<&str>,
    owner_id: Option<String>,
    owner_name: Option<String>,
) -> Result<Option<Owner>, StoreError> {
    Ok(match (owner_type, owner_id) {
        (Some("user"), Some(id)) => Some(Owner::User {
            id,
            name: owner_name.unwrap_or_default(),
        }),
        (Some("service_account"), Some(id)) => Some(Owner::ServiceAccount {
            id,
            name: owner_name.unwrap_or_default(),
        }),
        (Some("external"), Some(id)) => Some(Owner::External { id }),
        (None, _) => None,
        (Some(other), _) => return Err(corrupt("owner type", other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_anything_else() {
        let hash = KeyHash::from_bytes(&[0xab; 32]).unwrap();
        assert_eq!(to_hex(&hash), "ab".repeat(32));
        assert_eq!(from_hex(&to_hex(&hash)), Some(hash));
        for other in ["*", "ping", "resources", &"zz".repeat(32), &"ab".repeat(31)] {
            assert_eq!(from_hex(other), None, "{other}");
        }
    }
}
