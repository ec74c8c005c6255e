-- Support tickets and the people who file them (the seed ticket backend's
-- users/tickets, with ids as UUIDs like every other Spur row).
CREATE TABLE users (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_by_time ON users (created_at, id);

CREATE TABLE tickets (
    id                   UUID PRIMARY KEY,
    title                TEXT NOT NULL,
    description          TEXT NOT NULL,
    category             TEXT,
    priority             TEXT,
    ai_confidence        REAL,
    ai_status            TEXT NOT NULL CHECK (ai_status IN ('pending', 'done', 'fallback')),
    ai_source            TEXT,
    ai_reason            TEXT,
    category_overridden  BOOLEAN NOT NULL DEFAULT FALSE,
    priority_overridden  BOOLEAN NOT NULL DEFAULT FALSE,
    overridden_by        UUID,
    status               TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_by           UUID REFERENCES users (id) ON DELETE SET NULL,
    conversation_id      UUID UNIQUE REFERENCES conversations (id),
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX tickets_by_time ON tickets (created_at DESC, id DESC);
CREATE INDEX tickets_by_creator ON tickets (created_by);
CREATE INDEX tickets_pending ON tickets (ai_status) WHERE ai_status = 'pending';
