//! `sesame create-user`: output formats, username and password checks, duplicates.

mod common;

use common::{backend_tests, is_user_id, CliOutput, TestEnv, PASSWORD};
use serde_json::Value;

/// Runs `create-user --username NAME --password-stdin` with `stdin` as standard input.
fn create_user(env: &TestEnv, username: &str, stdin: &str) -> CliOutput {
    env.run(
        &["create-user", "--username", username, "--password-stdin"],
        Some(stdin),
    )
}

fn user_count(env: &TestEnv) -> i64 {
    env.db().count("users")
}

/// Returns the username of the only user stored.
fn stored_username(env: &TestEnv) -> String {
    env.db().string("SELECT username AS value FROM users")
}

fn stored_user_id(env: &TestEnv, username: &str) -> String {
    env.db().string(&format!(
        "SELECT user_id AS value FROM users WHERE username = '{username}'"
    ))
}

/// Parses the stdout of a successful `--json` run.
fn printed_json(output: &CliOutput) -> Value {
    serde_json::from_str(output.assert_success()).expect("stdout is JSON")
}

backend_tests! {
    fn text_output_names_user_and_id(backend) {
        let env = TestEnv::new(backend);

        let output = create_user(&env, "alice", &format!("{PASSWORD}\n"));

        let stdout = output.assert_success();
        let user_id = stdout
            .strip_prefix("Created user 'alice' with user_id ")
            .and_then(|rest| rest.strip_suffix('\n'))
            .unwrap_or_else(|| panic!("unexpected stdout {stdout:?}"));
        assert!(is_user_id(user_id), "{user_id}");
        assert_eq!(output.stderr, "");
        assert_eq!(stored_user_id(&env, "alice"), user_id);
    }

    fn json_output_has_id_and_username(backend) {
        let env = TestEnv::new(backend);

        let output = env.run(
            &["create-user", "--username", "alice", "--password-stdin", "--json"],
            Some(&format!("{PASSWORD}\n")),
        );

        let printed = printed_json(&output);
        let object = printed.as_object().expect("a JSON object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["user_id", "username"]);
        assert_eq!(printed["username"], "alice");
        let user_id = printed["user_id"].as_str().expect("user_id is a string");
        assert!(is_user_id(user_id), "{user_id}");
        assert_eq!(output.stdout.lines().count(), 1, "one JSON document on one line");
        assert_eq!(stored_user_id(&env, "alice"), user_id);
    }

    fn user_ids_differ(backend) {
        let env = TestEnv::new(backend);

        let first = env.create_user("alice");
        let second = env.create_user("bob");

        assert_ne!(first, second);
    }

    fn email_alias_sets_username(backend) {
        let env = TestEnv::new(backend);

        let output = env.run(
            &["create-user", "--email", "alice@example.com", "--password-stdin", "--json"],
            Some(&format!("{PASSWORD}\n")),
        );

        assert_eq!(printed_json(&output)["username"], "alice@example.com");
        assert_eq!(stored_username(&env), "alice@example.com");
    }

    fn username_trimmed_and_case_kept(backend) {
        let env = TestEnv::new(backend);

        let output = create_user(&env, "  Alice Smith \t", &format!("{PASSWORD}\n"));

        output.assert_success();
        assert_eq!(stored_username(&env), "Alice Smith");
    }

    fn password_line_ending_stripped(backend) {
        let env = TestEnv::new(backend);

        let output = create_user(&env, "alice", &format!("{PASSWORD}\r\nsecond line ignored\n"));

        output.assert_success();
        // The stored hash must verify the password without the CR.
        let app = common::TestApp::start_in(env, &[]);
        assert_eq!(app.login("alice", PASSWORD).status, 200);
    }

    fn duplicate_in_other_case_rejected(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");

        let output = create_user(&env, "ALICE", &format!("{PASSWORD}\n"));

        output.assert_error(1, "user 'ALICE' already exists; choose another username");
        assert_eq!(user_count(&env), 1);
    }

    fn invalid_passwords_rejected(backend) {
        let env = TestEnv::new(backend);
        let too_long = format!("{}\n", "p".repeat(1025));
        let too_long_multibyte = format!("{}\n", "é".repeat(513));
        let cases = [
            ("", "standard input is empty; send the password as its first line"),
            ("\n", "standard input is empty; send the password as its first line"),
            ("1234567\n", "invalid password: password must be at least 8 bytes"),
            (too_long.as_str(), "invalid password: password must be at most 1024 bytes"),
            (too_long_multibyte.as_str(), "invalid password: password must be at most 1024 bytes"),
            ("abcd\0efgh\n", "invalid password: password must not contain NUL characters"),
        ];

        for (stdin, message) in cases {
            let output = create_user(&env, "alice", stdin);
            output.assert_case(&format!("stdin {stdin:.40?}"), 2, message);
        }
        assert_eq!(user_count(&env), 0);
    }

    fn password_length_bounds_accepted(backend) {
        let env = TestEnv::new(backend);
        let longest = "p".repeat(1024);

        env.create_user_with_password("shortest", "12345678");
        env.create_user_with_password("longest", &longest);

        assert_eq!(user_count(&env), 2);
    }

    fn invalid_usernames_rejected(backend) {
        let env = TestEnv::new(backend);
        env.create_user("bob");
        let too_long = "u".repeat(256);
        let cases = [
            ("", "invalid username: username must not be empty"),
            ("   ", "invalid username: username must not be empty"),
            (too_long.as_str(), "invalid username: username must be at most 255 characters"),
            ("al\u{1b}[31mice", "invalid username: username must not contain control characters"),
            ("al\nice", "invalid username: username must not contain control characters"),
            ("al\u{7f}ice", "invalid username: username must not contain control characters"),
        ];

        for (username, message) in cases {
            let output = create_user(&env, username, &format!("{PASSWORD}\n"));
            output.assert_case(&format!("username {username:.40?}"), 2, message);
        }
        assert_eq!(user_count(&env), 1);
    }

    fn username_of_255_characters_accepted(backend) {
        let env = TestEnv::new(backend);
        let longest = "é".repeat(255);

        env.create_user(&longest);

        assert_eq!(stored_username(&env), longest);
    }

    fn password_stdin_requires_username(backend) {
        let env = TestEnv::new(backend);

        let output = env.run(&["create-user", "--password-stdin"], Some(&format!("{PASSWORD}\n")));

        output.assert_error(2, "--password-stdin needs --username, because standard input carries the password");
    }

    fn prompt_without_terminal_rejected(backend) {
        let env = TestEnv::new(backend);
        env.create_user("bob");

        let output = env.run(&["create-user"], None);

        output.assert_error(
            2,
            "no --username given and standard input is not a terminal; pass --username NAME (and --password-stdin)",
        );
        assert_eq!(user_count(&env), 1);
    }
}
