//! Rows as stored, and the values the repository returns.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{login_attempts, tokens, users, workspaces};

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub user_id: String,
    pub username: String,
    pub username_key: String,
    /// Argon2id PHC string; the manual `Debug` below leaves it out.
    pub password_hash: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

/// A user as the admin commands show it: no password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub username: String,
    pub created_at: NaiveDateTime,
}

/// The user id and password hash a login verifies against.
#[derive(Clone)]
pub struct LoginRecord {
    pub user_id: String,
    pub password_hash: String,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord")
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    pub token_id: String,
    pub user_id: String,
    pub token_hash: String,
    pub title: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked: bool,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

/// A token as its owner may see it: everything but the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub token_id: String,
    pub title: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked: bool,
    pub last_used_at: Option<NaiveDateTime>,
}

impl From<TokenRow> for TokenInfo {
    fn from(row: TokenRow) -> Self {
        TokenInfo {
            token_id: row.token_id,
            title: row.title,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked: row.revoked,
            last_used_at: row.last_used_at,
        }
    }
}

/// The owner of a valid token, found while authenticating a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub token_id: String,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceRow {
    pub workspace_id: String,
    pub user_id: String,
    pub title: String,
    /// A serialized JSON object.
    pub config: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Changes to a workspace: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceChanges {
    pub title: Option<String>,
    /// Top-level keys to set in the stored config; other keys are kept.
    pub config: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = login_attempts)]
pub struct NewLoginAttempt<'a> {
    pub username_digest: &'a str,
    pub attempted_at: NaiveDateTime,
}
