-- A key can be switched off for a while and back on (PATCH /v1/keys/{id} {"enabled": false});
-- unlike revocation, which is for good. Verify answers DISABLED while it is off.
ALTER TABLE api_keys ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1;
