-- Timestamps are UTC, stored by diesel as 'YYYY-MM-DD HH:MM:SS.ffffff' text, which sorts in
-- time order.

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY NOT NULL CHECK (length(user_id) = 32),
    username      TEXT NOT NULL CHECK (length(username) BETWEEN 1 AND 255),
    -- Lower-cased username: the unique, case-insensitive lookup key.
    username_key  TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);

CREATE TABLE tokens (
    token_id     TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    -- Hex SHA-256 of the token; the token itself is never stored.
    token_hash   TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    title        TEXT,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    revoked      BOOLEAN NOT NULL DEFAULT 0,
    last_used_at TIMESTAMP
);

CREATE INDEX tokens_user_id_created_at ON tokens (user_id, created_at);

CREATE TABLE workspaces (
    workspace_id TEXT PRIMARY KEY NOT NULL CHECK (length(workspace_id) = 36),
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    title        TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    -- A JSON object, serialized.
    config       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config) AND json_type(config) = 'object'),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

CREATE INDEX workspaces_user_id_updated_at ON workspaces (user_id, updated_at DESC);

-- One row per login attempt that was not followed by a success; the rate limit counts them.
CREATE TABLE login_attempts (
    attempt_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Hex SHA-256 of the lower-cased username, so mistyped names are not kept in clear.
    username_digest TEXT NOT NULL,
    attempted_at    TIMESTAMP NOT NULL
);

CREATE INDEX login_attempts_username_digest_attempted_at ON login_attempts (username_digest, attempted_at);
