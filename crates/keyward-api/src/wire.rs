//! Serde helpers: `PATCH` fields where `null` means "remove", and strings the server
//! checks while decoding, with the messages of the `keyward-core` types that own the rules.

use keyward_core::{Email, ExternalId, Name};
use serde::de::Error;
use serde::{Deserialize, Deserializer};

/// `#[serde(default, deserialize_with = "double_option")]`: absent is `None` (leave as
/// is), `null` is `Some(None)` (remove), a value is `Some(Some(v))`.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    <Option<T> as Deserialize>::deserialize(d).map(Some)
}

/// A string decoded through the newtype `T` (`Name`, `Email`, `ExternalId`): refused with
/// its message, kept in its normal form (trimmed, lowercased where it says so).
fn through<'de, T, D>(d: D) -> Result<String, D::Error>
where
    T: TryFrom<String> + Into<String>,
    T::Error: std::fmt::Display,
    D: Deserializer<'de>,
{
    let raw = String::deserialize(d)?;
    T::try_from(raw).map(Into::into).map_err(D::Error::custom)
}

fn through_opt<'de, T, D>(d: D) -> Result<Option<String>, D::Error>
where
    T: TryFrom<String> + Into<String>,
    T::Error: std::fmt::Display,
    D: Deserializer<'de>,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(raw) => T::try_from(raw)
            .map(|v| Some(v.into()))
            .map_err(D::Error::custom),
    }
}

pub(crate) fn name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    through::<Name, D>(d)
}

pub(crate) fn opt_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    through_opt::<Name, D>(d)
}

pub(crate) fn email<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    through::<Email, D>(d)
}

pub(crate) fn opt_external_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    through_opt::<ExternalId, D>(d)
}

pub(crate) fn enabled_default() -> bool {
    true
}
