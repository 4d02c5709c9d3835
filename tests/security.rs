//! What is stored and what is logged: tokens only as SHA-256 digests, passwords only as
//! Argon2id hashes, and a server log without secrets or usernames.

mod common;

use common::{backend_tests, sha256_hex, Backend, TestApp, TestEnv};
use serde_json::json;

/// Credentials distinctive enough that finding them in a file cannot be a coincidence.
const USERNAME: &str = "Audit-User-7Qx";
const PASSWORD: &str = "pw-Never-Stored-9Zk!";
const WRONG_PASSWORD: &str = "pw-Mistyped-4Rt?";
const UNKNOWN_USERNAME: &str = "Ghost-User-3Vm";

backend_tests! {
    fn token_stored_only_as_digest(backend) {
        let app = TestApp::start(backend);
        app.env.create_user_with_password(USERNAME, PASSWORD);

        let token = app.token_for(USERNAME, PASSWORD);

        let stored = app.env.stored_text("tokens");
        assert!(stored.contains(&sha256_hex(&token)), "the token's SHA-256 digest is stored");
        assert!(!stored.contains(&token), "the token is stored in clear");
        assert!(!stored.contains(&token["ses_".len()..]), "the token's random part is stored in clear");
        let digests = app.env.db().strings("SELECT token_hash AS value FROM tokens");
        assert_eq!(digests, [sha256_hex(&token)]);
    }

    fn password_stored_only_as_argon2id(backend) {
        let env = TestEnv::new(backend);

        env.create_user_with_password(USERNAME, PASSWORD);

        let stored = env.stored_text("users");
        assert!(!stored.contains(PASSWORD), "the password is stored in clear");
        let hash = env.db().string("SELECT password_hash AS value FROM users");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    }

    fn password_hashes_are_salted(backend) {
        let env = TestEnv::new(backend);

        env.create_user_with_password("first", PASSWORD);
        env.create_user_with_password("second", PASSWORD);

        let hashes = env.db().strings("SELECT password_hash AS value FROM users");
        assert_eq!(hashes.len(), 2);
        assert_ne!(hashes[0], hashes[1]);
    }

    fn failed_login_username_not_stored(backend) {
        let app = TestApp::start(backend);
        app.env.create_user_with_password(USERNAME, PASSWORD);

        assert_eq!(app.login(UNKNOWN_USERNAME, WRONG_PASSWORD).status, 401);

        let stored = app.env.stored_text("login_attempts");
        assert!(!stored.contains(UNKNOWN_USERNAME), "the mistyped username is stored in clear");
        assert!(!stored.contains(&UNKNOWN_USERNAME.to_lowercase()), "the mistyped username is stored in clear");
        assert!(!stored.contains(WRONG_PASSWORD), "the mistyped password is stored");
    }

    fn server_log_free_of_secrets(backend) {
        let app = TestApp::start(backend);
        let user_id = app.env.create_user_with_password(USERNAME, PASSWORD);

        // A full session: failed logins, two tokens, every workspace route, revocations.
        assert_eq!(app.login(USERNAME, WRONG_PASSWORD).status, 401);
        assert_eq!(app.login(UNKNOWN_USERNAME, PASSWORD).status, 401);
        let token = app.token_for(USERNAME, PASSWORD);
        let second = app.token_for(&USERNAME.to_lowercase(), PASSWORD);
        let workspace = app.create_workspace(&token, &json!({ "title": "Log audit", "config": { "k": "v" } }));
        let path = format!("/api/workspaces/{}", workspace["workspace_id"].as_str().expect("a string"));
        assert_eq!(app.get("/api/workspaces", &token).status, 200);
        assert_eq!(app.get(&path, &token).status, 200);
        assert_eq!(app.put(&path, &token, &json!({ "title": "Renamed" })).status, 200);
        assert_eq!(app.delete(&path, &token).status, 200);
        assert_eq!(app.revoke(USERNAME, PASSWORD, Some(&second)).status, 200);
        assert_eq!(app.get("/api/workspaces", &second).status, 401);
        assert_eq!(app.revoke(USERNAME, WRONG_PASSWORD, None).status, 401);
        assert_eq!(app.revoke(USERNAME, PASSWORD, None).status, 200);
        let hash = app.env.db().string("SELECT password_hash AS value FROM users");

        let logs = app.logs();
        let secrets = [
            ("password", PASSWORD.to_string()),
            ("wrong password", WRONG_PASSWORD.to_string()),
            ("token", token.clone()),
            ("second token", second.clone()),
            ("token's random part", token["ses_".len()..].to_string()),
            ("token digest", sha256_hex(&token)),
            ("second token digest", sha256_hex(&second)),
            ("password hash", hash.clone()),
            ("password hash's digest part", hash.rsplit('$').next().expect("a PHC string").to_string()),
            ("username", USERNAME.to_string()),
            ("lower-case username", USERNAME.to_lowercase()),
            ("unknown username", UNKNOWN_USERNAME.to_string()),
        ];
        for (what, secret) in secrets {
            assert!(!logs.contains(&secret), "the server log contains the {what}");
        }
        assert!(logs.contains(&format!("user_id={user_id}")), "authenticated requests are logged with their user_id");
        for fields in [
            "method=POST path=/api/users/create_token",
            "method=POST path=/api/users/revoke_token",
            "method=GET path=/api/workspaces",
            "method=PUT path=/api/workspaces/",
            "method=DELETE path=/api/workspaces/",
            "status=200",
            "status=201",
            "status=401",
        ] {
            assert!(logs.contains(fields), "the server log lacks {fields:?}");
        }
    }

    fn authenticated_request_logged_with_user_id(backend) {
        let app = TestApp::start(backend);
        let (user_id, token) = app.user_with_token("alice");

        let request = app.request(reqwest::Method::GET, "/api/workspaces").bearer_auth(&token).header("x-request-id", "audit-1");
        assert_eq!(app.send(request).status, 200);

        let logs = app.logs();
        let line = logs.lines().find(|line| line.contains("request_id=audit-1")).expect("a log line for the request");
        assert!(line.contains("method=GET path=/api/workspaces"), "{line}");
        assert!(line.contains(&format!("user_id={user_id}")), "{line}");
        assert!(line.contains("status=200"), "{line}");
    }

    fn rejected_token_logged_without_user_id(backend) {
        let app = TestApp::start(backend);
        app.user_with_token("alice");
        let unknown = format!("ses_{}", "A".repeat(43));

        let request = app.request(reqwest::Method::GET, "/api/workspaces").bearer_auth(&unknown).header("x-request-id", "audit-2");
        assert_eq!(app.send(request).status, 401);

        let logs = app.logs();
        let line = logs.lines().find(|line| line.contains("request_id=audit-2")).expect("a log line for the request");
        assert!(!line.contains("user_id="), "{line}");
        assert!(line.contains("status=401"), "{line}");
    }
}

#[test]
fn sqlite_file_readable_by_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new(Backend::Sqlite);

    env.create_user("alice");

    let mode = std::fs::metadata(env.dir().join("sesame.db"))
        .expect("the database file exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
}
