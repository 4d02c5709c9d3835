use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::connection::transaction;
use super::models::{LoginRecord, User, UserRow};
use super::schema::tokens;
use super::schema::users;
use super::{postgres, Access, DbConnection, Store, StoreError, Tenant};
use crate::auth::{generate_user_id, Username};

impl Store {
    /// Inserts a user with an already computed password hash. A username that exists in any
    /// letter case gives [`StoreError::UsernameTaken`].
    pub fn create_user(
        &self,
        username: &Username,
        password_hash: String,
        now: NaiveDateTime,
    ) -> Result<User, StoreError> {
        let row = UserRow {
            user_id: generate_user_id(),
            username: username.as_str().to_string(),
            username_key: username.key().to_string(),
            password_hash,
            created_at: now,
            updated_at: now,
        };

        let mut connection = self.connection()?;
        transaction(&mut connection, Access::Write, |connection| {
            // On PostgreSQL the row-level security check requires the new row to belong to
            // the transaction's tenant.
            postgres::enter_tenant(connection, &row.user_id)?;

            diesel::insert_into(users::table)
                .values(&row)
                .execute(connection)
                .map_err(|error| match error {
                    DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::UsernameTaken,
                    other => StoreError::from(other),
                })?;

            Ok(User {
                user_id: row.user_id.clone(),
                username: row.username.clone(),
                created_at: row.created_at,
            })
        })
    }

    /// Finds the id and password hash for a username, in any letter case.
    pub fn find_login(&self, username: &Username) -> Result<Option<LoginRecord>, StoreError> {
        let mut connection = self.read_connection()?;
        find_login(&mut connection, username.key())
    }
}

fn find_login(connection: &mut DbConnection, username_key: &str) -> Result<Option<LoginRecord>, StoreError> {
    if let DbConnection::Postgres(pg) = connection {
        return Ok(postgres::find_login(pg, username_key)?);
    }

    let row = users::table
        .filter(users::username_key.eq(username_key))
        .select((users::user_id, users::password_hash))
        .first::<(String, String)>(connection)
        .optional()?;
    Ok(row.map(|(user_id, password_hash)| LoginRecord { user_id, password_hash }))
}

impl Tenant<'_> {
    /// Replaces this user's password hash and, unless `keep_tokens`, revokes every token, so a
    /// leaked password stops granting access along with the tokens minted with it. Returns
    /// how many tokens were revoked.
    pub fn set_password(
        &mut self,
        password_hash: String,
        now: NaiveDateTime,
        keep_tokens: bool,
    ) -> Result<usize, StoreError> {
        let updated = diesel::update(users::table.filter(users::user_id.eq(&self.user_id)))
            .set((users::password_hash.eq(password_hash), users::updated_at.eq(now)))
            .execute(self.connection)?;
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        if keep_tokens {
            return Ok(0);
        }

        let revoked = diesel::update(
            tokens::table
                .filter(tokens::user_id.eq(&self.user_id))
                .filter(tokens::revoked.eq(false)),
        )
        .set((tokens::revoked.eq(true), tokens::revoked_at.eq(now)))
        .execute(self.connection)?;
        Ok(revoked)
    }
}
