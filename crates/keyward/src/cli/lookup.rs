//! Finding what the command line names by id or by name, when more than one feature
//! needs it: workspaces and agents (for scopes, channels and invitations), and the
//! generic pick by id or name. Lookups only one feature needs live in that feature.

use super::context::Session;
use super::failure::{Failure, EXIT_ERROR};
use keyward_client::{Resource, ResourceKind};

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
