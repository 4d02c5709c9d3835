//! Faults on the embedded SQLite database: a server or an import killed with SIGKILL in the
//! middle of writes, a read-only database file or directory, and a full disk. Each test checks
//! what the process reports and that the file keeps every acknowledged row and no partial one.
//!
//! The tests need root, as CI has: `chattr +i` makes a file read-only even for root, and
//! `mount` provides a read-only directory and a small file system to fill.

// This file runs on SQLite only, so it does not use the backend_tests! macro.
#[allow(unused_macros, unused_imports)]
mod common;

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    http_client, run_with_timeout, send, sesame_command, sha256_hex, spawn_server, wait_or_kill, wait_until, Backend,
    CliOutput, Reply, TestEnv, PASSWORD,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::SqliteConnection;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde_json::{json, Value};

/// Maximum time for one command, or for a process to exit after a signal.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(60);

/// Maximum time to wait for the writers to reach the counts below, or for an import to start
/// inserting its second batch.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Body of every 503 the API sends while the database cannot be used.
const UNAVAILABLE: &str = "Database unavailable; try again shortly";

/// Signal number of SIGKILL on Linux.
const SIGKILL: i32 = 9;

/// A `sesame run` process on a database that outlives it, so that a test can kill the server
/// and start another on the same file. Dropping it kills the process.
struct Server {
    child: Child,
    url: String,
    client: Client,
}

impl Server {
    /// Starts a prepared `sesame run --port 0` command, logging to `log`.
    fn start(command: Command, log: &Path) -> Server {
        let (child, url) = spawn_server(command, log);
        Server {
            child,
            url,
            client: http_client(),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    fn login(&self, username: &str) -> Reply {
        let body = json!({ "username": username, "password": PASSWORD });
        send(self.request(Method::POST, "/api/users/create_token").json(&body))
    }

    /// Logs in, failing the test unless the server responds 200, and returns the token.
    fn token(&self, username: &str) -> String {
        let reply = self.login(username);
        assert_eq!(reply.status, 200, "login of {username}: {}", reply.text);
        reply.json()["token"].as_str().expect("token is a string").to_string()
    }

    fn create_workspace(&self, token: &str, body: &Value) -> Reply {
        send(
            self.request(Method::POST, "/api/workspaces")
                .bearer_auth(token)
                .json(body),
        )
    }

    fn list_workspaces(&self, token: &str) -> Reply {
        send(self.request(Method::GET, "/api/workspaces").bearer_auth(token))
    }

    fn get(&self, path: &str) -> Reply {
        send(self.request(Method::GET, path))
    }

    fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("failed to check the server process")
            .is_none()
    }

    /// Kills the server with SIGKILL and returns its exit status.
    fn kill(&mut self) -> ExitStatus {
        self.child.kill().expect("failed to send SIGKILL to the server");
        wait_for_exit(&mut self.child)
    }

    /// Stops the server with SIGTERM, as a service manager would, and returns its exit status.
    fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        run_tool("kill", &["-TERM", &pid]);
        wait_for_exit(&mut self.child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to [`PROCESS_TIMEOUT`] for `child` to exit and returns its status, or kills it and
/// fails the test.
fn wait_for_exit(child: &mut Child) -> ExitStatus {
    let description = format!("process {}", child.id());
    wait_or_kill(child, PROCESS_TIMEOUT, &description)
}

/// Runs a system tool such as `mount` or `chattr`, failing the test unless it succeeds.
fn run_tool(program: &str, args: &[&str]) {
    let mut command = Command::new(program);
    command.args(args);
    let output = run_with_timeout(command, None, PROCESS_TIMEOUT);
    assert_eq!(output.code, 0, "{program} {args:?} failed: {}", output.stderr);
}

/// Runs `sesame ARGS` with `SESAME_DATABASE_URL` set to `database_url`, in `dir`.
fn run_sesame(dir: &Path, database_url: &str, args: &[&str], stdin: Option<&str>) -> CliOutput {
    let command = sesame_command(dir, args, &[("SESAME_DATABASE_URL", database_url)]);
    run_with_timeout(command, stdin, PROCESS_TIMEOUT)
}

fn create_user(dir: &Path, database_url: &str, username: &str) -> CliOutput {
    let stdin = format!("{PASSWORD}\n");
    run_sesame(
        dir,
        database_url,
        &["create-user", "--username", username, "--password-stdin", "--json"],
        Some(&stdin),
    )
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn open_sqlite(path: &Path) -> SqliteConnection {
    let mut connection =
        SqliteConnection::establish(path.to_str().expect("UTF-8 path")).expect("failed to open the SQLite file");
    connection
        .batch_execute("PRAGMA busy_timeout = 10000")
        .expect("busy_timeout");
    connection
}

#[derive(QueryableByName)]
struct TextValue {
    #[diesel(sql_type = diesel::sql_types::Text)]
    value: String,
}

/// Runs a query whose one column is a text named `value`, and returns the values.
fn strings(connection: &mut SqliteConnection, query: &str) -> Vec<String> {
    let rows: Vec<TextValue> = diesel::sql_query(query)
        .load(connection)
        .unwrap_or_else(|error| panic!("{query}: {error}"));
    rows.into_iter().map(|row| row.value).collect()
}

fn count(connection: &mut SqliteConnection, from: &str) -> usize {
    let values = strings(
        connection,
        &format!("SELECT CAST(COUNT(*) AS TEXT) AS value FROM {from}"),
    );
    values[0].parse().expect("COUNT(*) is an integer")
}

/// Returns the lines of `PRAGMA integrity_check`, which is `["ok"]` for an intact file.
fn integrity_check(connection: &mut SqliteConnection) -> Vec<String> {
    strings(
        connection,
        "SELECT integrity_check AS value FROM pragma_integrity_check()",
    )
}

/// Returns the values of `acknowledged` that are not in `stored`.
fn missing<'a>(acknowledged: &'a [String], stored: &HashSet<String>) -> Vec<&'a str> {
    acknowledged
        .iter()
        .map(String::as_str)
        .filter(|value| !stored.contains(*value))
        .collect()
}

/// Rows whose write a client saw succeed, and responses or exit codes that were neither a
/// success nor a refused connection.
#[derive(Default)]
struct Acknowledged {
    workspace_ids: Mutex<Vec<String>>,
    tokens: Mutex<Vec<String>>,
    user_ids: Mutex<Vec<String>>,
    unexpected: Mutex<Vec<String>>,
}

impl Acknowledged {
    fn counts(&self) -> (usize, usize, usize) {
        (
            self.workspace_ids.lock().unwrap().len(),
            self.tokens.lock().unwrap().len(),
            self.user_ids.lock().unwrap().len(),
        )
    }
}

/// Threads that create workspaces over HTTP, each as its own user.
const WORKSPACE_WRITERS: usize = 4;

/// Threads that log in over HTTP, each minting tokens for its own user.
const LOGIN_WRITERS: usize = 2;

/// Threads that run `sesame create-user` one process after another.
const CLI_WRITERS: usize = 2;

/// Acknowledged writes of each kind to wait for before the kill, so that it lands while every
/// kind of writer is busy.
const KILL_AFTER_WORKSPACES: usize = 100;
const KILL_AFTER_TOKENS: usize = 8;
const KILL_AFTER_CLI_USERS: usize = 4;

/// Sends the requests that `build` makes, numbered from 0, until the server stops responding.
/// Each response body with status `expected` goes to `record`, and any other response is
/// recorded as unexpected under `label`. A response cut off by the kill counts as not
/// acknowledged.
fn send_until_killed(
    label: &str,
    build: impl Fn(usize) -> RequestBuilder,
    expected: u16,
    record: impl Fn(Value),
    acknowledged: &Acknowledged,
) {
    for index in 0.. {
        let Ok(response) = build(index).send() else { return };
        let status = response.status().as_u16();
        let Ok(text) = response.text() else { return };

        if status != expected {
            acknowledged
                .unexpected
                .lock()
                .unwrap()
                .push(format!("{label}: {status} {text}"));
            continue;
        }
        let Ok(body) = serde_json::from_str::<Value>(&text) else {
            return;
        };
        record(body);
    }
}

/// Creates workspaces until the server stops responding.
fn write_workspaces(server_url: &str, token: &str, writer: usize, acknowledged: &Acknowledged) {
    let client = http_client();
    let build = |index: usize| {
        let body = json!({ "title": format!("writer {writer} workspace {index}"), "config": { "index": index } });
        client
            .post(format!("{server_url}/api/workspaces"))
            .bearer_auth(token)
            .json(&body)
    };
    let record = |workspace: Value| {
        let workspace_id = workspace["workspace_id"].as_str().expect("workspace_id is a string");
        acknowledged
            .workspace_ids
            .lock()
            .unwrap()
            .push(workspace_id.to_string());
    };
    send_until_killed("POST /api/workspaces", build, 201, record, acknowledged);
}

/// Logs in as `username` until the server stops responding.
fn write_tokens(server_url: &str, username: &str, acknowledged: &Acknowledged) {
    let client = http_client();
    let build = |_| {
        let body = json!({ "username": username, "password": PASSWORD });
        client.post(format!("{server_url}/api/users/create_token")).json(&body)
    };
    let record = |reply: Value| {
        let token = reply["token"].as_str().expect("token is a string");
        acknowledged.tokens.lock().unwrap().push(token.to_string());
    };
    send_until_killed("POST /api/users/create_token", build, 200, record, acknowledged);
}

/// Creates users with `sesame create-user` processes until `stop` is set.
fn write_users(env: &TestEnv, writer: usize, stop: &AtomicBool, acknowledged: &Acknowledged) {
    for index in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let username = format!("cli-{writer}-{index}");
        let command = env.command(
            &["create-user", "--username", &username, "--password-stdin", "--json"],
            &[],
        );
        let output = run_with_timeout(command, Some(&format!("{PASSWORD}\n")), PROCESS_TIMEOUT);

        if output.code != 0 {
            acknowledged
                .unexpected
                .lock()
                .unwrap()
                .push(format!("create-user {username}: {}", output.stderr));
            continue;
        }
        let created: Value = serde_json::from_str(&output.stdout).expect("create-user --json prints JSON");
        let user_id = created["user_id"].as_str().expect("user_id is a string");
        acknowledged.user_ids.lock().unwrap().push(user_id.to_string());
    }
}

#[test]
fn sigkill_mid_writes_keeps_acknowledged_rows() {
    let env = TestEnv::new(Backend::Sqlite);
    let log = env.dir().join("server-stderr.log");
    let workspace_users: Vec<String> = (0..WORKSPACE_WRITERS)
        .map(|writer| format!("workspaces-{writer}"))
        .collect();
    let login_users: Vec<String> = (0..LOGIN_WRITERS).map(|writer| format!("logins-{writer}")).collect();
    for username in workspace_users.iter().chain(&login_users) {
        create_user(env.dir(), env.database_url(), username).assert_success();
    }

    let mut server = Server::start(env.command(&["run", "--port", "0"], &[]), &log);
    let tokens: Vec<String> = workspace_users.iter().map(|username| server.token(username)).collect();
    let acknowledged = Acknowledged::default();
    let stop = AtomicBool::new(false);

    let url = server.url.clone();

    let status = thread::scope(|scope| {
        for (writer, token) in tokens.iter().enumerate() {
            let (url, acknowledged) = (&url, &acknowledged);
            scope.spawn(move || write_workspaces(url, token, writer, acknowledged));
        }
        for username in &login_users {
            let (url, acknowledged) = (&url, &acknowledged);
            scope.spawn(move || write_tokens(url, username, acknowledged));
        }
        for writer in 0..CLI_WRITERS {
            let (env, stop, acknowledged) = (&env, &stop, &acknowledged);
            scope.spawn(move || write_users(env, writer, stop, acknowledged));
        }

        let busy = wait_until(WRITE_TIMEOUT, || {
            let (workspaces, tokens, users) = acknowledged.counts();
            workspaces >= KILL_AFTER_WORKSPACES && tokens >= KILL_AFTER_TOKENS && users >= KILL_AFTER_CLI_USERS
        });
        let status = server.kill();
        stop.store(true, Ordering::SeqCst);
        assert!(
            busy,
            "the writers did not reach the counts in time: {:?}",
            acknowledged.counts()
        );
        status
    });

    assert_eq!(status.signal(), Some(SIGKILL), "the server's exit: {status}");
    assert_eq!(
        *acknowledged.unexpected.lock().unwrap(),
        Vec::<String>::new(),
        "responses before the kill"
    );

    let restarted = Server::start(env.command(&["run", "--port", "0"], &[]), &log);
    let database = env.dir().join("sesame.db");
    let mut connection = open_sqlite(&database);

    assert_eq!(integrity_check(&mut connection), vec!["ok".to_string()]);
    assert_eq!(
        count(&mut connection, "pragma_foreign_key_check()"),
        0,
        "foreign key violations"
    );
    assert_eq!(
        count(
            &mut connection,
            "tokens WHERE user_id NOT IN (SELECT user_id FROM users)"
        ),
        0,
        "orphan tokens"
    );
    assert_eq!(
        count(
            &mut connection,
            "workspaces WHERE user_id NOT IN (SELECT user_id FROM users)"
        ),
        0,
        "orphan workspaces"
    );
    assert_eq!(
        count(&mut connection, "users WHERE password_hash NOT LIKE '$argon2id$%'"),
        0,
        "users without a hash"
    );

    let workspace_ids: HashSet<String> = strings(&mut connection, "SELECT workspace_id AS value FROM workspaces")
        .into_iter()
        .collect();
    let token_hashes: HashSet<String> = strings(&mut connection, "SELECT token_hash AS value FROM tokens")
        .into_iter()
        .collect();
    let user_ids: HashSet<String> = strings(&mut connection, "SELECT user_id AS value FROM users")
        .into_iter()
        .collect();
    let acknowledged_hashes: Vec<String> = acknowledged
        .tokens
        .lock()
        .unwrap()
        .iter()
        .map(|token| sha256_hex(token))
        .collect();
    assert_eq!(
        missing(&acknowledged.workspace_ids.lock().unwrap(), &workspace_ids),
        Vec::<&str>::new(),
        "workspaces"
    );
    assert_eq!(
        missing(&acknowledged_hashes, &token_hashes),
        Vec::<&str>::new(),
        "tokens"
    );
    assert_eq!(
        missing(&acknowledged.user_ids.lock().unwrap(), &user_ids),
        Vec::<&str>::new(),
        "users"
    );

    assert_eq!(
        restarted.list_workspaces(&tokens[0]).status,
        200,
        "list with a token from before the kill"
    );
    assert_eq!(
        restarted
            .create_workspace(&tokens[0], &json!({ "title": "after the kill" }))
            .status,
        201
    );
    assert_eq!(restarted.login(&login_users[0]).status, 200, "login after the kill");
    restarted.get("/readyz").assert(200, json!({ "status": "ok" }));
}

/// Users that `import-users` hashes and inserts in one transaction (`BATCH_SIZE` in
/// src/cli/import_users/mod.rs).
const IMPORT_BATCH_SIZE: usize = 500;

/// Rows of the import file: three batches, so that the import is still running when the
/// second batch is inserted.
const IMPORT_ROWS: usize = 3 * IMPORT_BATCH_SIZE;

/// Pause between two looks at the database while the import hashes.
const PROBE_INTERVAL: Duration = Duration::from_millis(1);

/// Tries to take SQLite's write lock without waiting. Returns true when another connection
/// holds it, and releases the lock at once otherwise.
fn write_lock_held_elsewhere(probe: &mut SqliteConnection) -> bool {
    match probe.batch_execute("BEGIN IMMEDIATE") {
        Ok(()) => {
            probe
                .batch_execute("ROLLBACK")
                .expect("rollback of the probe transaction");
            false
        }
        Err(error) => {
            assert_eq!(error.to_string(), "database is locked", "probe of the write lock");
            true
        }
    }
}

#[test]
fn sigkill_mid_import_keeps_whole_batches() {
    let env = TestEnv::new(Backend::Sqlite);
    let migrated = run_with_timeout(env.migrate_command(&[]), None, PROCESS_TIMEOUT);
    migrated.assert_success();
    let usernames: Vec<String> = (0..IMPORT_ROWS).map(|row| format!("imported-{row:04}")).collect();
    let mut csv = String::from("username,password\n");
    for username in &usernames {
        csv.push_str(&format!("{username},{PASSWORD}\n"));
    }
    std::fs::write(env.dir().join("users.csv"), csv).expect("failed to write the import file");

    let database = env.dir().join("sesame.db");
    let mut probe = open_sqlite(&database);
    probe.batch_execute("PRAGMA busy_timeout = 0").expect("busy_timeout");

    let mut import = env
        .admin_command(&["import-users", "users.csv"], &[])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("failed to start import-users");
    let started = Instant::now();

    // Once the first batch is stored, the import takes the write lock again only for the
    // second batch's transaction, so a kill while the lock is held lands inside that insert.
    let mut second_insert_seen = false;
    while started.elapsed() < WRITE_TIMEOUT {
        if let Some(status) = import.try_wait().expect("failed to check the import") {
            panic!("import-users exited before it was killed: {status}");
        }
        if count(&mut probe, "users") >= IMPORT_BATCH_SIZE && write_lock_held_elsewhere(&mut probe) {
            second_insert_seen = true;
            break;
        }
        thread::sleep(PROBE_INTERVAL);
    }
    import.kill().expect("failed to send SIGKILL to import-users");
    let status = wait_for_exit(&mut import);
    assert!(
        second_insert_seen,
        "import-users did not start its second insert within {WRITE_TIMEOUT:?}"
    );
    assert_eq!(status.signal(), Some(SIGKILL), "the import's exit: {status}");
    drop(probe);

    let mut connection = open_sqlite(&database);
    assert_eq!(integrity_check(&mut connection), vec!["ok".to_string()]);
    assert_eq!(
        count(&mut connection, "users WHERE password_hash NOT LIKE '$argon2id$%'"),
        0,
        "users without a hash"
    );

    let mut stored = strings(&mut connection, "SELECT username AS value FROM users");
    stored.sort();
    assert_eq!(
        stored.len() % IMPORT_BATCH_SIZE,
        0,
        "{} users is not a whole number of batches",
        stored.len()
    );
    assert!(
        stored.len() >= IMPORT_BATCH_SIZE,
        "the first batch, stored before the kill, is lost"
    );
    assert!(stored.len() < IMPORT_ROWS, "the kill came after the last batch");
    assert_eq!(
        stored,
        usernames[..stored.len()],
        "the stored users are the first rows of the file"
    );

    let created = create_user(env.dir(), env.database_url(), "after-the-kill");
    created.assert_success();
}

/// A file with the immutable attribute (`chattr +i`), which no process can write, root
/// included. Dropping it clears the attribute, so that the file can be deleted.
struct Immutable {
    path: PathBuf,
}

impl Immutable {
    fn set(path: &Path) -> Immutable {
        run_tool("chattr", &["+i", path.to_str().expect("UTF-8 path")]);
        Immutable {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let path = self.path.to_str().expect("UTF-8 path");
        match Command::new("chattr").args(["-i", path]).status() {
            Ok(status) if status.success() => {}
            outcome => eprintln!("chattr -i {path} failed: {outcome:?}"),
        }
    }
}

#[test]
fn immutable_file_rejects_writes_serves_reads() {
    let env = TestEnv::new(Backend::Sqlite);
    let log = env.dir().join("server-stderr.log");
    create_user(env.dir(), env.database_url(), "alice").assert_success();
    let mut server = Server::start(env.command(&["run", "--port", "0"], &[]), &log);
    let token = server.token("alice");
    assert_eq!(
        server
            .create_workspace(&token, &json!({ "title": "stored before" }))
            .status,
        201
    );
    // A clean stop checkpoints the write-ahead log into the file and deletes it.
    assert_eq!(server.terminate().code(), Some(0), "the first server's exit");

    let database = env.dir().join("sesame.db");
    let _immutable = Immutable::set(&database);

    let created = run_with_timeout(
        env.command(&["create-user", "--username", "bob", "--password-stdin"], &[]),
        Some(&format!("{PASSWORD}\n")),
        PROCESS_TIMEOUT,
    );
    created.assert_error(
        1,
        "failed to create the user: database unavailable: attempt to write a readonly database; check that the SQLite \
         file and its directory are writable, not immutable (chattr) and not on a read-only mount",
    );
    let listed = run_with_timeout(env.command(&["users", "list", "--json"], &[]), None, PROCESS_TIMEOUT);
    let users: Value = serde_json::from_str(listed.assert_success()).expect("users list --json prints JSON");
    assert_eq!(
        users.as_array().map(Vec::len),
        Some(1),
        "users listed from the read-only file"
    );

    // The server starts: its migrations are applied already, so start-up writes nothing.
    let mut server = Server::start(env.command(&["run", "--port", "0"], &[]), &log);
    let login = server.login("alice");
    login.assert_detail(503, UNAVAILABLE);
    assert_eq!(login.header("retry-after"), Some("5"), "Retry-After of the login");
    server
        .create_workspace(&token, &json!({ "title": "rejected" }))
        .assert_detail(503, UNAVAILABLE);

    let listed = server.list_workspaces(&token);
    assert_eq!(listed.status, 200, "list: {}", listed.text);
    assert_eq!(listed.json()[0]["title"], "stored before");
    server.get("/readyz").assert(200, json!({ "status": "ok" }));
    assert!(server.is_running(), "the server exited");
    assert!(std::fs::read_to_string(&log)
        .expect("server log")
        .contains("attempt to write a readonly database"));
}

/// A mount made for one test, unmounted on drop.
struct Mount {
    target: PathBuf,
}

impl Mount {
    /// Mounts a tmpfs of `size` (in mount's notation, such as `2m`) on `target`.
    fn tmpfs(target: &Path, size: &str) -> Mount {
        let path = target.to_str().expect("UTF-8 path");
        run_tool("mount", &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", path]);
        Mount {
            target: target.to_path_buf(),
        }
    }

    /// Makes `target` a read-only view of itself with a bind mount.
    fn read_only(target: &Path) -> Mount {
        let path = target.to_str().expect("UTF-8 path");
        run_tool("mount", &["--bind", path, path]);
        let mount = Mount {
            target: target.to_path_buf(),
        };
        run_tool("mount", &["-o", "remount,ro,bind", path, path]);
        mount
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let path = self.target.to_str().expect("UTF-8 path");
        match Command::new("umount").arg(path).status() {
            Ok(status) if status.success() => {}
            outcome => eprintln!("umount {path} failed: {outcome:?}"),
        }
    }
}

#[test]
fn read_only_directory_fails_at_open() {
    let root = tempfile::tempdir().expect("failed to create a temporary directory");
    let data = root.path().join("data");
    std::fs::create_dir(&data).expect("failed to create the data directory");
    let database = data.join("sesame.db");
    let url = sqlite_url(&database);
    create_user(root.path(), &url, "alice").assert_success();
    assert!(
        !data.join("sesame.db-wal").exists(),
        "create-user left its write-ahead log behind"
    );

    let _read_only = Mount::read_only(&data);
    let message = format!(
        "failed to open the database {url}: database unavailable: unable to open database file {}: directory {} is not \
         writable (Read-only file system (os error 30)), but SQLite must create the database's -wal and -shm files \
         there; make the directory writable or move the database",
        database.display(),
        data.display(),
    );

    create_user(root.path(), &url, "bob").assert_case("create-user", 1, &message);
    run_sesame(root.path(), &url, &["users", "list"], None).assert_case("users list", 1, &message);

    let served = run_sesame(root.path(), &url, &["run", "--port", "0"], None);
    assert_eq!(served.code, 1, "run: exit code; stderr: {}", served.stderr);
    assert_eq!(served.stdout, "", "run: stdout");
    let lines: Vec<&str> = served.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "run: stderr {}", served.stderr);
    assert!(
        lines[0].contains(" INFO starting database="),
        "run: first line {}",
        lines[0]
    );
    assert_eq!(lines[1], format!("error: {message}"), "run: last line");
}

/// Size of the file system that the full-disk test fills.
const SMALL_DISK: &str = "2m";

/// Bytes written per call while filling the disk.
const FILL_CHUNK: usize = 64 * 1024;

/// Writes zeros to `path` until the file system is full.
fn fill_disk(path: &Path) {
    let mut filler = File::create(path).expect("failed to create the filler file");
    let chunk = vec![0u8; FILL_CHUNK];
    let error = loop {
        if let Err(error) = filler.write_all(&chunk) {
            break error;
        }
    };
    assert_eq!(
        error.kind(),
        std::io::ErrorKind::StorageFull,
        "filling the disk: {error}"
    );
}

#[test]
fn full_disk_gives_503_then_recovers() {
    let root = tempfile::tempdir().expect("failed to create a temporary directory");
    let disk = root.path().join("disk");
    std::fs::create_dir(&disk).expect("failed to create the mount point");
    let _mount = Mount::tmpfs(&disk, SMALL_DISK);
    let database = disk.join("sesame.db");
    let url = sqlite_url(&database);
    create_user(root.path(), &url, "alice").assert_success();

    let log = root.path().join("server-stderr.log");
    let mut server = Server::start(
        sesame_command(root.path(), &["run", "--port", "0"], &[("SESAME_DATABASE_URL", &url)]),
        &log,
    );
    let token = server.token("alice");
    assert_eq!(
        server
            .create_workspace(&token, &json!({ "title": "stored before" }))
            .status,
        201
    );

    let filler = disk.join("filler");
    fill_disk(&filler);

    // A config larger than the write-ahead log so far, so the write must take new space.
    let large = json!({ "title": "large", "config": { "text": "x".repeat(256 * 1024) } });
    let rejected = server.create_workspace(&token, &large);
    rejected.assert_detail(503, UNAVAILABLE);
    assert_eq!(rejected.header("retry-after"), Some("5"), "Retry-After of the write");
    server
        .create_workspace(&token, &json!({ "title": "small" }))
        .assert_detail(503, UNAVAILABLE);
    server.login("alice").assert_detail(503, UNAVAILABLE);
    let created = create_user(root.path(), &url, "bob");
    created.assert_error(
        1,
        "failed to create the user: database unavailable: database or disk is full; free space on the file system that \
         holds the SQLite file",
    );

    let listed = server.list_workspaces(&token);
    assert_eq!(listed.status, 200, "list on a full disk: {}", listed.text);
    assert_eq!(
        listed.json().as_array().map(Vec::len),
        Some(1),
        "workspaces on a full disk"
    );
    server.get("/readyz").assert(200, json!({ "status": "ok" }));
    assert!(server.is_running(), "the server exited");

    std::fs::remove_file(&filler).expect("failed to remove the filler file");
    assert_eq!(
        server
            .create_workspace(&token, &json!({ "title": "stored after" }))
            .status,
        201,
        "write after freeing space"
    );
    assert_eq!(
        server.list_workspaces(&token).json().as_array().map(Vec::len),
        Some(2),
        "workspaces after freeing space"
    );
    assert_eq!(integrity_check(&mut open_sqlite(&database)), vec!["ok".to_string()]);
}
