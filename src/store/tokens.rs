use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::models::{Principal, TokenInfo, TokenRow};
use super::schema::{login_attempts, tokens};
use super::{postgres, DbConnection, Store, StoreError, Tenant};
use crate::auth::TokenDigest;

/// How long a revoked token stays listed (as revoked) before pruning deletes it.
pub const REVOKED_TOKEN_RETENTION: Duration = Duration::days(30);

/// A selection of a user's tokens to revoke.
#[derive(Debug, Clone, Copy)]
pub enum TokenSelector<'a> {
    All,
    /// The token whose digest this is.
    Digest(&'a TokenDigest),
    /// The token with this `token_id`.
    Id(&'a str),
}

/// Rows deleted by [`Store::prune`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub tokens: u64,
    pub login_attempts: u64,
}

/// A token row just inserted, with the number of older tokens revoked to respect the cap.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub row: TokenRow,
    pub revoked_for_cap: usize,
}

/// Finds the owner of a valid token and makes that owner the transaction's tenant.
pub(super) fn authenticate(
    connection: &mut DbConnection,
    digest: &TokenDigest,
    now: NaiveDateTime,
) -> Result<Principal, StoreError> {
    let found = match connection {
        DbConnection::Postgres(pg) => postgres::find_token_and_enter(pg, digest.as_str())?
            .map(|row| (row.token_id, row.user_id, row.expires_at, row.revoked, row.last_used_at)),
        DbConnection::Sqlite(_) => tokens::table
            .filter(tokens::token_hash.eq(digest.as_str()))
            .select((
                tokens::token_id,
                tokens::user_id,
                tokens::expires_at,
                tokens::revoked,
                tokens::last_used_at,
            ))
            .first::<(String, String, NaiveDateTime, bool, Option<NaiveDateTime>)>(connection)
            .optional()?,
    };

    match found {
        Some((token_id, user_id, expires_at, revoked, last_used_at)) if !revoked && expires_at > now => Ok(Principal {
            user_id,
            token_id,
            last_used_at,
        }),
        _ => Err(StoreError::InvalidToken),
    }
}

impl Tenant<'_> {
    /// Inserts a token and, when the user would then hold more than `max_live` live tokens,
    /// revokes the oldest ones.
    pub fn issue_token(
        &mut self,
        digest: &TokenDigest,
        title: Option<String>,
        now: NaiveDateTime,
        expires_at: NaiveDateTime,
        max_live: u32,
    ) -> Result<IssuedToken, StoreError> {
        let live: Vec<String> = tokens::table
            .filter(tokens::user_id.eq(&self.user_id))
            .filter(tokens::revoked.eq(false))
            .filter(tokens::expires_at.gt(now))
            .order((tokens::created_at.asc(), tokens::token_id.asc()))
            .select(tokens::token_id)
            .load(self.connection)?;

        let excess = (live.len() + 1).saturating_sub(max_live as usize);
        if excess > 0 {
            diesel::update(
                tokens::table
                    .filter(tokens::user_id.eq(&self.user_id))
                    .filter(tokens::token_id.eq_any(&live[..excess])),
            )
            .set((tokens::revoked.eq(true), tokens::revoked_at.eq(now)))
            .execute(self.connection)?;
        }

        let row = TokenRow {
            token_id: uuid::Uuid::new_v4().to_string(),
            user_id: self.user_id.clone(),
            token_hash: digest.as_str().to_string(),
            title,
            created_at: now,
            expires_at,
            revoked: false,
            last_used_at: None,
            revoked_at: None,
        };
        diesel::insert_into(tokens::table)
            .values(&row)
            .execute(self.connection)?;

        Ok(IssuedToken {
            row,
            revoked_for_cap: excess,
        })
    }

    /// Revokes the selected tokens of this user. Returns how many were live and are revoked
    /// now; selecting one token that is not this user's gives [`StoreError::NotFound`].
    /// Revoking a token that is already revoked succeeds and counts 0.
    pub fn revoke_tokens(&mut self, selector: TokenSelector<'_>, now: NaiveDateTime) -> Result<usize, StoreError> {
        // No stored id contains NUL, and PostgreSQL rejects a query parameter that does.
        if matches!(selector, TokenSelector::Id(token_id) if token_id.contains('\0')) {
            return Err(StoreError::NotFound);
        }

        let mine = tokens::table.filter(tokens::user_id.eq(&self.user_id)).into_boxed();
        let selected = match selector {
            TokenSelector::All => mine,
            TokenSelector::Digest(digest) => mine.filter(tokens::token_hash.eq(digest.as_str())),
            TokenSelector::Id(token_id) => mine.filter(tokens::token_id.eq(token_id)),
        };

        let found: Vec<(String, bool)> = selected
            .select((tokens::token_id, tokens::revoked))
            .load(self.connection)?;
        if found.is_empty() && !matches!(selector, TokenSelector::All) {
            return Err(StoreError::NotFound);
        }

        let live: Vec<&String> = found
            .iter()
            .filter(|(_, revoked)| !revoked)
            .map(|(token_id, _)| token_id)
            .collect();
        if live.is_empty() {
            return Ok(0);
        }

        let count = diesel::update(
            tokens::table
                .filter(tokens::user_id.eq(&self.user_id))
                .filter(tokens::token_id.eq_any(live))
                .filter(tokens::revoked.eq(false)),
        )
        .set((tokens::revoked.eq(true), tokens::revoked_at.eq(now)))
        .execute(self.connection)?;
        Ok(count)
    }

    /// Lists this user's tokens, newest first, without their digests.
    pub fn list_tokens(&mut self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<TokenRow> = tokens::table
            .filter(tokens::user_id.eq(&self.user_id))
            .order((tokens::created_at.desc(), tokens::token_id.asc()))
            .select(TokenRow::as_select())
            .load(self.connection)?;
        Ok(rows.into_iter().map(TokenInfo::from).collect())
    }

    /// Records that a token was used.
    pub fn touch_token(&mut self, token_id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
        diesel::update(
            tokens::table
                .filter(tokens::user_id.eq(&self.user_id))
                .filter(tokens::token_id.eq(token_id)),
        )
        .set(tokens::last_used_at.eq(now))
        .execute(self.connection)?;
        Ok(())
    }
}

#[derive(QueryableByName)]
struct PruneCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pruned_tokens: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pruned_attempts: i64,
}

impl Store {
    /// Deletes, for every user, expired tokens, tokens revoked more than
    /// [`REVOKED_TOKEN_RETENTION`] ago and login attempts older than `login_window`.
    ///
    /// Expired tokens are already rejected when presented; pruning only keeps tables small.
    pub fn prune(&self, now: NaiveDateTime, login_window: Duration) -> Result<PruneReport, StoreError> {
        let revoked_before = now - REVOKED_TOKEN_RETENTION;
        let attempts_before = now - login_window;
        let mut connection = self.connection()?;

        if let DbConnection::Postgres(pg) = &mut *connection {
            let counts: PruneCounts =
                diesel::sql_query("SELECT pruned_tokens, pruned_attempts FROM sesame_prune($1, $2, $3)")
                    .bind::<diesel::sql_types::Timestamp, _>(now)
                    .bind::<diesel::sql_types::Timestamp, _>(revoked_before)
                    .bind::<diesel::sql_types::Timestamp, _>(attempts_before)
                    .get_result(pg)?;
            return Ok(PruneReport {
                tokens: counts.pruned_tokens as u64,
                login_attempts: counts.pruned_attempts as u64,
            });
        }

        let tokens = diesel::delete(
            tokens::table.filter(
                tokens::expires_at
                    .le(now)
                    .or(tokens::revoked.eq(true).and(tokens::revoked_at.le(revoked_before)))
                    .or(tokens::revoked
                        .eq(true)
                        .and(tokens::revoked_at.is_null())
                        .and(tokens::created_at.le(revoked_before))),
            ),
        )
        .execute(&mut connection)?;
        let login_attempts =
            diesel::delete(login_attempts::table.filter(login_attempts::attempted_at.le(attempts_before)))
                .execute(&mut connection)?;

        Ok(PruneReport {
            tokens: tokens as u64,
            login_attempts: login_attempts as u64,
        })
    }
}
