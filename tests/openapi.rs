//! The OpenAPI document at `/openapi.json`: its version, its list of operations compared with
//! the routes the server serves, the error responses of each operation, the `{"detail"}`
//! schema and the bearer security scheme. scripts/conformance.sh (run by tests/conformance.rs)
//! checks real responses against the document.

// These tests need one backend only, so the harness's backend_tests! macro stays unused.
#[allow(unused_macros)]
mod common;

use common::{Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Kind of credentials an operation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Bearer,
    Password,
}

/// An API operation of the route table.
struct Operation {
    method: &'static str,
    path: &'static str,
    auth: Auth,
    /// Whether the operation reads a JSON body.
    body: bool,
    /// Whether the operation has query or path parameters that can be invalid (422).
    params: bool,
    /// Whether the operation can respond 404 for a resource (not for the route).
    not_found: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    auth: Auth,
    body: bool,
    params: bool,
    not_found: bool,
) -> Operation {
    Operation {
        method,
        path,
        auth,
        body,
        params,
        not_found,
    }
}

/// Every API route of the server. The page (`/`), its files (`/assets/{name}`), Swagger UI
/// (`/docs`, `/docs/{file}`) and `/openapi.json` itself are routes too, but not API
/// operations, so the document leaves them out.
const OPERATIONS: &[Operation] = &[
    op("get", "/livez", Auth::None, false, false, false),
    op("get", "/readyz", Auth::None, false, false, false),
    op("post", "/api/users/create_token", Auth::Password, true, false, false),
    op("post", "/api/auth/login", Auth::Password, true, false, false),
    op("post", "/api/users/revoke_token", Auth::Password, true, false, true),
    op("get", "/api/tokens", Auth::Bearer, false, false, false),
    op("post", "/api/tokens/token", Auth::Bearer, true, false, false),
    op("post", "/api/tokens/revoke", Auth::Bearer, true, false, true),
    op("get", "/api/workspaces", Auth::Bearer, false, true, false),
    op("post", "/api/workspaces", Auth::Bearer, true, false, false),
    op("get", "/api/workspaces/{workspace_id}", Auth::Bearer, false, true, true),
    op("put", "/api/workspaces/{workspace_id}", Auth::Bearer, true, true, true),
    op(
        "delete",
        "/api/workspaces/{workspace_id}",
        Auth::Bearer,
        false,
        true,
        true,
    ),
];

fn fetch_document(app: &TestApp) -> Value {
    let reply = app.send(app.request(Method::GET, "/openapi.json"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    reply.json()
}

fn operation<'a>(document: &'a Value, method: &str, path: &str) -> &'a Value {
    let operation = &document["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not in the document");
    operation
}

#[test]
fn document_is_openapi_3() {
    let app = TestApp::start(Backend::Sqlite);

    let document = fetch_document(&app);

    let version = document["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3."), "openapi version {version}");
    assert!(document["info"]["title"].is_string());
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn document_lists_every_route() {
    let app = TestApp::start(Backend::Sqlite);
    let document = fetch_document(&app);

    let mut documented: Vec<String> = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths is an object") {
        for method in item.as_object().expect("a path item is an object").keys() {
            documented.push(format!("{method} {path}"));
        }
    }
    let mut expected: Vec<String> = OPERATIONS
        .iter()
        .map(|op| format!("{} {}", op.method, op.path))
        .collect();
    documented.sort();
    expected.sort();

    assert_eq!(documented, expected);
}

#[test]
fn documented_routes_exist() {
    let app = TestApp::start(Backend::Sqlite);
    let workspace_id = "8ed8484e-de41-433a-a326-81849b2290a4";

    for op in OPERATIONS {
        let path = op.path.replace("{workspace_id}", workspace_id);
        let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).expect("a valid method");

        let reply = app.send(app.request(method, &path));

        let case = format!("{} {path}", op.method);
        assert_ne!(
            reply.json(),
            json!({ "detail": "Not Found" }),
            "{case}: the server has no such route"
        );
        assert_ne!(
            reply.status, 405,
            "{case}: the server has the route with other methods only"
        );
    }
}

#[test]
fn bearer_scheme_declared() {
    let app = TestApp::start(Backend::Sqlite);
    let document = fetch_document(&app);

    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");

    for op in OPERATIONS {
        let operation = operation(&document, op.method, op.path);
        let case = format!("{} {}", op.method, op.path);
        if op.auth == Auth::Bearer {
            assert_eq!(operation["security"], json!([{ "bearer": [] }]), "{case}");
        } else {
            assert!(operation.get("security").is_none(), "{case} needs no bearer token");
        }
    }
}

#[test]
fn error_schema_is_detail() {
    let app = TestApp::start(Backend::Sqlite);
    let document = fetch_document(&app);

    let schema = &document["components"]["schemas"]["ErrorBody"];

    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["detail"]));
    assert_eq!(schema["properties"]["detail"]["type"], "string");
}

#[test]
fn operations_document_their_errors() {
    let app = TestApp::start(Backend::Sqlite);
    let document = fetch_document(&app);

    for op in OPERATIONS {
        let operation = operation(&document, op.method, op.path);
        let responses = operation["responses"].as_object().expect("responses is an object");
        let case = format!("{} {}", op.method, op.path);

        let mut expected = vec![];
        match op.auth {
            Auth::None => {}
            Auth::Bearer => expected.extend(["401", "403"]),
            Auth::Password => expected.extend(["401", "429"]),
        }
        if op.body {
            expected.extend(["400", "413", "415", "422"]);
        }
        if op.params {
            expected.push("422");
        }
        if op.not_found {
            expected.push("404");
        }
        if op.path != "/livez" {
            expected.push("503");
        }

        for status in &expected {
            assert!(responses.contains_key(*status), "{case} does not document {status}");
            let schema = &responses[*status]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, "#/components/schemas/ErrorBody", "{case} {status}");
        }
        let successes = responses.keys().filter(|status| status.starts_with('2')).count();
        assert_eq!(successes, 1, "{case} documents {successes} success statuses");
        let errors = responses.keys().filter(|status| !status.starts_with('2')).count();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(
            errors,
            expected.len(),
            "{case} documents other errors than {expected:?}: {:?}",
            responses.keys()
        );

        if op.auth == Auth::Bearer {
            let header = &responses["401"]["headers"]["WWW-Authenticate"];
            assert!(header.is_object(), "{case}: 401 without WWW-Authenticate");
        }
        if responses.contains_key("429") {
            assert!(
                responses["429"]["headers"]["Retry-After"].is_object(),
                "{case}: 429 without Retry-After"
            );
        }
        if responses.contains_key("503") {
            assert!(
                responses["503"]["headers"]["Retry-After"].is_object(),
                "{case}: 503 without Retry-After"
            );
        }
    }
}

#[test]
fn request_bodies_documented() {
    let app = TestApp::start(Backend::Sqlite);
    let document = fetch_document(&app);

    for op in OPERATIONS {
        let operation = operation(&document, op.method, op.path);
        let case = format!("{} {}", op.method, op.path);
        let body = &operation["requestBody"];
        if op.body {
            let schema = &body["content"]["application/json"]["schema"]["$ref"];
            assert!(
                schema
                    .as_str()
                    .is_some_and(|name| name.starts_with("#/components/schemas/")),
                "{case}: {body}"
            );
        } else {
            assert!(body.is_null(), "{case} takes no body");
        }
    }

    // The bearer token routes under /api/tokens accept an empty body; the others need one.
    for (method, path, required) in [
        ("post", "/api/tokens/token", false),
        ("post", "/api/tokens/revoke", false),
        ("post", "/api/auth/login", true),
        ("post", "/api/workspaces", true),
    ] {
        let body = &operation(&document, method, path)["requestBody"];
        assert_eq!(body["required"].as_bool().unwrap_or(false), required, "{method} {path}");
    }
}
