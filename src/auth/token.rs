use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::username::hex;

/// Prefix of every token, so that leaked tokens are easy to scan for.
pub const TOKEN_PREFIX: &str = "ses_";

/// Random bytes in a token; 32 bytes is 256 bits of entropy.
const TOKEN_BYTES: usize = 32;

/// Length of a token: the prefix and 32 bytes in unpadded base64url (43 characters).
pub const TOKEN_LENGTH: usize = TOKEN_PREFIX.len() + 43;

/// A bearer token in clear. It exists only while a token is created (to show it once) or
/// while a request is checked; only its [`TokenDigest`] reaches the database.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainToken(String);

impl PlainToken {
    /// Draws a new token from the operating system's CSPRNG.
    pub fn generate() -> PlainToken {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        PlainToken(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a token a client sent. Any string is accepted; see [`PlainToken::is_well_formed`].
    pub fn from_client(value: &str) -> PlainToken {
        PlainToken(value.to_string())
    }

    /// Reports whether the token has the shape of one this server issues. A malformed token
    /// can be rejected without a database lookup.
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == TOKEN_LENGTH
            && self.0.starts_with(TOKEN_PREFIX)
            && self.0[TOKEN_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    pub fn digest(&self) -> TokenDigest {
        TokenDigest(hex(&Sha256::digest(self.0.as_bytes())))
    }

    /// Returns the token in clear, to show it to its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainToken(***)")
    }
}

/// The hex SHA-256 of a token: the only form stored. A stolen database contains no usable token,
/// and because tokens carry 256 random bits a fast hash is enough (no salt or stretching).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenDigest(String);

impl TokenDigest {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenDigest(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_token_shape() {
        let token = PlainToken::generate();
        assert!(token.expose().starts_with("ses_"));
        assert_eq!(token.expose().len(), TOKEN_LENGTH);
        assert!(token.is_well_formed());
        assert_ne!(token, PlainToken::generate());
    }

    #[test]
    fn digest_is_hex_sha256() {
        let digest = PlainToken::from_client("abc").digest();
        assert_eq!(
            digest.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn malformed_tokens_detected() {
        assert!(!PlainToken::from_client("").is_well_formed());
        assert!(!PlainToken::from_client("ses_short").is_well_formed());
        let wrong_prefix = format!("tok_{}", &PlainToken::generate().expose()[4..]);
        assert!(!PlainToken::from_client(&wrong_prefix).is_well_formed());
        let with_space = format!("ses_{}", " ".repeat(43));
        assert!(!PlainToken::from_client(&with_space).is_well_formed());
        let multibyte = format!("ses_{}é", "a".repeat(41));
        assert!(!PlainToken::from_client(&multibyte).is_well_formed());
    }

    #[test]
    fn debug_hides_secrets() {
        let token = PlainToken::generate();
        assert_eq!(format!("{token:?}"), "PlainToken(***)");
        assert_eq!(format!("{:?}", token.digest()), "TokenDigest(***)");
    }
}
