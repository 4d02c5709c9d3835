//! The sign-in page at `/` and its files under `/assets/`. The files live in `web/` and are
//! compiled into the binary. `SESAME_SHOW_WEB_UI=0` turns the page and its files off (404).

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::http::{ApiError, AppState};

/// Content-Security-Policy of the page and its files: scripts, styles, images and requests
/// from this origin only, and no inline script or style.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html"));

/// A file served under `/assets/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "sign-in.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/sign-in.js")),
    },
    Asset {
        name: "sign-in.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/sign-in.css")),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/favicon.svg")),
    },
];

/// `GET /`: the sign-in page.
pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.show_web_ui {
        return Err(ApiError::RouteNotFound);
    }
    Ok(static_file("text/html; charset=utf-8", INDEX_HTML))
}

/// `GET /assets/{name}`: a script, style sheet or image of the page.
pub async fn asset(state: web::Data<AppState>, name: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if !state.show_web_ui {
        return Err(ApiError::RouteNotFound);
    }
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name.as_str())
        .ok_or(ApiError::RouteNotFound)?;
    Ok(static_file(asset.content_type, asset.body))
}

fn static_file(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}
