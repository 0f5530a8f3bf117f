//! Verifying the webhooks that providers send, and signing/verifying Standard Webhooks.
//!
//! Keyward's webhook ingress receives deliveries from each provider, checks the provider's
//! own signature, then forwards them signed with one scheme, [Standard Webhooks]
//! ([`standard`]), so a downstream app checks a single scheme whatever the provider. Apps
//! that receive a provider's webhooks themselves can use the same verifiers.
//!
//! | module | what it checks |
//! | --- | --- |
//! | [`meta`] | WhatsApp Cloud API: the GET `hub.*` handshake and `X-Hub-Signature-256` |
//! | [`slack`] | `X-Slack-Signature` v0 over `v0:{ts}:{body}`, 300 s window; `url_verification` |
//! | [`telegram`] | `X-Telegram-Bot-Api-Secret-Token`; making and checking secret tokens |
//! | [`discord`] | Ed25519 `X-Signature-Ed25519` over timestamp ‖ body; PING/PONG |
//! | [`standard`] | `webhook-id`/`-timestamp`/`-signature`, secret rotation, signing |
//!
//! The crate does no I/O and knows no HTTP framework: headers come through the
//! [`Headers`] trait (case-insensitive names; implemented for `[(&str, &str)]` and
//! `HashMap<String, String>`), the body as the raw bytes received (never re-serialized),
//! and the current time as an argument (`now`, unix seconds). Every verifier refuses a
//! missing or malformed header before any cryptography, compares MACs and tokens in
//! constant time, and returns a [`Refused`] whose message never contains a secret or an
//! expected MAC. A refusal is answered 401 (403 for Meta's handshake) with nothing done
//! with the payload.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod headers;
mod mac;

pub mod discord;
pub mod meta;
pub mod slack;
pub mod standard;
pub mod telegram;

pub use error::Refused;
pub use headers::{Headers, TOLERANCE_SECS};
