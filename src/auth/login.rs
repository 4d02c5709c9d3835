//! Password login with a per-username rate limit, shared by every route that takes a
//! username and password.

use chrono::{Duration, NaiveDateTime};

use super::{Password, PasswordHasher, Username};
use crate::config::AuthSettings;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown username or wrong password; the two are deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many failed attempts for this username; retry after this many seconds.
    #[error("too many failed login attempts")]
    RateLimited { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies a username and password and returns the user id.
///
/// The attempt is counted before the password is checked and the count cleared on success.
/// An unknown username costs one Argon2 verification against a dummy hash, like a wrong
/// password, so timing does not reveal which usernames exist.
pub fn verify_login(
    store: &Store,
    hasher: &PasswordHasher,
    settings: &AuthSettings,
    username: &Username,
    password: &Password,
    now: NaiveDateTime,
) -> Result<String, LoginError> {
    let digest = username.digest();
    let window = Duration::minutes(i64::from(settings.rate_limit_window_minutes));

    if let Some(oldest) = store.begin_login_attempt(&digest, now, now - window, settings.max_login_attempts)? {
        return Err(LoginError::RateLimited {
            retry_after_secs: retry_after_secs(oldest + window, now),
        });
    }

    let record = store.find_login(username)?;
    let verified = hasher.verify(password, record.as_ref().map(|record| record.password_hash.as_str()));

    match record {
        Some(record) if verified => {
            store.clear_login_attempts(&digest)?;
            Ok(record.user_id)
        }
        _ => Err(LoginError::InvalidCredentials),
    }
}

/// Returns the whole seconds from `now` until `lifted`, at least 1, for a `Retry-After` header.
fn retry_after_secs(lifted: NaiveDateTime, now: NaiveDateTime) -> u64 {
    let millis = (lifted - now).num_milliseconds().max(0) as u64;
    millis.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up() {
        let now = crate::store::now();
        assert_eq!(retry_after_secs(now + Duration::milliseconds(1500), now), 2);
        assert_eq!(retry_after_secs(now + Duration::seconds(900), now), 900);
        assert_eq!(retry_after_secs(now - Duration::seconds(5), now), 1);
    }
}
