-- Saved answers agents insert with `/shortcut`.
CREATE TABLE canned_replies (
    shortcut    TEXT PRIMARY KEY,
    text        TEXT NOT NULL,
    author      TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
