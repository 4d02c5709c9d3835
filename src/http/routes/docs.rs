//! Swagger UI at `/docs/`, which renders `/openapi.json`. Its files are compiled into the
//! binary by `utoipa-swagger-ui` (the `vendored` feature), so the page loads nothing from
//! other hosts. `SESAME_SHOW_WEB_UI=0` turns it off, like the sign-in page.

use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa_swagger_ui::Config;

use crate::http::{ApiError, AppState};

/// Content-Security-Policy of the Swagger UI files. It is looser than the sign-in page's
/// because Swagger UI 5 applies inline styles and shows `data:` SVG icons. Scripts still come
/// only from this origin.
const SWAGGER_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn swagger_config() -> Arc<Config<'static>> {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            // "none" turns off the validator badge, which would send the document to an
            // outside validation service.
            Arc::new(Config::new(["/openapi.json"]).validator_url("none"))
        })
        .clone()
}

/// `GET /docs`: redirects to `/docs/`, so that the page's relative links resolve.
pub async fn redirect(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.show_web_ui {
        return Err(ApiError::RouteNotFound);
    }
    Ok(HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish())
}

/// `GET /docs/{file}`: a file of Swagger UI, `index.html` for `/docs/`.
pub async fn file(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    if !state.show_web_ui {
        return Err(ApiError::RouteNotFound);
    }

    let served = utoipa_swagger_ui::serve(&path, swagger_config()).map_err(|error| {
        tracing::error!(%error, file = %path, "failed to prepare a Swagger UI file");
        ApiError::Internal
    })?;
    let Some(file) = served else {
        return Err(ApiError::RouteNotFound);
    };

    let mut response = HttpResponse::Ok();
    response
        .content_type(file.content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, SWAGGER_CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if file.gzpipped {
        response.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    Ok(response.body(file.bytes.into_owned()))
}
