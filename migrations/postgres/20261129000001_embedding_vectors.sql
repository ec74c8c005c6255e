-- A remote embedding model's vectors by content hash (uuid v5 of the
-- text), so a restart re-embeds only what changed. A cache: rows unused
-- for 30 days are dropped.
CREATE TABLE embedding_vectors (
    model TEXT NOT NULL,
    dims BIGINT NOT NULL,
    key UUID NOT NULL,
    vector BYTEA NOT NULL,
    used_at BIGINT NOT NULL,
    PRIMARY KEY (model, dims, key)
);
CREATE INDEX embedding_vectors_by_use ON embedding_vectors (used_at);
