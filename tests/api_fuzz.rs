//! Property-based fuzzing of the running server: generated bodies go to every POST and PUT
//! route, and generated `Authorization` headers to the GET routes. No request may get a 5xx,
//! and every 4xx must carry a JSON body `{"detail": "<message>"}`.

mod common;

use std::cell::RefCell;

use common::{backend_tests, send, Reply, TestApp};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Map, Value};

/// Generated requests per test; each test also runs on both backends, and together they finish
/// in seconds.
const BODY_CASES: u32 = 256;
const HEADER_CASES: u32 = 128;

/// The user whose token the bearer routes get.
const USERNAME: &str = "fuzz";

/// Routes that take a body, and whether they need a bearer token. `{id}` stands for the id of
/// a workspace of the user.
const BODY_ROUTES: &[(&str, &str, bool)] = &[
    ("POST", "/api/users/create_token", false),
    ("POST", "/api/auth/login", false),
    ("POST", "/api/users/revoke_token", false),
    ("POST", "/api/tokens/token", true),
    ("POST", "/api/tokens/revoke", true),
    ("POST", "/api/workspaces", true),
    ("PUT", "/api/workspaces/{id}", true),
];

/// Routes that read with a bearer token.
const GET_ROUTES: &[&str] = &["/api/workspaces", "/api/tokens", "/api/workspaces/{id}"];

/// Field names of the request bodies.
const FIELD_NAMES: &[&str] = &[
    "username", "email", "password", "title", "config", "user", "token", "token_id",
];

/// Generates field names of the request bodies, and arbitrary ones.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(FIELD_NAMES).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// Generates strings that the validation must handle: any characters, NUL and other control
/// characters, and runs of one character up to 2,047 long, past the length limits of titles,
/// usernames and passwords.
fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z]{0,8}\u{0}[a-z]{0,8}",
        "[\u{0}-\u{1f}\u{7f}]{1,8}",
        (any::<char>(), 0usize..2048).prop_map(|(character, length)| character.to_string().repeat(length)),
    ]
}

/// Generates JSON values a few levels deep, with the field names of the request bodies.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        field_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_name(), inner), 0..6).prop_map(object),
        ]
    })
}

fn object(fields: Vec<(String, Value)>) -> Value {
    Value::Object(fields.into_iter().collect::<Map<String, Value>>())
}

/// Generates values for the field `name`: mostly of the type the field takes, so that the
/// body gets past parsing to validation and storage, and sometimes any JSON value.
fn field_value(name: &'static str) -> BoxedStrategy<Value> {
    let typed = match name {
        "config" => prop::collection::vec((field_text(), json_value()), 0..4)
            .prop_map(object)
            .boxed(),
        "user" => prop::collection::vec(
            (
                prop::sample::select(vec!["username", "email", "password"]).prop_map(String::from),
                field_text().prop_map(Value::String),
            ),
            0..3,
        )
        .prop_map(object)
        .boxed(),
        _ => field_text().prop_map(Value::String).boxed(),
    };
    prop_oneof![3 => typed, 1 => json_value()].boxed()
}

/// Generates objects with the request bodies' field names and values.
fn request_object() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(FIELD_NAMES).prop_flat_map(|name| (Just(name.to_string()), field_value(name)));
    prop::collection::vec(field, 0..5).prop_map(object)
}

/// Generates request bodies: arbitrary bytes, JSON values, objects shaped like requests, deep
/// nesting, strings of up to 300,000 characters (over the 64 KiB and 1 MiB limits) and invalid
/// UTF-8 inside a string.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        1 => json_value().prop_map(|value| value.to_string().into_bytes()),
        4 => request_object().prop_map(|value| value.to_string().into_bytes()),
        1 => (1usize..20_000, prop::sample::select(vec!["[", "{\"config\":", "{\"user\":", "{\"title\":"])).prop_map(
            |(depth, open)| {
                let close = if open == "[" { "]" } else { "}" };
                format!("{}null{}", open.repeat(depth), close.repeat(depth)).into_bytes()
            }
        ),
        1 => (field_name(), any::<char>(), 0usize..300_000).prop_map(|(field, character, length)| {
            let mut object = Map::new();
            object.insert(field, Value::String(character.to_string().repeat(length)));
            Value::Object(object).to_string().into_bytes()
        }),
        1 => (field_name(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(field, text)| {
            let mut body = format!("{{{}: \"", Value::String(field)).into_bytes();
            body.extend(text);
            body.push(0xFF);
            body.extend_from_slice(b"\"}");
            body
        }),
    ]
}

/// Generates a `Content-Type`: mostly JSON, sometimes none or another type.
fn content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        6 => Just(Some("application/json")),
        1 => Just(None),
        1 => Just(Some("application/merge-patch+json")),
        1 => Just(Some("text/plain")),
    ]
}

/// Generates `Authorization` values: arbitrary header bytes, or a scheme and text that look
/// like a bearer token.
fn authorization() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..256),
        (
            prop::sample::select(vec!["Bearer", "bearer", "BEARER", "Basic", "Token", ""]),
            "[ \t]{0,3}",
            prop_oneof!["[ -~]{0,80}", "ses_[A-Za-z0-9_-]{0,60}"],
        )
            .prop_map(|(scheme, gap, credentials)| format!("{scheme}{gap}{credentials}").into_bytes()),
    ]
}

/// Fails the case on a 5xx, and on a 4xx whose body is not `{"detail": "<message>"}`.
fn check_reply(case: &str, reply: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(reply.status < 500, "{case}: {} {}", reply.status, reply.text);
    if reply.status >= 400 {
        let body: Value = serde_json::from_str(&reply.text).map_err(|error| {
            TestCaseError::fail(format!(
                "{case}: {} body is not JSON ({error}): {}",
                reply.status, reply.text
            ))
        })?;
        let detail = body
            .as_object()
            .filter(|object| object.len() == 1)
            .and_then(|object| object["detail"].as_str());
        prop_assert!(
            detail.is_some_and(|detail| !detail.is_empty()),
            "{case}: {} body {}",
            reply.status,
            reply.text
        );
    }
    Ok(())
}

/// Returns a live token of [`USERNAME`], logging in again when a generated request revoked
/// the last one.
fn live_token(app: &TestApp, token: &RefCell<String>) -> String {
    if app.token_status(&token.borrow()) == 401 {
        *token.borrow_mut() = app.token(USERNAME);
    }
    token.borrow().clone()
}

/// Maximum time to shrink a failing input, in milliseconds; each step sends a request.
const MAX_SHRINK_MILLIS: u32 = 20_000;

fn runner(cases: u32) -> TestRunner {
    // A failure depends on the server's state, so a stored seed would not reproduce it.
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_time: MAX_SHRINK_MILLIS,
        ..Config::default()
    })
}

backend_tests! {
    fn generated_bodies_no_5xx(backend) {
        let app = TestApp::start(backend);
        let (_, first_token) = app.user_with_token(USERNAME);
        let workspace = app.create_workspace(&first_token, &json!({ "title": "fuzzed" }));
        let workspace_path = format!("/api/workspaces/{}", workspace["workspace_id"].as_str().expect("workspace_id"));
        let token = RefCell::new(first_token);

        let strategy = (prop::sample::select(BODY_ROUTES), body(), content_type());
        let outcome = runner(BODY_CASES).run(&strategy, |((method, path, bearer), body, content_type)| {
            let path = path.replace("/api/workspaces/{id}", &workspace_path);
            let method = Method::from_bytes(method.as_bytes()).expect("a valid method");
            let mut request = app.request(method.clone(), &path).body(body.clone());
            if let Some(content_type) = content_type {
                request = request.header(CONTENT_TYPE, content_type);
            }
            if bearer {
                request = request.bearer_auth(live_token(&app, &token));
            }
            let reply = send(request);
            let body_start = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            check_reply(&format!("{method} {path} {content_type:?} {body_start:?}"), &reply)
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
        app.send(app.request(Method::GET, "/livez")).assert(200, json!({ "status": "ok" }));
    }

    fn generated_auth_headers_401_or_403(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token(USERNAME);
        let workspace = app.create_workspace(&token, &json!({ "title": "fuzzed" }));
        let workspace_path = format!("/api/workspaces/{}", workspace["workspace_id"].as_str().expect("workspace_id"));

        let strategy = (prop::sample::select(GET_ROUTES), authorization());
        let outcome = runner(HEADER_CASES).run(&strategy, |(path, authorization)| {
            let path = path.replace("/api/workspaces/{id}", &workspace_path);
            let value = HeaderValue::from_bytes(&authorization).expect("authorization() makes valid header values");
            let reply = send(app.request(Method::GET, &path).header(AUTHORIZATION, value));
            let case = format!("GET {path} {:?}", String::from_utf8_lossy(&authorization));
            check_reply(&case, &reply)?;

            match reply.status {
                401 => prop_assert_eq!(reply.json(), json!({ "detail": "Invalid or revoked authentication token" }), "{}", case),
                403 => prop_assert_eq!(reply.json(), json!({ "detail": "Not authenticated" }), "{}", case),
                status => prop_assert!(false, "{case}: status {status}, expected 401 or 403"),
            }
            Ok(())
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
        assert_eq!(app.token_status(&token), 200, "the user's token after the generated headers");
    }

    // Cases the fuzzing found: PostgreSQL cannot store NUL in text or jsonb, and these
    // requests got 500 there.
    fn nul_in_config_or_token_id_4xx(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token(USERNAME);
        let workspace = app.create_workspace(&token, &json!({ "title": "stored" }));
        let workspace_path = format!("/api/workspaces/{}", workspace["workspace_id"].as_str().expect("workspace_id"));

        let created = app.post("/api/workspaces", &token, &json!({ "title": "x", "config": { "a": "b\u{0}c" } }));
        created.assert_case("NUL in a config value", 422, "config.a must not contain NUL characters");
        let updated = app.put(&workspace_path, &token, &json!({ "config": { "a": [{ "b\u{0}": 1 }] } }));
        updated.assert_case("NUL in a config key", 422, "config.a[0].b\\0 must not contain NUL characters");
        let revoked = app.post("/api/tokens/revoke", &token, &json!({ "token_id": "a\u{0}b" }));
        revoked.assert_case("NUL in token_id", 404, "Token not found");
        assert_eq!(app.token_status(&token), 200, "the token after the rejected requests");
    }
}
