//! Public identifiers: a short type prefix and 20 random base62 characters
//! (`key_…`, `org_…`, `usr_…`), like Stripe's, so an id says what it names.

pub fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    id.push('_');
    id.push_str(&crate::base62::random(20));
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
}
