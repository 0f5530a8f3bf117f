//! The server's black-box suite, one test binary: each module spawns real servers on
//! loopback (see `common`) and talks to them over HTTP. Every test runs on SQLite, and
//! on PostgreSQL with `KEYWARD_TEST_BACKEND=postgres` (`.ci/run` runs both).

mod common;
mod console;

mod authorization;
mod bodies;
mod cli_login;
mod cluster;
mod coherence;
mod errors;
mod integrations;
mod keys_api;
mod revocation;
mod security;
mod tenancy;
mod usage;
mod validation;
mod webhooks;
mod workers;
mod workers_protocol;
