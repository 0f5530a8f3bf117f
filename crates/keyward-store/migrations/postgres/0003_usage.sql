-- Rate limits, quotas and usage counters. Mirrors migrations/sqlite/0003_usage.sql.

-- JSON of keyward_core::RateLimit / Quota; NULL means none.
ALTER TABLE api_keys ADD COLUMN ratelimit TEXT;
ALTER TABLE api_keys ADD COLUMN quota TEXT;
ALTER TABLE organizations ADD COLUMN default_ratelimit TEXT;
ALTER TABLE organizations ADD COLUMN default_quota TEXT;

-- What is left of a key's quota in its current refill period. Nodes take credits from
-- here in small leases; a crash strands at most the unspent part of one lease.
CREATE TABLE quota_balances (
    key_id      TEXT PRIMARY KEY,
    period      BIGINT NOT NULL,
    remaining   BIGINT NOT NULL
);

-- Rate limits shared by all keys of one owner (a user, service account or customer).
CREATE TABLE owner_limits (
    org_id      TEXT NOT NULL,
    owner_type  TEXT NOT NULL,
    owner_id    TEXT NOT NULL,
    ratelimit   TEXT NOT NULL,
    PRIMARY KEY (org_id, owner_type, owner_id)
);

-- Per-key counts per minute (unix minutes); hours and days are sums of these.
CREATE TABLE usage_minutes (
    key_id      TEXT NOT NULL,
    minute      BIGINT NOT NULL,
    valid       BIGINT NOT NULL DEFAULT 0,
    denied      BIGINT NOT NULL DEFAULT 0,
    api         BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, minute)
);
