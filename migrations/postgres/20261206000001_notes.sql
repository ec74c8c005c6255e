-- Agents' internal notes on a conversation: kept apart from messages, so
-- no customer view and no prompt can ever read them.
CREATE TABLE notes (
    id               UUID PRIMARY KEY,
    conversation_id  UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author           TEXT NOT NULL,
    author_name      TEXT NOT NULL,
    text             TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX notes_by_conversation ON notes (conversation_id, created_at);
