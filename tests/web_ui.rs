//! The sign-in page at `/`, its files under `/assets/`, Swagger UI at `/docs/`, and
//! `SESAME_SHOW_WEB_UI=0`, which turns all of them off. Checked over HTTP, without a browser;
//! tests/browser.rs drives the page in Chromium.

// These tests need one backend only, so the harness's backend_tests! macro stays unused.
#[allow(unused_macros)]
mod common;

use common::{Backend, TestApp};
use reqwest::blocking::Client;
use reqwest::Method;

/// Content-Security-Policy that the page and its files must carry.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Files the page loads, with their content types.
const ASSETS: &[(&str, &str)] = &[
    ("/assets/sign-in.js", "text/javascript; charset=utf-8"),
    ("/assets/sign-in.css", "text/css; charset=utf-8"),
    ("/assets/favicon.svg", "image/svg+xml"),
];

/// Returns the values of `attribute="..."` in `html` that start with `/`.
fn local_links(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!("{attribute}=\"/");
    html.match_indices(&marker)
        .map(|(start, _)| {
            let value = &html[start + marker.len() - 1..];
            value[..value.find('"').expect("attribute value is closed")].to_string()
        })
        .collect()
}

/// Reports whether `html` has an attribute such as `onclick=`.
fn has_event_handler_attribute(html: &str) -> bool {
    html.match_indices(" on").any(|(start, _)| {
        let rest = &html[start + 3..];
        let name_length = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        name_length > 0 && rest[name_length..].starts_with('=')
    })
}

/// Builds a client that does not follow redirects, so that a test gets the 308 itself.
fn client_without_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("failed to build the HTTP client")
}

#[test]
fn page_served_with_csp() {
    let app = TestApp::start(Backend::Sqlite);

    let reply = app.send(app.request(Method::GET, "/"));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(reply.header("content-security-policy"), Some(PAGE_CSP));
    assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.text.contains("<title>Open Sesame</title>"), "{}", reply.text);
    assert!(
        reply.text.contains("id=\"sign-in-form\""),
        "the page has no sign-in form"
    );
}

#[test]
fn page_has_no_inline_script_or_style() {
    let app = TestApp::start(Backend::Sqlite);

    let html = app.send(app.request(Method::GET, "/")).text;

    for script in html.split("<script").skip(1) {
        let tag = &script[..script.find('>').expect("script tag is closed")];
        assert!(
            tag.contains("src=\"/assets/"),
            "inline or outside script: <script{tag}>"
        );
    }
    assert!(!html.contains("<style"), "the page has a <style> element");
    assert!(!html.contains(" style="), "the page has a style attribute");
    assert!(
        !has_event_handler_attribute(&html),
        "the page has an inline event handler"
    );
    assert!(!html.contains("://"), "the page refers to another origin");
}

#[test]
fn assets_served_with_content_types() {
    let app = TestApp::start(Backend::Sqlite);

    for (path, content_type) in ASSETS {
        let reply = app.send(app.request(Method::GET, path));
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
        assert_eq!(reply.header("content-type"), Some(*content_type), "{path}");
        assert_eq!(reply.header("content-security-policy"), Some(PAGE_CSP), "{path}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert!(!reply.text.is_empty(), "{path} is empty");
    }
}

#[test]
fn page_links_only_served_assets() {
    let app = TestApp::start(Backend::Sqlite);
    let html = app.send(app.request(Method::GET, "/")).text;

    let mut links = local_links(&html, "src");
    links.extend(
        local_links(&html, "href")
            .into_iter()
            .filter(|link| link.starts_with("/assets/")),
    );

    assert!(!links.is_empty(), "the page links no assets");
    for link in links {
        assert!(
            ASSETS.iter().any(|(path, _)| *path == link),
            "{link} is not in the test's list of assets"
        );
        let reply = app.send(app.request(Method::GET, &link));
        assert_eq!(reply.status, 200, "{link}");
    }
}

#[test]
fn unknown_asset_404() {
    let app = TestApp::start(Backend::Sqlite);

    for path in [
        "/assets/nothing.js",
        "/assets/",
        "/assets/sign-in.js/extra",
        "/assets/..%2FCargo.toml",
    ] {
        let reply = app.send(app.request(Method::GET, path));
        reply.assert_case(path, 404, "Not Found");
    }
}

#[test]
fn page_and_assets_reject_other_methods() {
    let app = TestApp::start(Backend::Sqlite);

    for (method, path) in [
        (Method::POST, "/"),
        (Method::PUT, "/assets/sign-in.js"),
        (Method::POST, "/docs/"),
    ] {
        let reply = app.send(app.request(method.clone(), path));
        reply.assert_case(&format!("{method} {path}"), 405, "Method Not Allowed");
    }
}

#[test]
fn docs_redirects_to_trailing_slash() {
    let app = TestApp::start(Backend::Sqlite);
    let client = client_without_redirects();

    let response = client.get(format!("{}/docs", app.url)).send().expect("GET /docs");

    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(
        response.headers().get("location").and_then(|value| value.to_str().ok()),
        Some("/docs/")
    );
}

#[test]
fn docs_serves_swagger_ui_for_openapi_json() {
    let app = TestApp::start(Backend::Sqlite);

    let index = app.send(app.request(Method::GET, "/docs/"));
    assert_eq!(index.status, 200, "{}", index.text);
    assert!(index
        .header("content-type")
        .is_some_and(|value| value.starts_with("text/html")));
    let csp = index
        .header("content-security-policy")
        .expect("/docs/ has a Content-Security-Policy");
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("connect-src 'self';"), "{csp}");
    assert!(
        !index.text.contains("://"),
        "Swagger UI's page refers to another origin"
    );

    let initializer = app.send(app.request(Method::GET, "/docs/swagger-initializer.js"));
    assert_eq!(initializer.status, 200);
    assert!(
        initializer.text.contains("\"url\": \"/openapi.json\""),
        "{}",
        initializer.text
    );
    assert!(
        initializer.text.contains("\"validatorUrl\": \"none\""),
        "{}",
        initializer.text
    );

    let bundle = app.send(app.request(Method::GET, "/docs/swagger-ui-bundle.js"));
    assert_eq!(bundle.status, 200);
    assert!(bundle
        .header("content-type")
        .is_some_and(|value| value.contains("javascript")));

    let missing = app.send(app.request(Method::GET, "/docs/nothing.js"));
    missing.assert_detail(404, "Not Found");
}

#[test]
fn show_web_ui_0_turns_page_off() {
    let app = TestApp::start_with(Backend::Sqlite, &[("SESAME_SHOW_WEB_UI", "0")]);
    let mut paths = vec!["/", "/docs", "/docs/", "/docs/swagger-ui-bundle.js"];
    paths.extend(ASSETS.iter().map(|(path, _)| *path));

    for path in paths {
        let reply = app.send(app.request(Method::GET, path));
        reply.assert_case(path, 404, "Not Found");
        assert_eq!(reply.header("content-security-policy"), None, "{path}");
    }
}

#[test]
fn show_web_ui_0_keeps_openapi_json() {
    let app = TestApp::start_with(Backend::Sqlite, &[("SESAME_SHOW_WEB_UI", "0")]);

    let reply = app.send(app.request(Method::GET, "/openapi.json"));

    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.json()["openapi"].is_string());
}
