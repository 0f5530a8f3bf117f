-- Workers (issue 17): machines running `keyward worker` with a worker key, one row per
-- worker (a name in a workspace): its registration, its open connection and its
-- heartbeats. Its status is not stored; it follows from its key and the age of its
-- last heartbeat (`keyward_core::worker::status_at`). Registrations are audited,
-- connections and heartbeats are not.
CREATE TABLE workers (
    -- `wkr_…`, given by the registration that created it.
    id                      TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES organizations(id),
    -- The workspace its key is bound to.
    workspace_id            TEXT NOT NULL,
    -- The worker key it registered with last (a new key takes over the name).
    key_id                  TEXT NOT NULL REFERENCES api_keys(id),
    -- Unique in the workspace: registering the name again writes over the row.
    name                    TEXT NOT NULL,
    -- What the daemon reports of its machine.
    host                    TEXT NOT NULL,
    os                      TEXT NOT NULL,
    version                 TEXT NOT NULL,
    -- JSON text array of labels, lowercased, sorted, without repeats.
    labels                  TEXT NOT NULL,
    heartbeat_interval_secs INTEGER NOT NULL,
    -- Whether it takes webhook deliveries (destination `workers`, `workers:LABEL`).
    forwards                INTEGER NOT NULL,
    -- The daemon run that registered it last (a restart is a new instance).
    instance                TEXT NOT NULL,
    -- When the registration that created the row ran.
    registered_at           INTEGER NOT NULL,
    -- The open connection (`node:random`), if any; cleared when it closes.
    connection              TEXT,
    -- When the open (or last) connection opened.
    connected_since         INTEGER,
    -- Set by the registration, each connection and each heartbeat.
    last_heartbeat_at       INTEGER NOT NULL,
    -- When it deregistered (a clean stop) since it last connected or registered.
    stopped_at              INTEGER,
    UNIQUE (org_id, workspace_id, name)
);
-- An organization's workers, in id order (listings page by id).
CREATE INDEX workers_by_org ON workers (org_id, id);
-- What the purge of long-silent workers deletes.
CREATE INDEX workers_by_heartbeat ON workers (last_heartbeat_at);
-- A key's workers (the key join, and what a revocation touches).
CREATE INDEX workers_by_key ON workers (key_id);

-- What the workers' deliverer reads of an endpoint: its oldest pending event (its
-- head) and whether any of its events is leased. Partial, so neither walks the
-- endpoint's delivered history.
CREATE INDEX webhook_events_pending_by_endpoint ON webhook_events (endpoint_id, id)
    WHERE status = 'pending';
CREATE INDEX webhook_events_leased_by_endpoint ON webhook_events (endpoint_id, lease_until)
    WHERE lease_until IS NOT NULL;
