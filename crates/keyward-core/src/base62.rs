//! Base62 (`0-9A-Za-z`) encoding of random secrets and of the CRC32 checksum.

pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` characters drawn uniformly from the base62 alphabet using the OS CSPRNG.
///
/// Rejection sampling keeps the distribution uniform: bytes >= 248 (= 4 * 62) are dropped.
pub fn random(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::getrandom(&mut buf).expect("the OS random number generator is unavailable");
        for &b in &buf {
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    out
}

/// Fixed-width base62 of a u32, most significant digit first (6 digits hold 62^6 > 2^32).
pub fn encode_u32_fixed6(mut value: u32) -> [u8; 6] {
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out
}

pub fn is_base62(s: &[u8]) -> bool {
    s.iter().all(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed6_known_values() {
        assert_eq!(&encode_u32_fixed6(0), b"000000");
        assert_eq!(&encode_u32_fixed6(61), b"00000z");
        assert_eq!(&encode_u32_fixed6(62), b"000010");
        assert_eq!(&encode_u32_fixed6(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn random_is_base62_of_requested_length_and_differs() {
        let a = random(40);
        let b = random(40);
        assert_eq!(a.len(), 40);
        assert!(is_base62(a.as_bytes()));
        assert_ne!(a, b);
    }
}
