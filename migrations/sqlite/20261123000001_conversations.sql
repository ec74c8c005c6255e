CREATE TABLE conversations (
    id          BLOB PRIMARY KEY,
    session_id  BLOB NOT NULL UNIQUE,
    channel     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('automated', 'agent', 'closed')),
    assignee    TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    last_seq    INTEGER NOT NULL DEFAULT 0,
    version     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX conversations_by_activity ON conversations (updated_at DESC, id DESC);
CREATE INDEX conversations_by_status ON conversations (status, updated_at DESC, id DESC);

CREATE TABLE messages (
    id               BLOB PRIMARY KEY,
    conversation_id  BLOB NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq              INTEGER NOT NULL,
    sender           TEXT NOT NULL CHECK (sender IN ('customer', 'assistant', 'agent', 'system')),
    text             TEXT NOT NULL,
    idempotency_key  TEXT UNIQUE,
    reply_to         BLOB,
    meta             TEXT NOT NULL DEFAULT '{}',
    created_at       TEXT NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX messages_reply_to ON messages (reply_to) WHERE reply_to IS NOT NULL;
