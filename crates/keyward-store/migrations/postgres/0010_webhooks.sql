-- Webhook ingress (issue 16): endpoints that providers (WhatsApp, Slack, Telegram,
-- Discord, Standard Webhooks senders) post to at `/hooks/{id}`, the events they
-- received once verified, and each event's delivery to the endpoint's destination.
--
-- An endpoint's secrets are sealed like the integrations vault's (0009): one data key
-- per row, wrapped by a key-encryption key of the ring (`kek_id`, `wrapped_dek`), every
-- sealed column `nonce ‖ ciphertext ‖ tag` bound to the endpoint's id and the column's
-- name. Rotating the ring re-wraps `wrapped_dek` only. No secret is stored in clear.
CREATE TABLE webhook_endpoints (
    -- Unique across organizations (the ingress finds it by id alone), and the record id
    -- the sealed columns are bound to.
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations(id),
    workspace_id       TEXT,
    name               TEXT NOT NULL,
    -- whatsapp, slack, telegram, discord, standard
    provider           TEXT NOT NULL,
    -- Where verified events are delivered.
    destination        TEXT NOT NULL,
    enabled            BOOLEAN NOT NULL,
    -- Why it is off (a person's note, or the deliverer's after failing for too long).
    disabled_reason    TEXT,
    -- api, config (keyward.yaml: written by the server at start)
    managed_by         TEXT NOT NULL,
    kek_id             TEXT NOT NULL,
    wrapped_dek        BYTEA NOT NULL,
    -- The provider's secrets (app secret, signing secret, verify token…), sealed.
    provider_secrets   BYTEA NOT NULL,
    -- Keyward's own `whsec_` secrets its deliveries are signed with, sealed.
    signing_secrets    BYTEA NOT NULL,
    -- JSON of what listings show of the secrets (prefixes, expiries; never a secret).
    hints              TEXT NOT NULL,
    -- Since when every delivery attempt has failed; NULL once one succeeds.
    failing_since      BIGINT,
    -- Counts every write; a patch may require the version it read.
    version            BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints (org_id);

-- Every verified event an endpoint kept (body as received), and every request that did
-- not verify (a refusal: no body, only its error code; the newest 100 are kept).
CREATE TABLE webhook_events (
    -- `msg_…`, time-ordered (`ORDER BY id` is by time): the `webhook-id` of its
    -- deliveries.
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL,
    endpoint_id        TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    -- pending, delivered, failed, refused
    status             TEXT NOT NULL,
    -- What duplicates are recognized by (the provider's event id or a hash of the
    -- body); NULL for a refusal.
    dedup_key          TEXT,
    provider_event_id  TEXT,
    received_at        BIGINT NOT NULL,
    content_type       TEXT,
    -- NULL for a refusal.
    body               BYTEA,
    -- Attempts made so far, when the next is due (NULL: none is), and the last one's
    -- answer.
    attempts           BIGINT NOT NULL DEFAULT 0,
    -- The attempts before the last replay: a replay starts the schedule again.
    retry_base         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT,
    last_status_code   BIGINT,
    last_error         TEXT,
    delivered_at       BIGINT,
    -- A refusal's error code (webhook_signature_invalid, …).
    refusal            TEXT,
    -- One delivery at a time, across nodes: whoever holds the lease delivers.
    lease_owner        TEXT,
    lease_until        BIGINT,
    -- NULL dedup keys (refusals) never collide.
    UNIQUE (endpoint_id, dedup_key)
);
-- What the deliverer claims: pending events by when they are due.
CREATE INDEX webhook_events_due ON webhook_events (status, next_attempt_at);
-- An endpoint's log, newest first.
CREATE INDEX webhook_events_by_endpoint ON webhook_events (endpoint_id, id);
-- An endpoint's refusals, for keeping only the newest (a flood of forged requests
-- costs an index range, not a scan of the endpoint's events).
CREATE INDEX webhook_events_refusals ON webhook_events (endpoint_id, id) WHERE status = 'refused';
-- What the retention purge deletes.
CREATE INDEX webhook_events_by_received ON webhook_events (received_at) WHERE status <> 'pending';

-- Every attempt at delivering an event.
CREATE TABLE webhook_attempts (
    event_id           TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    -- 1 for the first.
    attempt            BIGINT NOT NULL,
    at                 BIGINT NOT NULL,
    -- The destination's HTTP status; NULL when no answer came (timeout, refused…).
    status_code        BIGINT,
    latency_ms         BIGINT NOT NULL,
    error              TEXT,
    PRIMARY KEY (event_id, attempt)
);
