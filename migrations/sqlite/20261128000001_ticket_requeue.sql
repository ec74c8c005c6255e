-- When a pending ticket's classification job was last queued by the sweep
-- (NULL: only when it was filed). The sweep claims stale tickets by
-- setting it, so each is queued again once per period, whatever the
-- number of instances sweeping.
ALTER TABLE tickets ADD COLUMN enqueued_at TEXT;
CREATE INDEX tickets_pending_by_age ON tickets (created_at) WHERE ai_status = 'pending';
