use sha2::{Digest, Sha256};

/// Maximum username length, in characters, after trimming.
pub const MAX_USERNAME_CHARS: usize = 255;

/// A validated username.
///
/// Usernames compare case-insensitively: `key` is the lower-cased form that the unique index
/// and every lookup use, while `display` keeps the spelling the user chose.
#[derive(Clone, PartialEq, Eq)]
pub struct Username {
    display: String,
    key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("username must not be empty")]
    Empty,
    #[error("username must be at most {MAX_USERNAME_CHARS} characters")]
    TooLong,
    #[error("username must not contain control characters")]
    ControlCharacter,
}

impl Username {
    /// Trims surrounding white space and checks length and characters.
    pub fn parse(raw: &str) -> Result<Username, UsernameError> {
        let display = raw.trim();

        if display.is_empty() {
            return Err(UsernameError::Empty);
        }
        if display.chars().count() > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        if display.chars().any(char::is_control) {
            return Err(UsernameError::ControlCharacter);
        }

        Ok(Username {
            display: display.to_string(),
            key: display.to_lowercase(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// Returns the case-folded form used for uniqueness and lookups.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Returns the hex SHA-256 of the key, which is what the login-attempt table stores, so
    /// that mistyped usernames (often passwords typed in the wrong field) are not kept in clear.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.key.as_bytes()))
    }
}

impl std::fmt::Debug for Username {
    /// Usernames are personal data, so `Debug` (and any log that uses it) hides them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Username(***)")
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_folds_case() {
        let name = Username::parse("  Alice@Example.COM \n").unwrap();
        assert_eq!(name.as_str(), "Alice@Example.COM");
        assert_eq!(name.key(), "alice@example.com");
        assert_eq!(name.digest(), Username::parse("alice@example.com").unwrap().digest());
    }

    #[test]
    fn rejects_empty_and_blank() {
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(Username::parse(" \t "), Err(UsernameError::Empty));
    }

    #[test]
    fn length_counts_characters() {
        assert!(Username::parse(&"é".repeat(255)).is_ok());
        assert_eq!(Username::parse(&"a".repeat(256)), Err(UsernameError::TooLong));
    }

    #[test]
    fn rejects_control_characters() {
        assert_eq!(Username::parse("al\0ice"), Err(UsernameError::ControlCharacter));
        assert_eq!(Username::parse("al\u{1b}[31mice"), Err(UsernameError::ControlCharacter));
        assert_eq!(Username::parse("a\nb"), Err(UsernameError::ControlCharacter));
    }

    #[test]
    fn debug_hides_name() {
        assert_eq!(format!("{:?}", Username::parse("alice").unwrap()), "Username(***)");
    }
}
