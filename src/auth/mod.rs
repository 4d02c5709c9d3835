//! Credentials: usernames, passwords (Argon2id), bearer tokens (SHA-256 digests), user ids and
//! the login flow with its rate limit.

pub mod login;
pub mod password;
pub mod token;
pub mod username;

use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;

pub use password::{Password, PasswordError, PasswordHasher};
pub use token::{PlainToken, TokenDigest};
pub use username::{Username, UsernameError};

/// Length of a user id: 32 characters of `[A-Za-z0-9]`, about 190 bits.
pub const USER_ID_LENGTH: usize = 32;

/// Generates a user id from the operating system's CSPRNG.
pub fn generate_user_id() -> String {
    Alphanumeric.sample_string(&mut OsRng, USER_ID_LENGTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_is_32_alphanumerics() {
        let id = generate_user_id();
        assert_eq!(id.len(), 32);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, generate_user_id());
    }
}
