//! Secrets the shared request types carry must not show in `Debug`.
use keyward_api::{AcceptRequest, VerifyRequest};
use std::borrow::Cow;

const KEY: &str = "kw_live_SECRETSECRETSECRETSECRETSECRET12abcd";
const CODE: &str = "kw_inv_SECRETSECRETSECRETSECRETSECRET12";

#[test]
fn verify_request_debug_does_not_show_the_key() {
    let req = VerifyRequest {
        key: Cow::Borrowed(KEY),
        ..Default::default()
    };
    let shown = format!("{req:?}");
    assert!(
        !shown.contains("SECRETSECRET"),
        "Debug leaks the verified key: {shown}"
    );
}

#[test]
fn accept_request_debug_does_not_show_the_code() {
    let req = AcceptRequest { code: CODE.into() };
    let shown = format!("{req:?}");
    assert!(
        !shown.contains("SECRETSECRET"),
        "Debug leaks the invitation code: {shown}"
    );
}
