-- When a token was revoked, so that pruning can keep revoked tokens visible for a while.
ALTER TABLE tokens ADD COLUMN revoked_at timestamp;

CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX login_attempts_attempted_at ON login_attempts (attempted_at);

-- Deletes expired tokens, tokens revoked before `revoked_before` (or, for tokens revoked
-- before revoked_at existed, created before it) and login attempts before `attempts_before`,
-- for every user. It runs with the owner's rights because the server's role only ever sees
-- one tenant's rows.
CREATE FUNCTION sesame_prune(expired_before timestamp, revoked_before timestamp, attempts_before timestamp)
RETURNS TABLE (pruned_tokens bigint, pruned_attempts bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM public.tokens t
    WHERE t.expires_at <= expired_before
       OR (t.revoked AND coalesce(t.revoked_at, t.created_at) <= revoked_before);
    GET DIAGNOSTICS pruned_tokens = ROW_COUNT;

    DELETE FROM public.login_attempts a WHERE a.attempted_at <= attempts_before;
    GET DIAGNOSTICS pruned_attempts = ROW_COUNT;

    RETURN NEXT;
END
$$;

REVOKE ALL ON FUNCTION sesame_prune(timestamp, timestamp, timestamp) FROM PUBLIC;
