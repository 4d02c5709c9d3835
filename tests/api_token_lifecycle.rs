//! The token lifecycle that Open Sesame clients drive: login at `/api/auth/login`,
//! `GET /api/tokens`, `POST /api/tokens/token`, `POST /api/tokens/revoke`, `last_used_at`,
//! the per-user cap, pruning with `sesame tokens prune`, and the web client's sign-in flow.

mod common;

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use common::{
    backend_tests, is_token_shaped, parse_utc, sha256_hex, wait_until, Reply, TestApp, TestEnv, LONG_AGO, PASSWORD,
};
use reqwest::Method;
use serde_json::{json, Value};

const INVALID_CREDENTIALS: &str = "Invalid username or password";
const TOKEN_NOT_FOUND: &str = "Token not found";
const CONTROL_CHARACTERS: &str = "title must not contain control characters";

/// Keys of each entry of `GET /api/tokens`, sorted.
const LISTED_KEYS: [&str; 6] = [
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked",
    "title",
    "token_id",
];

/// Keys of a `POST /api/tokens/token` response, sorted.
const CREATED_KEYS: [&str; 6] = ["created_at", "expires_at", "success", "title", "token", "token_id"];

/// Default token lifetime (SESAME_TOKEN_EXPIRY of 525600 minutes), in seconds.
const DEFAULT_LIFETIME_SECS: i64 = 525_600 * 60;

/// Maximum time for the background task that refreshes `last_used_at` to store its value.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

/// A token id that no token has.
const UNKNOWN_TOKEN_ID: &str = "5f0c7a39-2f36-4a6e-9d1b-0d2a9c1e4b77";

fn post_auth_login(app: &TestApp, body: &Value) -> Reply {
    app.post_public("/api/auth/login", body)
}

/// Asserts a 200 `{"success": true, "token"}` that is not cached, with a token of the issued
/// shape that the server accepts.
fn assert_token_issued(app: &TestApp, reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    let token = expect_str(&body["token"]);
    assert_eq!(body, json!({ "success": true, "token": token }));
    assert!(is_token_shaped(token), "{token}");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(app.token_status(token), 200);
}

/// `POST /api/tokens/token` as `caller`, with `body` or none at all. Fails the test unless the
/// server responds 200, and returns the response body.
fn create_token_as(app: &TestApp, caller: &str, body: Option<&Value>) -> Value {
    let reply = app.call(Method::POST, "/api/tokens/token", caller, body);
    assert_eq!(reply.status, 200, "token not created: {}", reply.text);
    reply.json()
}

/// Creates a token titled `title` as `caller` and returns the new token.
fn create_titled_token(app: &TestApp, caller: &str, title: &str) -> String {
    let body = create_token_as(app, caller, Some(&json!({ "title": title })));
    expect_str(&body["token"]).to_string()
}

/// Returns the entries of `GET /api/tokens` as `caller`, failing the test unless the server
/// responds 200 with `"success": true`.
fn list_tokens(app: &TestApp, caller: &str) -> Vec<Value> {
    let reply = app.get("/api/tokens", caller);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["success"], json!(true), "{}", reply.text);
    body["tokens"].as_array().expect("tokens is an array").clone()
}

/// Returns the entry of `token_id` in `GET /api/tokens` as `caller`.
fn listed_token(app: &TestApp, caller: &str, token_id: &str) -> Value {
    let tokens = list_tokens(app, caller);
    let entry = tokens.iter().find(|entry| entry["token_id"] == json!(token_id));
    entry
        .unwrap_or_else(|| panic!("token {token_id} is not listed"))
        .clone()
}

/// `POST /api/tokens/revoke` as `caller`, with `body` or none at all.
fn revoke(app: &TestApp, caller: &str, body: Option<&Value>) -> Reply {
    app.call(Method::POST, "/api/tokens/revoke", caller, body)
}

fn expect_str(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("{value} is not a string"))
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

/// Parses a stored timestamp in the text form that the database returns, such as
/// `2026-12-04 19:42:03.0108`.
fn parse_stored(value: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap_or_else(|error| panic!("{value} is not a stored timestamp: {error}"))
        .and_utc()
}

/// Formats the time `age` before now as SQL timestamp text, for ageing rows.
fn sql_time_ago(age: chrono::Duration) -> String {
    (Utc::now() - age).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Returns the stored token_id of a token, found by its digest.
fn token_id(env: &TestEnv, token: &str) -> String {
    env.db().string(&format!(
        "SELECT token_id AS value FROM tokens WHERE token_hash = '{}'",
        sha256_hex(token)
    ))
}

/// Returns the stored `last_used_at` of a token as text, or None while it is NULL.
fn stored_last_used(env: &TestEnv, token_id: &str) -> Option<String> {
    let query = format!(
        "SELECT CAST(last_used_at AS TEXT) AS value FROM tokens WHERE token_id = '{token_id}' AND last_used_at IS NOT NULL"
    );
    env.db().strings(&query).pop()
}

/// Waits until the stored `last_used_at` of a token is set and differs from `previous`, and
/// returns it. The server refreshes it in a background task after the response.
fn wait_for_last_used(env: &TestEnv, token_id: &str, previous: Option<&str>) -> String {
    let mut current = None;
    let refreshed = wait_until(REFRESH_TIMEOUT, || {
        current = stored_last_used(env, token_id);
        current.is_some() && current.as_deref() != previous
    });
    assert!(
        refreshed,
        "last_used_at of token {token_id} is still {current:?} after {REFRESH_TIMEOUT:?}"
    );
    current.expect("checked above")
}

/// Returns the stored ids of the user's tokens that are not revoked, sorted.
fn live_token_ids(env: &TestEnv, user_id: &str) -> Vec<String> {
    env.db().strings(&format!(
        "SELECT token_id AS value FROM tokens WHERE user_id = '{user_id}' AND revoked = FALSE ORDER BY token_id"
    ))
}

/// Revokes a token with `sesame revoke-tokens`, which records when it was revoked.
fn cli_revoke(env: &TestEnv, username: &str, token: &str) {
    env.run(&["revoke-tokens", "--username", username, "--token", token], None)
        .assert_success();
}

fn all_token_ids(env: &TestEnv) -> Vec<String> {
    env.db()
        .strings("SELECT token_id AS value FROM tokens ORDER BY token_id")
}

fn sorted(mut values: Vec<String>) -> Vec<String> {
    values.sort_unstable();
    values
}

backend_tests! {
    fn login_by_email(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice@example.com");

        let reply = post_auth_login(&app, &json!({ "email": "alice@example.com", "password": PASSWORD }));

        assert_token_issued(&app, &reply);
    }

    fn login_by_username(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice");

        let reply = post_auth_login(&app, &json!({ "username": "alice", "password": PASSWORD }));

        assert_token_issued(&app, &reply);
    }

    fn login_failure_matches_create_token(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice@example.com");
        let cases = [
            ("wrong password by email", json!({ "email": "alice@example.com", "password": "not the password" })),
            ("wrong password by username", json!({ "username": "alice@example.com", "password": "not the password" })),
            ("unknown user", json!({ "username": "mallory", "password": PASSWORD })),
        ];

        for (case, body) in cases {
            let auth_login = post_auth_login(&app, &body);
            let create_token = app.post_public("/api/users/create_token", &body);
            auth_login.assert_case(case, 401, INVALID_CREDENTIALS);
            assert_eq!(auth_login.text, create_token.text, "{case}: bodies differ");
            assert_eq!(auth_login.status, create_token.status, "{case}: statuses differ");
        }
    }

    fn login_shares_rate_limit(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_MAX_LOGIN_ATTEMPTS", "3")]);
        app.env.create_user("alice");
        let wrong = json!({ "username": "alice", "password": "wrong password" });
        post_auth_login(&app, &wrong).assert_detail(401, INVALID_CREDENTIALS);
        post_auth_login(&app, &wrong).assert_detail(401, INVALID_CREDENTIALS);
        app.login("alice", "wrong password").assert_detail(401, INVALID_CREDENTIALS);

        let auth_login = post_auth_login(&app, &json!({ "username": "alice", "password": PASSWORD }));
        let create_token = app.login("alice", PASSWORD);

        auth_login.assert_rate_limited(15 * 60);
        create_token.assert_rate_limited(15 * 60);
    }

    fn list_tokens_newest_first(backend) {
        let app = TestApp::start(backend);
        let (_, first) = app.user_with_token("alice");
        let second = create_titled_token(&app, &first, "laptop");
        let third = create_titled_token(&app, &first, "phone");
        app.user_with_token("bob");

        let tokens = list_tokens(&app, &first);

        let ids: Vec<&str> = tokens.iter().map(|entry| expect_str(&entry["token_id"])).collect();
        let expected = [token_id(&app.env, &third), token_id(&app.env, &second), token_id(&app.env, &first)];
        assert_eq!(ids, expected);
        let titles: Vec<&Value> = tokens.iter().map(|entry| &entry["title"]).collect();
        assert_eq!(titles, [&json!("phone"), &json!("laptop"), &Value::Null]);
        for entry in &tokens {
            assert_eq!(keys(entry), LISTED_KEYS, "{entry}");
            assert_eq!(entry["revoked"], json!(false), "{entry}");
            let lifetime = parse_utc(&entry["expires_at"]) - parse_utc(&entry["created_at"]);
            assert_eq!(lifetime.num_seconds(), DEFAULT_LIFETIME_SECS, "{entry}");
        }
    }

    fn list_tokens_hides_secrets(backend) {
        let app = TestApp::start(backend);
        let (_, first) = app.user_with_token("alice");
        let second = create_titled_token(&app, &first, "laptop");

        let reply = app.get("/api/tokens", &first);

        assert_eq!(reply.status, 200, "{}", reply.text);
        for token in [&first, &second] {
            assert!(!reply.text.contains(token.as_str()), "the body contains a token: {}", reply.text);
            assert!(!reply.text.contains(&token[4..]), "the body contains a token's random part: {}", reply.text);
            assert!(!reply.text.contains(&sha256_hex(token)), "the body contains a token digest: {}", reply.text);
        }
        assert!(!reply.text.contains("token_hash"), "{}", reply.text);
    }

    fn token_routes_need_bearer(backend) {
        let app = TestApp::start(backend);
        app.user_with_token("alice");
        let unknown = format!("ses_{}", "A".repeat(43));
        let routes = [(Method::GET, "/api/tokens"), (Method::POST, "/api/tokens/token"), (Method::POST, "/api/tokens/revoke")];

        for (method, path) in routes {
            let anonymous = app.send(app.request(method.clone(), path));
            let unknown_token = app.call(method.clone(), path, &unknown, None);
            anonymous.assert_case(&format!("{method} {path} without a token"), 403, "Not authenticated");
            unknown_token.assert_case(&format!("{method} {path} with an unknown token"), 401, "Invalid or revoked authentication token");
        }
        assert_eq!(app.env.db().count("tokens WHERE revoked = TRUE"), 0);
    }

    fn create_token_with_title(backend) {
        let app = TestApp::start(backend);
        let (user_id, caller) = app.user_with_token("alice");

        let body = create_token_as(&app, &caller, Some(&json!({ "title": "laptop" })));

        let token = expect_str(&body["token"]);
        assert_eq!(keys(&body), CREATED_KEYS);
        assert_eq!(body["success"], json!(true));
        assert_eq!(body["title"], json!("laptop"));
        assert!(is_token_shaped(token), "{token}");
        assert_ne!(token, caller);
        assert_eq!(expect_str(&body["token_id"]), token_id(&app.env, token));
        let lifetime = parse_utc(&body["expires_at"]) - parse_utc(&body["created_at"]);
        assert_eq!(lifetime.num_seconds(), DEFAULT_LIFETIME_SECS);
        assert_eq!(app.token_status(token), 200);
        let owner = app.env.db().string(&format!("SELECT user_id AS value FROM tokens WHERE token_hash = '{}'", sha256_hex(token)));
        assert_eq!(owner, user_id);
    }

    fn create_token_empty_object(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");

        let body = create_token_as(&app, &caller, Some(&json!({})));

        let token = expect_str(&body["token"]);
        assert_eq!(keys(&body), CREATED_KEYS);
        assert_eq!(body["title"], Value::Null);
        assert_eq!(app.token_status(token), 200);
    }

    fn create_token_without_body(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");

        let body = create_token_as(&app, &caller, None);

        let token = expect_str(&body["token"]);
        assert_eq!(keys(&body), CREATED_KEYS);
        assert_eq!(body["title"], Value::Null);
        assert_eq!(app.token_status(token), 200);
    }

    fn create_token_title_limits(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let longest = "t".repeat(255);

        let trimmed = create_token_as(&app, &caller, Some(&json!({ "title": "  laptop  " })));
        let full_length = create_token_as(&app, &caller, Some(&json!({ "title": longest })));

        assert_eq!(trimmed["title"], json!("laptop"));
        assert_eq!(full_length["title"], json!(longest));
    }

    fn create_token_invalid_title_422(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let cases = [
            (String::new(), "title must not be empty"),
            ("   ".to_string(), "title must not be empty"),
            ("t".repeat(256), "title must be at most 255 characters"),
            ("lap\u{0}top".to_string(), CONTROL_CHARACTERS),
            ("lap\ntop".to_string(), CONTROL_CHARACTERS),
            ("lap\u{1b}top".to_string(), CONTROL_CHARACTERS),
            ("lap\u{7f}top".to_string(), CONTROL_CHARACTERS),
        ];

        for (title, detail) in cases {
            let reply = app.post("/api/tokens/token", &caller, &json!({ "title": title }));
            reply.assert_case(&format!("title {title:.20?}"), 422, detail);
        }
        assert_eq!(app.env.db().count("tokens"), 1);
    }

    fn revoke_by_token(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let target = create_titled_token(&app, &caller, "laptop");
        let target_id = token_id(&app.env, &target);

        let reply = revoke(&app, &caller, Some(&json!({ "token": target })));

        reply.assert(200, json!({ "success": true, "message": "Token revoked successfully.", "revoked": 1 }));
        app.get("/api/tokens", &target).assert_invalid_token();
        assert_eq!(app.token_status(&caller), 200);
        let stored = app.env.db().count(&format!("tokens WHERE token_id = '{target_id}' AND revoked = TRUE AND revoked_at IS NOT NULL"));
        assert_eq!(stored, 1);
    }

    fn revoke_by_token_id(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let target = create_titled_token(&app, &caller, "laptop");
        let target_id = token_id(&app.env, &target);

        let reply = revoke(&app, &caller, Some(&json!({ "token_id": target_id })));

        reply.assert(200, json!({ "success": true, "message": "Token revoked successfully.", "revoked": 1 }));
        app.get("/api/tokens", &target).assert_invalid_token();
        assert_eq!(app.token_status(&caller), 200);
        assert_eq!(listed_token(&app, &caller, &target_id)["revoked"], json!(true));
    }

    fn revoke_twice_counts_zero(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let target = create_titled_token(&app, &caller, "laptop");
        revoke(&app, &caller, Some(&json!({ "token": target })));

        let reply = revoke(&app, &caller, Some(&json!({ "token": target })));

        reply.assert(200, json!({ "success": true, "message": "Token revoked successfully.", "revoked": 0 }));
    }

    fn revoke_token_and_id_422(backend) {
        let app = TestApp::start(backend);
        let (user_id, caller) = app.user_with_token("alice");
        let target = create_titled_token(&app, &caller, "laptop");
        let target_id = token_id(&app.env, &target);

        let reply = revoke(&app, &caller, Some(&json!({ "token": target, "token_id": target_id })));

        reply.assert_detail(422, "give token or token_id, not both");
        assert_eq!(live_token_ids(&app.env, &user_id).len(), 2);
    }

    fn revoke_empty_strings_422(backend) {
        let app = TestApp::start(backend);
        let (user_id, caller) = app.user_with_token("alice");
        let cases = [
            (json!({ "token": "" }), "token must not be empty; leave it out to revoke all tokens"),
            (json!({ "token": "   " }), "token must not be empty; leave it out to revoke all tokens"),
            (json!({ "token_id": "" }), "token_id must not be empty; leave it out to revoke all tokens"),
        ];

        for (body, detail) in cases {
            let reply = revoke(&app, &caller, Some(&body));
            reply.assert_case(&format!("body {body}"), 422, detail);
        }
        assert_eq!(live_token_ids(&app.env, &user_id).len(), 1);
    }

    fn revoke_null_fields_422(backend) {
        let app = TestApp::start(backend);
        let (user_id, caller) = app.user_with_token("alice");
        let cases = [
            (json!({ "token": null }), "token"),
            (json!({ "token_id": null }), "token_id"),
        ];

        for (body, field) in cases {
            let reply = revoke(&app, &caller, Some(&body));
            let detail = format!(
                "Invalid field '{field}': must be a string, not null; leave the field out to select every token at line 1 column {}",
                body.to_string().len()
            );
            reply.assert_case(&format!("body {body}"), 422, &detail);
        }
        assert_eq!(live_token_ids(&app.env, &user_id).len(), 1);
    }

    fn revoke_unknown_or_foreign_404(backend) {
        let app = TestApp::start(backend);
        let (alice_id, alices) = app.user_with_token("alice");
        let (bob_id, bobs) = app.user_with_token("bob");
        let cases = [
            ("unknown token", json!({ "token": format!("ses_{}", "A".repeat(43)) })),
            ("unknown token_id", json!({ "token_id": UNKNOWN_TOKEN_ID })),
            ("another user's token", json!({ "token": bobs })),
            ("another user's token_id", json!({ "token_id": token_id(&app.env, &bobs) })),
        ];

        for (case, body) in cases {
            revoke(&app, &alices, Some(&body)).assert_case(case, 404, TOKEN_NOT_FOUND);
        }
        assert_eq!(app.token_status(&bobs), 200);
        assert_eq!(app.token_status(&alices), 200);
        assert_eq!(live_token_ids(&app.env, &bob_id).len(), 1);
        assert_eq!(live_token_ids(&app.env, &alice_id).len(), 1);
    }

    fn revoke_without_body_revokes_all(backend) {
        let app = TestApp::start(backend);
        let (user_id, caller) = app.user_with_token("alice");
        let created = create_titled_token(&app, &caller, "laptop");
        let logged_in = app.token("alice");
        let (_, bobs) = app.user_with_token("bob");

        let reply = revoke(&app, &caller, None);

        reply.assert(200, json!({ "success": true, "message": "All tokens revoked successfully.", "revoked": 3 }));
        app.get("/api/tokens", &caller).assert_invalid_token();
        app.get("/api/tokens", &created).assert_invalid_token();
        app.get("/api/tokens", &logged_in).assert_invalid_token();
        assert_eq!(live_token_ids(&app.env, &user_id), Vec::<String>::new());
        assert_eq!(app.token_status(&bobs), 200);
    }

    fn revoke_empty_object_revokes_all(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");

        let reply = revoke(&app, &caller, Some(&json!({})));

        reply.assert(200, json!({ "success": true, "message": "All tokens revoked successfully.", "revoked": 1 }));
        app.get("/api/tokens", &caller).assert_invalid_token();
    }

    fn last_used_at_null_when_fresh(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let fresh = create_titled_token(&app, &caller, "laptop");
        let fresh_id = token_id(&app.env, &fresh);

        let entry = listed_token(&app, &caller, &fresh_id);

        assert_eq!(entry["last_used_at"], Value::Null);
        assert_eq!(stored_last_used(&app.env, &fresh_id), None);
    }

    fn last_used_at_set_after_use(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let token = create_titled_token(&app, &caller, "laptop");
        let id = token_id(&app.env, &token);

        assert_eq!(app.token_status(&token), 200);
        let stored = wait_for_last_used(&app.env, &id, None);

        let entry = listed_token(&app, &caller, &id);
        let listed = parse_utc(&entry["last_used_at"]);
        assert_eq!(listed, parse_stored(&stored));
        assert!(listed >= parse_utc(&entry["created_at"]), "last_used_at {listed} is before created_at");
        assert!(listed <= Utc::now(), "last_used_at {listed} is in the future");
    }

    fn last_used_at_minute_resolution(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let token = create_titled_token(&app, &caller, "laptop");
        let id = token_id(&app.env, &token);
        assert_eq!(app.token_status(&token), 200);
        let first = wait_for_last_used(&app.env, &id, None);

        assert_eq!(app.token_status(&token), 200);
        // A rewrite would run in a background task. Waiting for the refresh of a token used
        // after this request gives that task the same time to finish.
        let marker = create_titled_token(&app, &caller, "marker");
        assert_eq!(app.token_status(&marker), 200);
        wait_for_last_used(&app.env, &token_id(&app.env, &marker), None);

        assert_eq!(stored_last_used(&app.env, &id).as_deref(), Some(first.as_str()));

        // Ageing the value past the one-minute resolution makes the next request write it.
        app.env.set_token_time("last_used_at", &id, LONG_AGO);
        assert_eq!(app.token_status(&token), 200);
        let refreshed = wait_for_last_used(&app.env, &id, Some(LONG_AGO));
        assert!(parse_stored(&refreshed) > parse_stored(&first), "{refreshed} is not after {first}");
    }

    fn token_cap_revokes_oldest(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_MAX_TOKENS_PER_USER", "2")]);
        let (user_id, oldest) = app.user_with_token("alice");
        let middle = create_titled_token(&app, &oldest, "middle");

        // The caller's own token is the oldest, and the request that revokes it still succeeds.
        let newest = create_titled_token(&app, &oldest, "newest");

        let tokens = list_tokens(&app, &middle);
        let listed: Vec<(&Value, &Value)> = tokens.iter().map(|entry| (&entry["title"], &entry["revoked"])).collect();
        assert_eq!(
            listed,
            [(&json!("newest"), &json!(false)), (&json!("middle"), &json!(false)), (&Value::Null, &json!(true))]
        );
        app.get("/api/tokens", &oldest).assert_invalid_token();
        assert_eq!(app.token_status(&middle), 200);
        assert_eq!(app.token_status(&newest), 200);
        let expected = sorted(vec![token_id(&app.env, &middle), token_id(&app.env, &newest)]);
        assert_eq!(live_token_ids(&app.env, &user_id), expected);
    }

    fn expired_token_rejected_before_prune(backend) {
        let app = TestApp::start(backend);
        let (_, caller) = app.user_with_token("alice");
        let expired = create_titled_token(&app, &caller, "laptop");
        let expired_id = token_id(&app.env, &expired);

        app.env.set_token_time("expires_at", &expired_id, LONG_AGO);

        app.get("/api/tokens", &expired).assert_invalid_token();
        assert_eq!(app.env.db().count(&format!("tokens WHERE token_id = '{expired_id}'")), 1);
        assert_eq!(listed_token(&app, &caller, &expired_id)["revoked"], json!(false));
    }

    fn prune_deletes_expired_and_old_revoked(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");
        let (_, live) = env.create_token("alice");
        let (_, expired) = env.create_token("alice");
        let (recent_token, revoked_recently) = env.create_token("alice");
        let (old_token, revoked_long_ago) = env.create_token("alice");
        cli_revoke(&env, "alice", &recent_token);
        cli_revoke(&env, "alice", &old_token);
        env.set_token_time("expires_at", &expired, LONG_AGO);
        env.set_token_time("revoked_at", &revoked_recently, &sql_time_ago(chrono::Duration::days(29)));
        env.set_token_time("revoked_at", &revoked_long_ago, &sql_time_ago(chrono::Duration::days(31)));
        // The default rate-limit window is 15 minutes.
        env.insert_login_attempt("mallory", &sql_time_ago(chrono::Duration::minutes(16)));
        env.insert_login_attempt("mallory", &sql_time_ago(chrono::Duration::minutes(14)));

        let output = env.run(&["tokens", "prune", "--json"], None);

        let stdout = output.assert_success();
        let report: Value = serde_json::from_str(stdout).expect("tokens prune --json prints JSON");
        assert_eq!(report, json!({ "tokens": 2, "login_attempts": 1 }));
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        assert_eq!(all_token_ids(&env), sorted(vec![live, revoked_recently]));
        assert_eq!(env.db().count("login_attempts"), 1);
    }

    fn prune_text_reports_counts(backend) {
        let env = TestEnv::new(backend);
        env.create_user("alice");
        let (_, first) = env.create_token("alice");
        let (_, second) = env.create_token("alice");
        let (_, live) = env.create_token("alice");
        env.set_token_time("expires_at", &first, LONG_AGO);
        env.set_token_time("expires_at", &second, LONG_AGO);
        env.insert_login_attempt("mallory", LONG_AGO);
        env.insert_login_attempt("eve", LONG_AGO);

        let output = env.run(&["tokens", "prune"], None);
        let again = env.run(&["tokens", "prune", "--json"], None);

        assert_eq!(output.assert_success(), "Pruned 2 tokens (expired or revoked) and 2 old login attempts\n");
        let report: Value = serde_json::from_str(again.assert_success()).expect("tokens prune --json prints JSON");
        assert_eq!(report, json!({ "tokens": 0, "login_attempts": 0 }));
        assert_eq!(all_token_ids(&env), [live]);
    }

    fn web_client_flow(backend) {
        let app = TestApp::start(backend);
        app.env.create_user("alice@example.com");

        let login = post_auth_login(&app, &json!({ "email": "alice@example.com", "password": PASSWORD }));
        assert_eq!(login.status, 200, "{}", login.text);
        let token = expect_str(&login.json()["token"]).to_string();

        app.get("/api/workspaces", &token).assert(200, json!([]));

        let workspace = app.create_workspace(&token, &json!({ "title": "Research notes", "config": { "model": "llama3" } }));
        assert_eq!(workspace["title"], json!("Research notes"));
        assert_eq!(workspace["config"], json!({ "model": "llama3" }));

        app.get("/api/workspaces", &token).assert(200, json!([workspace]));

        let tokens = list_tokens(&app, &token);
        assert_eq!(tokens.len(), 1, "{tokens:?}");
        assert_eq!(tokens[0]["token_id"], json!(token_id(&app.env, &token)));
        assert_eq!(tokens[0]["revoked"], json!(false));

        let signed_out = revoke(&app, &token, None);
        signed_out.assert(200, json!({ "success": true, "message": "All tokens revoked successfully.", "revoked": 1 }));

        app.get("/api/workspaces", &token).assert_invalid_token();
    }
}
