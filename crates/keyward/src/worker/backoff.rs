//! How long to wait before reconnecting: exponential backoff with full jitter (1 s
//! doubling, at most 30 s, a random part of that), reset once a connection was
//! greeted or lasted. A leaf: [`delay`] is pure, [`Backoff`] adds the randomness.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

pub const BASE: Duration = Duration::from_secs(1);
pub const CAP: Duration = Duration::from_secs(30);
/// A connection that lasted longer than this resets the backoff.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);
/// Never retry sooner than this, whatever the jitter drew.
pub const FLOOR: Duration = Duration::from_millis(100);

/// The wait before retry number `attempt` (0 for the first): `jitter` (in `[0, 1)`) of
/// `min(CAP, BASE × 2^attempt)`, and at least [`FLOOR`].
pub fn delay(attempt: u32, jitter: f64) -> Duration {
    let ceiling = BASE
        .checked_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(CAP)
        .min(CAP);
    ceiling.mul_f64(jitter.clamp(0.0, 1.0)).max(FLOOR)
}

/// The retries since the last good connection.
#[derive(Debug, Default)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The next wait, drawn at random.
    pub fn next_delay(&mut self) -> Duration {
        let d = delay(self.attempt, jitter());
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A number in `[0, 1)` from the standard library's randomly keyed hasher: no
/// cryptography needed, only retries that do not all land at once.
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// `2.3s`, `850ms`: how the logs say a wait.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_the_cap_and_the_jitter_takes_a_part() {
        let ms = |a, j| delay(a, j).as_millis();
        assert_eq!(ms(0, 0.999_999), 999);
        assert_eq!(ms(1, 0.5), 1000);
        assert_eq!(ms(2, 0.5), 2000);
        assert_eq!(ms(4, 0.999_999), 15_999);
        assert_eq!(ms(5, 0.5), 15_000);
        assert_eq!(ms(6, 0.5), 15_000);
        assert_eq!(ms(200, 0.5), 15_000);
        assert_eq!(ms(3, 0.0), FLOOR.as_millis());
        assert_eq!(ms(3, 7.0), 8000);
    }

    #[test]
    fn draws_stay_under_the_ceiling_and_reset_starts_over() {
        let mut b = Backoff::default();
        for attempt in 0..12u32 {
            let ceiling = (BASE * 2u32.pow(attempt.min(5))).min(CAP);
            assert!(b.next_delay() <= ceiling, "attempt {attempt}");
        }
        b.reset();
        assert!(b.next_delay() <= BASE);
        assert!((0.0..1.0).contains(&jitter()));
        assert_eq!(human(Duration::from_millis(2340)), "2.3s");
        assert_eq!(human(Duration::from_millis(850)), "850ms");
    }
}
