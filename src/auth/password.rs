use std::fmt;
use std::sync::{Arc, Condvar, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

/// Shortest password accepted for a new account, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Maximum password length, in bytes, which bounds the work a login can cause.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Argon2id memory cost in KiB, iterations and lanes: the OWASP minimum (19 MiB, t=2, p=1).
const ARGON2_MEMORY_KIB: u32 = 19_456;
const ARGON2_ITERATIONS: u32 = 2;
const ARGON2_LANES: u32 = 1;

/// A password in clear; `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_BYTES} bytes")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("password must not contain NUL characters")]
    ContainsNul,
}

impl Password {
    /// Checks a password for a new account or a password change.
    pub fn new(value: String) -> Result<Password, PasswordError> {
        let password = Password::for_login(value)?;
        if password.0.len() < MIN_PASSWORD_BYTES {
            return Err(PasswordError::TooShort);
        }
        Ok(password)
    }

    /// Checks a password presented at login. Short passwords are let through (they simply
    /// fail verification like any wrong password); over-long ones are rejected before hashing.
    pub fn for_login(value: String) -> Result<Password, PasswordError> {
        if value.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        if value.contains('\0') {
            return Err(PasswordError::ContainsNul);
        }
        Ok(Password(value))
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Compares two passwords, as when a user types a new one twice.
    pub fn matches(&self, other: &Password) -> bool {
        self.0 == other.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Returns the Argon2id instance with the parameters every new hash uses.
pub fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .expect("the Argon2 parameters are valid constants");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &Password) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("hashing with valid parameters and a fresh salt cannot fail")
        .to_string()
}

/// Verifies a password against a stored PHC string, with the parameters the string names.
/// A string that does not parse verifies nothing.
pub fn verify_password(password: &Password, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// Hashes and verifies passwords for the server, at most `limit` at a time so that a burst of
/// logins cannot allocate 19 MiB per request without bound. It also keeps a dummy hash, so
/// that a login for an unknown username costs one verification like a wrong password.
#[derive(Clone)]
pub struct PasswordHasher {
    gate: Arc<Gate>,
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    /// Builds a hasher; this computes one hash, so it takes as long as one login.
    pub fn new(limit: usize) -> PasswordHasher {
        let dummy = Password("sesame dummy password for unknown users".to_string());
        PasswordHasher {
            gate: Arc::new(Gate::new(limit.max(1))),
            dummy_hash: Arc::new(hash_password(&dummy)),
        }
    }

    pub fn hash(&self, password: &Password) -> String {
        let _permit = self.gate.enter();
        hash_password(password)
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// stored hash (unknown user), in which case the result is always false.
    pub fn verify(&self, password: &Password, stored: Option<&str>) -> bool {
        let _permit = self.gate.enter();
        match stored {
            Some(phc) => verify_password(password, phc),
            None => {
                let _ = verify_password(password, &self.dummy_hash);
                false
            }
        }
    }
}

/// A counting semaphore for blocking threads.
struct Gate {
    available: Mutex<usize>,
    freed: Condvar,
}

struct Permit<'a>(&'a Gate);

impl Gate {
    fn new(limit: usize) -> Gate {
        Gate {
            available: Mutex::new(limit),
            freed: Condvar::new(),
        }
    }

    fn enter(&self) -> Permit<'_> {
        let mut available = self.available.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *available == 0 {
            available = self
                .freed
                .wait(available)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *available -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut available = self.0.available.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *available += 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_phc_with_owasp_parameters() {
        let phc = hash_password(&Password::new("correct horse".into()).unwrap());
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    }

    #[test]
    fn verify_accepts_right_and_rejects_wrong() {
        let password = Password::new("correct horse".into()).unwrap();
        let phc = hash_password(&password);
        assert!(verify_password(&password, &phc));
        assert!(!verify_password(&Password::new("correct horsf".into()).unwrap(), &phc));
        assert!(!verify_password(&password, "not a phc string"));
    }

    #[test]
    fn length_limits_in_bytes() {
        assert_eq!(Password::new("1234567".into()).unwrap_err(), PasswordError::TooShort);
        assert!(Password::new("12345678".into()).is_ok());
        assert!(Password::new("x".repeat(1024)).is_ok());
        assert_eq!(Password::new("x".repeat(1025)).unwrap_err(), PasswordError::TooLong);
        assert_eq!(Password::new("é".repeat(513)).unwrap_err(), PasswordError::TooLong);
        assert_eq!(
            Password::new("abcd\0efgh".into()).unwrap_err(),
            PasswordError::ContainsNul
        );
    }

    #[test]
    fn login_allows_short_passwords() {
        assert!(Password::for_login("short".into()).is_ok());
        assert!(Password::for_login(String::new()).is_ok());
    }

    #[test]
    fn hasher_rejects_unknown_user() {
        let hasher = PasswordHasher::new(2);
        let password = Password::new("sesame dummy password for unknown users".into()).unwrap();
        assert!(!hasher.verify(&password, None));
    }

    #[test]
    fn debug_hides_password() {
        assert_eq!(
            format!("{:?}", Password::new("hunter22".into()).unwrap()),
            "Password(***)"
        );
    }
}
