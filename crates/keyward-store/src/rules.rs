//! The rules a change checks inside its transaction, with what it read there: plain
//! functions of records, the same for every backend.

use crate::encode::corrupt;
use crate::error::{Result, StoreError};
use crate::model::*;
use crate::rows::KeyNow;

/// The rules about a person's key that must hold when the change is written (checked
/// inside its transaction, with the key and its person's role as they are now, so no
/// race with a promotion or another change slips through):
/// - someone else acts on it only when they outrank its person (an org admin never on
///   an owner's or another admin's token);
/// - its person cannot undo what someone else imposed: switch it back on after someone
///   else switched it off, or change limits someone else set (owners, whom nobody
///   outranks, may). `patch` is `None` for a revocation or rotation.
pub(crate) fn person_key_rules(
    actor: &Actor,
    key: &KeyRecord,
    person_role: Option<keyward_core::Role>,
    patch: Option<&KeyPatch>,
) -> Result<()> {
    use keyward_core::{KeyKind, Owner, Role};
    let person = match (&key.owner, key.kind) {
        (Some(Owner::User { id, .. }), KeyKind::Personal | KeyKind::Worker) => id,
        _ => return Ok(()),
    };
    let Some(authority) = &actor.authority else {
        return Ok(()); // the system or an operator
    };
    if actor.id.as_deref() != Some(person.as_str()) {
        if person_role.is_some_and(|target| !Role::outranks(authority.role, target)) {
            return Err(StoreError::Forbidden(
                "only someone ranked above a person acts on their tokens; only owners act on owners' and org admins' tokens",
            ));
        }
        return Ok(());
    }
    let Some(patch) = patch else { return Ok(()) };
    if authority.role == Some(Role::Owner) {
        return Ok(());
    }
    let someone_else = |by: &Option<String>| {
        by.as_deref()
            .is_some_and(|b| b != person && b != ORGANIZATION_DEFAULTS)
    };
    if patch.enabled == Some(true) && !key.enabled && someone_else(&key.disabled_by) {
        return Err(StoreError::Forbidden(
            "someone else switched this key off; ask an admin to switch it on",
        ));
    }
    if (patch.ratelimit.is_some() || patch.quota.is_some()) && someone_else(&key.limits_by) {
        return Err(StoreError::Forbidden(
            "this key's limits were set by someone else; ask an admin to change them",
        ));
    }
    Ok(())
}

/// Who restricted a key: its `disabled_by` and `limits_by` columns.
pub(crate) struct Restrictions {
    pub disabled_by: Option<String>,
    pub limits_by: Option<String>,
}

/// A key's `disabled_by` and `limits_by` after `patch`: who switched it off stays
/// recorded while it is off; who set its limits, while it has any.
pub(crate) fn restrictions_after(current: &KeyRecord, patch: &KeyPatch) -> Restrictions {
    let enabled = patch.enabled.unwrap_or(current.enabled);
    let person = match (&current.owner, current.kind) {
        (
            Some(keyward_core::Owner::User { id, .. }),
            keyward_core::KeyKind::Personal | keyward_core::KeyKind::Worker,
        ) => Some(id.as_str()),
        _ => None,
    };
    let disabled_by = match (current.enabled, enabled) {
        (_, true) => None,
        (true, false) => patch.by.clone(),
        // Switched off again while off: someone else's switch outweighs the key's
        // person's own, so the person cannot turn it back on afterwards.
        (false, false)
            if patch.enabled == Some(false)
                && patch.by.as_deref() != person
                && (current.disabled_by.is_none() || current.disabled_by.as_deref() == person) =>
        {
            patch.by.clone()
        }
        (false, false) => current.disabled_by.clone(),
    };
    let ratelimit = patch.ratelimit.unwrap_or(current.ratelimit);
    let quota = patch.quota.unwrap_or(current.quota);
    let limits_by = if ratelimit.is_none() && quota.is_none() {
        None
    } else if patch.ratelimit.is_some() || patch.quota.is_some() {
        patch.by.clone()
    } else {
        current.limits_by.clone()
    };
    Restrictions {
        disabled_by,
        limits_by,
    }
}

pub(crate) mod rotation {
    use crate::model::{KeyRecord, NewAuditEvent, NewKey, Rotation};

    /// Whether the replacement copies the old key as it is now (read inside the
    /// rotating transaction): a key edited or switched off after the caller read it is
    /// not rotated from the stale copy (`Conflict::ChangedMeanwhile`).
    pub(crate) fn still_matches(old: &KeyRecord, replacement: &NewKey) -> bool {
        old.permissions == replacement.permissions
            && old.scope == replacement.scope
            && old.metadata == replacement.metadata
            && old.ratelimit == replacement.ratelimit
            && old.quota == replacement.quota
            && old.enabled == replacement.enabled
            && old.owner == replacement.owner
            && old.workspace_id == replacement.workspace_id
            && old.channel_id == replacement.channel_id
            && old.kind == replacement.kind
            && old.disabled_by == replacement.disabled_by
            && old.limits_by == replacement.limits_by
    }

    /// When rotating `old`, which was itself a replacement, the audit event that ends
    /// its predecessor's grace period (the caller revokes it if it still works).
    pub(crate) fn end_predecessor(old: &KeyRecord, r: &Rotation) -> Option<NewAuditEvent> {
        let predecessor = old.rotated_from.clone()?;
        let first = r.audit.first()?;
        Some(NewAuditEvent {
            action: "key.revoke".into(),
            target_type: "key".into(),
            target_id: predecessor,
            details: serde_json::json!({
                "reason": "grace period ended: the key that replaced it was rotated again",
                "rotated": old.id,
            }),
            ..first.clone()
        })
    }
}

/// Whether the acting key's row allows the change: the key works, and what the request
/// was authorized with (role, grants, scope) still holds.
pub(crate) fn actor_allowed(actor: &Actor, found: Option<KeyNow>) -> Result<()> {
    let Some(KeyNow {
        org_id,
        role,
        permissions,
        scope,
        rotated_to,
        ..
    }) = found
    else {
        return Err(StoreError::ActorInactive);
    };
    let Some(authority) = &actor.authority else {
        return Ok(());
    };
    let role_now = role.as_deref().and_then(keyward_core::Role::parse);
    let permissions_now: keyward_core::PermissionSet =
        serde_json::from_str(&permissions).map_err(|_| corrupt("permissions", &permissions))?;
    let scope_now =
        keyward_core::Scope::deserialize_stored(&mut serde_json::Deserializer::from_str(&scope))
            .map_err(|_| corrupt("scope", &scope))?;
    if authority.role.is_some_and(|r| Some(r) != role_now)
        || authority.permissions != permissions_now
        || authority.scope != scope_now
        || authority.rotated != rotated_to.is_some()
        || authority.org_id.as_ref().is_some_and(|o| *o != org_id)
    {
        return Err(StoreError::ActorChanged);
    }
    Ok(())
}

/// Whether the key that issued `inv`, as it is now (its [`crate::sql::change::KEY_WORKS`] row), may
/// still hand out what the invitation gives: its holder is still an owner or org admin
/// (or a service account or legacy token, which rank as org admins) ranked above the
/// invitation's role, and the key still holds the first token's grants. An invitation
/// cannot outlive its inviter's demotion or narrowing.
pub(crate) fn inviter_may(inviter: &KeyNow, inv: &Invitation) -> Result<bool> {
    use keyward_core::Role;
    let KeyNow {
        role, permissions, ..
    } = inviter;
    let holds: keyward_core::PermissionSet =
        serde_json::from_str(permissions).map_err(|_| corrupt("permissions", permissions))?;
    let ranks = match role.as_deref().map(Role::parse) {
        None => Role::OrgAdmin.rank() > inv.role.rank(),
        Some(Some(Role::Owner)) => true,
        Some(Some(Role::OrgAdmin)) => Role::OrgAdmin.rank() > inv.role.rank(),
        Some(_) => false,
    };
    Ok(ranks && holds.covers(&inv.permissions))
}
