//! What a key may reach (its scope) and whom it belongs to (its owner).
//!
//! The scope *level* (organization, workspaces, agent) is fixed when a key is created;
//! the list of workspaces may be edited later.
//!
//! A scope is written as serde's internally tagged form (`{"type": "agent", "agent":
//! "agt_…"}`), which the verify answers and the database rows hold byte for byte. It is
//! read through a mirror struct (`ScopeInput`), not by serde's tagged-enum code: that code lets any
//! field through on `{"type": "organization"}` whatever `deny_unknown_fields` says, and
//! a scope is where a caller states what a key may reach, so a stray `agent` must not
//! read as "the whole organization" in silence.

use serde::{Deserialize, Deserializer, Serialize};

/// The most workspaces one scope lists (after duplicates are dropped).
pub const MAX_SCOPE_WORKSPACES: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    deny_unknown_fields,
    try_from = "ScopeInput"
)]
pub enum Scope {
    /// The whole organization.
    #[default]
    Organization,
    /// Only the listed workspaces (at most 100; duplicates are dropped).
    Workspaces {
        #[cfg_attr(feature = "openapi", schema(max_items = 100))]
        workspaces: Vec<String>,
    },
    /// One agent and its channels.
    Agent { agent: String },
}

/// A scope as sent: every field optional, so that what is missing or does not belong
/// to the type gets its own message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeInput {
    #[serde(rename = "type")]
    level: Level,
    /// `Some(None)` for an explicit `null`: present all the same.
    #[serde(default, deserialize_with = "present")]
    workspaces: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    agent: Option<Option<String>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Level {
    Organization,
    Workspaces,
    Agent,
}

fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("a scope of type {level} takes no {field} field: {hint}")]
    Foreign {
        level: &'static str,
        field: &'static str,
        hint: &'static str,
    },
    #[error("a scope of type workspaces needs workspaces, a list of workspace ids")]
    NoWorkspaces,
    #[error("a scope of type agent needs agent, an agent id")]
    NoAgent,
    #[error("a scope lists at most {MAX_SCOPE_WORKSPACES} workspaces (got {0} different ones); scope the key to the organization instead")]
    TooManyWorkspaces(usize),
}

impl ScopeInput {
    /// The scope, workspaces deduplicated in first-seen order, at most `max` of them.
    fn into_scope(self, max: usize) -> Result<Scope, ScopeError> {
        let foreign = |level, field, hint| Err(ScopeError::Foreign { level, field, hint });
        match self.level {
            Level::Organization => match (&self.workspaces, &self.agent) {
                (None, None) => Ok(Scope::Organization),
                (Some(_), _) => foreign(
                    "organization",
                    "workspaces",
                    "use type workspaces to limit a key to some workspaces",
                ),
                (_, Some(_)) => foreign(
                    "organization",
                    "agent",
                    "use type agent to limit a key to one agent",
                ),
            },
            Level::Workspaces => {
                if self.agent.is_some() {
                    return foreign(
                        "workspaces",
                        "agent",
                        "a scope is either some workspaces or one agent",
                    );
                }
                let mut workspaces = self.workspaces.flatten().ok_or(ScopeError::NoWorkspaces)?;
                let mut seen = std::collections::HashSet::with_capacity(workspaces.len());
                workspaces.retain(|w| seen.insert(w.clone()));
                if workspaces.len() > max {
                    return Err(ScopeError::TooManyWorkspaces(workspaces.len()));
                }
                Ok(Scope::Workspaces { workspaces })
            }
            Level::Agent => {
                if self.workspaces.is_some() {
                    return foreign(
                        "agent",
                        "workspaces",
                        "a scope is either some workspaces or one agent",
                    );
                }
                let agent = self.agent.flatten().ok_or(ScopeError::NoAgent)?;
                Ok(Scope::Agent { agent })
            }
        }
    }
}

impl TryFrom<ScopeInput> for Scope {
    type Error = ScopeError;
    fn try_from(input: ScopeInput) -> Result<Self, Self::Error> {
        input.into_scope(MAX_SCOPE_WORKSPACES)
    }
}

impl Scope {
    /// Whether everything `other` reaches is also reached by `self`.
    pub fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Organization, _) => true,
            (Scope::Workspaces { workspaces: mine }, Scope::Workspaces { workspaces: theirs }) => {
                theirs.iter().all(|w| mine.contains(w))
            }
            (Scope::Agent { agent: mine }, Scope::Agent { agent: theirs }) => mine == theirs,
            _ => false,
        }
    }

    pub fn reaches_workspace(&self, workspace: &str) -> bool {
        match self {
            Scope::Organization => true,
            Scope::Workspaces { workspaces } => workspaces.iter().any(|w| w == workspace),
            Scope::Agent { .. } => false,
        }
    }

    pub fn reaches_agent(&self, agent: &str) -> bool {
        match self {
            Scope::Organization => true,
            Scope::Agent { agent: mine } => mine == agent,
            Scope::Workspaces { .. } => false,
        }
    }

    /// Reads a scope this program stored (a database row): the same rules as any input,
    /// except the cap on workspaces, so a key stored before the cap existed still loads.
    pub fn deserialize_stored<'de, D: Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
        ScopeInput::deserialize(d)?
            .into_scope(usize::MAX)
            .map_err(serde::de::Error::custom)
    }

    pub fn level(&self) -> &'static str {
        match self {
            Scope::Organization => "organization",
            Scope::Workspaces { .. } => "workspaces",
            Scope::Agent { .. } => "agent",
        }
    }
}

/// The principal a key acts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Owner {
    /// A person; `name` is their email.
    User { id: String, name: String },
    /// A non-human principal of the organization.
    ServiceAccount { id: String, name: String },
    /// A customer of the platform team, named by the platform's own identifier.
    External { id: String },
}

impl Owner {
    pub fn type_str(&self) -> &'static str {
        match self {
            Owner::User { .. } => "user",
            Owner::ServiceAccount { .. } => "service_account",
            Owner::External { .. } => "external",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Owner::User { id, .. } | Owner::ServiceAccount { id, .. } | Owner::External { id } => {
                id
            }
        }
    }

    /// What people read: an email, a service-account name or the external id.
    pub fn label(&self) -> &str {
        match self {
            Owner::User { name, .. } | Owner::ServiceAccount { name, .. } => name,
            Owner::External { id } => id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws(list: &[&str]) -> Scope {
        Scope::Workspaces {
            workspaces: list.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn read(json: &str) -> Result<Scope, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    /// Rows and verify answers hold these bytes: they must not change.
    #[test]
    fn serialized_form_is_serde_internally_tagged() {
        let cases = [
            (Scope::Organization, r#"{"type":"organization"}"#),
            (
                ws(&["w1", "w2"]),
                r#"{"type":"workspaces","workspaces":["w1","w2"]}"#,
            ),
            (
                Scope::Agent { agent: "a".into() },
                r#"{"type":"agent","agent":"a"}"#,
            ),
        ];
        for (scope, json) in cases {
            assert_eq!(serde_json::to_string(&scope).unwrap(), json);
            assert_eq!(read(json), Ok(scope.clone()), "{json}");
            let mut de = serde_json::Deserializer::from_str(json);
            assert_eq!(Scope::deserialize_stored(&mut de).unwrap(), scope);
        }
        // Field order does not matter on input.
        assert_eq!(
            read(r#"{"agent":"a","type":"agent"}"#),
            Ok(Scope::Agent { agent: "a".into() })
        );
    }

    #[test]
    fn fields_must_belong_to_the_type() {
        let refused = [
            (
                r#"{"type":"organization","agent":"x"}"#,
                "type organization takes no agent",
            ),
            (
                r#"{"type":"organization","agent":null}"#,
                "type organization takes no agent",
            ),
            (
                r#"{"type":"organization","workspaces":[]}"#,
                "type organization takes no workspaces",
            ),
            (
                r#"{"type":"workspaces","workspaces":["w"],"agent":"a"}"#,
                "type workspaces takes no agent",
            ),
            (
                r#"{"type":"agent","agent":"a","workspaces":["w"]}"#,
                "type agent takes no workspaces",
            ),
            (r#"{"type":"agent"}"#, "needs agent"),
            (r#"{"type":"agent","agent":null}"#, "needs agent"),
            (r#"{"type":"workspaces"}"#, "needs workspaces"),
            (
                r#"{"type":"organization","colour":"red"}"#,
                "unknown field `colour`",
            ),
            (r#"{"type":"galaxy"}"#, "unknown variant `galaxy`"),
            (r#"{"agent":"a"}"#, "missing field `type`"),
            (r#"{"type":"agent","agent":5}"#, "invalid type"),
        ];
        for (json, message) in refused {
            let err = read(json).unwrap_err();
            assert!(err.contains(message), "{json}: {err}");
        }
    }

    #[test]
    fn workspaces_are_deduplicated_and_capped() {
        let dupes: Vec<String> = (0..1000).map(|i| format!("w{}", i % 3)).collect();
        let json = serde_json::json!({"type": "workspaces", "workspaces": dupes}).to_string();
        assert_eq!(read(&json), Ok(ws(&["w0", "w1", "w2"])));
        let list = |n: usize| -> String {
            let ids: Vec<String> = (0..n).map(|i| format!("w{i}")).collect();
            serde_json::json!({"type": "workspaces", "workspaces": ids}).to_string()
        };
        assert!(read(&list(MAX_SCOPE_WORKSPACES)).is_ok());
        let err = read(&list(MAX_SCOPE_WORKSPACES + 1)).unwrap_err();
        assert!(err.contains("at most 100 workspaces (got 101"), "{err}");
        // A row stored before the cap still loads.
        let json = list(150);
        let mut de = serde_json::Deserializer::from_str(&json);
        match Scope::deserialize_stored(&mut de).unwrap() {
            Scope::Workspaces { workspaces } => assert_eq!(workspaces.len(), 150),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn coverage() {
        let agent = Scope::Agent { agent: "a".into() };
        assert!(Scope::Organization.covers(&ws(&["x"])) && Scope::Organization.covers(&agent));
        assert!(ws(&["x", "y"]).covers(&ws(&["y"])));
        assert!(!ws(&["x"]).covers(&ws(&["x", "y"])));
        assert!(!ws(&["x"]).covers(&Scope::Organization));
        assert!(!ws(&["x"]).covers(&agent) && !agent.covers(&ws(&["x"])));
        assert!(agent.covers(&agent.clone()) && !agent.covers(&Scope::Agent { agent: "b".into() }));
        assert!(ws(&["x"]).reaches_workspace("x") && !ws(&["x"]).reaches_workspace("y"));
        assert!(
            !agent.reaches_workspace("x") && agent.reaches_agent("a") && !agent.reaches_agent("b")
        );
    }
}
