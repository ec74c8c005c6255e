-- Customers' ratings: a thumbs up or down on one answer, a 1-5 score for a
-- whole conversation. One per message / conversation (a second replaces the
-- first); who answered is taken from the messages, never from the customer.
CREATE TABLE reply_ratings (
    message_id       UUID PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id  UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    answerer         TEXT NOT NULL CHECK (answerer IN ('bot', 'agent')),
    rating           TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment          TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX reply_ratings_by_conversation ON reply_ratings (conversation_id);

CREATE TABLE csat (
    conversation_id  UUID PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
    answerer         TEXT NOT NULL CHECK (answerer IN ('bot', 'agent')),
    score            INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment          TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);

-- Analytics reads conversations by the day they started.
CREATE INDEX conversations_by_start ON conversations (created_at);

-- Agents' answers, found with the customer message before each (their
-- reply times) without reading every message.
CREATE INDEX messages_by_agent ON messages (conversation_id, seq) WHERE sender = 'agent';
