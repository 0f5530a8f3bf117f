//! Finding what the command line names by id or by name, when more than one feature
//! needs it: keys (for `keys …` and `keys usage`), workspaces and agents (for scopes,
//! channels and invitations), and the generic pick by id or name. Lookups only one
//! feature needs live in that feature.
//!
//! A key is named by its id (`key_…`), its visible prefix (`kw_pat_kcnl`) or its name.
//! A full raw key is refused before anything is sent, so it does not end up in error
//! messages or listings.

use super::context::Session;
use super::failure::{Failure, EXIT_ERROR};
use clap::Args;
use keyward_client::{KeyStatus, KeyView, ListParams, Resource, ResourceKind};

/// How many pages a name lookup reads at most (100 keys each).
const MAX_PAGES: usize = 1000;

#[derive(Args)]
pub struct KeyRef {
    /// The key's id (key_…), visible prefix (kw_pat_kcnl) or name
    #[arg(value_name = "KEY")]
    pub key: String,
}

/// Finds a key by id, visible prefix or name.
pub async fn key(s: &Session<'_>, reference: &str) -> Result<KeyView, Failure> {
    let reference = reference.trim();
    // A whole key (even one with a typo) is longer than any visible prefix.
    let looks_like_a_key = reference.starts_with("kw_") && reference.len() > 24;
    if looks_like_a_key || keyward_client::offline_check(reference).is_ok() {
        return Err(Failure::usage(
            "that is a full API key, not a key's id: it was not sent anywhere",
        )
        .with_hint("name the key by its id (key_…) or visible prefix (kw_pat_abcd); treat the full key as exposed if you pasted it somewhere shared"));
    }
    if reference.starts_with("key_") {
        return s.client.get_key(reference).await.map_err(|e| s.fail(e));
    }
    let wanted = reference.trim_end_matches('…').trim_end_matches("...");
    let all = all_keys(s).await?;
    let by_prefix = wanted.starts_with("kw_");
    let mut matches: Vec<KeyView> = all
        .into_iter()
        .filter(|k| {
            if by_prefix {
                k.prefix.starts_with(wanted) || wanted.starts_with(&k.prefix)
            } else {
                k.name == wanted
            }
        })
        .collect();
    if matches.len() > 1 {
        // A name is often reused by rotation: prefer the keys that still work.
        let active: Vec<KeyView> = matches
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .cloned()
            .collect();
        if !active.is_empty() {
            matches = active;
        }
    }
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => Err(Failure::new(
            EXIT_ERROR,
            "not_found",
            format!(
                "no key has the {} {wanted:?}",
                if by_prefix { "prefix" } else { "name" }
            ),
        )
        .with_hint("`keyward keys list` shows every key with its id, prefix and name")),
        _ => Err(Failure::new(
            EXIT_ERROR,
            "ambiguous",
            format!(
                "{} keys match {wanted:?}: {}",
                matches.len(),
                matches
                    .iter()
                    .map(|k| format!("{} ({})", k.id, k.prefix))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_hint("name the key by its id")),
    }
}

async fn all_keys(s: &Session<'_>) -> Result<Vec<KeyView>, Failure> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page = s
            .client
            .list_keys(&ListParams {
                limit: Some(100),
                cursor,
            })
            .await
            .map_err(|e| s.fail(e))?;
        out.extend(page.data);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Picks one item by id or by name from a list.
pub fn pick<T: Clone>(
    items: &[T],
    wanted: &str,
    noun: &str,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> &str,
) -> Result<T, Failure> {
    let wanted = wanted.trim();
    if let Some(found) = items.iter().find(|i| id(i) == wanted) {
        return Ok(found.clone());
    }
    let matches: Vec<&T> = items
        .iter()
        .filter(|i| name(i).eq_ignore_ascii_case(wanted))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Failure::new(
            EXIT_ERROR,
            "not_found",
            format!("no {noun} has the id or name {wanted:?}"),
        )
        .with_hint(format!("`keyward {noun}s list` shows them"))),
        many => Err(Failure::new(
            EXIT_ERROR,
            "ambiguous",
            format!(
                "{} {noun}s are named {wanted:?}: {}",
                many.len(),
                many.iter().map(|i| id(i)).collect::<Vec<_>>().join(", ")
            ),
        )
        .with_hint("name it by its id")),
    }
}

/// A workspace or an agent, by id or name.
pub async fn resource(
    s: &Session<'_>,
    kind: ResourceKind,
    wanted: &str,
) -> Result<Resource, Failure> {
    if wanted.starts_with(kind.id_prefix()) {
        return s
            .client
            .get_resource(kind, wanted)
            .await
            .map_err(|e| s.fail(e));
    }
    let all = s.client.list_resources(kind).await.map_err(|e| s.fail(e))?;
    pick(&all, wanted, kind.singular(), |r| &r.id, |r| &r.name)
}

/// An agent's id, from its id or name.
pub async fn agent_id(s: &Session<'_>, wanted: &str) -> Result<String, Failure> {
    if wanted.starts_with(ResourceKind::Agent.id_prefix()) {
        return Ok(wanted.to_owned());
    }
    Ok(resource(s, ResourceKind::Agent, wanted).await?.id)
}
