//! The life of a key through the HTTP API: create, list, show, rename, verify,
//! rotate, revoke, expire, last-used and audit.

use crate::common::{start_time, TestApp};
use chrono::Duration;
use keyward_core::key::Environment;
use keyward_core::{KeyKind, PlainKey};
use reqwest::StatusCode;
use serde_json::json;

mod lifecycle;
mod lists;
mod records;
mod verify;
