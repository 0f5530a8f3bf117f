//! The first organization, its owner, and the owner's first token.

use keyward_core::key::Environment;
use keyward_core::{ids, Clock, Email, KeyKind, Owner, PermissionSet, PlainKey};
use keyward_store::{KeyRecord, NewBootstrap, NewKey, Store};

pub const DEFAULT_ORG: &str = "default";
pub const DEFAULT_EMAIL: &str = "owner@localhost";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("organization name: {0}")]
    OrgName(keyward_core::name::NameError),
    #[error("email {0:?}: {1}")]
    Email(String, keyward_core::email::EmailError),
    #[error(transparent)]
    Store(#[from] keyward_store::StoreError),
}

/// Creates the first organization and its owner, and returns the owner's personal
/// access token (with every permission). Fails with a conflict if an organization
/// exists, even when several processes race.
pub async fn bootstrap(
    store: &dyn Store,
    clock: &dyn Clock,
    org: &str,
    email: &str,
) -> Result<(PlainKey, KeyRecord), BootstrapError> {
    let org_name = keyward_core::Name::parse(org).map_err(BootstrapError::OrgName)?;
    let email = Email::parse(email).map_err(|e| BootstrapError::Email(email.to_owned(), e))?;
    let now = clock.now();
    let org_id = ids::new_id("org");
    let user_id = ids::new_id("usr");
    let plain = PlainKey::generate(KeyKind::Personal, Environment::Live);
    let key = NewKey {
        owner: Some(Owner::User {
            id: user_id.clone(),
            name: email.to_string(),
        }),
        permissions: PermissionSet::all(),
        ..NewKey::for_plain(&plain, &org_id, "bootstrap token", now, "bootstrap")
    };
    let record = store
        .bootstrap(NewBootstrap {
            org_id,
            org_name: org_name.to_string(),
            user_id,
            email: email.to_string(),
            at: now,
            key,
            source_ip: None,
        })
        .await?;
    Ok((plain, record))
}
