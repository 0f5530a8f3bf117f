//! Regression tests for the holes a hostile review found: races with deletions,
//! invitations that handed out credentials, admins locking owners out, the audit log,
//! chained rotations and organization creation. Each runs on SQLite, and on PostgreSQL
//! with `KEYWARD_TEST_BACKEND=postgres` (`.ci/run` runs both).

use crate::common;

use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

mod invitations;
mod races;
mod roles;
mod rotation;
