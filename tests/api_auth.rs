//! Bearer authentication on every workspace route: missing or foreign schemes (403), and
//! unknown, malformed, revoked and expired tokens (401).

mod common;

use common::{backend_tests, sha256_hex, Backend, Reply, TestApp, PASSWORD};
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::json;

const SOME_WORKSPACE: &str = "/api/workspaces/8ed8484e-de41-433a-a326-81849b2290a4";

/// Lists every route that needs a token, with a body where the route takes one.
fn protected_routes() -> Vec<(Method, &'static str, Option<serde_json::Value>)> {
    vec![
        (Method::GET, "/api/workspaces", None),
        (Method::POST, "/api/workspaces", Some(json!({ "title": "Notes" }))),
        (Method::GET, SOME_WORKSPACE, None),
        (Method::PUT, SOME_WORKSPACE, Some(json!({ "title": "Notes" }))),
        (Method::DELETE, SOME_WORKSPACE, None),
    ]
}

/// Asserts that every protected route rejects `token` as invalid.
fn assert_rejected_everywhere(app: &TestApp, token: &str) {
    for (method, path, body) in protected_routes() {
        let reply = app.call(method.clone(), path, token, body.as_ref());
        reply.assert_case(
            &format!("{method} {path}"),
            401,
            "Invalid or revoked authentication token",
        );
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{method} {path}");
    }
}

/// Sends `GET /api/workspaces` with the raw `Authorization` header value.
fn list_with_authorization(app: &TestApp, value: HeaderValue) -> Reply {
    app.send(
        app.request(Method::GET, "/api/workspaces")
            .header("authorization", value),
    )
}

fn expire_token(app: &TestApp, token: &str) {
    let changed = app.env.db().execute(&format!(
        "UPDATE tokens SET expires_at = '2000-01-01 00:00:00' WHERE token_hash = '{}'",
        sha256_hex(token)
    ));
    assert_eq!(changed, 1, "the token's row was not found");
}

/// Returns a token's stored `expires_at - created_at`, in whole seconds.
fn token_lifetime_secs(app: &TestApp, token: &str) -> i64 {
    let seconds = match app.env.backend {
        Backend::Sqlite => "CAST(ROUND((julianday(expires_at) - julianday(created_at)) * 86400) AS INTEGER)",
        Backend::Postgres => "CAST(ROUND(EXTRACT(EPOCH FROM expires_at - created_at)) AS BIGINT)",
    };
    let query = format!(
        "SELECT CAST({seconds} AS TEXT) AS value FROM tokens WHERE token_hash = '{}'",
        sha256_hex(token)
    );
    app.env.db().string(&query).parse().expect("a whole number of seconds")
}

backend_tests! {
    fn missing_authorization_403(backend) {
        let app = TestApp::start(backend);

        for (method, path, body) in protected_routes() {
            let mut request = app.request(method.clone(), path);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let reply = app.send(request);
            reply.assert_case(&format!("{method} {path}"), 403, "Not authenticated");
        }
    }

    fn other_schemes_403(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let values = [
            "Basic YWxpY2U6cGFzc3dvcmQ=".to_string(),
            format!("Token {token}"),
            format!("Bearer{token}"),
            "Bearer".to_string(),
            "Bearer    ".to_string(),
            token.clone(),
        ];

        for value in values {
            let reply = list_with_authorization(&app, HeaderValue::from_str(&value).expect("a header value"));
            reply.assert_case(&format!("Authorization {value:?}"), 403, "Not authenticated");
        }
    }

    fn non_text_authorization_403(backend) {
        let app = TestApp::start(backend);

        let value = HeaderValue::from_bytes(b"Bearer ses_\xff\xfe").expect("obs-text is a valid header value");
        let reply = list_with_authorization(&app, value);

        reply.assert_detail(403, "Not authenticated");
    }

    fn scheme_name_any_case(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let value = HeaderValue::from_str(&format!("{scheme} {token}")).expect("a header value");
            let reply = list_with_authorization(&app, value);
            assert_eq!(reply.status, 200, "scheme {scheme}: {}", reply.text);
        }
    }

    fn unknown_token_401(backend) {
        let app = TestApp::start(backend);
        app.user_with_token("alice");
        let unknown = format!("ses_{}", "A".repeat(43));

        assert_rejected_everywhere(&app, &unknown);
    }

    fn malformed_tokens_401(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let tokens = [
            "ses_short".to_string(),
            format!("tok_{}", &token[4..]),
            format!("{token}A"),
            token[..token.len() - 1].to_string(),
            format!("ses_{}", "!".repeat(43)),
            "x".repeat(10_000),
        ];

        for bad in tokens {
            let reply = app.get("/api/workspaces", &bad);
            reply.assert_case(&format!("token {bad:.60}"), 401, "Invalid or revoked authentication token");
            assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "token {bad:.60}");
        }
    }

    fn revoked_token_401_on_next_request(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        assert_eq!(app.token_status(&token), 200);

        app.revoke("alice", PASSWORD, Some(&token));

        assert_rejected_everywhere(&app, &token);
    }

    fn expired_token_401(backend) {
        let app = TestApp::start(backend);
        let (_, expired) = app.user_with_token("alice");
        let fresh = app.token("alice");

        expire_token(&app, &expired);

        assert_rejected_everywhere(&app, &expired);
        assert_eq!(app.token_status(&fresh), 200);
    }

    fn token_lifetime_defaults_to_one_year(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        assert_eq!(token_lifetime_secs(&app, &token), 525_600 * 60);
    }

    fn token_lifetime_follows_setting(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_TOKEN_EXPIRY", "90")]);
        let (_, token) = app.user_with_token("alice");

        assert_eq!(token_lifetime_secs(&app, &token), 90 * 60);
    }
}
