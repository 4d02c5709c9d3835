-- Timestamps are UTC in `timestamp` columns (without time zone), which is what diesel's
-- portable Timestamp type maps to on both backends.

CREATE TABLE users (
    user_id       text PRIMARY KEY CHECK (user_id ~ '^[A-Za-z0-9]{32}$'),
    username      text NOT NULL CHECK (char_length(username) BETWEEN 1 AND 255),
    -- Lower-cased username: the unique, case-insensitive lookup key.
    username_key  text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at    timestamp NOT NULL,
    updated_at    timestamp NOT NULL
);

CREATE TABLE tokens (
    token_id     text PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    -- Hex SHA-256 of the token; the token itself is never stored.
    token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    title        text,
    created_at   timestamp NOT NULL,
    expires_at   timestamp NOT NULL,
    revoked      boolean NOT NULL DEFAULT false,
    last_used_at timestamp
);

CREATE INDEX tokens_user_id_created_at ON tokens (user_id, created_at);

CREATE TABLE workspaces (
    workspace_id text PRIMARY KEY
        CHECK (workspace_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'),
    user_id      text NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 255),
    -- A serialized JSON object; text rather than jsonb so both backends share one schema.
    config       text NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config::jsonb) = 'object'),
    created_at   timestamp NOT NULL,
    updated_at   timestamp NOT NULL
);

CREATE INDEX workspaces_user_id_updated_at ON workspaces (user_id, updated_at DESC);

-- One row per login attempt that was not followed by a success; the rate limit counts them.
-- Not tenant data: it is keyed by a digest of the username, before any user is known.
CREATE TABLE login_attempts (
    attempt_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Hex SHA-256 of the lower-cased username, so mistyped names are not kept in clear.
    username_digest text NOT NULL,
    attempted_at    timestamp NOT NULL
);

CREATE INDEX login_attempts_username_digest_attempted_at ON login_attempts (username_digest, attempted_at);

-- Row-level security. Every request sets app.current_user_id for its transaction only
-- (set_config(..., true)); with no id set, current_setting returns NULL or '' and no row
-- matches. FORCE makes the policies apply to the table owner as well; the owner gets its own
-- policy below so that migrations and the lookup functions keep working.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON users
    USING (user_id = current_setting('app.current_user_id', true))
    WITH CHECK (user_id = current_setting('app.current_user_id', true));
CREATE POLICY tenant_isolation ON tokens
    USING (user_id = current_setting('app.current_user_id', true))
    WITH CHECK (user_id = current_setting('app.current_user_id', true));
CREATE POLICY tenant_isolation ON workspaces
    USING (user_id = current_setting('app.current_user_id', true))
    WITH CHECK (user_id = current_setting('app.current_user_id', true));

CREATE POLICY owner_access ON users TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_access ON tokens TO CURRENT_USER USING (true) WITH CHECK (true);
CREATE POLICY owner_access ON workspaces TO CURRENT_USER USING (true) WITH CHECK (true);

-- The two narrow paths that run before a user id is known. Each returns at most one row and
-- only for a caller who already holds the secret key: a token digest (256 random bits behind
-- it) or a username. They run with the owner's rights (SECURITY DEFINER) and a fixed
-- search_path so a caller cannot substitute its own tables.
CREATE FUNCTION sesame_find_token(digest text)
RETURNS TABLE (token_id text, user_id text, expires_at timestamp, revoked boolean, last_used_at timestamp)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.token_id, t.user_id, t.expires_at, t.revoked, t.last_used_at
    FROM public.tokens t
    WHERE t.token_hash = digest
$$;

CREATE FUNCTION sesame_find_login(key text)
RETURNS TABLE (user_id text, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.user_id, u.password_hash
    FROM public.users u
    WHERE u.username_key = key
$$;

REVOKE ALL ON FUNCTION sesame_find_token(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION sesame_find_login(text) FROM PUBLIC;
