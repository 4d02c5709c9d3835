//! Malformed and invalid input on every route that reads a body, a query or a header. Each
//! case expects an exact 4xx status and `{"detail": ...}`; none may get a 5xx, and the server
//! must keep serving and store nothing.

mod common;

use common::{backend_tests, Reply, TestApp, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

const JSON: &str = "application/json";

/// Body limits: 64 KiB for the token routes, 1 MiB for the workspace routes.
const TOKEN_ROUTE_LIMIT: usize = 64 * 1024;
const WORKSPACE_ROUTE_LIMIT: usize = 1024 * 1024;

/// A route that reads a JSON body, with the token it needs (if any).
struct Route {
    method: Method,
    path: String,
    token: Option<String>,
    limit: usize,
}

impl Route {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A user, one of its workspaces and the four body-reading routes.
struct Fixture {
    app: TestApp,
    token: String,
    workspace_path: String,
}

impl Fixture {
    fn new(backend: common::Backend) -> Fixture {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let workspace = app.create_workspace(&token, &json!({ "title": "Original", "config": { "kept": true } }));
        let workspace_path = format!(
            "/api/workspaces/{}",
            workspace["workspace_id"].as_str().expect("a string")
        );
        Fixture {
            app,
            token,
            workspace_path,
        }
    }

    fn create_token(&self) -> Route {
        Route {
            method: Method::POST,
            path: "/api/users/create_token".into(),
            token: None,
            limit: TOKEN_ROUTE_LIMIT,
        }
    }

    fn revoke_token(&self) -> Route {
        Route {
            method: Method::POST,
            path: "/api/users/revoke_token".into(),
            token: None,
            limit: TOKEN_ROUTE_LIMIT,
        }
    }

    fn create_workspace(&self) -> Route {
        Route {
            method: Method::POST,
            path: "/api/workspaces".into(),
            token: Some(self.token.clone()),
            limit: WORKSPACE_ROUTE_LIMIT,
        }
    }

    fn update_workspace(&self) -> Route {
        Route {
            method: Method::PUT,
            path: self.workspace_path.clone(),
            token: Some(self.token.clone()),
            limit: WORKSPACE_ROUTE_LIMIT,
        }
    }

    fn routes(&self) -> [Route; 4] {
        [
            self.create_token(),
            self.revoke_token(),
            self.create_workspace(),
            self.update_workspace(),
        ]
    }

    /// Sends raw bytes to a route, with `content_type` when given.
    fn send(&self, route: &Route, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Reply {
        let mut request = self.app.request(route.method.clone(), &route.path).body(body.into());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(token) = &route.token {
            request = request.bearer_auth(token);
        }
        self.app.send(request)
    }

    /// Sends `body` as JSON to `route` and asserts the status and `{"detail": DETAIL}`.
    fn expect(&self, route: &Route, body: impl AsRef<[u8]>, status: u16, detail: &str) {
        let body = body.as_ref();
        let reply = self.send(route, Some(JSON), body.to_vec());
        let shown: String = String::from_utf8_lossy(body).chars().take(80).collect();
        reply.assert_case(&format!("{} {shown}", route.name()), status, detail);
    }

    /// Sends each JSON body to `route` and asserts 422 with the paired detail.
    fn assert_rejected(&self, route: &Route, cases: &[(Value, &str)]) {
        for (body, detail) in cases {
            self.expect(route, body.to_string(), 422, detail);
        }
    }

    /// Asserts that the server still responds and that the rejected requests neither changed
    /// nor added a workspace or token.
    fn assert_unchanged(&self) {
        assert_eq!(self.app.send(self.app.request(Method::GET, "/livez")).status, 200);
        let workspace = self.app.get(&self.workspace_path, &self.token).json();
        assert_eq!(workspace["title"], "Original");
        assert_eq!(workspace["config"], json!({ "kept": true }));
        let mut db = self.app.env.db();
        assert_eq!(db.count("workspaces"), 1);
        assert_eq!(db.count("tokens"), 1);
        assert_eq!(db.count("tokens WHERE revoked = TRUE"), 0);
    }
}

/// Returns a JSON object of about `size` bytes with a workspace title and one padded
/// config value.
fn padded_workspace(size: usize) -> String {
    let prefix = r#"{"title":"Big","config":{"pad":""#;
    let suffix = r#""}}"#;
    format!("{prefix}{}{suffix}", "x".repeat(size - prefix.len() - suffix.len()))
}

backend_tests! {
    fn empty_body_400(backend) {
        let fixture = Fixture::new(backend);

        for route in fixture.routes() {
            for body in ["", "  \n\t "] {
                fixture.expect(&route, body, 400, "Request body is empty; send a JSON object");
            }
        }
        fixture.assert_unchanged();
    }

    fn invalid_json_400(backend) {
        let fixture = Fixture::new(backend);
        let cases: [(&[u8], &str); 5] = [
            (b"{\"title\": ", "EOF while parsing a value at line 1 column 10"),
            (b"{'title': 'x'}", "key must be a string at line 1 column 2"),
            (b"{} {}", "trailing characters at line 1 column 4"),
            (b"[1,", "EOF while parsing a value at line 1 column 3"),
            (b"nonsense", "expected ident at line 1 column 2"),
        ];

        for route in fixture.routes() {
            for (body, message) in cases {
                fixture.expect(&route, body, 400, &format!("Request body is not valid JSON: {message}"));
            }
        }
        fixture.assert_unchanged();
    }

    fn deeply_nested_array_422(backend) {
        let fixture = Fixture::new(backend);
        let nested = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));

        for route in fixture.routes() {
            fixture.expect(&route, &nested, 422, "Request body must be a JSON object");
        }
        fixture.assert_unchanged();
    }

    fn deeply_nested_config_400(backend) {
        let fixture = Fixture::new(backend);
        let config = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        let body = format!(r#"{{"title":"Deep","config":{config}}}"#);

        for route in [fixture.create_workspace(), fixture.update_workspace()] {
            let detail = "Request body is not valid JSON: recursion limit exceeded at line 1 column 656";
            fixture.expect(&route, &body, 400, detail);
        }
        fixture.assert_unchanged();
    }

    fn invalid_utf8_string_400(backend) {
        let fixture = Fixture::new(backend);
        let cases: [(Route, &[u8], &str); 5] = [
            (fixture.create_token(), b"{\"username\": \"\xff\"}", "invalid UTF-8 at byte 14"),
            (fixture.create_token(), b"{\"ignored\": \"\xff\"}", "invalid UTF-8 at byte 13"),
            (fixture.revoke_token(), b"{\"token\": \"\xff\"}", "invalid UTF-8 at byte 11"),
            (fixture.create_workspace(), b"{\"title\": \"\xff\"}", "invalid UTF-8 at byte 11"),
            (fixture.update_workspace(), b"{\"title\": \"\xff\"}", "invalid UTF-8 at byte 11"),
        ];

        for (route, body, message) in cases {
            fixture.expect(&route, body, 400, &format!("Request body is not valid JSON: {message}"));
        }
        fixture.assert_unchanged();
    }

    fn non_object_json_422(backend) {
        let fixture = Fixture::new(backend);
        let bodies = ["[]", "[\"alice\", null, \"correct horse battery staple\"]", "\"alice\"", "5", "true", "null"];

        for route in fixture.routes() {
            for body in bodies {
                fixture.expect(&route, body, 422, "Request body must be a JSON object");
            }
        }
        fixture.assert_unchanged();
    }

    fn field_array_does_not_log_in(backend) {
        let fixture = Fixture::new(backend);

        let body = format!("[\"alice\", null, \"{PASSWORD}\"]");

        fixture.expect(&fixture.create_token(), body, 422, "Request body must be a JSON object");
    }

    fn non_json_content_type_415(backend) {
        let fixture = Fixture::new(backend);
        let body = json!({ "username": "alice", "password": PASSWORD, "title": "x" }).to_string();

        for route in fixture.routes() {
            for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "json"] {
                let reply = fixture.send(&route, Some(content_type), body.as_str());
                reply.assert_case(&format!("{} {content_type}", route.name()), 415, "Content-Type must be application/json");
            }
        }
        fixture.assert_unchanged();
    }

    fn json_content_type_variants_accepted(backend) {
        let fixture = Fixture::new(backend);
        let body = json!({ "title": "Accepted" }).to_string();

        for content_type in [Some("application/json; charset=utf-8"), Some("Application/JSON"), Some("application/vnd.api+json"), None] {
            let reply = fixture.send(&fixture.create_workspace(), content_type, body.as_str());
            assert_eq!(reply.status, 201, "{content_type:?}: {}", reply.text);
        }
    }

    fn body_over_limit_413(backend) {
        let fixture = Fixture::new(backend);

        for route in fixture.routes() {
            let detail = format!("Request body is larger than the limit of {} bytes", route.limit);
            fixture.expect(&route, padded_workspace(route.limit + 1), 413, &detail);
        }
        fixture.assert_unchanged();
    }

    fn chunked_body_over_limit_413(backend) {
        let fixture = Fixture::new(backend);

        for route in fixture.routes() {
            // A reader has no known length, so reqwest sends it with chunked encoding.
            let body = reqwest::blocking::Body::new(std::io::Cursor::new(padded_workspace(route.limit + 1).into_bytes()));
            let mut request = fixture.app.request(route.method.clone(), &route.path).header("content-type", JSON).body(body);
            if let Some(token) = &route.token {
                request = request.bearer_auth(token);
            }
            let reply = fixture.app.send(request);
            let detail = format!("Request body is larger than the limit of {} bytes", route.limit);
            reply.assert_case(&route.name(), 413, &detail);
        }
        fixture.assert_unchanged();
    }

    fn token_route_body_at_limit_accepted(backend) {
        let fixture = Fixture::new(backend);
        let prefix = format!(r#"{{"username":"alice","password":"{PASSWORD}","pad":""#);
        let body = format!("{prefix}{}\"}}", "x".repeat(TOKEN_ROUTE_LIMIT - prefix.len() - 2));
        assert_eq!(body.len(), TOKEN_ROUTE_LIMIT);

        let reply = fixture.send(&fixture.create_token(), Some(JSON), body);

        assert_eq!(reply.status, 200, "{}", reply.text);
    }

    fn workspace_body_of_900_kib_accepted(backend) {
        let fixture = Fixture::new(backend);
        let body = padded_workspace(900 * 1024);

        let created = fixture.send(&fixture.create_workspace(), Some(JSON), body.as_str());
        let updated = fixture.send(&fixture.update_workspace(), Some(JSON), body.as_str());

        assert_eq!(created.status, 201, "{}", &created.text[..created.text.len().min(200)]);
        assert_eq!(updated.status, 200, "{}", &updated.text[..updated.text.len().min(200)]);
        let stored = created.json()["config"]["pad"].as_str().expect("pad is a string").len();
        assert_eq!(stored, 900 * 1024 - r#"{"title":"Big","config":{"pad":""}}"#.len());
        let fetched = fixture.app.get(&fixture.workspace_path, &fixture.token).json();
        assert_eq!(fetched["config"]["kept"], true);
        assert_eq!(fetched["config"]["pad"].as_str().map(str::len), Some(stored));
    }

    fn create_token_fields_422(backend) {
        let fixture = Fixture::new(backend);
        let cases = [
            (json!({ "password": PASSWORD }), "username is required (or email)"),
            (json!({ "username": "alice" }), "password is required"),
            (json!({ "username": null, "password": PASSWORD }), "username is required (or email)"),
            (json!({ "username": "", "password": PASSWORD }), "username must not be empty"),
            (json!({ "username": "   ", "password": PASSWORD }), "username must not be empty"),
            (json!({ "username": "al\u{0}ice", "password": PASSWORD }), "username must not contain control characters"),
            (json!({ "username": "al\u{1b}ice", "password": PASSWORD }), "username must not contain control characters"),
            (json!({ "username": "u".repeat(256), "password": PASSWORD }), "username must be at most 255 characters"),
            (json!({ "username": "alice", "password": "pass\u{0}word" }), "password must not contain NUL characters"),
            (json!({ "username": "alice", "password": "p".repeat(1025) }), "password must be at most 1024 bytes"),
            (json!({ "username": "alice", "password": "é".repeat(513) }), "password must be at most 1024 bytes"),
            (json!({ "username": "alice", "password": PASSWORD, "title": "" }), "title must not be empty"),
            (json!({ "username": "alice", "password": PASSWORD, "title": "a\u{7}b" }), "title must not contain control characters"),
            (json!({ "username": "alice", "password": PASSWORD, "title": "t".repeat(256) }), "title must be at most 255 characters"),
        ];

        fixture.assert_rejected(&fixture.create_token(), &cases);
        fixture.assert_unchanged();
    }

    fn revoke_token_fields_422(backend) {
        let fixture = Fixture::new(backend);
        let cases = [
            (json!({}), "user is required"),
            (json!({ "user": null }), "user is required"),
            (json!({ "user": {} }), "user.username is required (or user.email)"),
            (json!({ "user": { "username": "alice" } }), "user.password is required"),
            (json!({ "user": { "username": "al\u{0}ice", "password": PASSWORD } }), "user.username must not contain control characters"),
            (json!({ "user": { "username": "u".repeat(256), "password": PASSWORD } }), "user.username must be at most 255 characters"),
            (json!({ "user": { "username": "alice", "password": "pass\u{0}word" } }), "user.password must not contain NUL characters"),
            (json!({ "user": { "username": "alice", "password": "p".repeat(1025) } }), "user.password must be at most 1024 bytes"),
            (json!({ "user": { "username": "alice", "password": PASSWORD }, "token": "" }), "token must not be empty; leave it out to revoke all tokens"),
            (json!({ "user": { "username": "alice", "password": PASSWORD }, "token": "  " }), "token must not be empty; leave it out to revoke all tokens"),
        ];

        fixture.assert_rejected(&fixture.revoke_token(), &cases);
        fixture.assert_unchanged();
    }

    fn create_workspace_fields_422(backend) {
        let fixture = Fixture::new(backend);
        let cases = [
            (json!({}), "title is required"),
            (json!({ "title": null }), "title is required"),
            (json!({ "config": {} }), "title is required"),
            (json!({ "title": "" }), "title must not be empty"),
            (json!({ "title": " \t " }), "title must not be empty"),
            (json!({ "title": "t".repeat(256) }), "title must be at most 255 characters"),
            (json!({ "title": "a\u{0}b" }), "title must not contain control characters"),
            (json!({ "title": "line\nbreak" }), "title must not contain control characters"),
            (json!({ "title": "Notes", "config": [] }), "config must be a JSON object"),
            (json!({ "title": "Notes", "config": "{}" }), "config must be a JSON object"),
            (json!({ "title": "Notes", "config": 5 }), "config must be a JSON object"),
            (json!({ "title": "Notes", "config": true }), "config must be a JSON object"),
        ];

        fixture.assert_rejected(&fixture.create_workspace(), &cases);
        fixture.assert_unchanged();
    }

    fn update_workspace_fields_422(backend) {
        let fixture = Fixture::new(backend);
        let cases = [
            (json!({ "title": "" }), "title must not be empty"),
            (json!({ "title": "t".repeat(256) }), "title must be at most 255 characters"),
            (json!({ "title": "a\u{1b}b" }), "title must not contain control characters"),
            (json!({ "config": [1] }), "config must be a JSON object"),
            (json!({ "config": "x" }), "config must be a JSON object"),
            (json!({ "title": "Renamed", "config": 1 }), "config must be a JSON object"),
        ];

        fixture.assert_rejected(&fixture.update_workspace(), &cases);
        fixture.assert_unchanged();
    }

    fn wrong_field_types_422(backend) {
        let fixture = Fixture::new(backend);
        // Raw bodies, because the message gives the column where the wrong value ends.
        let cases = [
            (
                fixture.create_token(),
                r#"{"username": 5, "password": "x"}"#,
                "Invalid field 'username': invalid type: integer `5`, expected a string at line 1 column 14",
            ),
            (
                fixture.create_token(),
                r#"{"username": "alice", "password": ["x"]}"#,
                "Invalid field 'password': invalid type: sequence, expected a string at line 1 column 34",
            ),
            (
                fixture.create_token(),
                r#"{"email": true}"#,
                "Invalid field 'email': invalid type: boolean `true`, expected a string at line 1 column 14",
            ),
            (
                fixture.revoke_token(),
                r#"{"user": {"username": 5}}"#,
                "Invalid field 'user.username': invalid type: integer `5`, expected a string at line 1 column 23",
            ),
            (
                fixture.revoke_token(),
                r#"{"user": "alice"}"#,
                "Invalid field 'user': invalid type: string \"alice\", expected a JSON object at line 1 column 16",
            ),
            (
                fixture.revoke_token(),
                r#"{"token": 5}"#,
                "Invalid field 'token': invalid type: integer `5`, expected a string at line 1 column 11",
            ),
            (
                fixture.create_workspace(),
                r#"{"title": 5}"#,
                "Invalid field 'title': invalid type: integer `5`, expected a string at line 1 column 11",
            ),
            (
                fixture.update_workspace(),
                r#"{"title": ["x"]}"#,
                "Invalid field 'title': invalid type: sequence, expected a string at line 1 column 10",
            ),
        ];

        for (route, body, detail) in cases {
            fixture.expect(&route, body, 422, detail);
        }
        fixture.assert_unchanged();
    }

    fn odd_query_strings_handled(backend) {
        let fixture = Fixture::new(backend);
        let long_query = format!("?limit={}", "9".repeat(5000));
        let cases = [
            ("?limit=%00", 422),
            ("?limit=%ff", 422),
            ("?limit=%", 422),
            ("?limit=5&limit=500", 422),
            (long_query.as_str(), 422),
            ("?%%%", 200),
            ("?=&&=", 200),
        ];

        for (query, status) in cases {
            let reply = fixture.app.get(&format!("/api/workspaces{query}"), &fixture.token);
            assert_eq!(reply.status, status, "{query}: {}", reply.text);
        }
        fixture.assert_unchanged();
    }

    fn long_paths_404(backend) {
        let fixture = Fixture::new(backend);
        let long = format!("/{}", "a".repeat(8000));

        let reply = fixture.app.send(fixture.app.request(Method::GET, &long));

        reply.assert_detail(404, "Not Found");
        let logs = fixture.app.logs();
        assert!(!logs.contains(&"a".repeat(300)), "the log keeps at most 256 bytes of a path");
    }
}
