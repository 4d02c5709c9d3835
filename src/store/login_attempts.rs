use chrono::NaiveDateTime;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::connection::transaction;
use super::models::NewLoginAttempt;
use super::schema::login_attempts;
use super::{Access, DbConnection, Store, StoreError};

impl Store {
    /// Counts a login attempt for a username before its password is checked, unless the
    /// username already has `max_attempts` attempts after `window_start`. Returns `Ok(None)`
    /// when the attempt may go ahead, or the time of the oldest attempt in the window when it
    /// is rate limited (the limit lifts one window after that).
    ///
    /// Counting before the check means a burst of concurrent guesses cannot all slip under
    /// the limit; a successful login then clears the count.
    pub fn begin_login_attempt(
        &self,
        username_digest: &str,
        now: NaiveDateTime,
        window_start: NaiveDateTime,
        max_attempts: u32,
    ) -> Result<Option<NaiveDateTime>, StoreError> {
        let mut connection = self.connection()?;
        transaction(&mut connection, Access::Write, |connection| {
            if let DbConnection::Postgres(pg) = connection {
                super::postgres::lock_login_attempts(pg, username_digest)?;
            }

            diesel::delete(
                login_attempts::table
                    .filter(login_attempts::username_digest.eq(username_digest))
                    .filter(login_attempts::attempted_at.le(window_start)),
            )
            .execute(connection)?;

            let (count, oldest) = login_attempts::table
                .filter(login_attempts::username_digest.eq(username_digest))
                .select((count_star(), min(login_attempts::attempted_at)))
                .first::<(i64, Option<NaiveDateTime>)>(connection)?;

            if count >= i64::from(max_attempts) {
                return Ok(Some(oldest.unwrap_or(now)));
            }

            diesel::insert_into(login_attempts::table)
                .values(NewLoginAttempt {
                    username_digest,
                    attempted_at: now,
                })
                .execute(connection)?;
            Ok(None)
        })
    }

    /// Clears a username's attempts after a successful login.
    pub fn clear_login_attempts(&self, username_digest: &str) -> Result<(), StoreError> {
        let mut connection = self.connection()?;
        diesel::delete(login_attempts::table.filter(login_attempts::username_digest.eq(username_digest)))
            .execute(&mut connection)?;
        Ok(())
    }
}
