//! Secrets the shared request types carry must not show in `Debug`. The key and the
//! code are generated at run time.
use keyward_api::{AcceptRequest, CliTokenRequest, VerifyRequest};
use keyward_core::invite::{CliLoginCode, InviteCode};
use keyward_core::key::Environment;
use keyward_core::pkce::CodeVerifier;
use keyward_core::{KeyKind, PlainKey};
use std::borrow::Cow;

#[test]
fn verify_request_debug_does_not_show_the_key() {
    let key = PlainKey::generate(KeyKind::Api, Environment::Live);
    let raw = key.expose_secret();
    let req = VerifyRequest {
        key: Cow::Borrowed(raw),
        ..Default::default()
    };
    let shown = format!("{req:?}");
    let secret = &raw[raw.len() - 38..];
    assert!(
        !shown.contains(secret),
        "Debug leaks the verified key: {shown}"
    );
}

#[test]
fn accept_request_debug_does_not_show_the_code() {
    let code = InviteCode::generate();
    let raw = code.expose_secret();
    let req = AcceptRequest { code: raw.into() };
    let shown = format!("{req:?}");
    assert!(
        !shown.contains(&raw[7..]),
        "Debug leaks the invitation code: {shown}"
    );
}

#[test]
fn cli_token_request_debug_shows_neither_the_code_nor_the_verifier() {
    let (code, verifier) = (CliLoginCode::generate(), CodeVerifier::generate());
    let req = CliTokenRequest {
        code: code.expose_secret().into(),
        code_verifier: verifier.expose_secret().into(),
    };
    let shown = format!("{req:?}");
    assert!(!shown.contains(&code.expose_secret()[7..]), "{shown}");
    assert!(!shown.contains(verifier.expose_secret()), "{shown}");
}
