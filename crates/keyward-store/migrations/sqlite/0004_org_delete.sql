-- Deleted organizations stay as rows (their audit log remains); all their keys are revoked.
ALTER TABLE organizations ADD COLUMN deleted_at INTEGER;
