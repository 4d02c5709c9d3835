//! Connections to either backend, the pool, and transactions.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel::{PgConnection, SqliteConnection};
use url::Url;

use super::StoreError;
use crate::config::DatabaseTarget;

/// A connection to SQLite or PostgreSQL. Queries written against the shared schema run on
/// either; backend-specific SQL matches on the variant and stays inside `store`.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// How long SQLite waits for another writer before giving up, in milliseconds.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// Seconds libpq waits for a PostgreSQL server to accept a connection.
const POSTGRES_CONNECT_TIMEOUT_SECS: u32 = 5;

/// How long a request waits for a free pooled connection before the database counts as
/// unavailable.
const POOL_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens connections for the r2d2 pool, configured for the backend.
#[derive(Debug)]
pub struct ConnectionManager {
    target: DatabaseTarget,
}

impl ConnectionManager {
    pub fn new(target: DatabaseTarget) -> Self {
        ConnectionManager { target }
    }

    /// Opens one connection outside any pool, for commands such as `migrate`.
    pub fn establish(target: &DatabaseTarget) -> Result<DbConnection, diesel::r2d2::Error> {
        match target {
            DatabaseTarget::Sqlite { path } => {
                configure_sqlite_library();
                let path_text = path.to_str().ok_or_else(|| {
                    diesel::r2d2::Error::ConnectionError(ConnectionError::BadConnection(
                        "the SQLite path is not valid UTF-8".to_string(),
                    ))
                })?;
                let mut connection = SqliteConnection::establish(path_text)
                    .map_err(|error| explain_sqlite_open_error(path, error.to_string()))?;
                configure_sqlite(&mut connection)
                    .map_err(|error| explain_sqlite_open_error(path, error.to_string()))?;
                Ok(DbConnection::Sqlite(connection))
            }
            DatabaseTarget::Postgres { url } => {
                let connection = PgConnection::establish(&with_connect_timeout(url))
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                Ok(DbConnection::Postgres(connection))
            }
        }
    }
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        ConnectionManager::establish(&self.target)
    }

    fn is_valid(&self, connection: &mut DbConnection) -> Result<(), Self::Error> {
        connection.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, connection: &mut DbConnection) -> bool {
        std::thread::panicking() || connection.is_broken()
    }
}

/// Seconds between two log lines about failed connections; the pool retries far more often
/// while a database is down.
const CONNECT_ERROR_LOG_INTERVAL_SECS: u64 = 10;

/// Logs pool errors (failed connects) through tracing, at most one line per interval. Each line
/// counts the failures not logged since the last one. The messages carry no password.
#[derive(Debug, Default)]
struct PoolErrorLogger {
    last_logged_secs: AtomicU64,
    suppressed: AtomicU64,
}

impl r2d2::HandleError<diesel::r2d2::Error> for PoolErrorLogger {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        let now_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let last = self.last_logged_secs.load(Ordering::Relaxed);

        let due = now_secs >= last + CONNECT_ERROR_LOG_INTERVAL_SECS;
        if due
            && self
                .last_logged_secs
                .compare_exchange(last, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(%error, suppressed, "database connection failed");
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Builds a pool without connecting yet, so a server can start (and report not ready) while
/// its database is down.
pub fn build_pool(target: &DatabaseTarget, size: u32) -> Pool {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .test_on_check_out(false)
        .connection_timeout(POOL_CHECKOUT_TIMEOUT)
        .error_handler(Box::new(PoolErrorLogger::default()))
        .build_unchecked(ConnectionManager::new(target.clone()))
}

/// Sets process-wide SQLite options before the first connection opens. Multi-thread mode drops
/// SQLite's per-connection mutexes, which only cost time because the pool hands each
/// connection to one thread at a time. Memory statistics are turned off because they take a
/// global mutex on every allocation inside SQLite, so two threads querying at once wait.
fn configure_sqlite_library() {
    static CONFIGURED: Once = Once::new();
    CONFIGURED.call_once(|| {
        // SAFETY: sqlite3_config is called once, before sqlite3_initialize runs (that happens
        // on the first open), as SQLite requires. A failure leaves the defaults, which are
        // correct, only slower.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD);
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int);
        }
    });
}

/// Applies the per-connection SQLite settings. The busy timeout comes first, so the other
/// statements can wait for a lock. Write-ahead logging lets readers run while a writer
/// commits. Foreign keys are off in SQLite unless each connection enables them.
fn configure_sqlite(connection: &mut SqliteConnection) -> QueryResult<()> {
    connection.batch_execute(&format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;"
    ))
}

/// Builds the error for a SQLite file that could not be opened or configured. SQLite gives
/// only "unable to open database file" when the directory is read-only and the `-wal` and
/// `-shm` files that WAL mode keeps beside the database do not exist yet, so that case gets
/// the cause and the fix.
fn explain_sqlite_open_error(path: &Path, message: String) -> diesel::r2d2::Error {
    let directory = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let message = match check_writable(directory) {
        Err(cause) if message == "unable to open database file" => format!(
            "{message} {}: directory {} is not writable ({cause}), but SQLite must create the database's -wal and -shm files there; \
             make the directory writable or move the database",
            path.display(),
            directory.display(),
        ),
        _ => message,
    };
    diesel::r2d2::Error::ConnectionError(ConnectionError::BadConnection(message))
}

/// Checks with access(2) that the process may create files in `directory`. Unlike the mode
/// bits, this also reports a read-only mount to root.
#[cfg(unix)]
fn check_writable(directory: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;

    let path = std::ffi::CString::new(directory.as_os_str().as_bytes())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call, and access(2) only
    // reads it.
    let result = unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn check_writable(_directory: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Adds libpq's `connect_timeout` to a URL that sets none, so a server that is down makes
/// requests fail in seconds rather than hang.
fn with_connect_timeout(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return url.to_string();
    };
    if parsed.query_pairs().any(|(key, _)| key == "connect_timeout") {
        return url.to_string();
    }
    parsed
        .query_pairs_mut()
        .append_pair("connect_timeout", &POSTGRES_CONNECT_TIMEOUT_SECS.to_string());
    parsed.to_string()
}

/// Whether a transaction only reads or also writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Runs `body` in one transaction, committed when it returns `Ok` and rolled back otherwise.
///
/// On SQLite a writing transaction starts with `BEGIN IMMEDIATE`, which takes the write lock
/// up front and so waits out the busy timeout. A deferred transaction that reads and then
/// writes can instead fail at once with "database is locked" when another connection wrote
/// in between.
pub fn transaction<T>(
    connection: &mut DbConnection,
    access: Access,
    body: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let DbConnection::Sqlite(sqlite) = connection else {
        return connection.transaction(body);
    };
    if access == Access::Read {
        return connection.transaction(body);
    }

    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;

    match body(connection) {
        Ok(value) => {
            <DbConnection as Connection>::TransactionManager::commit_transaction(connection)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback_error) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(connection)
            {
                tracing::error!(error = %rollback_error, "rollback failed");
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_timeout_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://u@localhost/db"),
            "postgres://u@localhost/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@localhost/db?connect_timeout=1"),
            "postgres://u@localhost/db?connect_timeout=1"
        );
    }
}
