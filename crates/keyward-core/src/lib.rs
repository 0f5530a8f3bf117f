//! Keyward's domain logic, free of I/O so it can be tested exhaustively and reused by
//! the server, the SDK and the CLI alike.
//!
//! - [`key`]: the key format (typed prefix, base62 secret, CRC32 checksum), parsing and
//!   hashing. A [`key::PlainKey`] can only be shown once, so it cannot be printed.
//! - [`expiry`]: expiry presets and durations, evaluated against an injected clock.
//! - [`permission`]: `resource:action` grants and the `all` / `read_only` presets.
//! - [`clock`]: the clock trait every time-dependent decision takes.
//! - [`ids`]: prefixed public identifiers (`key_…`, `org_…`).
//! - [`name`]: validated display names.
//! - [`email`]: people's email addresses, trimmed and lowercased.
//! - [`external_id`]: the platform's identifiers of its customers, owners of `api` keys.
//! - [`invite`]: one-time codes (invitations, password links, CLI logins, sessions).
//! - [`worker`]: worker names, labels, and status from key and heartbeat age.
//! - [`pkce`]: RFC 7636 verifiers and challenges and the loopback `state` of
//!   `keyward auth login --web`.

pub mod base62;
pub mod clock;
pub mod email;
pub mod expiry;
pub mod external_id;
pub mod ids;
pub mod invite;
pub mod key;
pub mod limits;
pub mod name;
pub mod permission;
pub mod pkce;
pub mod role;
pub mod scope;
pub mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use email::Email;
pub use external_id::ExternalId;
pub use key::{KeyError, KeyHash, KeyKind, PlainKey};
pub use limits::{Quota, RateLimit, Refill};
pub use name::Name;
pub use permission::{Permission, PermissionSet};
pub use role::{Reach, Role};
pub use scope::{Owner, Scope};
