//! Store records as the API shows them: each answer is a `keyward_api` type, built here
//! from the record the store returned (the records keep fields the API never shows).

use keyward_store as store;

/// The API's view of a store record.
pub trait IntoApi {
    type Api;
    fn into_api(self) -> Self::Api;
}

impl<T: IntoApi> IntoApi for Vec<T> {
    type Api = Vec<T::Api>;
    fn into_api(self) -> Self::Api {
        self.into_iter().map(IntoApi::into_api).collect()
    }
}

impl IntoApi for store::OrgSettings {
    type Api = keyward_api::OrgSettings;
    fn into_api(self) -> Self::Api {
        keyward_api::OrgSettings {
            max_keys: self.max_keys,
            max_worker_keys: self.max_worker_keys,
            allow_legacy_tokens: self.allow_legacy_tokens,
            default_ratelimit: self.default_ratelimit,
            default_quota: self.default_quota,
        }
    }
}

impl IntoApi for store::Organization {
    type Api = keyward_api::Organization;
    fn into_api(self) -> Self::Api {
        keyward_api::Organization {
            id: self.id,
            name: self.name,
            created_at: self.created_at,
            settings: self.settings.into_api(),
        }
    }
}

impl IntoApi for store::Resource {
    type Api = keyward_api::Resource;
    fn into_api(self) -> Self::Api {
        keyward_api::Resource {
            id: self.id,
            name: self.name,
            created_at: self.created_at,
        }
    }
}

impl IntoApi for store::Channel {
    type Api = keyward_api::Channel;
    fn into_api(self) -> Self::Api {
        keyward_api::Channel {
            id: self.id,
            agent_id: self.agent_id,
            name: self.name,
            hook_id: self.hook_id,
            enabled: self.enabled,
            created_at: self.created_at,
        }
    }
}

impl IntoApi for store::Member {
    type Api = keyward_api::Member;
    fn into_api(self) -> Self::Api {
        keyward_api::Member {
            user_id: self.user_id,
            email: self.email,
            role: self.role,
            agents: self.agents,
            created_at: self.created_at,
        }
    }
}

impl IntoApi for store::ServiceAccount {
    type Api = keyward_api::ServiceAccount;
    fn into_api(self) -> Self::Api {
        keyward_api::ServiceAccount {
            id: self.id,
            name: self.name,
            scopes: self.scopes.to_strings(),
            created_at: self.created_at,
            created_by: self.created_by,
        }
    }
}

impl IntoApi for store::OwnerLimit {
    type Api = keyward_api::OwnerLimit;
    fn into_api(self) -> Self::Api {
        keyward_api::OwnerLimit {
            owner_type: self.owner_type,
            owner_id: self.owner_id,
            ratelimit: self.ratelimit,
        }
    }
}

impl IntoApi for store::Invitation {
    type Api = keyward_api::Invitation;
    fn into_api(self) -> Self::Api {
        keyward_api::Invitation {
            id: self.id,
            email: self.email,
            role: self.role,
            agents: self.agents,
            permissions: self.permissions.to_strings(),
            created_at: self.created_at,
            created_by: self.created_by,
            expires_at: self.expires_at,
            accepted_at: self.accepted_at,
            revoked_at: self.revoked_at,
        }
    }
}

impl IntoApi for store::InvitationStatus {
    type Api = keyward_api::InvitationStatus;
    fn into_api(self) -> Self::Api {
        match self {
            store::InvitationStatus::Pending => keyward_api::InvitationStatus::Pending,
            store::InvitationStatus::Accepted => keyward_api::InvitationStatus::Accepted,
            store::InvitationStatus::Revoked => keyward_api::InvitationStatus::Revoked,
            store::InvitationStatus::Expired => keyward_api::InvitationStatus::Expired,
        }
    }
}

impl IntoApi for store::AuditEvent {
    type Api = keyward_api::AuditEvent;
    fn into_api(self) -> Self::Api {
        keyward_api::AuditEvent {
            id: self.id,
            at: self.at,
            actor: keyward_api::Actor {
                actor_type: self.actor.actor_type,
                id: self.actor.id,
                name: self.actor.name,
                key_id: self.actor.key_id,
            },
            action: self.action,
            target: keyward_api::AuditTarget {
                target_type: self.target.target_type,
                id: self.target.id,
            },
            source_ip: self.source_ip,
            details: self.details,
        }
    }
}
