//! Health checks, unknown routes, wrong methods, the landing page and `X-Request-Id`.

mod common;

use common::{backend_tests, TestApp};
use reqwest::Method;
use serde_json::json;

/// Returns the `X-Request-Id` of the response when the client sends `sent`.
fn request_id_reply(app: &TestApp, sent: Option<&str>) -> String {
    let mut request = app.request(Method::GET, "/livez");
    if let Some(id) = sent {
        request = request.header("x-request-id", id);
    }
    let reply = app.send(request);
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.header("x-request-id").expect("X-Request-Id is set").to_string()
}

fn is_generated_request_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

backend_tests! {
    fn livez_reports_ok(backend) {
        let app = TestApp::start(backend);

        let reply = app.send(app.request(Method::GET, "/livez"));

        reply.assert(200, json!({ "status": "ok" }));
    }

    fn health_answers_head(backend) {
        let app = TestApp::start(backend);

        for path in ["/livez", "/readyz"] {
            let reply = app.send(app.request(Method::HEAD, path));
            assert_eq!(reply.status, 200, "HEAD {path}");
            assert_eq!(reply.text, "", "HEAD {path} body");
        }
    }

    fn readyz_reports_ok(backend) {
        let app = TestApp::start(backend);

        let reply = app.send(app.request(Method::GET, "/readyz"));

        reply.assert(200, json!({ "status": "ok" }));
    }

    fn unknown_routes_get_404(backend) {
        let app = TestApp::start(backend);

        for path in ["/nothing", "/api", "/api/users", "/api/users/create_token/extra", "/api/workspaces/a/b"] {
            let reply = app.send(app.request(Method::GET, path));
            reply.assert_case(&format!("GET {path}"), 404, "Not Found");
        }
    }

    fn wrong_methods_get_405(backend) {
        let app = TestApp::start(backend);
        let cases = [
            (Method::GET, "/api/users/create_token"),
            (Method::PUT, "/api/users/revoke_token"),
            (Method::DELETE, "/api/workspaces"),
            (Method::PUT, "/api/workspaces"),
            (Method::POST, "/api/workspaces/8ed8484e-de41-433a-a326-81849b2290a4"),
            (Method::PATCH, "/api/workspaces/8ed8484e-de41-433a-a326-81849b2290a4"),
            (Method::POST, "/livez"),
            (Method::DELETE, "/readyz"),
        ];

        for (method, path) in cases {
            let reply = app.send(app.request(method.clone(), path));
            reply.assert_case(&format!("{method} {path}"), 405, "Method Not Allowed");
        }
    }

    fn every_response_has_common_headers(backend) {
        let app = TestApp::start(backend);
        let requests = [
            app.request(Method::GET, "/livez"),
            app.request(Method::GET, "/nothing"),
            app.request(Method::GET, "/api/workspaces"),
            app.request(Method::DELETE, "/livez"),
            app.request(Method::POST, "/api/users/create_token").header("content-type", "text/plain").body("x"),
            app.request(Method::POST, "/api/users/create_token").body(vec![b' '; 70_000]),
        ];

        for request in requests {
            let reply = app.send(request);
            let case = format!("status {}", reply.status);
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{case}");
            assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{case}");
            assert!(reply.header("x-request-id").is_some_and(is_generated_request_id), "{case}");
        }
    }

    fn landing_page_served_by_default(backend) {
        let app = TestApp::start(backend);

        let reply = app.send(app.request(Method::GET, "/"));

        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(reply.text.contains("<title>Open Sesame</title>"), "{}", reply.text);
    }

    fn landing_page_disabled_by_setting(backend) {
        let app = TestApp::start_with(backend, &[("SESAME_SHOW_WEB_UI", "0")]);

        let reply = app.send(app.request(Method::GET, "/"));

        reply.assert_detail(404, "Not Found");
    }

    fn request_id_echoed_when_short_printable(backend) {
        let app = TestApp::start(backend);
        let longest = "r".repeat(128);

        for sent in ["abc-123", "trace_ID.v1:42", longest.as_str()] {
            assert_eq!(request_id_reply(&app, Some(sent)), sent);
        }
    }

    fn request_id_replaced_when_unacceptable(backend) {
        let app = TestApp::start(backend);
        let too_long = "r".repeat(129);

        for sent in [too_long.as_str(), "has space", "tab\there", ""] {
            let answered = request_id_reply(&app, Some(sent));
            assert!(is_generated_request_id(&answered), "sent {sent:?}, answered {answered:?}");
        }
    }

    fn request_id_generated_when_missing(backend) {
        let app = TestApp::start(backend);

        let first = request_id_reply(&app, None);
        let second = request_id_reply(&app, None);

        assert!(is_generated_request_id(&first), "{first}");
        assert_ne!(first, second);
    }

    fn request_id_recorded_in_log(backend) {
        let app = TestApp::start(backend);

        request_id_reply(&app, Some("trace-4711"));

        let logs = app.logs();
        let line = logs.lines().find(|line| line.contains("request_id=trace-4711")).expect("a log line has the id");
        assert!(line.contains("method=GET path=/livez"), "{line}");
        assert!(line.contains("status=200"), "{line}");
    }
}
