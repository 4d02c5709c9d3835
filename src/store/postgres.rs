//! SQL that only PostgreSQL runs: the tenant setting for row-level security and the lookup
//! functions that run before a user is known.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamp};
use diesel::PgConnection;

use super::models::LoginRecord;
use super::{DbConnection, StoreError};

/// Sets `app.current_user_id` for the current transaction only (`is_local = true`). A
/// session-wide setting would outlive the request and leak this user's id to the next
/// request that borrows the pooled connection. On SQLite, which has no row-level security,
/// this does nothing.
pub(super) fn enter_tenant(connection: &mut DbConnection, user_id: &str) -> Result<(), StoreError> {
    if let DbConnection::Postgres(pg) = connection {
        diesel::sql_query("SELECT set_config('app.current_user_id', $1, true)")
            .bind::<Text, _>(user_id)
            .execute(pg)?;
    }
    Ok(())
}

#[derive(QueryableByName)]
pub(super) struct TokenLookup {
    #[diesel(sql_type = Text)]
    pub token_id: String,
    #[diesel(sql_type = Text)]
    pub user_id: String,
    #[diesel(sql_type = Timestamp)]
    pub expires_at: chrono::NaiveDateTime,
    #[diesel(sql_type = Bool)]
    pub revoked: bool,
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub last_used_at: Option<chrono::NaiveDateTime>,
}

/// Finds a token by digest through the SECURITY DEFINER function and, in the same statement,
/// makes its owner the transaction's tenant. The caller rolls back if the token turns out to
/// be revoked or expired.
pub(super) fn find_token_and_enter(pg: &mut PgConnection, digest: &str) -> QueryResult<Option<TokenLookup>> {
    diesel::sql_query(
        "SELECT t.token_id, t.user_id, t.expires_at, t.revoked, t.last_used_at,
                set_config('app.current_user_id', t.user_id, true) AS tenant
         FROM sesame_find_token($1) t",
    )
    .bind::<Text, _>(digest)
    .get_result(pg)
    .optional()
}

#[derive(QueryableByName)]
struct LoginLookup {
    #[diesel(sql_type = Text)]
    user_id: String,
    #[diesel(sql_type = Text)]
    password_hash: String,
}

pub(super) fn find_login(pg: &mut PgConnection, username_key: &str) -> QueryResult<Option<LoginRecord>> {
    let row: Option<LoginLookup> = diesel::sql_query("SELECT user_id, password_hash FROM sesame_find_login($1)")
        .bind::<Text, _>(username_key)
        .get_result(pg)
        .optional()?;
    Ok(row.map(|row| LoginRecord {
        user_id: row.user_id,
        password_hash: row.password_hash,
    }))
}

/// Serializes login attempts for one username across every server instance until the
/// transaction ends, so that concurrent guesses cannot all pass the rate-limit check.
pub(super) fn lock_login_attempts(pg: &mut PgConnection, username_digest: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text")
        .bind::<Text, _>(username_digest)
        .execute(pg)?;
    Ok(())
}

#[derive(QueryableByName)]
struct RoleRights {
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Bool)]
    bypasses: bool,
    #[diesel(sql_type = Bool)]
    owns_tables: bool,
}

/// Reads whether the connected role escapes row-level security: a superuser or BYPASSRLS
/// role, or the tables' owner (and its members), which the `owner_access` policies let see
/// every row.
fn role_rights(pg: &mut PgConnection) -> QueryResult<RoleRights> {
    diesel::sql_query(
        "SELECT current_user::text AS role,
                (r.rolsuper OR r.rolbypassrls) AS bypasses,
                pg_has_role(current_user, c.relowner, 'USAGE') AS owns_tables
         FROM pg_roles r, pg_class c
         WHERE r.rolname = current_user AND c.oid = 'public.workspaces'::regclass",
    )
    .get_result(pg)
}

/// Logs a warning when the server's role escapes row-level security (a superuser, a role
/// with BYPASSRLS, or the tables' owner), which leaves isolation to the application's own
/// filters alone.
pub(super) fn warn_if_rls_bypassed(connection: &mut DbConnection) {
    let DbConnection::Postgres(pg) = connection else { return };

    match role_rights(pg) {
        Ok(rights) if rights.bypasses || rights.owns_tables => tracing::warn!(
            role = %rights.role,
            "the server's database role bypasses row-level security or owns the tables; \
             connect as the restricted role that `sesame migrate` creates (SESAME_DATABASE_USER)"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not check the database role's privileges"),
    }
}

/// Checks that the connected role can read every tenant's rows, as the commands that list,
/// delete or import users across tenants need. The restricted server role reads only the
/// tenant of the current transaction, so a listing would come back empty and a duplicate
/// check would miss existing users.
pub(super) fn ensure_sees_every_tenant(connection: &mut DbConnection) -> Result<(), StoreError> {
    let DbConnection::Postgres(pg) = connection else {
        return Ok(());
    };

    let rights = role_rights(pg)?;
    if rights.bypasses || rights.owns_tables {
        return Ok(());
    }
    Err(StoreError::Misconfigured(format!(
        "database role {} can read one user's rows at a time under row-level security, but this command \
         works across users; set SESAME_DATABASE_ADMIN_URL to the owner account that ran `sesame migrate`",
        rights.role
    )))
}
