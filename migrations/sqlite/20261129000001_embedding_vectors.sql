-- A remote embedding model's vectors by content hash (uuid v5 of the
-- text), so a restart re-embeds only what changed. A cache: rows unused
-- for 30 days are dropped.
CREATE TABLE embedding_vectors (
    model TEXT NOT NULL,
    dims INTEGER NOT NULL,
    key BLOB NOT NULL,
    vector BLOB NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (model, dims, key)
);
CREATE INDEX embedding_vectors_by_use ON embedding_vectors (used_at);
