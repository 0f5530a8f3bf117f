//! What a change touched, and how this node's caches drop it.

use crate::usage::Limits;
use crate::verify::{cache::KeyCache, index::ResourceIndex};
use keyward_core::KeyHash;
use keyward_store::{Channel, ResourceKind};
use std::sync::Arc;

/// What a committed change touched, as far as this node's caches are concerned.
#[derive(Debug)]
pub enum Touched<'a> {
    /// These keys (created, edited, revoked, rotated): forget their records (and a
    /// remembered "unknown" for a new key's hash).
    Keys(&'a [KeyHash]),
    /// Every key of the organization (its name, settings or existence changed), and
    /// its owner limits.
    Organization(&'a str),
    /// The keys of one owner in an organization: a member's role or membership, a
    /// service account's name or existence.
    Owner {
        org_id: &'a str,
        owner_type: &'a str,
        owner_id: &'a str,
    },
    /// A channel as it is after a change (created, enabled, disabled, renamed): its
    /// hook id, and its tokens.
    Channel(&'a Channel),
    /// A deleted channel: its hook id goes, and its tokens.
    ChannelDeleted(&'a str),
    /// A channel's tokens only (another node changed it; the index is reloaded apart).
    ChannelTokens(&'a str),
    /// A workspace or agent appeared or went.
    Resource {
        kind: ResourceKind,
        org_id: &'a str,
        id: &'a str,
        exists: bool,
    },
    /// An organization's owner limits.
    OwnerLimits(&'a str),
}

/// This node's caches that follow the store.
#[derive(Clone)]
pub struct Caches {
    pub keys: Arc<KeyCache>,
    pub index: Arc<ResourceIndex>,
    pub limits: Arc<Limits>,
}

impl Caches {
    /// Drops what `touched` names. Call after the change committed.
    pub fn apply(&self, touched: Touched<'_>) {
        match touched {
            Touched::Keys(hashes) => {
                for hash in hashes {
                    self.keys.invalidate(hash);
                }
            }
            Touched::Organization(org_id) => {
                self.keys.invalidate_where(|k| k.org_id == org_id);
                self.limits.forget_owner_limits(org_id);
            }
            Touched::Owner {
                org_id,
                owner_type,
                owner_id,
            } => self.keys.invalidate_where(|k| {
                k.org_id == org_id
                    && k.owner
                        .as_ref()
                        .is_some_and(|o| o.type_str() == owner_type && o.id() == owner_id)
            }),
            Touched::Channel(channel) => {
                self.index.put_channel(channel);
                self.keys
                    .invalidate_where(|k| k.channel_id.as_deref() == Some(&channel.id));
            }
            Touched::ChannelTokens(id) => self
                .keys
                .invalidate_where(|k| k.channel_id.as_deref() == Some(id)),
            Touched::ChannelDeleted(id) => {
                self.index.remove_channel(id);
                self.keys
                    .invalidate_where(|k| k.channel_id.as_deref() == Some(id));
            }
            Touched::Resource {
                kind,
                org_id,
                id,
                exists,
            } => {
                if exists {
                    self.index.add_resource(kind, id, org_id);
                } else {
                    self.index.remove_resource(id);
                }
            }
            Touched::OwnerLimits(org_id) => self.limits.forget_owner_limits(org_id),
        }
    }
}
