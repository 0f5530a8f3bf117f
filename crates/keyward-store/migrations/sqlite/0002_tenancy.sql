-- Organizations, workspaces, agents, channels, members with roles, service accounts,
-- and the key columns that limits and channel tokens query.

ALTER TABLE organizations ADD COLUMN max_keys INTEGER NOT NULL DEFAULT 10;
ALTER TABLE organizations ADD COLUMN max_worker_keys INTEGER NOT NULL DEFAULT 25;
ALTER TABLE organizations ADD COLUMN allow_legacy_tokens INTEGER NOT NULL DEFAULT 0;

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE channels (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    agent_id    TEXT NOT NULL REFERENCES agents(id),
    name        TEXT NOT NULL,
    hook_id     TEXT NOT NULL UNIQUE,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    deleted_at  INTEGER
);
CREATE INDEX channels_by_agent ON channels (org_id, agent_id);

-- Agents an agent_admin administers.
CREATE TABLE agent_admins (
    org_id      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    agent_id    TEXT NOT NULL REFERENCES agents(id),
    PRIMARY KEY (org_id, user_id, agent_id)
);

CREATE TABLE service_accounts (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    deleted_at  INTEGER
);

-- `scope_level` mirrors scope.type for counting; `workspace_id` binds worker and legacy
-- keys to their workspace; `channel_id` names a channel token's channel.
ALTER TABLE api_keys ADD COLUMN scope_level TEXT NOT NULL DEFAULT 'organization';
ALTER TABLE api_keys ADD COLUMN workspace_id TEXT;
ALTER TABLE api_keys ADD COLUMN channel_id TEXT;
CREATE INDEX api_keys_by_owner ON api_keys (org_id, owner_type, owner_id);
CREATE INDEX api_keys_workers ON api_keys (org_id, owner_id, workspace_id) WHERE kind = 'worker';
