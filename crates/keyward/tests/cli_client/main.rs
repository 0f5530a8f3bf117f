//! The client commands, end to end: the real binary against a real server on loopback.

#[path = "../support/mod.rs"]
mod support;

use support::{
    create_key, create_org, invite_and_accept, mode, run, Server, User, COMMAND_TIMEOUT,
};

mod auth;
mod organizations;
mod output;
mod web_login;
