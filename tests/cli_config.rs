//! `sesame migrate`, `--help` of every command, and how settings are read: the `.env` file,
//! the process environment, flags, and values that cannot be parsed.

mod common;

use std::path::Path;

use common::{backend_tests, run_to_end, sesame_command, Backend, TestApp, TestEnv};

/// Returns the versions of the migrations embedded for `backend`, oldest first: the folder
/// names under migrations/ up to the first `_`, without hyphens.
fn migration_versions(backend: Backend) -> Vec<String> {
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
    let mut versions: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|error| panic!("failed to list {}: {error}", root.display()))
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .map(|name| name.split('_').next().expect("a folder name").replace('-', ""))
        .collect();
    versions.sort();
    versions
}

/// Returns the line `migrate` prints about the restricted role on PostgreSQL, or "" on SQLite.
fn role_line(env: &TestEnv, verb: &str) -> String {
    match env.postgres_role() {
        Some(role) => {
            format!("{verb} role {role} with row-level security (no BYPASSRLS) and the grants the server needs\n")
        }
        None => String::new(),
    }
}

fn write_dotenv(env: &TestEnv, contents: &str) {
    std::fs::write(env.dir().join(".env"), contents).expect("failed to write .env");
}

/// Runs `sesame migrate` with one extra variable and returns the output.
fn migrate_with(env: &TestEnv, variable: &str, value: &str) -> common::CliOutput {
    run_to_end(env.migrate_command(&[(variable, value)]), None)
}

/// Runs `sesame ARGS --help` outside any database and asserts exit code 0 and that stdout
/// contains each of `expected`.
fn assert_help_mentions(args: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().expect("failed to create a temporary directory");
    let mut full = args.to_vec();
    full.push("--help");

    let output = run_to_end(sesame_command(dir.path(), &full, &[]), None);

    assert_eq!(output.code, 0, "{full:?}: {}", output.stderr);
    for text in expected {
        assert!(
            output.stdout.contains(text),
            "{full:?} lacks {text:?} in:\n{}",
            output.stdout
        );
    }
}

backend_tests! {
    fn migrate_second_run_applies_nothing(backend) {
        let env = TestEnv::new(backend);

        let first = env.first_migrate();
        let second = env.migrate();

        let applied: String = migration_versions(backend)
            .iter()
            .map(|version| format!("Applied migration {version}\n"))
            .collect();
        assert_eq!(first.assert_success(), format!("{applied}{}", role_line(&env, "Created")));
        assert_eq!(
            second.assert_success(),
            format!("No pending migrations; the schema is up to date\n{}", role_line(&env, "Updated"))
        );
        assert_eq!(second.stderr, "");
    }

    fn migrate_warns_about_role_without_password(backend) {
        let env = TestEnv::new(backend);

        let first = env.first_migrate();

        let expected = match env.postgres_role() {
            Some(role) => format!(
                "warning: role {role} has no password; set SESAME_DATABASE_PASSWORD and run migrate again \
                 unless the server connects with trust or peer authentication\n"
            ),
            None => String::new(),
        };
        assert_eq!(first.stderr, expected);
    }

    fn unparsable_settings_exit_2(backend) {
        let env = TestEnv::new(backend);
        let cases = [
            ("SESAME_WEBAPP_PORT", "abc", "invalid SESAME_WEBAPP_PORT 'abc': expected a port number from 0 to 65535"),
            ("SESAME_WEBAPP_PORT", "65536", "invalid SESAME_WEBAPP_PORT '65536': expected a port number from 0 to 65535"),
            (
                "SESAME_TOKEN_EXPIRY",
                "0",
                "invalid SESAME_TOKEN_EXPIRY '0': expected a token lifetime in minutes from 1 to 52560000",
            ),
            (
                "SESAME_MAX_LOGIN_ATTEMPTS",
                "-1",
                "invalid SESAME_MAX_LOGIN_ATTEMPTS '-1': expected a number of attempts from 1 to 1000000",
            ),
            (
                "SESAME_RATE_LIMIT_WINDOW_MINUTES",
                "15m",
                "invalid SESAME_RATE_LIMIT_WINDOW_MINUTES '15m': expected a window length in minutes from 1 to 10080",
            ),
            (
                "SESAME_MAX_TOKENS_PER_USER",
                "0",
                "invalid SESAME_MAX_TOKENS_PER_USER '0': expected a number of tokens from 1 to 1000000",
            ),
            ("SESAME_SHOW_WEB_UI", "maybe", "invalid SESAME_SHOW_WEB_UI 'maybe': expected 1 or 0 (true or false)"),
            (
                "SESAME_LOG",
                "[[",
                "invalid SESAME_LOG '[[': invalid filter directive; use a level such as info or debug",
            ),
        ];

        for (variable, value, message) in cases {
            let output = migrate_with(&env, variable, value);
            output.assert_case(&format!("{variable}={value}"), 2, message);
        }
    }

    fn database_url_error_hides_value(backend) {
        let env = TestEnv::new(backend);

        let output = migrate_with(&env, "SESAME_DATABASE_URL", "mysql://root:hunter2@127.0.0.1/chat");

        output.assert_error(
            2,
            "invalid SESAME_DATABASE_URL (value hidden): expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
        );
    }

    fn unparsable_setting_stops_server(backend) {
        let env = TestEnv::new(backend);

        let output = run_to_end(env.command(&["run", "--port", "0"], &[("SESAME_MAX_LOGIN_ATTEMPTS", "many")]), None);

        output.assert_error(
            2,
            "invalid SESAME_MAX_LOGIN_ATTEMPTS 'many': expected a number of attempts from 1 to 1000000",
        );
    }

    fn dotenv_file_read(backend) {
        let env = TestEnv::new(backend);
        write_dotenv(&env, "# settings for tests\nSESAME_WEBAPP_PORT=abc\n");

        let output = env.migrate();

        output.assert_error(2, "invalid SESAME_WEBAPP_PORT 'abc': expected a port number from 0 to 65535");
    }

    fn dotenv_syntax_error_hides_line(backend) {
        let env = TestEnv::new(backend);
        write_dotenv(&env, "SESAME_LOG=warn\nSESAME_DATABASE_PASSWORD='s3cr3t-pw\n");

        let output = env.migrate();

        output.assert_error(
            2,
            "failed to read .env: invalid syntax on line 2 at character 37; quote values that contain spaces, quotes or #, or remove the file",
        );
        assert!(!output.stderr.contains("s3cr3t-pw"), "{}", output.stderr);
    }

    fn environment_overrides_dotenv(backend) {
        let env = TestEnv::new(backend);
        write_dotenv(&env, "SESAME_WEBAPP_PORT=abc\n");

        let output = migrate_with(&env, "SESAME_WEBAPP_PORT", "8000");

        output.assert_success();
    }

    fn dotenv_supplies_database_url(backend) {
        let env = TestEnv::new(backend);
        write_dotenv(&env, &format!("SESAME_DATABASE_URL={}\n", env.database_url()));
        let mut command = env.command(&["create-user", "--username", "alice", "--password-stdin"], &[]);
        command.env_remove("SESAME_DATABASE_URL");

        let output = run_to_end(command, Some("correct horse battery staple\n"));

        output.assert_success();
        let stored = env.db().string("SELECT username AS value FROM users");
        assert_eq!(stored, "alice");
    }

    fn database_url_flag_overrides_environment(backend) {
        let env = TestEnv::new(backend);
        let url = env.database_url().to_string();
        let command = env.command(
            &["--database-url", &url, "create-user", "--username", "alice", "--password-stdin"],
            &[("SESAME_DATABASE_URL", "mysql://127.0.0.1/unused")],
        );

        let output = run_to_end(command, Some("correct horse battery staple\n"));

        output.assert_success();
        assert_eq!(env.db().count("users"), 1);
    }

    fn port_flag_overrides_environment(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_WEBAPP_PORT", "abc")]);

        let reply = app.send(app.request(reqwest::Method::GET, "/livez"));

        assert_eq!(reply.status, 200);
    }
}

#[test]
fn top_level_help_lists_commands_and_defaults() {
    assert_help_mentions(
        &[],
        &[
            "create-user",
            "revoke-tokens",
            "migrate",
            "run",
            "[default: sqlite://sesame.db]",
            "[env: SESAME_DATABASE_URL]",
            "Exit codes: 0 success, 1 a failed operation, 2 a usage or configuration error.",
        ],
    );
}

#[test]
fn create_user_help_states_limits() {
    assert_help_mentions(
        &["create-user"],
        &[
            "--username <NAME>",
            "1 to 255 characters",
            "[alias: --email]",
            "--password-stdin",
            "8 to 1024 bytes",
            "--json",
        ],
    );
}

#[test]
fn run_help_states_defaults() {
    assert_help_mentions(
        &["run"],
        &[
            "--host <HOST>",
            "[default: 127.0.0.1]",
            "--port <PORT>",
            "0 picks a free one",
            "[default: 8000]",
            "[env: SESAME_WEBAPP_PORT]",
        ],
    );
}

#[test]
fn revoke_tokens_help_explains_token() {
    assert_help_mentions(
        &["revoke-tokens"],
        &[
            "--username <NAME>",
            "--token <TOKEN>",
            "standard input with -",
            "every token",
            "--json",
        ],
    );
}

#[test]
fn migrate_help_mentions_role() {
    assert_help_mentions(&["migrate"], &["restricted server role"]);
}
