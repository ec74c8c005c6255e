CREATE TABLE conversations (
    id          UUID PRIMARY KEY,
    session_id  UUID NOT NULL UNIQUE,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('automated', 'agent', 'closed')),
    assignee    TEXT,
    metadata    JSONB NOT NULL DEFAULT '{}',
    last_seq    BIGINT NOT NULL DEFAULT 0,
    version     BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_by_activity ON conversations (updated_at DESC, id DESC);
CREATE INDEX conversations_by_status ON conversations (status, updated_at DESC, id DESC);

CREATE TABLE messages (
    id               UUID PRIMARY KEY,
    conversation_id  UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    sender           TEXT NOT NULL CHECK (sender IN ('customer', 'assistant', 'agent', 'system')),
    text             TEXT NOT NULL,
    idempotency_key  TEXT UNIQUE,
    reply_to         UUID,
    meta             JSONB NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX messages_reply_to ON messages (reply_to) WHERE reply_to IS NOT NULL;
