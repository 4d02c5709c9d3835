//! Harness for the integration tests. Every test gets its own database: a SQLite file, or a
//! fresh PostgreSQL database with its own restricted role. It runs the real `sesame` binary as
//! a CLI or as a server and sends HTTP requests to the server on 127.0.0.1.
//!
//! PostgreSQL tests need a server on 127.0.0.1:5432 that accepts the user `postgres` with
//! trust authentication. When it is not reachable they fail; they are never skipped.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::{PgConnection, SqliteConnection};
use rand::Rng;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// Path of the binary under test, built by Cargo for the integration tests.
pub const SESAME: &str = env!("CARGO_BIN_EXE_sesame");

/// Password of the users that tests create with [`TestEnv::create_user`].
pub const PASSWORD: &str = "correct horse battery staple";

/// Address of the local PostgreSQL server.
const POSTGRES_ADDRESS: &str = "127.0.0.1:5432";

/// Superuser of the local PostgreSQL server, trusted without a password.
const POSTGRES_SUPERUSER: &str = "postgres";

/// Maximum time to wait for `sesame run` to print the URL it serves.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Maximum time for one HTTP request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Pause between two checks of [`wait_until`].
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A time long past, in the SQL timestamp form both backends accept, for ageing rows.
pub const LONG_AGO: &str = "2000-01-01 00:00:00";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Defines each test once, taking a [`Backend`], and generates `sqlite::NAME` and
/// `postgres::NAME` test functions that run it on each backend.
macro_rules! backend_tests {
    ($($(#[$attribute:meta])* fn $name:ident($backend:ident) $body:block)*) => {
        $(
            $(#[$attribute])*
            fn $name($backend: $crate::common::Backend) $body
        )*

        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::common::Backend::Sqlite)
                }
            )*
        }

        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::common::Backend::Postgres)
                }
            )*
        }
    };
}
// Test files that run on one backend only do not use the macro.
#[allow(unused_imports)]
pub(crate) use backend_tests;

/// Exit code and output of one `sesame` command.
#[derive(Debug, Clone)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Asserts exit code 0 and returns stdout.
    pub fn assert_success(&self) -> &str {
        assert_eq!(self.code, 0, "expected exit code 0; stderr: {}", self.stderr);
        &self.stdout
    }

    /// Asserts the exit code, an empty stdout and stderr `error: MESSAGE` on one line.
    pub fn assert_error(&self, code: i32, message: &str) {
        self.assert_case("command", code, message);
    }

    /// Like [`CliOutput::assert_error`], naming `case` in the failure messages, for tests that
    /// loop over a table of cases.
    pub fn assert_case(&self, case: &str, code: i32, message: &str) {
        assert_eq!(self.code, code, "{case}: exit code; stderr: {}", self.stderr);
        assert_eq!(self.stderr, format!("error: {message}\n"), "{case}: stderr");
        assert_eq!(self.stdout, "", "{case}: stdout");
    }
}

/// Runs a prepared `sesame` command to completion, writing `stdin` to it when given. With no
/// stdin the child reads from /dev/null, so standard input is not a terminal.
pub fn run_to_end(mut command: Command, stdin: Option<&str>) -> CliOutput {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });

    let mut child = command.spawn().expect("failed to start the sesame binary");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // A command may exit before reading everything (a usage error), which breaks the pipe.
        let _ = pipe.write_all(input.as_bytes());
    }

    let output = child.wait_with_output().expect("failed to wait for the sesame binary");
    CliOutput {
        code: output.status.code().expect("sesame was killed by a signal"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs a prepared command like [`run_to_end`], but kills it and fails the test when it has
/// not exited after `timeout`.
pub fn run_with_timeout(mut command: Command, stdin: Option<&str>, timeout: Duration) -> CliOutput {
    let description = format!("{command:?}");
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });

    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("failed to start {description}: {error}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // A command may exit before reading everything (a usage error), which breaks the pipe.
        let _ = pipe.write_all(input.as_bytes());
    }
    let stdout = read_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr is piped"));

    let status = wait_or_kill(&mut child, timeout, &description);
    CliOutput {
        code: status
            .code()
            .unwrap_or_else(|| panic!("{description} was killed by a signal: {status}")),
        stdout: String::from_utf8(stdout.join().expect("stdout reader")).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr.join().expect("stderr reader")).expect("stderr is UTF-8"),
    }
}

/// Waits up to `timeout` for `child` to exit and returns its status, or None when it is still
/// running.
pub fn try_wait_for(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    wait_until(timeout, || {
        status = child.try_wait().expect("failed to check a child process");
        status.is_some()
    });
    status
}

/// Waits up to `timeout` for `child` to exit and returns its status. A child still running
/// then is killed, and the test fails with a message naming `description`.
pub fn wait_or_kill(child: &mut Child, timeout: Duration, description: &str) -> ExitStatus {
    match try_wait_for(child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{description} did not exit within {timeout:?}");
        }
    }
}

/// Reads a pipe to its end on another thread, so that a child never blocks on a full pipe.
fn read_in_background(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Builds a `sesame` command with a clean environment (only PATH and `variables`) in `dir`,
/// so no stray `.env` file or SESAME_* variable of the caller is read.
pub fn sesame_command(dir: &Path, args: &[&str], variables: &[(&str, &str)]) -> Command {
    let mut command = Command::new(SESAME);
    command.args(args).current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command.envs(variables.iter().copied());
    command
}

/// Returns the hex SHA-256 of a token, the form the database stores.
pub fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

/// Reports whether `token` has the shape the server issues: `ses_` and 43 base64url
/// characters (32 random bytes without padding).
pub fn is_token_shaped(token: &str) -> bool {
    let Some(random) = token.strip_prefix("ses_") else {
        return false;
    };
    random.len() == 43
        && random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reports whether `id` is a user id: 32 characters of `[A-Za-z0-9]`.
pub fn is_user_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

/// A PostgreSQL database and login role created for one test.
struct PostgresDatabase {
    name: String,
    role: String,
    /// Output of the `sesame migrate` run that set the database up.
    migrate_output: Option<CliOutput>,
}

/// A database that belongs to one test, and the temporary directory its commands run in.
/// Dropping it deletes the directory and, on PostgreSQL, the database and the role.
pub struct TestEnv {
    pub backend: Backend,
    dir: TempDir,
    database_url: String,
    postgres: Option<PostgresDatabase>,
}

impl TestEnv {
    /// Creates an empty database. A SQLite file is left for the first command to create; a
    /// PostgreSQL database is set up with `sesame migrate`, as an operator would.
    pub fn new(backend: Backend) -> TestEnv {
        let dir = tempfile::tempdir().expect("failed to create a temporary directory");

        match backend {
            Backend::Sqlite => {
                let database_url = format!("sqlite://{}", dir.path().join("sesame.db").display());
                TestEnv {
                    backend,
                    dir,
                    database_url,
                    postgres: None,
                }
            }
            Backend::Postgres => {
                let suffix = random_suffix();
                let name = format!("sesame_t_{suffix}");
                let role = format!("sesame_t_{suffix}_app");

                let mut server = connect_postgres("postgres");
                execute_postgres(&mut server, &format!("CREATE DATABASE {name}"));

                // From here on, Drop removes the database and the role even if a step fails.
                let database_url = postgres_url(&role, &name);
                let mut env = TestEnv {
                    backend,
                    dir,
                    database_url,
                    postgres: Some(PostgresDatabase {
                        name,
                        role,
                        migrate_output: None,
                    }),
                };

                let output = env.migrate();
                output.assert_success();
                if let Some(postgres) = env.postgres.as_mut() {
                    postgres.migrate_output = Some(output);
                }
                env
            }
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// URL the server and the admin commands use: the SQLite file, or the restricted role on
    /// PostgreSQL.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Name of the restricted PostgreSQL role, if any.
    pub fn postgres_role(&self) -> Option<&str> {
        self.postgres.as_ref().map(|postgres| postgres.role.as_str())
    }

    /// Builds a `sesame` command for this database: clean environment, the database URL and
    /// `variables`, run in the temporary directory.
    pub fn command(&self, args: &[&str], variables: &[(&str, &str)]) -> Command {
        let mut command = sesame_command(self.dir(), args, &[("SESAME_DATABASE_URL", &self.database_url)]);
        command.envs(variables.iter().copied());
        command
    }

    /// Runs `sesame ARGS` on this database.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        run_to_end(self.command(args, &[]), stdin)
    }

    /// Builds `sesame migrate` with `variables`, on PostgreSQL with the superuser as admin URL
    /// and the test's role as SESAME_DATABASE_USER.
    pub fn migrate_command(&self, variables: &[(&str, &str)]) -> Command {
        let mut command = self.admin_command(&["migrate"], variables);
        if let Some(role) = self.postgres_role() {
            command.env("SESAME_DATABASE_USER", role);
        }
        command
    }

    pub fn migrate(&self) -> CliOutput {
        run_to_end(self.migrate_command(&[]), None)
    }

    /// Returns the output of the first `sesame migrate` on this database: the harness's own run
    /// on PostgreSQL, or a run now on SQLite, whose file no command has created yet.
    pub fn first_migrate(&self) -> CliOutput {
        match &self.postgres {
            Some(postgres) => postgres.migrate_output.clone().expect("the harness ran migrate"),
            None => self.migrate(),
        }
    }

    /// Creates a user with `sesame create-user --password-stdin --json` and returns its user_id.
    pub fn create_user_with_password(&self, username: &str, password: &str) -> String {
        let output = self.run(
            &["create-user", "--username", username, "--password-stdin", "--json"],
            Some(&format!("{password}\n")),
        );
        let stdout = output.assert_success();
        let created: Value = serde_json::from_str(stdout).expect("create-user --json prints JSON");
        created["user_id"].as_str().expect("user_id is a string").to_string()
    }

    /// Creates a user with the password [`PASSWORD`] and returns its user_id.
    pub fn create_user(&self, username: &str) -> String {
        self.create_user_with_password(username, PASSWORD)
    }

    /// Creates a token with `sesame tokens create --json` and returns the token and its
    /// token_id.
    pub fn create_token(&self, username: &str) -> (String, String) {
        let output = self.run(&["tokens", "create", "--username", username, "--json"], None);
        let created: Value = serde_json::from_str(output.assert_success()).expect("tokens create --json prints JSON");
        let token = created["token"].as_str().expect("token is a string");
        let token_id = created["token_id"].as_str().expect("token_id is a string");
        (token.to_string(), token_id.to_string())
    }

    /// Sets a timestamp `column` of one token row to `value`, such as [`LONG_AGO`].
    pub fn set_token_time(&self, column: &str, token_id: &str, value: &str) {
        let changed = self.db().execute(&format!(
            "UPDATE tokens SET {column} = '{value}' WHERE token_id = '{token_id}'"
        ));
        assert_eq!(changed, 1, "token {token_id} not found");
    }

    /// Stores a failed login attempt for `username` made at `attempted_at`.
    pub fn insert_login_attempt(&self, username: &str, attempted_at: &str) {
        self.db().execute(&format!(
            "INSERT INTO login_attempts (username_digest, attempted_at) VALUES ('{}', '{attempted_at}')",
            sha256_hex(username)
        ));
    }

    /// Opens a direct connection to the database with full rights: the SQLite file, or the
    /// PostgreSQL superuser, which row-level security does not restrict.
    pub fn db(&self) -> Db {
        match &self.postgres {
            None => {
                let mut connection = SqliteConnection::establish(self.sqlite_path().to_str().expect("UTF-8 path"))
                    .expect("failed to open the SQLite file");
                diesel::sql_query("PRAGMA busy_timeout = 10000")
                    .execute(&mut connection)
                    .expect("busy_timeout");
                Db::Sqlite(connection)
            }
            Some(postgres) => Db::Postgres(connect_postgres(&postgres.name)),
        }
    }

    fn sqlite_path(&self) -> PathBuf {
        self.dir().join("sesame.db")
    }

    /// Returns everything stored for `table` as text, to search for secrets. On SQLite this is
    /// the whole database file and its write-ahead log, read as bytes, so it covers every
    /// table. On PostgreSQL it is each row of `table` in its text form.
    pub fn stored_text(&self, table: &str) -> String {
        match self.backend {
            Backend::Sqlite => {
                let mut bytes = std::fs::read(self.sqlite_path()).expect("failed to read the SQLite file");
                if let Ok(wal) = std::fs::read(self.dir().join("sesame.db-wal")) {
                    bytes.extend(wal);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Backend::Postgres => self
                .db()
                .strings(&format!("SELECT CAST(t AS TEXT) AS value FROM {table} t"))
                .join("\n"),
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let Some(postgres) = &self.postgres else { return };

        // Drop runs during a failed test too, so problems are reported, not raised.
        let mut server = match PgConnection::establish(&postgres_url(POSTGRES_SUPERUSER, "postgres")) {
            Ok(connection) => connection,
            Err(error) => {
                eprintln!("could not connect to drop database {}: {error}", postgres.name);
                return;
            }
        };
        let statements = [
            format!(
                "SELECT CAST(pg_terminate_backend(pid) AS TEXT) FROM pg_stat_activity \
                 WHERE datname = '{}' AND pid <> pg_backend_pid()",
                postgres.name
            ),
            format!("DROP DATABASE IF EXISTS {}", postgres.name),
            format!("DROP ROLE IF EXISTS {}", postgres.role),
        ];
        for statement in statements {
            if let Err(error) = diesel::sql_query(&statement).execute(&mut server) {
                eprintln!("cleanup statement failed: {statement}: {error}");
            }
        }
    }
}

fn postgres_url(user: &str, database: &str) -> String {
    format!("postgres://{user}@{POSTGRES_ADDRESS}/{database}")
}

/// Connects to `database` on the local PostgreSQL server as the superuser, or fails the test
/// with a message that names the missing server.
fn connect_postgres(database: &str) -> PgConnection {
    let url = format!("{}?connect_timeout=5", postgres_url(POSTGRES_SUPERUSER, database));
    PgConnection::establish(&url).unwrap_or_else(|error| {
        panic!(
            "PostgreSQL is not reachable at {POSTGRES_ADDRESS} as user {POSTGRES_SUPERUSER} ({error}); \
             the postgres tests need a local PostgreSQL server with trust authentication for that user"
        )
    })
}

fn execute_postgres(connection: &mut PgConnection, statement: &str) {
    diesel::sql_query(statement)
        .execute(connection)
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    value: String,
}

/// A direct connection to a test's database, for checking and changing stored rows. The SQL
/// must run on both backends unless the test is for one of them.
pub enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Db {
    /// Runs a statement and returns the number of rows it changed.
    pub fn execute(&mut self, statement: &str) -> usize {
        let result = match self {
            Db::Sqlite(connection) => diesel::sql_query(statement).execute(connection),
            Db::Postgres(connection) => diesel::sql_query(statement).execute(connection),
        };
        result.unwrap_or_else(|error| panic!("{statement}: {error}"))
    }

    /// Runs a query whose one column is a non-null text named `value`, and returns the values.
    pub fn strings(&mut self, query: &str) -> Vec<String> {
        let rows: QueryResult<Vec<TextRow>> = match self {
            Db::Sqlite(connection) => diesel::sql_query(query).load(connection),
            Db::Postgres(connection) => diesel::sql_query(query).load(connection),
        };
        let rows = rows.unwrap_or_else(|error| panic!("{query}: {error}"));
        rows.into_iter().map(|row| row.value).collect()
    }

    /// Returns the one value of a query whose one column is a text named `value`.
    pub fn string(&mut self, query: &str) -> String {
        let mut values = self.strings(query);
        assert_eq!(values.len(), 1, "expected one row from: {query}");
        values.remove(0)
    }

    /// Counts the rows of `from`, a table name with an optional WHERE clause.
    pub fn count(&mut self, from: &str) -> i64 {
        let count = self.string(&format!("SELECT CAST(COUNT(*) AS TEXT) AS value FROM {from}"));
        count.parse().expect("COUNT(*) is an integer")
    }
}

/// Status, headers and body of one HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// Parses the body as JSON, failing the test with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|error| panic!("status {}: body is not JSON ({error}): {}", self.status, self.text))
    }

    /// Returns a header's value, or None when it is missing or not text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts the status and the whole JSON body.
    pub fn assert(&self, status: u16, body: Value) {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert_eq!(self.json(), body, "body");
    }

    /// Asserts the status and the body `{"detail": DETAIL}`.
    pub fn assert_detail(&self, status: u16, detail: &str) {
        self.assert(status, json!({ "detail": detail }));
    }

    /// Asserts the status and the body `{"detail": DETAIL}`, naming `case` in the failure
    /// messages, for tests that loop over a table of cases.
    pub fn assert_case(&self, case: &str, status: u16, detail: &str) {
        assert_eq!(self.status, status, "{case}: {}", self.text);
        assert_eq!(self.json(), json!({ "detail": detail }), "{case}");
    }

    /// Asserts 401 with `WWW-Authenticate: Bearer` and the invalid-token body.
    pub fn assert_invalid_token(&self) {
        self.assert_detail(401, "Invalid or revoked authentication token");
        assert_eq!(self.header("www-authenticate"), Some("Bearer"), "WWW-Authenticate");
    }

    /// Asserts a 429 whose `Retry-After` is a whole number of seconds from 1 to `window_secs`,
    /// with the same number in the message.
    pub fn assert_rate_limited(&self, window_secs: u64) {
        assert_eq!(self.status, 429, "{}", self.text);
        let retry_after: u64 = self
            .header("retry-after")
            .expect("Retry-After is set")
            .parse()
            .expect("Retry-After is a whole number of seconds");
        assert!(retry_after > 0, "Retry-After {retry_after}");
        assert!(
            retry_after <= window_secs,
            "Retry-After {retry_after} exceeds the window"
        );
        let detail = format!("Too many failed login attempts; try again in {retry_after} seconds");
        assert_eq!(self.json(), json!({ "detail": detail }));
    }
}

/// A `sesame run` server on a free port of 127.0.0.1, with its own database. Dropping it kills
/// the server, then removes the database.
pub struct TestApp {
    child: Child,
    pub url: String,
    client: Client,
    stderr_path: PathBuf,
    // Declared last so that it is dropped after the server has stopped.
    pub env: TestEnv,
}

impl TestApp {
    /// Starts a server with the default settings.
    pub fn start(backend: Backend) -> TestApp {
        TestApp::start_with(backend, &[])
    }

    /// Starts a server with extra SESAME_* `settings` in its environment.
    pub fn start_with(backend: Backend, settings: &[(&str, &str)]) -> TestApp {
        TestApp::start_in(TestEnv::new(backend), settings)
    }

    /// Starts a server on an existing test database.
    pub fn start_in(env: TestEnv, settings: &[(&str, &str)]) -> TestApp {
        let stderr_path = env.dir().join("server-stderr.log");
        let (child, url) = spawn_server(env.command(&["run", "--port", "0"], settings), &stderr_path);
        TestApp {
            child,
            url,
            client: http_client(),
            stderr_path,
            env,
        }
    }

    /// Returns what the server has written to stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).expect("failed to read the server log")
    }

    /// Returns a shared HTTP client, for tests that send requests from several threads.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Starts a request to `path` on this server; finish it with [`TestApp::send`].
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    pub fn send(&self, request: RequestBuilder) -> Reply {
        send(request)
    }

    /// Sends a request with `Authorization: Bearer TOKEN` and an optional JSON body.
    pub fn call(&self, method: Method, path: &str, token: &str, body: Option<&Value>) -> Reply {
        let mut request = self.request(method, path).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request)
    }

    pub fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, token, None)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, token, Some(body))
    }

    pub fn put(&self, path: &str, token: &str, body: &Value) -> Reply {
        self.call(Method::PUT, path, token, Some(body))
    }

    pub fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, token, None)
    }

    /// Sends a JSON body without an `Authorization` header.
    pub fn post_public(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body))
    }

    /// `POST /api/users/create_token` with a username and password.
    pub fn login(&self, username: &str, password: &str) -> Reply {
        self.post_public(
            "/api/users/create_token",
            &json!({ "username": username, "password": password }),
        )
    }

    /// Logs in and returns the new token, failing the test unless the login succeeds.
    pub fn token_for(&self, username: &str, password: &str) -> String {
        let reply = self.login(username, password);
        assert_eq!(reply.status, 200, "login failed: {}", reply.text);
        reply.json()["token"].as_str().expect("token is a string").to_string()
    }

    /// Logs in with [`PASSWORD`] and returns the new token.
    pub fn token(&self, username: &str) -> String {
        self.token_for(username, PASSWORD)
    }

    /// Creates a user with [`PASSWORD`] and returns its user_id and a token.
    pub fn user_with_token(&self, username: &str) -> (String, String) {
        let user_id = self.env.create_user(username);
        (user_id, self.token(username))
    }

    /// `POST /api/users/revoke_token`; revokes `token`, or every token when it is None.
    pub fn revoke(&self, username: &str, password: &str, token: Option<&str>) -> Reply {
        let mut body = json!({ "user": { "username": username, "password": password } });
        if let Some(token) = token {
            body["token"] = json!(token);
        }
        self.post_public("/api/users/revoke_token", &body)
    }

    /// Creates a workspace, failing the test unless the server responds 201, and returns it.
    pub fn create_workspace(&self, token: &str, body: &Value) -> Value {
        let reply = self.post("/api/workspaces", token, body);
        assert_eq!(reply.status, 201, "workspace not created: {}", reply.text);
        reply.json()
    }

    /// Returns the status of an authenticated request that any valid token may make.
    pub fn token_status(&self, token: &str) -> u16 {
        self.get("/api/workspaces", token).status
    }

    /// Sends SIGTERM to the server with the `kill` command, as a service manager would.
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("failed to run kill");
        assert!(status.success(), "kill -TERM {pid} failed: {status}");
    }

    /// Waits up to `timeout` for the server to exit and returns its status, or None when it
    /// is still running.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        try_wait_for(&mut self.child, timeout)
    }
}

/// Spawns a prepared `sesame run --port 0` command with its stderr appended to `stderr_path`,
/// and waits up to [`SERVER_START_TIMEOUT`] for the URL it prints. Returns the process and the
/// URL. When no URL comes, it kills the process and fails the test with the log.
pub fn spawn_server(mut command: Command, stderr_path: &Path) -> (Child, String) {
    let stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_path)
        .expect("failed to open the server log file");
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
    let mut child = command.spawn().expect("failed to start sesame run");

    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep reading after the URL so the server never blocks on a full pipe.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("Open Sesame is running at ") {
                let _ = sender.send(url.to_string());
            }
        }
    });

    match receiver.recv_timeout(SERVER_START_TIMEOUT) {
        Ok(url) if url.starts_with("http://127.0.0.1:") => (child, url),
        outcome => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(stderr_path).unwrap_or_default();
            match outcome {
                Ok(url) => panic!("unexpected server URL {url}"),
                Err(_) => panic!("sesame run did not print its URL; its log:\n{log}"),
            }
        }
    }
}

/// Builds an HTTP client with its own connection pool, which ignores proxy settings.
pub fn http_client() -> Client {
    Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .no_proxy()
        .build()
        .expect("failed to build the HTTP client")
}

/// Calls `condition` every [`POLL_INTERVAL`] until it returns true or `timeout` has passed.
/// Returns whether it returned true.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses an RFC 3339 UTC timestamp with a `Z` suffix, failing the test otherwise.
pub fn parse_utc(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().expect("a timestamp is a string");
    assert!(text.ends_with('Z'), "{text} is not UTC with a Z suffix");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text} is not RFC 3339: {error}"))
        .with_timezone(&Utc)
}

/// Sends a request and reads the whole response, failing the test on a transport error.
pub fn send(request: RequestBuilder) -> Reply {
    let response = request.send().unwrap_or_else(|error| panic!("request failed: {error}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().expect("failed to read the response body");
    Reply { status, headers, text }
}

/// Helpers for the commands that work across users (`users list`, `users delete`,
/// `import-users`), which on PostgreSQL need a role that row-level security does not confine
/// to one user.
impl TestEnv {
    /// Returns the SESAME_DATABASE_ADMIN_URL for this database: the PostgreSQL superuser on the
    /// test's database, or on SQLite the same file as [`TestEnv::database_url`].
    pub fn admin_url(&self) -> String {
        match &self.postgres {
            Some(postgres) => postgres_url(POSTGRES_SUPERUSER, &postgres.name),
            None => self.database_url.clone(),
        }
    }

    /// Builds a `sesame` command like [`TestEnv::command`] with SESAME_DATABASE_ADMIN_URL set
    /// to [`TestEnv::admin_url`].
    pub fn admin_command(&self, args: &[&str], variables: &[(&str, &str)]) -> Command {
        let mut command = self.command(args, variables);
        command.env("SESAME_DATABASE_ADMIN_URL", self.admin_url());
        command
    }

    /// Runs `sesame ARGS` with the admin URL set.
    pub fn run_admin(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        run_to_end(self.admin_command(args, &[]), stdin)
    }
}
