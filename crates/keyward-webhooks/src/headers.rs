//! Looking headers up by name, case-insensitively, and the checks every verifier shares.

use std::collections::HashMap;

use crate::error::Refused;

/// Seconds a signed timestamp may be away from now, in either direction.
pub const TOLERANCE_SECS: u64 = 300;

/// Request headers, looked up by name without regard to ASCII case.
///
/// When a name occurs more than once, implementations return the first occurrence.
pub trait Headers {
    /// The raw value of header `name` (any ASCII case), if present.
    fn get(&self, name: &str) -> Option<&[u8]>;
}

impl<T: Headers + ?Sized> Headers for &T {
    fn get(&self, name: &str) -> Option<&[u8]> {
        (**self).get(name)
    }
}

impl Headers for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

impl<const N: usize> Headers for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<&[u8]> {
        Headers::get(&self[..], name)
    }
}

impl Headers for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<&[u8]> {
        if let Some(v) = HashMap::get(self, name) {
            return Some(v.as_bytes());
        }
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }
}

/// The value of a header that must be present.
pub(crate) fn required<'h, H: Headers + ?Sized>(
    headers: &'h H,
    name: &'static str,
) -> Result<&'h [u8], Refused> {
    headers.get(name).ok_or(Refused::MissingHeader(name))
}

/// A unix-seconds header: one or more ASCII digits (no sign, no spaces) that fit an i64.
pub(crate) fn unix_seconds(value: &[u8], name: &'static str) -> Result<i64, Refused> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Refused::MalformedHeader(name));
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(Refused::MalformedHeader(name))
}

/// Refuses a timestamp more than [`TOLERANCE_SECS`] away from `now`, either way.
pub(crate) fn fresh(timestamp: i64, now: i64) -> Result<(), Refused> {
    if timestamp.abs_diff(now) > TOLERANCE_SECS {
        return Err(Refused::StaleTimestamp);
    }
    Ok(())
}
