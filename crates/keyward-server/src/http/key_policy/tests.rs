//! The create-key rules, without HTTP.
use super::*;
use keyward_core::{KeyHash, PlainKey};
use keyward_store::NewKey;
use serde_json::json;

fn now() -> DateTime<Utc> {
    "2030-01-01T00:00:00Z".parse().unwrap()
}

/// The calling key: a person's token with `permissions`, or an org key (no owner).
fn caller(person: bool, permissions: &[&str]) -> KeyRecord {
    let kind = if person {
        KeyKind::Personal
    } else {
        KeyKind::Api
    };
    let plain = PlainKey::generate(kind, Environment::Live);
    let new = NewKey {
        owner: person.then(|| Owner::User {
            id: "usr_1".into(),
            name: "ada@company.com".into(),
        }),
        permissions: PermissionSet::parse_list(permissions).unwrap(),
        ..NewKey::for_plain(
            &plain,
            "org_1",
            "caller".to_owned(),
            now(),
            "ada".to_owned(),
        )
    };
    KeyRecord {
        id: new.id,
        org_id: new.org_id,
        org_name: "acme".into(),
        kind,
        environment: Environment::Live,
        name: new.name,
        prefix: new.prefix,
        hash: KeyHash::of(plain.expose_secret()),
        owner: new.owner,
        permissions: new.permissions,
        scope: Scope::Organization,
        metadata: None,
        created_at: now(),
        created_by: "ada".into(),
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
        rotated_from: None,
        rotated_to: None,
        enabled: true,
        workspace_id: None,
        channel_id: None,
        ratelimit: None,
        quota: None,
        disabled_by: None,
        limits_by: None,
    }
}

/// Both steps, as the handler runs them with authorization between.
fn plan(
    req: &CreateKeyRequest,
    caller: &KeyRecord,
    settings: &OrgSettings,
    channel: Option<&Channel>,
    now: DateTime<Utc>,
) -> Result<KeyPlan> {
    let shape = super::shape(req, caller, settings, channel)?;
    super::plan(shape, req, caller, settings, now)
}

fn req(body: serde_json::Value) -> CreateKeyRequest {
    serde_json::from_value(body).unwrap()
}

fn code(e: ApiError) -> String {
    format!("{e:?}")
}

const ALL: &[&str] = &["keys:read", "keys:write", "skills:execute"];

#[test]
fn a_person_gets_a_personal_token_with_their_own_permissions_by_default() {
    let p = plan(
        &req(json!({"name": "ci"})),
        &caller(true, ALL),
        &OrgSettings::default(),
        None,
        now(),
    )
    .unwrap();
    assert_eq!(p.kind, KeyKind::Personal);
    assert_eq!(p.owner.as_ref().map(Owner::id), Some("usr_1"));
    assert_eq!(p.permissions.to_strings(), ALL);
    assert_eq!(
        (p.scope, p.expires_at, p.limits_from),
        (Scope::Organization, None, LimitsFrom::Nothing)
    );
    // An org key makes api keys, owned by a customer only if it says so.
    let p = plan(
        &req(json!({"name": "c", "owner": "cus_1"})),
        &caller(false, ALL),
        &OrgSettings::default(),
        None,
        now(),
    )
    .unwrap();
    assert_eq!(p.kind, KeyKind::Api);
    assert_eq!(p.owner, Some(Owner::External { id: "cus_1".into() }));
    // A customer's key is authorized as belonging to nobody in the organization.
    let s = shape(
        &req(json!({"name": "c", "owner": "cus_1"})),
        &caller(false, ALL),
        &OrgSettings::default(),
        None,
    )
    .unwrap();
    assert_eq!(s.target_owner(), None);
}

#[test]
fn a_key_cannot_grant_more_than_it_holds_nor_outlive_its_maker() {
    let mut c = caller(true, &["keys:read", "keys:write"]);
    let r = plan(
        &req(json!({"name": "x", "permissions": ["skills:execute"]})),
        &c,
        &OrgSettings::default(),
        None,
        now(),
    );
    assert!(code(r.unwrap_err()).contains("CannotGrant"));
    c.expires_at = Some(now() + chrono::Duration::days(7));
    let p = plan(
        &req(json!({"name": "x"})),
        &c,
        &OrgSettings::default(),
        None,
        now(),
    )
    .unwrap();
    assert_eq!(
        p.expires_at, c.expires_at,
        "an unspecified expiry is capped"
    );
    let r = plan(
        &req(json!({"name": "x", "expires": "30d"})),
        &c,
        &OrgSettings::default(),
        None,
        now(),
    );
    assert!(code(r.unwrap_err()).contains("expires"));
    let p = plan(
        &req(json!({"name": "x", "expires": "2030-01-03T00:00:00Z"})),
        &c,
        &OrgSettings::default(),
        None,
        now(),
    )
    .unwrap();
    assert_eq!(p.expires_at, Some(now() + chrono::Duration::days(2)));
}

#[test]
fn kinds_take_only_their_own_fields() {
    let person = caller(true, ALL);
    let s = OrgSettings::default();
    #[rustfmt::skip]
    let refused = [
        (json!({"name": "x", "kind": "personal", "owner": "cus_1"}), "owner"),
        (json!({"name": "x", "workspace": "ws_1"}), "workspace"),
        (json!({"name": "x", "channel": "ch_1"}), "channel"),
        (json!({"name": "x", "kind": "worker"}), "workspace"),
        (json!({"name": "x", "kind": "worker", "workspace": "ws_1", "scope": {"type": "organization"}}), "scope"),
        (json!({"name": "x", "kind": "channel"}), "channel"),
        (json!({"name": "x", "kind": "service_account"}), "kind"),
        (json!({"name": "x", "environment": "test"}), "environment"),
        (json!({"name": "x", "kind": "legacy_workspace", "workspace": "ws_1"}), "LegacyTokensDisabled"),
        (json!({"name": "x", "kind": "channel", "channel": "ch_gone"}), "ChannelNotFound"),
    ];
    for (body, why) in refused {
        let e = plan(&req(body.clone()), &person, &s, None, now()).unwrap_err();
        assert!(code(e).contains(why), "{body}: not refused for {why}");
    }
    // Worker keys belong to a person: an org key cannot make one.
    let e = plan(
        &req(json!({"name": "x", "kind": "worker", "workspace": "ws_1"})),
        &caller(false, ALL),
        &s,
        None,
        now(),
    )
    .unwrap_err();
    assert!(code(e).contains("kind"));
    let p = plan(
        &req(json!({"name": "x", "kind": "worker", "workspace": "ws_1"})),
        &person,
        &s,
        None,
        now(),
    )
    .unwrap();
    assert_eq!(
        (p.workspace_id.as_deref(), p.owner.is_some()),
        (Some("ws_1"), true)
    );
    assert_eq!(
        p.scope,
        Scope::Workspaces {
            workspaces: vec!["ws_1".into()]
        }
    );
    let legacy = OrgSettings {
        allow_legacy_tokens: true,
        ..OrgSettings::default()
    };
    let p = plan(
        &req(json!({"name": "x", "kind": "legacy_workspace", "workspace": "ws_1"})),
        &person,
        &legacy,
        None,
        now(),
    )
    .unwrap();
    assert_eq!((p.kind, p.owner), (KeyKind::LegacyWorkspace, None));
}

#[test]
fn a_channel_token_is_scoped_to_its_channels_agent() {
    let channel = Channel {
        id: "ch_1".into(),
        org_id: "org_1".into(),
        agent_id: "agt_1".into(),
        name: "wa".into(),
        hook_id: "hk_1".into(),
        enabled: true,
        created_at: now(),
        deleted: false,
    };
    let p = plan(
        &req(json!({"name": "x", "kind": "channel", "channel": "ch_1"})),
        &caller(true, ALL),
        &OrgSettings::default(),
        Some(&channel),
        now(),
    )
    .unwrap();
    assert_eq!(
        (p.scope, p.channel_id.as_deref(), p.owner),
        (
            Scope::Agent {
                agent: "agt_1".into()
            },
            Some("ch_1"),
            None
        )
    );
}

#[test]
fn limits_default_to_the_organizations_and_metadata_is_bounded() {
    let settings = OrgSettings {
        default_ratelimit: Some(
            serde_json::from_value(json!({"limit": 5, "period": "1m"})).unwrap(),
        ),
        ..OrgSettings::default()
    };
    let c = caller(true, ALL);
    let p = plan(&req(json!({"name": "x"})), &c, &settings, None, now()).unwrap();
    assert_eq!(
        (p.ratelimit.map(|r| r.limit), p.limits_from),
        (Some(5), LimitsFrom::OrganizationDefaults)
    );
    let p = plan(
        &req(json!({"name": "x", "ratelimit": {"limit": 9, "period": "1m"}})),
        &c,
        &settings,
        None,
        now(),
    )
    .unwrap();
    assert_eq!(
        (p.ratelimit.map(|r| r.limit), p.limits_from),
        (Some(9), LimitsFrom::Request)
    );
    let big = "x".repeat(MAX_METADATA_BYTES);
    let e = plan(
        &req(json!({"name": "x", "metadata": {"a": big}})),
        &c,
        &settings,
        None,
        now(),
    )
    .unwrap_err();
    assert!(code(e).contains("metadata"));
}
