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

/// [`new_sortable_id`], strictly increasing within this process: one made in the same
/// millisecond as the last (or when the clock stepped back) is the last one plus one,
/// so events received one after the other keep their order even when a millisecond
/// holds several (webhook events: delivered in order of their ids).
pub fn new_monotonic_id(prefix: &str, at_millis: i64) -> String {
    static LAST: std::sync::Mutex<(u64, [u8; 12])> = std::sync::Mutex::new((0, [b'0'; 12]));
    let alphabet = crate::base62::ALPHABET;
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let mut ms = at_millis.max(0) as u64;
    let mut tail = [b'0'; 12];
    if ms > last.0 {
        tail.copy_from_slice(crate::base62::random(12).as_bytes());
    } else {
        // The last id plus one, in base62 (a carry past the first digit moves to the
        // next millisecond).
        ms = last.0;
        tail = last.1;
        let mut carried = true;
        for digit in tail.iter_mut().rev() {
            let at = alphabet.iter().position(|c| c == digit).unwrap_or(0);
            if at + 1 < alphabet.len() {
                *digit = alphabet[at + 1];
                carried = false;
                break;
            }
            *digit = alphabet[0];
        }
        if carried {
            ms += 1;
        }
    }
    *last = (ms, tail);
    drop(last);
    let mut time = [b'0'; 8];
    let mut v = ms;
    for slot in time.iter_mut().rev() {
        *slot = alphabet[(v % 62) as usize];
        v /= 62;
    }
    let mut id = String::with_capacity(prefix.len() + 21);
    id.push_str(prefix);
    id.push('_');
    id.push_str(std::str::from_utf8(&time).unwrap_or("00000000"));
    id.push_str(std::str::from_utf8(&tail).unwrap_or("000000000000"));
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

    #[test]
    fn sortable_ids_of_one_millisecond_or_a_clock_step_back_still_increase() {
        let mut last = super::new_monotonic_id("msg", 1_900_000_000_000);
        for at in [
            1_900_000_000_000,
            1_900_000_000_000,
            1_899_999_999_000,
            1_900_000_000_000,
        ] {
            for _ in 0..100 {
                let next = super::new_monotonic_id("msg", at);
                assert!(super::is_id("msg", &next));
                assert!(next > last, "{next} after {last}");
                last = next;
            }
        }
    }
}
