//! `POST /api/users/create_token` and `POST /api/users/revoke_token`: logins, token shape,
//! revocation, the login rate limit and the per-user token cap.

mod common;

use common::{backend_tests, is_token_shaped, sha256_hex, Backend, TestApp, PASSWORD};
use serde_json::json;

const INVALID_CREDENTIALS: &str = "Invalid username or password";

/// Starts a server that allows three failed logins per username, with the user alice.
fn start_with_three_attempts(backend: Backend) -> TestApp {
    let app = TestApp::start_with(backend, &[("SESAME_MAX_LOGIN_ATTEMPTS", "3")]);
    app.env.create_user("alice");
    app
}

/// Logs in with a wrong password `times` times, asserting 401 each time.
fn fail_logins(app: &TestApp, username: &str, times: usize) {
    for attempt in 1..=times {
        let reply = app.login(username, "wrong password");
        assert_eq!(reply.status, 401, "failed attempt {attempt}: {}", reply.text);
    }
}

backend_tests! {
    fn create_token_by_username(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice");

        let reply = app.login("alice", PASSWORD);

        assert_eq!(reply.status, 200, "{}", reply.text);
        let body = reply.json();
        let token = body["token"].as_str().expect("token is a string");
        assert_eq!(body, json!({ "success": true, "token": token }));
        assert!(is_token_shaped(token), "{token}");
        assert_eq!(app.token_status(token), 200);
    }

    fn create_token_disables_caching(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice");

        let reply = app.login("alice", PASSWORD);

        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }

    fn create_token_by_email(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice@example.com");

        let body = json!({ "email": "alice@example.com", "password": PASSWORD });
        let reply = app.post_public("/api/users/create_token", &body);

        assert_eq!(reply.status, 200, "{}", reply.text);
        let token = reply.json()["token"].as_str().expect("token is a string").to_string();
        assert_eq!(app.token_status(&token), 200);
    }

    fn create_token_username_any_case(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("Alice");

        for spelling in ["alice", "ALICE", "aLiCe", "  Alice  "] {
            let reply = app.login(spelling, PASSWORD);
            assert_eq!(reply.status, 200, "username {spelling:?}: {}", reply.text);
        }
    }

    fn create_token_mints_new_token_each_call(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice");

        let first = app.token("alice");
        let second = app.token("alice");

        assert_ne!(first, second);
        assert_eq!(app.token_status(&first), 200);
        assert_eq!(app.token_status(&second), 200);
    }

    fn create_token_password_of_1024_bytes(backend) {
        let app = TestApp::start(backend);
        let password = "p".repeat(1024);
        app.env.create_user_with_password("alice", &password);

        let reply = app.login("alice", &password);

        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    fn wrong_password_and_unknown_user_look_alike(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice");

        let wrong_password = app.login("alice", "not the password");
        let unknown_user = app.login("mallory", PASSWORD);

        wrong_password.assert_detail(401, INVALID_CREDENTIALS);
        unknown_user.assert_detail(401, INVALID_CREDENTIALS);
        assert_eq!(wrong_password.text, unknown_user.text);
        assert_eq!(wrong_password.header("www-authenticate"), unknown_user.header("www-authenticate"));
    }

    fn password_compared_exactly(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice");

        for wrong in [PASSWORD.to_uppercase(), format!("{PASSWORD} "), format!(" {PASSWORD}"), PASSWORD[1..].to_string(), String::new()] {
            let reply = app.login("alice", &wrong);
            assert_eq!(reply.status, 401, "password {wrong:?}: {}", reply.text);
        }
    }

    fn revoke_token_all(backend) {
        let app = TestApp::start(backend);
        let (_, first) = app.user_with_token("alice");
        let second = app.token("alice");

        let reply = app.revoke("alice", PASSWORD, None);

        reply.assert(200, json!({ "success": true, "message": "All tokens revoked successfully." }));
        app.get("/api/workspaces", &first).assert_invalid_token();
        app.get("/api/workspaces", &second).assert_invalid_token();
    }

    fn revoke_token_null_token_422(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let body = json!({ "user": { "username": "alice", "password": PASSWORD }, "token": null });

        let reply = app.post_public("/api/users/revoke_token", &body);

        assert_eq!(reply.status, 422);
        assert!(reply.text.contains("Invalid field 'token': must be a string, not null"), "{}", reply.text);
        assert_eq!(app.token_status(&token), 200);
    }

    fn revoke_token_one(backend) {
        let app = TestApp::start(backend);
        let (_, revoked) = app.user_with_token("alice");
        let kept = app.token("alice");

        let reply = app.revoke("alice", PASSWORD, Some(&revoked));

        reply.assert(200, json!({ "success": true, "message": "Token revoked successfully." }));
        app.get("/api/workspaces", &revoked).assert_invalid_token();
        assert_eq!(app.token_status(&kept), 200);
    }

    fn revoke_token_twice_succeeds(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        app.revoke("alice", PASSWORD, Some(&token));

        let reply = app.revoke("alice", PASSWORD, Some(&token));

        reply.assert(200, json!({ "success": true, "message": "Token revoked successfully." }));
    }

    fn revoke_token_foreign_or_unknown_404(backend) {
        let app = TestApp::start(backend);
        let (_, alices) = app.user_with_token("alice");
        let (_, bobs) = app.user_with_token("bob");
        let unknown = format!("ses_{}", "A".repeat(43));

        for token in [bobs.as_str(), unknown.as_str(), "ses_malformed"] {
            let reply = app.revoke("alice", PASSWORD, Some(token));
            reply.assert_case(&format!("token {token}"), 404, "Token not found");
        }
        assert_eq!(app.token_status(&alices), 200);
        assert_eq!(app.token_status(&bobs), 200);
    }

    fn revoke_token_wrong_password_401(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        let all = app.revoke("alice", "not the password", None);
        let single = app.revoke("alice", "not the password", Some(&token));

        all.assert_detail(401, INVALID_CREDENTIALS);
        single.assert_detail(401, INVALID_CREDENTIALS);
        assert_eq!(app.token_status(&token), 200);
    }

    fn revoke_token_unknown_user_401(backend) {
        let app = TestApp::start(backend);

        let reply = app.revoke("mallory", PASSWORD, None);

        reply.assert_detail(401, INVALID_CREDENTIALS);
    }

    fn rate_limit_rejects_even_right_password(backend) {
        let app = start_with_three_attempts(backend);
        fail_logins(&app, "alice", 3);

        let reply = app.login("alice", PASSWORD);

        reply.assert_rate_limited(15 * 60);
    }

    fn rate_limit_follows_window_setting(backend) {
        let app = TestApp::start_with(
            backend,
            &[("SESAME_MAX_LOGIN_ATTEMPTS", "1"), ("SESAME_RATE_LIMIT_WINDOW_MINUTES", "2")],
        );
        app.env.create_user("alice");
        fail_logins(&app, "alice", 1);

        let reply = app.login("alice", PASSWORD);

        reply.assert_rate_limited(2 * 60);
    }

    fn rate_limit_ignores_username_case(backend) {
        let app = start_with_three_attempts(backend);
        fail_logins(&app, "alice", 1);
        fail_logins(&app, "ALICE", 1);
        fail_logins(&app, " Alice ", 1);

        let reply = app.login("aLiCe", PASSWORD);

        reply.assert_rate_limited(15 * 60);
    }

    fn rate_limit_lifts_after_window(backend) {
        let app = start_with_three_attempts(backend);
        fail_logins(&app, "alice", 3);
        assert_eq!(app.login("alice", PASSWORD).status, 429);

        // Age the failed attempts past the 15-minute window instead of waiting.
        let aged = app.env.db().execute("UPDATE login_attempts SET attempted_at = '2000-01-01 00:00:00'");
        let reply = app.login("alice", PASSWORD);

        assert_eq!(aged, 3);
        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    fn rate_limit_is_per_username(backend) {
        let app = start_with_three_attempts(backend);
        app.env.create_user("bob");
        fail_logins(&app, "alice", 3);

        let reply = app.login("bob", PASSWORD);

        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    fn rate_limit_covers_unknown_users(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_MAX_LOGIN_ATTEMPTS", "3")]);
        fail_logins(&app, "mallory", 3);

        let reply = app.login("mallory", "wrong password");

        reply.assert_rate_limited(15 * 60);
    }

    fn rate_limit_counts_revoke_failures(backend) {
        let app = start_with_three_attempts(backend);
        let token = app.token("alice");
        for attempt in 1..=3 {
            let reply = app.revoke("alice", "wrong password", None);
            assert_eq!(reply.status, 401, "failed attempt {attempt}: {}", reply.text);
        }

        let login = app.login("alice", PASSWORD);
        let revoke = app.revoke("alice", PASSWORD, None);

        login.assert_rate_limited(15 * 60);
        revoke.assert_rate_limited(15 * 60);
        assert_eq!(app.token_status(&token), 200);
    }

    fn successful_login_clears_failures(backend) {
        let app = start_with_three_attempts(backend);
        fail_logins(&app, "alice", 2);
        app.token("alice");

        // Without the reset, the third of these would already be over the limit.
        fail_logins(&app, "alice", 3);
        let reply = app.login("alice", PASSWORD);

        reply.assert_rate_limited(15 * 60);
    }

    fn token_cap_revokes_oldest(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_MAX_TOKENS_PER_USER", "2")]);
        let (user_id, oldest) = app.user_with_token("alice");
        let middle = app.token("alice");

        let newest = app.token("alice");

        app.get("/api/workspaces", &oldest).assert_invalid_token();
        assert_eq!(app.token_status(&middle), 200);
        assert_eq!(app.token_status(&newest), 200);
        let mut db = app.env.db();
        let revoked = db.strings(&format!(
            "SELECT token_hash AS value FROM tokens WHERE user_id = '{user_id}' AND revoked = TRUE"
        ));
        assert_eq!(revoked, [sha256_hex(&oldest)]);
    }

    fn token_cap_is_per_user(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_MAX_TOKENS_PER_USER", "1")]);
        let (_, alices) = app.user_with_token("alice");

        let (_, bobs) = app.user_with_token("bob");

        assert_eq!(app.token_status(&alices), 200);
        assert_eq!(app.token_status(&bobs), 200);
    }
}
