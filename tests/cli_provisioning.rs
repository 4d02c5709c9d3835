//! Scripted provisioning through the real binary: `users list|delete|set-password`,
//! `tokens list|create`, `import-users`, `completions` and the example provisioning script,
//! on SQLite and PostgreSQL.
//!
//! Commands that work across users run with SESAME_DATABASE_ADMIN_URL
//! ([`TestEnv::run_admin`]); on PostgreSQL that is the superuser, and one test uses a
//! non-superuser owner instead. Tests that need a terminal run the binary under `script`
//! (util-linux), which gives it a pseudo-terminal.

mod common;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::PgConnection;
use rand::Rng;
use serde_json::{json, Value};

use common::{
    backend_tests, is_token_shaped, is_user_id, run_to_end, sesame_command, sha256_hex, CliOutput, TestApp, TestEnv,
    PASSWORD, SESAME,
};

/// Parses a command's stdout as one JSON document.
fn stdout_json(output: &CliOutput) -> Value {
    serde_json::from_str(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}): {}; stderr: {}",
            output.stdout, output.stderr
        )
    })
}

/// Returns the keys of a JSON object, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn parse_time(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a timestamp string, got {value}"));
    assert!(text.ends_with('Z'), "timestamp {text} is not in UTC");
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text} is not RFC 3339: {error}"))
        .with_timezone(&Utc)
}

/// Writes `contents` to a file in the test's directory and returns its path as text.
fn write_file(env: &TestEnv, name: &str, contents: &str) -> String {
    let path = env.dir().join(name);
    std::fs::write(&path, contents).expect("failed to write the input file");
    path.to_str().expect("UTF-8 path").to_string()
}

/// Creates a token with `tokens create --json` and returns the parsed output.
fn create_token(env: &TestEnv, username: &str, extra: &[&str]) -> Value {
    let mut args = vec!["tokens", "create", "--username", username, "--json"];
    args.extend_from_slice(extra);
    let output = env.run(&args, None);
    output.assert_success();
    stdout_json(&output)
}

/// Runs `sesame ARGS` under `script`, so that its standard input, output and error are a
/// pseudo-terminal, and types `input`. Returns the exit code and everything the terminal
/// showed (prompts, echoed input and output, with `\r\n` turned into `\n`) as stdout.
fn run_in_terminal(env: &TestEnv, args: &[&str], input: &str) -> CliOutput {
    let mut command_line = shell_quote(SESAME);
    for arg in args {
        command_line.push(' ');
        command_line.push_str(&shell_quote(arg));
    }

    let mut command = Command::new("script");
    command
        .args(["--quiet", "--return", "--command", &command_line, "/dev/null"])
        .current_dir(env.dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .env("SESAME_DATABASE_URL", env.database_url())
        .env("SESAME_DATABASE_ADMIN_URL", env.admin_url());
    let mut output = run_to_end(command, Some(input));
    output.stdout = output.stdout.replace("\r\n", "\n");
    output
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

backend_tests! {
    // users list

    fn users_list_empty(backend) {
        let env = TestEnv::new(backend);

        let text = env.run_admin(&["users", "list"], None);
        assert_eq!(text.assert_success(), "No users yet; create one with `sesame create-user` or `sesame import-users`\n");

        let json = env.run_admin(&["users", "list", "--json"], None);
        assert_eq!(stdout_json(&json), json!([]));
        assert_eq!(json.stderr, "");
    }

    fn users_list_counts_live_tokens(backend) {
        let env = TestEnv::new(backend);
        let bob_id = env.create_user("bob");
        let alice_id = env.create_user("Alice");

        let live = create_token(&env, "alice", &[]);
        let revoked = create_token(&env, "alice", &[]);
        let expired = create_token(&env, "alice", &[]);
        env.run(&["revoke-tokens", "--username", "alice", "--token", revoked["token"].as_str().unwrap()], None)
            .assert_success();
        let expired_id = expired["token_id"].as_str().unwrap();
        env.db().execute(&format!("UPDATE tokens SET expires_at = '2001-01-01 00:00:00' WHERE token_id = '{expired_id}'"));
        assert!(is_token_shaped(live["token"].as_str().unwrap()));

        let output = env.run_admin(&["users", "list", "--json"], None);
        let users = stdout_json(&output);
        let users = users.as_array().expect("a JSON array");
        assert_eq!(users.len(), 2);

        assert_eq!(keys(&users[0]), vec!["created_at", "live_tokens", "user_id", "username"]);
        assert_eq!(users[0]["username"], "Alice");
        assert_eq!(users[0]["user_id"], alice_id.as_str());
        assert_eq!(users[0]["live_tokens"], 1);
        parse_time(&users[0]["created_at"]);

        assert_eq!(users[1]["username"], "bob");
        assert_eq!(users[1]["user_id"], bob_id.as_str());
        assert_eq!(users[1]["live_tokens"], 0);

        let text = env.run_admin(&["users", "list"], None);
        let lines: Vec<&str> = text.assert_success().lines().collect();
        assert_eq!(lines.len(), 3, "header and two users: {}", text.stdout);
        assert!(lines[0].starts_with("USERNAME  USER_ID"), "{}", lines[0]);
        let id_column = lines[0].find("USER_ID").unwrap();
        let tokens_column = lines[0].find("LIVE_TOKENS").unwrap();
        assert_eq!(lines[1].find(alice_id.as_str()), Some(id_column), "user_id column is aligned");
        assert_eq!(lines[2].find(bob_id.as_str()), Some(id_column), "user_id column is aligned");
        assert_eq!(&lines[1][tokens_column..], "1");
        assert_eq!(&lines[2][tokens_column..], "0");
        assert!(lines[1].starts_with("Alice "));
    }

    // users delete

    fn users_delete_removes_tokens_and_workspaces(backend) {
        let app = TestApp::start(backend);
        let (alice_id, alice_token) = app.user_with_token("alice");
        let (bob_id, bob_token) = app.user_with_token("bob");
        app.create_workspace(&alice_token, &json!({ "title": "Alice's" }));
        app.create_workspace(&alice_token, &json!({ "title": "Alice's second" }));
        app.create_workspace(&bob_token, &json!({ "title": "Bob's" }));
        create_token(&app.env, "alice", &["--title", "second"]);

        let output = app.env.run_admin(&["users", "delete", "--username", "ALICE", "--yes", "--json"], None);
        assert_eq!(
            stdout_json(&output),
            json!({ "user_id": alice_id, "username": "alice", "deleted_tokens": 2, "deleted_workspaces": 2 })
        );
        assert_eq!(output.stderr, "");

        let mut db = app.env.db();
        assert_eq!(db.count(&format!("users WHERE user_id = '{alice_id}'")), 0);
        assert_eq!(db.count(&format!("tokens WHERE user_id = '{alice_id}'")), 0);
        assert_eq!(db.count(&format!("workspaces WHERE user_id = '{alice_id}'")), 0);
        assert_eq!(db.count(&format!("tokens WHERE user_id = '{bob_id}'")), 1);
        assert_eq!(db.count(&format!("workspaces WHERE user_id = '{bob_id}'")), 1);

        assert_eq!(app.token_status(&alice_token), 401);
        assert_eq!(app.token_status(&bob_token), 200);

        let text = app.env.run_admin(&["users", "delete", "--username", "bob", "--yes"], None);
        assert_eq!(
            text.assert_success(),
            format!("Deleted user 'bob' (user_id {bob_id}) with 1 token and 1 workspace\n")
        );
        assert_eq!(app.env.db().count("users"), 0);
    }

    fn users_delete_needs_yes_without_terminal(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");

        let output = env.run_admin(&["users", "delete", "--username", "alice"], Some("alice\n"));
        output.assert_error(
            2,
            "standard input is not a terminal, so the deletion of user 'alice' cannot be confirmed; pass --yes to delete without asking",
        );
        assert_eq!(env.db().count("users"), 1);
    }

    fn users_delete_unknown_user_fails(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");

        let output = env.run_admin(&["users", "delete", "--username", "alicia", "--yes"], None);
        output.assert_error(1, "user 'alicia' not found, so nothing was deleted; run `sesame users list` to see every user");

        let blank = env.run_admin(&["users", "delete", "--username", "  ", "--yes"], None);
        blank.assert_error(2, "invalid --username '  ': username must not be empty");
        assert_eq!(env.db().count("users"), 1);
    }

    fn users_delete_confirms_on_terminal(backend) {
        let env = TestEnv::new(backend);
        let alice_id = env.create_user("alice");
        env.create_user("bob");
        create_token(&env, "alice", &[]);

        let mismatched = run_in_terminal(&env, &["users", "delete", "--username", "alice"], "alice2\n");
        assert_eq!(mismatched.code, 1, "terminal: {}", mismatched.stdout);
        assert!(
            mismatched.stdout.contains(&format!(
                "Delete user 'alice' (user_id {alice_id}) with 1 token and 0 workspaces? This cannot be undone.\nType the username to confirm: "
            )),
            "terminal: {}",
            mismatched.stdout
        );
        assert!(mismatched.stdout.contains("error: the typed name does not match 'alice', so nothing was deleted"), "{}", mismatched.stdout);
        assert_eq!(env.db().count("users"), 2);

        let confirmed = run_in_terminal(&env, &["users", "delete", "--username", "alice"], "ALICE\n");
        assert_eq!(confirmed.code, 0, "terminal: {}", confirmed.stdout);
        assert!(confirmed.stdout.contains(&format!("Deleted user 'alice' (user_id {alice_id}) with 1 token and 0 workspaces")), "{}", confirmed.stdout);
        assert_eq!(env.db().count("users"), 1);
        assert_eq!(env.db().count("tokens"), 0);
    }

    // users set-password

    fn set_password_revokes_tokens(backend) {
        let app = TestApp::start(backend);
        let (alice_id, login_token) = app.user_with_token("alice");
        let cli_token = create_token(&app.env, "alice", &[])["token"].as_str().unwrap().to_string();
        let (_, bob_token) = app.user_with_token("bob");

        let output = app.env.run(&["users", "set-password", "--username", "alice", "--password-stdin", "--json"], Some("a new password\n"));
        assert_eq!(stdout_json(&output), json!({ "user_id": alice_id, "username": "alice", "revoked": 2 }));

        assert_eq!(app.token_status(&login_token), 401);
        assert_eq!(app.token_status(&cli_token), 401);
        assert_eq!(app.token_status(&bob_token), 200);
        assert_eq!(app.login("alice", PASSWORD).status, 401);
        assert_eq!(app.login("alice", "a new password").status, 200);

        let text = app.env.run(&["users", "set-password", "--username", "ALICE", "--password-stdin"], Some("another password\n"));
        assert_eq!(text.assert_success(), "Changed the password of user 'ALICE' and revoked 1 token\n");
        assert_eq!(app.login("alice", "another password").status, 200);
    }

    fn set_password_keep_tokens(backend) {
        let app = TestApp::start(backend);
        let (alice_id, token) = app.user_with_token("alice");

        let output = app.env.run(
            &["users", "set-password", "--username", "alice", "--password-stdin", "--keep-tokens", "--json"],
            Some("a new password\n"),
        );
        assert_eq!(stdout_json(&output), json!({ "user_id": alice_id, "username": "alice", "revoked": 0 }));
        assert_eq!(app.token_status(&token), 200);
        assert_eq!(app.login("alice", "a new password").status, 200);

        let text = app.env.run(
            &["users", "set-password", "--username", "alice", "--password-stdin", "--keep-tokens"],
            Some("a third password\n"),
        );
        assert_eq!(text.assert_success(), "Changed the password of user 'alice' and kept its tokens\n");
        assert_eq!(app.token_status(&token), 200);
    }

    fn set_password_errors(backend) {
        let env = TestEnv::new(backend);
        let alice_id = env.create_user("alice");
        let hash_query = format!("SELECT password_hash AS value FROM users WHERE user_id = '{alice_id}'");
        let hash_before = env.db().string(&hash_query);

        let unknown = env.run(&["users", "set-password", "--username", "nobody", "--password-stdin"], Some("a new password\n"));
        unknown.assert_error(1, "user 'nobody' not found; check the spelling or run `sesame users list`");

        let short = env.run(&["users", "set-password", "--username", "alice", "--password-stdin"], Some("short\n"));
        short.assert_error(2, "invalid password: password must be at least 8 bytes");

        let empty = env.run(&["users", "set-password", "--username", "alice", "--password-stdin"], Some(""));
        empty.assert_error(2, "standard input is empty; send the password as its first line");

        let no_terminal = env.run(&["users", "set-password", "--username", "alice"], None);
        no_terminal.assert_error(
            2,
            "standard input is not a terminal, so the new password cannot be prompted for; pass --password-stdin and send it as the first line",
        );

        assert_eq!(env.db().string(&hash_query), hash_before, "the password hash is unchanged");
    }

    fn set_password_prompts_on_terminal(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");

        let output = run_in_terminal(&env, &["users", "set-password", "--username", "alice"], "typed password\ntyped password\n");
        assert_eq!(output.code, 0, "terminal: {}", output.stdout);
        assert!(output.stdout.contains("Password: "), "{}", output.stdout);
        assert!(output.stdout.contains("Repeat password: "), "{}", output.stdout);
        assert!(output.stdout.contains("Changed the password of user 'alice' and revoked 0 tokens"), "{}", output.stdout);

        let app = TestApp::start_in(env, &[]);
        assert_eq!(app.login("alice", "typed password").status, 200);
    }

    // tokens create

    fn tokens_create_prints_token_once(backend) {
        let app = TestApp::start(backend);
        let alice_id = app.env.create_user("alice");

        let output = app.env.run(&["tokens", "create", "--username", "Alice"], None);
        let token = output.assert_success().strip_suffix('\n').expect("one line").to_string();
        assert!(is_token_shaped(&token), "stdout is the token alone: {}", output.stdout);
        assert!(output.stderr.starts_with("Created token "), "{}", output.stderr);
        assert!(output.stderr.ends_with("It is shown only this once, so store it now.\n"), "{}", output.stderr);
        assert!(!output.stderr.contains(&token));

        assert_eq!(app.token_status(&token), 200);
        assert!(!app.env.stored_text("tokens").contains(&token), "the token is stored only as a digest");
        let mut db = app.env.db();
        let digest = sha256_hex(&token);
        assert_eq!(db.count(&format!("tokens WHERE token_hash = '{digest}' AND user_id = '{alice_id}'")), 1);
    }

    fn tokens_create_json_title_and_expiry(backend) {
        let env = TestEnv::new(backend);
        let alice_id = env.create_user("alice");

        let created = create_token(&env, "alice", &["--title", "  deploy bot ", "--expires-in", "90"]);
        assert_eq!(
            keys(&created),
            vec!["created_at", "expires_at", "revoked_oldest", "title", "token", "token_id", "user_id", "username"]
        );
        assert!(is_token_shaped(created["token"].as_str().unwrap()));
        assert_eq!(created["title"], "deploy bot");
        assert_eq!(created["user_id"], alice_id.as_str());
        assert_eq!(created["username"], "alice");
        assert_eq!(created["revoked_oldest"], 0);
        let lifetime = parse_time(&created["expires_at"]) - parse_time(&created["created_at"]);
        assert_eq!(lifetime.num_minutes(), 90);

        let default = create_token(&env, "alice", &[]);
        assert_eq!(default["title"], Value::Null);
        let lifetime = parse_time(&default["expires_at"]) - parse_time(&default["created_at"]);
        assert_eq!(lifetime.num_minutes(), 525_600, "SESAME_TOKEN_EXPIRY defaults to one year");

        let configured = run_to_end(
            env.command(&["tokens", "create", "--username", "alice", "--json"], &[("SESAME_TOKEN_EXPIRY", "120")]),
            None,
        );
        let configured = stdout_json(&configured);
        let lifetime = parse_time(&configured["expires_at"]) - parse_time(&configured["created_at"]);
        assert_eq!(lifetime.num_minutes(), 120);
    }

    fn tokens_create_respects_token_cap(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");
        let cap = [("SESAME_MAX_TOKENS_PER_USER", "2")];
        let create = |title: &str| {
            run_to_end(env.command(&["tokens", "create", "--username", "alice", "--title", title, "--json"], &cap), None)
        };

        let first = create("first");
        assert_eq!(stdout_json(&first)["revoked_oldest"], 0);
        let second = create("second");
        assert_eq!(stdout_json(&second)["revoked_oldest"], 0);
        let third = create("third");
        assert_eq!(stdout_json(&third)["revoked_oldest"], 1);
        assert_eq!(
            third.stderr,
            "note: revoked the oldest 1 live token of user 'alice' to stay within SESAME_MAX_TOKENS_PER_USER (2)\n"
        );

        let listed = env.run(&["tokens", "list", "--username", "alice", "--json"], None);
        let states: Vec<(String, bool)> = stdout_json(&listed)
            .as_array()
            .unwrap()
            .iter()
            .map(|token| (token["title"].as_str().unwrap().to_string(), token["revoked"].as_bool().unwrap()))
            .collect();
        assert_eq!(
            states,
            vec![("third".to_string(), false), ("second".to_string(), false), ("first".to_string(), true)]
        );
    }

    fn tokens_create_rejects_bad_options(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");

        for minutes in ["0", "52560001", "-5", "ten"] {
            let option = format!("--expires-in={minutes}");
            let output = env.run(&["tokens", "create", "--username", "alice", &option], None);
            assert_eq!(output.code, 2, "--expires-in {minutes}: {}", output.stderr);
            assert!(output.stderr.contains("--expires-in"), "{}", output.stderr);
            assert_eq!(output.stdout, "");
        }
        let longest = env.run(&["tokens", "create", "--username", "alice", "--expires-in", "52560000"], None);
        longest.assert_success();

        let blank = env.run(&["tokens", "create", "--username", "alice", "--title", "  "], None);
        blank.assert_error(2, "invalid --title '  ': it must not be empty; leave --title out for no title");
        let long_title = "t".repeat(256);
        let long = env.run(&["tokens", "create", "--username", "alice", "--title", &long_title], None);
        long.assert_error(2, &format!("invalid --title '{long_title}': it must be at most 255 characters"));
        let control = env.run(&["tokens", "create", "--username", "alice", "--title", "a\tb"], None);
        control.assert_error(2, "invalid --title 'a\\tb': it must not contain control characters");

        let unknown = env.run(&["tokens", "create", "--username", "nobody"], None);
        unknown.assert_error(1, "user 'nobody' not found; check the spelling or run `sesame users list`");

        assert_eq!(env.db().count("tokens"), 1, "only the valid request created a token");
    }

    // tokens list

    fn tokens_list_shows_states_never_secrets(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");
        env.create_user("bob");
        let revoked = create_token(&env, "alice", &["--title", "old laptop"]);
        let expired = create_token(&env, "alice", &[]);
        let live = create_token(&env, "alice", &["--title", "ci"]);
        create_token(&env, "bob", &["--title", "bob's"]);
        env.run(&["revoke-tokens", "--username", "alice", "--token", revoked["token"].as_str().unwrap()], None)
            .assert_success();
        let expired_id = expired["token_id"].as_str().unwrap();
        env.db().execute(&format!("UPDATE tokens SET expires_at = '2001-01-01 00:00:00' WHERE token_id = '{expired_id}'"));

        let output = env.run(&["tokens", "list", "--username", "alice", "--json"], None);
        let tokens = stdout_json(&output);
        let tokens = tokens.as_array().expect("a JSON array");
        assert_eq!(tokens.len(), 3, "bob's token is not listed");
        for token in tokens {
            assert_eq!(keys(token), vec!["created_at", "expires_at", "last_used_at", "revoked", "title", "token_id"]);
        }
        assert_eq!(tokens[0]["token_id"], live["token_id"]);
        assert_eq!(tokens[0]["title"], "ci");
        assert_eq!(tokens[0]["revoked"], false);
        assert_eq!(tokens[0]["last_used_at"], Value::Null);
        assert_eq!(tokens[1]["token_id"], expired["token_id"]);
        assert_eq!(tokens[1]["title"], Value::Null);
        assert_eq!(tokens[2]["token_id"], revoked["token_id"]);
        assert_eq!(tokens[2]["revoked"], true);
        assert_eq!(tokens[0]["expires_at"], live["expires_at"]);

        let text = env.run(&["tokens", "list", "--username", "alice"], None);
        let lines: Vec<&str> = text.assert_success().lines().collect();
        assert_eq!(lines.len(), 4, "{}", text.stdout);
        assert!(lines[0].starts_with("TOKEN_ID"), "{}", lines[0]);
        assert!(lines[0].ends_with("STATUS"), "{}", lines[0]);
        assert!(lines[1].starts_with(live["token_id"].as_str().unwrap()), "{}", lines[1]);
        assert!(lines[1].ends_with(" live"), "{}", lines[1]);
        assert!(lines[2].ends_with(" expired"), "{}", lines[2]);
        assert!(lines[3].contains("old laptop"), "{}", lines[3]);
        assert!(lines[3].ends_with(" revoked"), "{}", lines[3]);

        for token in [&revoked, &expired, &live] {
            let secret = token["token"].as_str().unwrap();
            for printed in [&output.stdout, &text.stdout] {
                assert!(!printed.contains(secret), "a token is printed");
                assert!(!printed.contains(&sha256_hex(secret)), "a token digest is printed");
            }
        }
    }

    fn tokens_list_empty_and_unknown(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");

        let text = env.run(&["tokens", "list", "--username", "alice"], None);
        assert_eq!(text.assert_success(), "User 'alice' has no tokens\n");
        let json = env.run(&["tokens", "list", "--username", "alice", "--json"], None);
        assert_eq!(stdout_json(&json), json!([]));

        let unknown = env.run(&["tokens", "list", "--username", "nobody", "--json"], None);
        unknown.assert_error(1, "user 'nobody' not found; check the spelling or run `sesame users list`");
    }

    // import-users

    fn import_csv_users_can_log_in(backend) {
        let app = TestApp::start(backend);
        let file = write_file(
            &app.env,
            "users.csv",
            "username,password\n\"Smith, Anna\",\"pass, with \"\"quotes\"\"\"\nbob@example.com,bob-secret\n",
        );

        let output = app.env.run_admin(&["import-users", &file], None);
        assert_eq!(output.assert_success(), "Created 2 users, skipped 0, failed 0 (of 2 rows read)\n");
        assert_eq!(output.stderr, "");

        assert_eq!(app.login("smith, anna", "pass, with \"quotes\"").status, 200);
        assert_eq!(app.login("BOB@example.com", "bob-secret").status, 200);

        let listed = stdout_json(&app.env.run_admin(&["users", "list", "--json"], None));
        let names: Vec<&str> = listed.as_array().unwrap().iter().map(|user| user["username"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["bob@example.com", "Smith, Anna"]);
        assert!(listed.as_array().unwrap().iter().all(|user| is_user_id(user["user_id"].as_str().unwrap())));
    }

    fn import_jsonl_from_stdin(backend) {
        let env = TestEnv::new(backend);
        let input = "\n{\"username\": \"dora\", \"password\": \"dora-secret\"}\n\n{\"email\": \"Eve@Example.com\", \"password\": \"eve, secret\"}\n";

        let output = env.run_admin(&["import-users", "-", "--json"], Some(input));
        assert_eq!(stdout_json(&output), json!({ "created": 2, "skipped": 0, "failed": [] }));
        assert_eq!(output.stderr, "");

        let names = env.db().strings("SELECT username AS value FROM users ORDER BY username_key");
        assert_eq!(names, vec!["dora", "Eve@Example.com"]);
    }

    fn import_format_flag_overrides_detection(backend) {
        let env = TestEnv::new(backend);
        let jsonl = write_file(&env, "users.jsonl", "{\"username\": \"dora\", \"password\": \"dora-secret\"}\n");
        let csv = write_file(&env, "users.csv", "username,password\nalice,alice-secret\n");

        let as_csv = env.run_admin(&["import-users", &jsonl, "--format", "csv"], None);
        as_csv.assert_error(
            1,
            &format!("{jsonl}: column 1 of the CSV header on line 1 is neither username nor password; the first line must be the header username,password"),
        );

        let as_jsonl = env.run_admin(&["import-users", &csv, "--format", "jsonl", "--json"], None);
        assert_eq!(as_jsonl.code, 1);
        assert_eq!(
            stdout_json(&as_jsonl),
            json!({
                "created": 0,
                "skipped": 0,
                "failed": [
                    { "line": 1, "reason": "invalid JSON at column 1: expected value" },
                    { "line": 2, "reason": "invalid JSON at column 1: expected value" },
                ],
            })
        );

        let detected = env.run_admin(&["import-users", &csv, "--format", "csv"], None);
        detected.assert_success();
        assert_eq!(env.db().count("users"), 1);
    }

    fn import_duplicate_in_file_writes_nothing(backend) {
        let env = TestEnv::new(backend);
        let file = write_file(&env, "users.csv", "username,password\nalice,alice-secret\ncarol,carol-secret\nALICE,other-secret\n");

        let output = env.run_admin(&["import-users", &file, "--json"], None);
        assert_eq!(output.code, 1);
        assert_eq!(
            stdout_json(&output),
            json!({
                "created": 0,
                "skipped": 0,
                "failed": [{ "line": 4, "username": "ALICE", "reason": "duplicate of line 2; usernames are compared in any letter case" }],
            })
        );
        assert_eq!(
            output.stderr,
            "error: nothing was written because of 1 conflicting username (already stored or repeated in the file); \
             remove those rows, or pass --on-conflict skip to import the others\n"
        );
        assert_eq!(env.db().count("users"), 0);
    }

    fn import_existing_user_writes_nothing(backend) {
        let env = TestEnv::new(backend);
        env.create_user("Bob");
        let file = write_file(&env, "users.csv", "username,password\nalice,alice-secret\nbob,bob-secret\n");

        let output = env.run_admin(&["import-users", &file, "--on-conflict", "fail"], None);
        assert_eq!(output.code, 1);
        assert_eq!(output.stdout, "Created 0 users, skipped 0, failed 1 (of 2 rows read)\n");
        assert_eq!(
            output.stderr,
            "line 3 ('bob'): user already exists\n\
             error: nothing was written because of 1 conflicting username (already stored or repeated in the file); \
             remove those rows, or pass --on-conflict skip to import the others\n"
        );
        assert_eq!(env.db().count("users"), 1);
    }

    fn import_skip_keeps_existing_users(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("Bob");
        let file = write_file(
            &app.env,
            "users.csv",
            "username,password\nalice,alice-secret\nbob,bob-secret\nAlice,other-secret\ncarol,carol-secret\n",
        );

        let output = app.env.run_admin(&["import-users", &file, "--on-conflict", "skip", "--json"], None);
        assert_eq!(stdout_json(&output), json!({ "created": 2, "skipped": 2, "failed": [] }));
        assert_eq!(output.code, 0, "{}", output.stderr);

        assert_eq!(app.login("alice", "alice-secret").status, 200, "the first row of a repeated username wins");
        assert_eq!(app.login("alice", "other-secret").status, 401);
        assert_eq!(app.login("bob", PASSWORD).status, 200, "the existing user keeps its password");
        assert_eq!(app.login("bob", "bob-secret").status, 401);

        let again = app.env.run_admin(&["import-users", &file, "--on-conflict", "skip"], None);
        assert_eq!(again.assert_success(), "Created 0 users, skipped 4, failed 0 (of 4 rows read)\n");
    }

    fn import_reports_bad_rows_by_line(backend) {
        let env = TestEnv::new(backend);
        let long_name = "n".repeat(256);
        let contents = format!(
            "username,password\n\
             alice,alice-secret\n\
             bob,short\n\
             ,nobody-secret\n\
             carol\n\
             dave,dave-secret,extra\n\
             \"multi\nline\",multi-secret\n\
             {long_name},long-secret\n\
             erin,erin-secret\n"
        );
        let file = write_file(&env, "users.csv", &contents);

        let output = env.run_admin(&["import-users", &file], None);
        assert_eq!(output.code, 1);
        assert_eq!(output.stdout, "Created 2 users, skipped 0, failed 6 (of 8 rows read)\n");
        let expected_stderr = format!(
            "line 3 ('bob'): invalid password: password must be at least 8 bytes\n\
             line 4 (''): invalid username: username must not be empty\n\
             line 5: expected 2 fields as in the header, found 1; quote a value that contains a comma\n\
             line 6: expected 2 fields as in the header, found 3; quote a value that contains a comma\n\
             line 7 ('multi\\nline'): invalid username: username must not contain control characters\n\
             line 9 ('{long_name}'): invalid username: username must be at most 255 characters\n\
             error: 6 of 8 rows failed; fix them and run the import again with --on-conflict skip\n"
        );
        assert_eq!(output.stderr, expected_stderr);

        let mut db = env.db();
        assert_eq!(db.strings("SELECT username AS value FROM users ORDER BY username_key"), vec!["alice", "erin"]);
        for hash in db.strings("SELECT password_hash AS value FROM users") {
            assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        }
    }

    fn import_file_errors(backend) {
        let env = TestEnv::new(backend);

        let missing_path = env.dir().join("missing.csv");
        let missing_path = missing_path.to_str().unwrap();
        let missing = env.run_admin(&["import-users", missing_path], None);
        missing.assert_error(2, &format!("failed to read {missing_path}: No such file or directory (os error 2); check the path"));

        let empty_path = write_file(&env, "empty.csv", "\n  \n");
        let empty = env.run_admin(&["import-users", &empty_path], None);
        empty.assert_error(1, &format!("{empty_path} is empty; expected a CSV header username,password or JSON lines"));

        let empty_stdin = env.run_admin(&["import-users", "-"], Some(""));
        empty_stdin.assert_error(1, "standard input is empty; expected a CSV header username,password or JSON lines");

        let headerless = write_file(&env, "headerless.csv", "alice,alice-secret\n");
        let no_header = env.run_admin(&["import-users", &headerless], None);
        no_header.assert_error(
            1,
            &format!("{headerless}: column 1 of the CSV header on line 1 is neither username nor password; the first line must be the header username,password"),
        );
        assert!(!no_header.stderr.contains("alice-secret"), "the password is not echoed");

        let one_column = write_file(&env, "one.csv", "username\nalice\n");
        let missing_column = env.run_admin(&["import-users", &one_column], None);
        missing_column.assert_error(
            1,
            &format!("{one_column}: the CSV header on line 1 must name the columns username and password, as in username,password"),
        );

        let bad_choice = env.run_admin(&["import-users", &one_column, "--on-conflict", "overwrite"], None);
        assert_eq!(bad_choice.code, 2);
        assert!(bad_choice.stderr.contains("invalid value 'overwrite' for '--on-conflict <ACTION>'"), "{}", bad_choice.stderr);

        let listed = env.run_admin(&["users", "list", "--json"], None);
        assert_eq!(stdout_json(&listed), json!([]), "no user was created");
    }

    fn import_thousands_with_conflicts(backend) {
        import_thousands_with_conflicts_on(backend);
    }
}

/// Rows in the large import: users to create, rows repeating one of them in another letter
/// case, rows naming users created before the import, and bad rows.
const LARGE_NEW_USERS: usize = 2_000;
const LARGE_REPEATS: usize = 300;
const LARGE_EXISTING: usize = 200;
const LARGE_BAD_ROWS: usize = 500;

/// Imports 3,000 rows with `--on-conflict skip`: 2,000 new users, 300 usernames repeated in
/// the file, 200 users that already exist and 500 bad rows of several kinds.
fn import_thousands_with_conflicts_on(backend: common::Backend) {
    let env = TestEnv::new(backend);

    let mut existing_file = String::from("username,password\n");
    for index in 0..LARGE_EXISTING {
        writeln!(existing_file, "existing{index},existing-secret-{index}").unwrap();
    }
    let existing_path = write_file(&env, "existing.csv", &existing_file);
    env.run_admin(&["import-users", &existing_path], None).assert_success();

    let mut contents = String::from("username,password\n");
    let mut bad_lines = Vec::new();
    let mut line = 1;
    let mut push = |contents: &mut String, row: String| {
        contents.push_str(&row);
        contents.push('\n');
        line += 1;
        line
    };
    for index in 0..LARGE_NEW_USERS {
        push(&mut contents, format!("user{index}@example.com,secret-{index}"));
        if index < LARGE_REPEATS {
            push(&mut contents, format!("USER{index}@Example.com,other-secret-{index}"));
        }
        if index < LARGE_EXISTING {
            push(&mut contents, format!("Existing{index},new-secret-{index}"));
        }
        if index < LARGE_BAD_ROWS {
            let bad_row = match index % 4 {
                0 => format!("short{index},abc"),
                1 => format!(",empty-name-{index}"),
                2 => format!("fields{index},secret-{index},extra"),
                _ => format!("\"tab\t{index}\",secret-{index}"),
            };
            bad_lines.push(push(&mut contents, bad_row));
        }
    }
    let total_rows = LARGE_NEW_USERS + LARGE_REPEATS + LARGE_EXISTING + LARGE_BAD_ROWS;
    assert_eq!(total_rows, 3_000);
    let path = write_file(&env, "large.csv", &contents);

    let started = Instant::now();
    let output = env.run_admin(&["import-users", &path, "--on-conflict", "skip", "--json"], None);
    let elapsed = started.elapsed();
    eprintln!(
        "{backend:?}: imported {total_rows} rows ({LARGE_NEW_USERS} new users) in {:.1} s",
        elapsed.as_secs_f64()
    );

    assert_eq!(output.code, 1);
    assert_eq!(
        output.stderr,
        format!("error: {LARGE_BAD_ROWS} of {total_rows} rows failed; fix them and run the import again with --on-conflict skip\n"),
        "only the final error on stderr, and no progress bar when stderr is not a terminal"
    );
    let summary = stdout_json(&output);
    assert_eq!(summary["created"], LARGE_NEW_USERS);
    assert_eq!(summary["skipped"], LARGE_REPEATS + LARGE_EXISTING);
    let failed = summary["failed"].as_array().unwrap();
    assert_eq!(failed.len(), LARGE_BAD_ROWS);
    let failed_lines: Vec<u64> = failed.iter().map(|row| row["line"].as_u64().unwrap()).collect();
    assert_eq!(failed_lines, bad_lines);
    assert_eq!(
        failed[0],
        json!({ "line": bad_lines[0], "username": "short0", "reason": "invalid password: password must be at least 8 bytes" })
    );
    assert_eq!(
        failed[1],
        json!({ "line": bad_lines[1], "username": "", "reason": "invalid username: username must not be empty" })
    );
    assert_eq!(
        failed[2],
        json!({ "line": bad_lines[2], "reason": "expected 2 fields as in the header, found 3; quote a value that contains a comma" })
    );
    assert_eq!(
        failed[3],
        json!({ "line": bad_lines[3], "username": "tab\t3", "reason": "invalid username: username must not contain control characters" })
    );

    let mut db = env.db();
    assert_eq!(db.count("users"), (LARGE_NEW_USERS + LARGE_EXISTING) as i64);
    assert_eq!(
        db.count("users WHERE username_key LIKE 'user%@example.com'"),
        LARGE_NEW_USERS as i64
    );
    assert_eq!(
        db.count("users WHERE substr(username, 1, 4) = 'USER'"),
        0,
        "the first row of a repeated username wins"
    );
    let hashes: HashSet<String> = db
        .strings("SELECT password_hash AS value FROM users")
        .into_iter()
        .collect();
    assert_eq!(
        hashes.len(),
        LARGE_NEW_USERS + LARGE_EXISTING,
        "every user has its own salted hash"
    );
    assert!(hashes
        .iter()
        .all(|hash| hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")));
}

// Tests that do not depend on the backend.

#[test]
fn import_progress_bar_on_terminal() {
    let env = TestEnv::new(common::Backend::Sqlite);
    let mut contents = String::from("username,password\n");
    for index in 0..120 {
        writeln!(contents, "user{index},secret-{index}").unwrap();
    }
    let path = write_file(&env, "users.csv", &contents);

    let output = run_in_terminal(&env, &["import-users", &path], "");
    assert_eq!(output.code, 0, "terminal: {}", output.stdout);
    assert!(
        output.stdout.contains("users hashed"),
        "a progress bar was drawn: {}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("Created 120 users, skipped 0, failed 0 (of 120 rows read)"),
        "{}",
        output.stdout
    );
}

#[test]
fn completions_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    // Completions need no database, so even an invalid configuration does not stop them.
    let broken = [("SESAME_DATABASE_URL", "mysql://nowhere")];
    let markers = [
        ("bash", "complete -F _sesame"),
        ("zsh", "#compdef sesame"),
        ("fish", "complete -c sesame"),
    ];

    for (shell, marker) in markers {
        let output = run_to_end(sesame_command(dir.path(), &["completions", shell], &broken), None);
        let script = output.assert_success();
        assert!(script.contains(marker), "{shell} script lacks {marker}");
        for word in [
            "import-users",
            "set-password",
            "on-conflict",
            "keep-tokens",
            "expires-in",
        ] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
        assert_eq!(output.stderr, "");
    }

    let unknown = run_to_end(sesame_command(dir.path(), &["completions", "tcsh"], &[]), None);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("invalid value 'tcsh'"), "{}", unknown.stderr);
}

#[test]
fn bash_completion_script_loads() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_to_end(sesame_command(dir.path(), &["completions", "bash"], &[]), None);
    let path = dir.path().join("sesame.bash");
    std::fs::write(&path, output.assert_success()).unwrap();

    let check = Command::new("bash")
        .args([
            "-c",
            &format!("source {} && complete -p sesame", shell_quote(path.to_str().unwrap())),
        ])
        .output()
        .expect("failed to run bash");
    assert!(
        check.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let registered = String::from_utf8_lossy(&check.stdout);
    assert!(registered.starts_with("complete "), "{registered}");
    assert!(registered.contains(" -F _sesame "), "{registered}");
    assert!(registered.trim_end().ends_with(" sesame"), "{registered}");
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();

    let top = run_to_end(sesame_command(dir.path(), &["--help"], &[]), None);
    let help = top.assert_success();
    for command in ["users", "import-users", "completions", "tokens"] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "--help lacks {command}: {help}"
        );
    }
    assert!(
        help.contains("Exit codes: 0 success, 1 a failed operation, 2 a usage or configuration error."),
        "{help}"
    );

    let users = run_to_end(sesame_command(dir.path(), &["users", "--help"], &[]), None);
    for command in ["list", "delete", "set-password"] {
        assert!(
            users.assert_success().contains(&format!("\n  {command} ")),
            "users --help lacks {command}"
        );
    }
    let tokens = run_to_end(sesame_command(dir.path(), &["tokens", "--help"], &[]), None);
    for command in ["list", "create", "prune"] {
        assert!(
            tokens.assert_success().contains(&format!("\n  {command} ")),
            "tokens --help lacks {command}"
        );
    }
}

#[test]
fn provision_example_script_succeeds() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/provision-example.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg(SESAME)
        .output()
        .expect("failed to run bash");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.ends_with("Provisioning example finished\n"), "{stdout}");
}

// PostgreSQL only: the role that commands across users connect as.

const ADMIN_COMMANDS: [&[&str]; 3] = [
    &["users", "list"],
    &["users", "delete", "--username", "alice", "--yes"],
    &["import-users", "-"],
];

#[test]
fn postgres_restricted_role_rejected_for_admin_commands() {
    let env = TestEnv::new(common::Backend::Postgres);
    env.create_user("alice");
    let role = env.postgres_role().unwrap().to_string();

    for args in ADMIN_COMMANDS {
        // Without SESAME_DATABASE_ADMIN_URL the admin URL is the restricted role's.
        let output = env.run(args, Some("username,password\nbob,bob-secret\n"));
        output.assert_error(
            2,
            &format!(
                "database role {role} can read one user's rows at a time under row-level security, but this command works across users; \
                 set SESAME_DATABASE_ADMIN_URL to the owner account that ran `sesame migrate`"
            ),
        );
    }
    assert_eq!(env.db().count("users"), 1);
}

/// A PostgreSQL database owned by a role that is not a superuser, with the restricted role
/// that `sesame migrate` creates. Dropping it removes the database and both roles.
struct OwnedDatabase {
    name: String,
    owner: String,
    app_role: String,
    dir: tempfile::TempDir,
}

impl OwnedDatabase {
    fn create() -> OwnedDatabase {
        let suffix: String = (0..12)
            .map(|_| char::from(b'a' + rand::thread_rng().gen_range(0..26)))
            .collect();
        let database = OwnedDatabase {
            name: format!("sesame_t_{suffix}"),
            owner: format!("sesame_t_{suffix}_owner"),
            app_role: format!("sesame_t_{suffix}_app"),
            dir: tempfile::tempdir().unwrap(),
        };
        let mut server = superuser_connection();
        for statement in [
            format!("CREATE ROLE {} LOGIN CREATEROLE", database.owner),
            format!("CREATE DATABASE {} OWNER {}", database.name, database.owner),
        ] {
            diesel::sql_query(&statement)
                .execute(&mut server)
                .unwrap_or_else(|error| panic!("{statement}: {error}"));
        }
        database
    }

    fn url(&self, role: &str) -> String {
        format!("postgres://{role}@127.0.0.1:5432/{}", self.name)
    }

    /// Runs `sesame ARGS` with the restricted role as database URL and the owner as admin URL.
    fn run(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let server_url = self.url(&self.app_role);
        let admin_url = self.url(&self.owner);
        let variables = [
            ("SESAME_DATABASE_URL", server_url.as_str()),
            ("SESAME_DATABASE_ADMIN_URL", admin_url.as_str()),
            ("SESAME_DATABASE_USER", self.app_role.as_str()),
        ];
        run_to_end(sesame_command(self.dir.path(), args, &variables), stdin)
    }
}

impl Drop for OwnedDatabase {
    fn drop(&mut self) {
        let Ok(mut server) = PgConnection::establish("postgres://postgres@127.0.0.1:5432/postgres") else {
            eprintln!("could not connect to drop database {}", self.name);
            return;
        };
        for statement in [
            format!(
                "SELECT CAST(pg_terminate_backend(pid) AS TEXT) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
                self.name
            ),
            format!("DROP DATABASE IF EXISTS {}", self.name),
            format!("DROP ROLE IF EXISTS {}", self.app_role),
            format!("DROP ROLE IF EXISTS {}", self.owner),
        ] {
            if let Err(error) = diesel::sql_query(&statement).execute(&mut server) {
                eprintln!("cleanup statement failed: {statement}: {error}");
            }
        }
    }
}

fn superuser_connection() -> PgConnection {
    PgConnection::establish("postgres://postgres@127.0.0.1:5432/postgres?connect_timeout=5")
        .unwrap_or_else(|error| panic!("PostgreSQL is not reachable at 127.0.0.1:5432 as user postgres: {error}"))
}

#[test]
fn postgres_owner_role_runs_admin_commands() {
    let database = OwnedDatabase::create();
    database.run(&["migrate"], None).assert_success();

    let imported = database.run(
        &["import-users", "-", "--json"],
        Some("username,password\nalice,alice-secret\nbob,bob-secret\n"),
    );
    assert_eq!(
        stdout_json(&imported),
        json!({ "created": 2, "skipped": 0, "failed": [] })
    );

    let token = database.run(&["tokens", "create", "--username", "alice", "--json"], None);
    token.assert_success();

    let listed = stdout_json(&database.run(&["users", "list", "--json"], None));
    let summary: Vec<(&str, u64)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|user| {
            (
                user["username"].as_str().unwrap(),
                user["live_tokens"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, vec![("alice", 1), ("bob", 0)]);

    let deleted = database.run(&["users", "delete", "--username", "alice", "--yes", "--json"], None);
    assert_eq!(stdout_json(&deleted)["deleted_tokens"], 1);

    let remaining = stdout_json(&database.run(&["users", "list", "--json"], None));
    assert_eq!(remaining.as_array().unwrap().len(), 1);
    assert_eq!(remaining[0]["username"], "bob");
}
