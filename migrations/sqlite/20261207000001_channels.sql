-- Conversations that live on another channel's thread (a WhatsApp number
-- and a customer's id there...), bound when the conversation is created.
CREATE TABLE channel_threads (
    address          TEXT PRIMARY KEY,
    conversation_id  BLOB NOT NULL UNIQUE REFERENCES conversations (id) ON DELETE CASCADE
);

-- What is bound for those threads: queued in the transaction that stores
-- the message, leased by a deliverer ('sending' until due_at), then sent,
-- delivered, read or failed as the provider reports.
CREATE TABLE outbox (
    message_id       BLOB PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id  BLOB NOT NULL,
    seq              INTEGER NOT NULL,
    address          TEXT NOT NULL,
    state            TEXT NOT NULL
                     CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'read', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    due_at           TEXT NOT NULL,
    provider_id      TEXT UNIQUE,
    error            TEXT,
    updated_at       TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE state IN ('queued', 'sending');
CREATE INDEX outbox_by_conversation ON outbox (conversation_id, seq);
