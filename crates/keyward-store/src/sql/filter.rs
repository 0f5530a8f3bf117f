//! Which keys a listing shows, as SQL conditions on `api_keys k`.

use super::backend::{Arg, Backend};
use crate::encode::json;
use crate::error::StoreError;
use crate::model::KeyFilter;

/// Appends the conditions of a [`KeyFilter`] on `api_keys k` to `sql`, and their values
/// to `args` (placeholders numbered after those already there).
pub(crate) fn push_key_filter<'a, B: Backend>(
    sql: &mut String,
    args: &mut Vec<Arg<'a>>,
    filter: &'a KeyFilter,
) {
    let mut param = |value: Arg<'a>| {
        args.push(value);
        format!("${}", args.len())
    };
    if let Some(user) = &filter.owner_user {
        let user = param(user.into());
        if let Some(agents) = &filter.agents {
            let agents = param(json(agents).into());
            sql.push_str(&format!(
                " AND ((k.owner_type = 'user' AND k.owner_id = {user}) OR (k.scope_level = 'agent' AND {} IN ({})))",
                B::json_field("k.scope", "agent"),
                B::json_elements(&agents, None),
            ));
        } else {
            sql.push_str(&format!(
                " AND k.owner_type = 'user' AND k.owner_id = {user}"
            ));
        }
    }
    if let Some(sa) = &filter.service_account {
        let sa = param(sa.into());
        sql.push_str(&format!(
            " AND k.owner_type = 'service_account' AND k.owner_id = {sa}"
        ));
    }
    if let Some(key) = &filter.key {
        let key = param(key.into());
        sql.push_str(&format!(" AND k.id = {key}"));
    }
}

pub(crate) fn bad_cursor() -> StoreError {
    StoreError::InvalidInput("cursor")
}
