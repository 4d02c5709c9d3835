//! Operations across every tenant for the admin commands: listing, deleting and bulk-creating
//! users.
//!
//! On PostgreSQL they need a role that row-level security does not confine to one tenant: the
//! owner that ran `sesame migrate` (its `owner_access` policies), a superuser or a BYPASSRLS
//! role. [`AdminStore::open`] checks this, so an empty listing means that there are no users.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use super::connection::{build_pool, transaction, Pool};
use super::models::{User, UserRow};
use super::schema::{tokens, users, workspaces};
use super::{migrations, postgres, Access, DbConnection, PooledConnection, Store, StoreError};
use crate::auth::{generate_user_id, Username};
use crate::config::DatabaseTarget;

/// Maximum number of values bound in one `IN (...)` list, well below the parameter limits of
/// both backends (32,766 on current SQLite, 65,535 on PostgreSQL).
const MAX_BOUND_KEYS: usize = 500;

/// A user with the number of live tokens (neither revoked nor expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub user: User,
    pub live_tokens: u64,
}

/// A user and the rows that deleting it removes along with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserFootprint {
    pub user: User,
    /// Every token, revoked and expired ones included.
    pub tokens: u64,
    pub workspaces: u64,
}

/// A user to create in a bulk import, with its password already hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub password_hash: String,
}

/// Action for a user to import whose username already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Write nothing of the batch and report the existing usernames.
    Fail,
    /// Leave the existing user as it is and create the others.
    Skip,
}

/// Result of [`AdminStore::insert_users`] for one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Indices into the batch of the users created.
    pub created: Vec<usize>,
    /// Indices into the batch whose username already existed. With [`OnConflict::Fail`] a
    /// non-empty list means that nothing of the batch was written.
    pub existing: Vec<usize>,
}

/// The repository for the admin commands, connected as a role that row-level security does
/// not confine to one tenant. It has one connection, because the commands run one query at
/// a time.
#[derive(Clone)]
pub struct AdminStore {
    pool: Pool,
}

impl AdminStore {
    /// Opens the database for the cross-tenant commands. A SQLite file is created and migrated
    /// as by `Store::open`. On PostgreSQL the schema must be current and the role must be
    /// able to read every tenant's rows, or this returns [`StoreError::Misconfigured`] naming the role.
    ///
    /// `Store::open` is not used on PostgreSQL because it warns when the role bypasses
    /// row-level security, which is right for the server but is what these commands need.
    pub fn open(target: &DatabaseTarget) -> Result<AdminStore, StoreError> {
        // The checks run on a connection of their own, before the pool starts connecting in
        // background threads, so a failed check exits without a thread inside libpq.
        let mut connection = Store::connect_once(target)?;
        match target {
            DatabaseTarget::Sqlite { .. } => {
                for version in migrations::run_pending(&mut connection)? {
                    tracing::info!(%version, "applied migration");
                }
            }
            DatabaseTarget::Postgres { .. } => {
                migrations::ensure_current(&mut connection)?;
                postgres::ensure_sees_every_tenant(&mut connection)?;
            }
        }
        drop(connection);

        Ok(AdminStore {
            pool: build_pool(target, 1),
        })
    }

    fn connection(&self) -> Result<PooledConnection, StoreError> {
        Ok(self.pool.get()?)
    }

    /// Lists every user in case-insensitive username order, with its live tokens at `now`.
    pub fn list_users(&self, now: NaiveDateTime) -> Result<Vec<UserSummary>, StoreError> {
        let mut connection = self.connection()?;
        transaction(&mut connection, Access::Read, |connection| {
            let rows: Vec<(String, String, NaiveDateTime)> = users::table
                .order((users::username_key.asc(), users::user_id.asc()))
                .select((users::user_id, users::username, users::created_at))
                .load(connection)?;

            let live: HashMap<String, i64> = tokens::table
                .filter(tokens::revoked.eq(false))
                .filter(tokens::expires_at.gt(now))
                .group_by(tokens::user_id)
                .select((tokens::user_id, count_star()))
                .load::<(String, i64)>(connection)?
                .into_iter()
                .collect();

            let summaries = rows
                .into_iter()
                .map(|(user_id, username, created_at)| {
                    let live_tokens = live.get(&user_id).copied().unwrap_or(0).max(0) as u64;
                    UserSummary {
                        user: User {
                            user_id,
                            username,
                            created_at,
                        },
                        live_tokens,
                    }
                })
                .collect();
            Ok(summaries)
        })
    }

    /// Finds a user by username, in any letter case, with the number of its tokens and
    /// workspaces.
    pub fn find_user(&self, username: &Username) -> Result<Option<UserFootprint>, StoreError> {
        let mut connection = self.connection()?;
        transaction(&mut connection, Access::Read, |connection| {
            let found: Option<(String, String, NaiveDateTime)> = users::table
                .filter(users::username_key.eq(username.key()))
                .select((users::user_id, users::username, users::created_at))
                .first(connection)
                .optional()?;
            let Some((user_id, username, created_at)) = found else {
                return Ok(None);
            };

            let (tokens, workspaces) = count_owned_rows(connection, &user_id)?;
            Ok(Some(UserFootprint {
                user: User {
                    user_id,
                    username,
                    created_at,
                },
                tokens,
                workspaces,
            }))
        })
    }

    /// Deletes a user and, through `ON DELETE CASCADE`, its tokens and workspaces, in one
    /// transaction. Returns what was deleted; an unknown `user_id` gives
    /// [`StoreError::NotFound`].
    ///
    /// The transaction checks that no token or workspace of the user is left and rolls back
    /// otherwise, which happens only on a SQLite connection that does not enforce foreign
    /// keys.
    pub fn delete_user(&self, user_id: &str) -> Result<UserFootprint, StoreError> {
        let mut connection = self.connection()?;
        transaction(&mut connection, Access::Write, |connection| {
            let found: Option<User> = users::table
                .filter(users::user_id.eq(user_id))
                .select((users::user_id, users::username, users::created_at))
                .first::<(String, String, NaiveDateTime)>(connection)
                .optional()?
                .map(|(user_id, username, created_at)| User {
                    user_id,
                    username,
                    created_at,
                });
            let Some(user) = found else {
                return Err(StoreError::NotFound);
            };

            let (tokens, workspaces) = count_owned_rows(connection, user_id)?;
            let deleted = diesel::delete(users::table.filter(users::user_id.eq(user_id))).execute(connection)?;
            if deleted == 0 {
                return Err(StoreError::NotFound);
            }

            let (tokens_left, workspaces_left) = count_owned_rows(connection, user_id)?;
            if tokens_left + workspaces_left > 0 {
                return Err(StoreError::Misconfigured(format!(
                    "deleting user {user_id} would leave {tokens_left} tokens and {workspaces_left} workspaces behind, \
                     because the database did not apply ON DELETE CASCADE; nothing was deleted"
                )));
            }

            Ok(UserFootprint {
                user,
                tokens,
                workspaces,
            })
        })
    }

    /// Returns which of the lower-cased usernames `keys` already exist.
    pub fn existing_username_keys(&self, keys: &[&str]) -> Result<HashSet<String>, StoreError> {
        let mut connection = self.connection()?;
        transaction(&mut connection, Access::Read, |connection| {
            find_existing_keys(connection, keys)
        })
    }

    /// Creates `batch` in one transaction, each user with a new user_id and `now` as its
    /// creation time. Usernames in the batch must differ from each other in lower case.
    ///
    /// Usernames that already exist are looked up first inside the transaction. With
    /// [`OnConflict::Fail`] any such username leaves the batch unwritten; with
    /// [`OnConflict::Skip`] the other users are created. A user created by another process
    /// after that look-up makes the insert fail with [`StoreError::UsernameTaken`], and the
    /// whole batch is rolled back.
    pub fn insert_users(
        &self,
        batch: &[NewUser],
        now: NaiveDateTime,
        on_conflict: OnConflict,
    ) -> Result<BatchOutcome, StoreError> {
        let mut connection = self.connection()?;
        transaction(&mut connection, Access::Write, |connection| {
            let keys: Vec<&str> = batch.iter().map(|user| user.username.key()).collect();
            let existing_keys = find_existing_keys(connection, &keys)?;

            let (existing, fresh): (Vec<usize>, Vec<usize>) =
                (0..batch.len()).partition(|&index| existing_keys.contains(batch[index].username.key()));
            if on_conflict == OnConflict::Fail && !existing.is_empty() {
                return Ok(BatchOutcome {
                    created: Vec::new(),
                    existing,
                });
            }

            let rows: Vec<UserRow> = fresh
                .iter()
                .map(|&index| UserRow {
                    user_id: generate_user_id(),
                    username: batch[index].username.as_str().to_string(),
                    username_key: batch[index].username.key().to_string(),
                    password_hash: batch[index].password_hash.clone(),
                    created_at: now,
                    updated_at: now,
                })
                .collect();
            insert_user_rows(connection, &rows)?;

            Ok(BatchOutcome {
                created: fresh,
                existing,
            })
        })
    }
}

/// Returns which of the lower-cased usernames `keys` exist, querying at most
/// [`MAX_BOUND_KEYS`] at a time.
fn find_existing_keys(connection: &mut DbConnection, keys: &[&str]) -> Result<HashSet<String>, StoreError> {
    let mut existing = HashSet::new();
    for chunk in keys.chunks(MAX_BOUND_KEYS) {
        let found: Vec<String> = users::table
            .filter(users::username_key.eq_any(chunk))
            .select(users::username_key)
            .load(connection)?;
        existing.extend(found);
    }
    Ok(existing)
}

/// Counts every token and workspace of a user.
fn count_owned_rows(connection: &mut DbConnection, user_id: &str) -> Result<(u64, u64), StoreError> {
    let tokens: i64 = tokens::table
        .filter(tokens::user_id.eq(user_id))
        .count()
        .get_result(connection)?;
    let workspaces: i64 = workspaces::table
        .filter(workspaces::user_id.eq(user_id))
        .count()
        .get_result(connection)?;
    Ok((tokens.max(0) as u64, workspaces.max(0) as u64))
}

/// Inserts user rows in one multi-row statement; a username taken in any letter case gives
/// [`StoreError::UsernameTaken`]. Diesel builds multi-row inserts per backend only, not for
/// the multi-backend connection.
fn insert_user_rows(connection: &mut DbConnection, rows: &[UserRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statement = diesel::insert_into(users::table).values(rows);
    let inserted = match connection {
        DbConnection::Sqlite(sqlite) => statement.execute(sqlite),
        DbConnection::Postgres(pg) => statement.execute(pg),
    };
    inserted.map_err(|error| match error {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => StoreError::UsernameTaken,
        other => StoreError::from(other),
    })?;
    Ok(())
}
