//! Verifying the webhooks that providers send, and signing/verifying Standard Webhooks.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod headers;
mod mac;

pub mod discord;
pub mod meta;
pub mod slack;
pub mod telegram;

pub use error::Refused;
pub use headers::{Headers, TOLERANCE_SECS};
