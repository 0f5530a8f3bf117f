//! SQL that both backends run as written: `$n` placeholders (SQLite accepts them too),
//! `TRUE`/`FALSE`, and nothing dialect-specific. Each backend executes these on its own
//! connection type; only genuine dialect differences stay in `sqlite/` and `postgres/`.

/// `$1` key id, `$2` the change's time (unix ms): one row if the key works now — not
/// revoked, switched on, not expired, its organization not deleted, and what it belongs
/// to still there (the person's membership, the service account, the channel). Run
/// inside every change, after the change has taken its serialization (the single writer
/// on SQLite, the organization's row lock on PostgreSQL), so a change requested with a
/// key that a deletion has since revoked sees the deletion and writes nothing.
///
/// Selects the role of the key's person (NULL for other keys) and the key's grants and
/// scope, which a change compares with what its request was authorized with.
pub const KEY_WORKS: &str = "SELECT k.id, (SELECT m.role FROM memberships m \
        WHERE m.org_id = k.org_id AND m.user_id = k.owner_id AND k.owner_type = 'user') AS role, \
    k.permissions, k.scope, k.expires_at, k.rotated_to \
    FROM api_keys k JOIN organizations o ON o.id = k.org_id \
    WHERE k.id = $1 AND k.revoked_at IS NULL AND k.enabled = TRUE \
    AND (k.expires_at IS NULL OR k.expires_at > $2) AND o.deleted_at IS NULL \
    AND (k.owner_type IS NULL OR k.owner_type <> 'user' OR EXISTS \
        (SELECT 1 FROM memberships m WHERE m.org_id = k.org_id AND m.user_id = k.owner_id)) \
    AND (k.owner_type IS NULL OR k.owner_type <> 'service_account' OR EXISTS \
        (SELECT 1 FROM service_accounts s WHERE s.org_id = k.org_id AND s.id = k.owner_id AND s.deleted_at IS NULL)) \
    AND (k.channel_id IS NULL OR EXISTS \
        (SELECT 1 FROM channels c WHERE c.org_id = k.org_id AND c.id = k.channel_id AND c.deleted_at IS NULL))";

/// The organization a key belongs to (`$1` key id).
pub const KEY_ORG: &str = "SELECT org_id FROM api_keys WHERE id = $1";

/// What a new key refers to, each `$1` org id and `$2` id: one row if it is there.
pub const ORG_ALIVE: &str = "SELECT id FROM organizations WHERE id = $1 AND deleted_at IS NULL";
pub const MEMBER_EXISTS: &str =
    "SELECT user_id FROM memberships WHERE org_id = $1 AND user_id = $2";
pub const SERVICE_ACCOUNT_ALIVE: &str =
    "SELECT id FROM service_accounts WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL";
pub const CHANNEL_ALIVE: &str =
    "SELECT id FROM channels WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL";
pub const WORKSPACE_EXISTS: &str = "SELECT id FROM workspaces WHERE org_id = $1 AND id = $2";
pub const AGENT_EXISTS: &str = "SELECT id FROM agents WHERE org_id = $1 AND id = $2";

/// Organizations (not deleted) that `$1` (a user id) created.
pub const ORGS_CREATED_BY: &str =
    "SELECT COUNT(*) FROM organizations WHERE created_by_user = $1 AND deleted_at IS NULL";

pub const INVITATION_SELECT: &str =
    "SELECT id, org_id, email, role, agents, permissions, created_at, \
    created_by, created_by_key, expires_at, accepted_at, revoked_at FROM invitations";

pub const INSERT_INVITATION: &str = "INSERT INTO invitations (id, org_id, email, role, agents, \
    permissions, code_hash, created_at, created_by, created_by_key, expires_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// `$1` time, `$2` org id, `$3` email: ends the pending invitations of one email.
pub const REPLACE_PENDING_INVITATIONS: &str = "UPDATE invitations SET revoked_at = $1 \
    WHERE org_id = $2 AND email = $3 AND accepted_at IS NULL AND revoked_at IS NULL";

/// `$1` org id, `$2` email: one row if a person with that email is a member.
pub const MEMBER_BY_EMAIL: &str =
    "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id \
    WHERE m.org_id = $1 AND u.email = $2";

/// `$1` time, `$2` accepting user id, `$3` invitation id: marks it used, once.
pub const MARK_INVITATION_ACCEPTED: &str =
    "UPDATE invitations SET accepted_at = $1, accepted_by = $2 \
    WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL";

/// `$1` time, `$2` org id, `$3` invitation id.
pub const REVOKE_INVITATION: &str = "UPDATE invitations SET revoked_at = $1 \
    WHERE org_id = $2 AND id = $3 AND accepted_at IS NULL AND revoked_at IS NULL";

pub const INSERT_USER: &str = "INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3)";
pub const USER_BY_EMAIL: &str = "SELECT id FROM users WHERE email = $1";
pub const INSERT_MEMBERSHIP: &str =
    "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)";

pub const ALL_RESOURCES: &str = "SELECT 'workspace' AS kind, w.id, w.org_id FROM workspaces w \
    JOIN organizations o ON o.id = w.org_id WHERE o.deleted_at IS NULL \
    UNION ALL SELECT 'agent' AS kind, a.id, a.org_id FROM agents a \
    JOIN organizations o ON o.id = a.org_id WHERE o.deleted_at IS NULL";

pub const OWNERS: &str = "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id \
    WHERE m.org_id = $1 AND m.role = 'owner' ORDER BY u.email";

/// `$1` user id: one row if the person is a member of an organization that exists.
pub const MEMBER_ANYWHERE: &str = "SELECT m.org_id FROM memberships m \
    JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 AND o.deleted_at IS NULL";

/// `$1` org id, `$2` user id: the person's role.
pub const MEMBER_ROLE: &str = "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2";
