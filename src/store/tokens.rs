use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{Principal, TokenRow};
use super::schema::tokens;
use super::{postgres, DbConnection, StoreError, Tenant};
use crate::auth::TokenDigest;

/// A token row just inserted, with the number of older tokens revoked to respect the cap.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub row: TokenRow,
    pub revoked_for_cap: usize,
}

/// Finds the owner of a valid token and makes that owner the transaction's tenant.
pub(super) fn authenticate(connection: &mut DbConnection, digest: &TokenDigest, now: NaiveDateTime) -> Result<Principal, StoreError> {
    let found = match connection {
        DbConnection::Postgres(pg) => postgres::find_token_and_enter(pg, digest.as_str())?
            .map(|row| (row.token_id, row.user_id, row.expires_at, row.revoked, row.last_used_at)),
        DbConnection::Sqlite(_) => tokens::table
            .filter(tokens::token_hash.eq(digest.as_str()))
            .select((tokens::token_id, tokens::user_id, tokens::expires_at, tokens::revoked, tokens::last_used_at))
            .first::<(String, String, NaiveDateTime, bool, Option<NaiveDateTime>)>(connection)
            .optional()?,
    };

    match found {
        Some((token_id, user_id, expires_at, revoked, last_used_at)) if !revoked && expires_at > now => {
            Ok(Principal { user_id, token_id, last_used_at })
        }
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
            diesel::update(tokens::table.filter(tokens::user_id.eq(&self.user_id)).filter(tokens::token_id.eq_any(&live[..excess])))
                .set(tokens::revoked.eq(true))
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
        };
        diesel::insert_into(tokens::table).values(&row).execute(self.connection)?;

        Ok(IssuedToken { row, revoked_for_cap: excess })
    }

    /// Revokes one token of this user, by digest, or all of them. Returns how many tokens were
    /// live before and are revoked now; a digest that is not this user's gives
    /// [`StoreError::NotFound`]. Revoking a token that is already revoked succeeds and counts 0.
    pub fn revoke_tokens(&mut self, digest: Option<&TokenDigest>) -> Result<usize, StoreError> {
        let mine = tokens::table.filter(tokens::user_id.eq(&self.user_id));

        if let Some(digest) = digest {
            let revoked: Option<bool> = mine
                .filter(tokens::token_hash.eq(digest.as_str()))
                .select(tokens::revoked)
                .first(self.connection)
                .optional()?;
            return match revoked {
                None => Err(StoreError::NotFound),
                Some(true) => Ok(0),
                Some(false) => {
                    diesel::update(tokens::table.filter(tokens::user_id.eq(&self.user_id)).filter(tokens::token_hash.eq(digest.as_str())))
                        .set(tokens::revoked.eq(true))
                        .execute(self.connection)?;
                    Ok(1)
                }
            };
        }

        let count = diesel::update(mine.filter(tokens::revoked.eq(false)))
            .set(tokens::revoked.eq(true))
            .execute(self.connection)?;
        Ok(count)
    }

    /// Records that a token was used.
    pub fn touch_token(&mut self, token_id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
        diesel::update(tokens::table.filter(tokens::user_id.eq(&self.user_id)).filter(tokens::token_id.eq(token_id)))
            .set(tokens::last_used_at.eq(now))
            .execute(self.connection)?;
        Ok(())
    }
}
