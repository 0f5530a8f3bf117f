-- Keyward's first schema, the PostgreSQL twin of migrations/sqlite/0001_init.sql.
-- Times are unix milliseconds (UTC) in BIGINT, as in SQLite; JSON columns are TEXT so
-- both backends store and return the same bytes. Never edit a migration that has
-- landed: add a new one (in both directories).

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);

-- One row at most: makes "bootstrap only once" hold even when two processes race.
CREATE TABLE bootstrap (
    singleton   INTEGER PRIMARY KEY CHECK (singleton = 1),
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    at          BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    kind            TEXT NOT NULL,
    environment     TEXT NOT NULL,
    name            TEXT NOT NULL,
    prefix          TEXT NOT NULL,
    key_hash        BYTEA NOT NULL UNIQUE,
    owner_type      TEXT,
    owner_id        TEXT,
    owner_name      TEXT,
    permissions     TEXT NOT NULL,
    scope           TEXT NOT NULL,
    metadata        TEXT,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    expires_at      BIGINT,
    last_used_at    BIGINT,
    revoked_at      BIGINT,
    revoked_by      TEXT,
    rotated_from    TEXT,
    rotated_to      TEXT
);
CREATE INDEX api_keys_by_org ON api_keys (org_id, created_at DESC, id DESC);

CREATE TABLE audit_log (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          TEXT NOT NULL,
    at              BIGINT NOT NULL,
    actor_type      TEXT NOT NULL,
    actor_id        TEXT,
    actor_name      TEXT NOT NULL,
    actor_key_id    TEXT,
    action          TEXT NOT NULL,
    target_type     TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    source_ip       TEXT,
    details         TEXT NOT NULL
);
CREATE INDEX audit_log_by_org ON audit_log (org_id, id DESC);
