-- When a token was revoked, so that pruning can keep revoked tokens visible for a while.
ALTER TABLE tokens ADD COLUMN revoked_at TIMESTAMP;

CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX login_attempts_attempted_at ON login_attempts (attempted_at);
