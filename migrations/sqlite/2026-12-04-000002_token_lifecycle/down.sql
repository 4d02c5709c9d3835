DROP INDEX login_attempts_attempted_at;
DROP INDEX tokens_expires_at;
ALTER TABLE tokens DROP COLUMN revoked_at;
