//! Public identifiers: a short type prefix and 20 random base62 characters
//! (`key_…`, `org_…`, `usr_…`), like Stripe's, so an id says what it names.

pub fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    id.push('_');
    id.push_str(&crate::base62::random(20));
    id
}

/// An id whose first 8 characters are the time (milliseconds, base62), then 12 random
/// ones: ids made later sort after (across nodes, as far as their clocks agree).
pub fn new_sortable_id(prefix: &str, at_millis: i64) -> String {
    let mut time = [b'0'; 8];
    let mut v = at_millis.max(0) as u64;
    for slot in time.iter_mut().rev() {
        *slot = crate::base62::ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    id.push('_');
    id.push_str(std::str::from_utf8(&time).unwrap_or("00000000"));
    id.push_str(&crate::base62::random(12));
    id
}

/// True when `s` looks like an id of this kind; used to answer 404 before any lookup.
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.len() == prefix.len() + 21
        && s.starts_with(prefix)
        && s.as_bytes()[prefix.len()] == b'_'
        && crate::base62::is_base62(&s.as_bytes()[prefix.len() + 1..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_round_trip() {
        let id = super::new_id("key");
        assert!(super::is_id("key", &id));
        assert!(!super::is_id("org", &id));
        assert!(!super::is_id("key", "key_short"));
    }

    #[test]
    fn sortable_ids_sort_by_time() {
        let a = super::new_sortable_id("msg", 1_700_000_000_000);
        let b = super::new_sortable_id("msg", 1_700_000_000_001);
        let c = super::new_sortable_id("msg", 1_800_000_000_000);
        assert!(super::is_id("msg", &a));
        assert!(a < b && b < c, "{a} {b} {c}");
    }
}
