//! The OpenAPI document served at `/openapi.json`. It is generated from the handlers'
//! `#[utoipa::path]` attributes and from the request and response types the handlers use, so
//! it changes with the code. The error responses that many routes share are defined here.

use std::sync::OnceLock;

use actix_web::http::header::ContentType;
use actix_web::HttpResponse;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Required};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::{health, tokens, users, workspaces};
use crate::http::error::ErrorBody;

/// Name of the bearer security scheme. The `security(("bearer" = []))` attributes of the
/// handlers repeat it, because utoipa takes only a literal there.
const BEARER_SCHEME: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Open Sesame API",
        description = "Authentication and workspaces of Open Sesame. Every error has the body \
            `{\"detail\": \"<message>\"}`. Every response carries an `X-Request-Id` header and \
            `Cache-Control: no-store`."
    ),
    paths(
        health::livez,
        health::readyz,
        users::create_token,
        users::login,
        users::revoke_token,
        tokens::list,
        tokens::create,
        tokens::revoke,
        workspaces::list,
        workspaces::create,
        workspaces::get,
        workspaces::update,
        workspaces::delete,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme, &OptionalBodies),
    tags(
        (name = "tokens", description = "Minting, listing and revoking tokens"),
        (name = "workspaces", description = "The caller's workspaces"),
        (name = "health", description = "Liveness and readiness checks"),
    )
)]
pub struct ApiDoc;

/// Modifier that adds the bearer security scheme, which the derive cannot declare.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("ses_ followed by 43 base64url characters")
            .description(Some(
                "A token from `POST /api/auth/login`, sent as `Authorization: Bearer <token>`. The scheme name may \
                 have any letter case.",
            ))
            .build();
        components.add_security_scheme(BEARER_SCHEME, SecurityScheme::Http(scheme));
    }
}

/// Modifier that describes each optional request body by its type alone. utoipa declares an
/// `Option<T>` body as "T or null", but a JSON `null` body gets 422. Only leaving the body out
/// is optional.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                if let Some(RefOr::T(body)) = operation.request_body.as_mut() {
                    drop_null_alternative(body);
                }
            }
        }
    }
}

fn drop_null_alternative(body: &mut RequestBody) {
    if body.required == Some(Required::True) {
        return;
    }
    let null = serde_json::json!({ "type": "null" });
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };

        let mut alternatives: Vec<_> = one_of
            .items
            .iter()
            .filter(|schema| serde_json::to_value(schema).ok().as_ref() != Some(&null))
            .cloned()
            .collect();
        if alternatives.len() == 1 {
            content.schema = alternatives.pop();
        }
    }
}

/// Returns the OpenAPI document as JSON, serialized once per process.
pub fn document_json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serializes to JSON")
    })
}

/// `GET /openapi.json`. It stays available with `SESAME_SHOW_WEB_UI=0`, because API clients
/// and code generators read it.
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(document_json())
}

// The enums below describe responses in the document only. Handlers return ApiError.

/// Errors of every route that needs a bearer token.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BearerErrors {
    /// The token is unknown, revoked, expired or malformed.
    #[response(
        status = 401,
        headers(("WWW-Authenticate" = String, description = "`Bearer`")),
        example = json!({"detail": "Invalid or revoked authentication token"})
    )]
    InvalidToken(ErrorBody),

    /// No `Authorization` header, or a scheme other than Bearer. Open Sesame's clients expect
    /// 403 here.
    #[response(status = 403, example = json!({"detail": "Not authenticated"}))]
    NotAuthenticated(ErrorBody),
}

/// Errors of every route that reads a JSON body.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BodyErrors {
    /// The body is empty where one is required, or is not valid JSON.
    #[response(
        status = 400,
        example = json!({"detail": "Request body is not valid JSON: EOF while parsing a value at line 1 column 12"})
    )]
    MalformedBody(ErrorBody),

    /// The body is larger than 64 KiB, or 1 MiB on the workspace routes.
    #[response(status = 413, example = json!({"detail": "Request body is larger than the limit of 65536 bytes"}))]
    PayloadTooLarge(ErrorBody),

    /// A non-empty body with a content type other than `application/json` or
    /// `application/*+json`.
    #[response(status = 415, example = json!({"detail": "Content-Type must be application/json"}))]
    UnsupportedMediaType(ErrorBody),

    /// A missing, mistyped or invalid field, or an invalid parameter. The message names it.
    #[response(status = 422, example = json!({"detail": "title must be at most 255 characters"}))]
    Validation(ErrorBody),
}

/// The error of a route whose only input is its path or query parameters.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum InvalidInput {
    /// A parameter is out of range or not of the right form. The message names it.
    #[response(status = 422, example = json!({"detail": "limit must be an integer from 1 to 100"}))]
    Validation(ErrorBody),
}

/// Errors of the routes that check a username and password.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum LoginErrors {
    /// Wrong username or password. Unknown users get the same response.
    #[response(status = 401, example = json!({"detail": "Invalid username or password"}))]
    InvalidCredentials(ErrorBody),

    /// Too many failed logins for this username within the rate limit window.
    #[response(
        status = 429,
        headers(("Retry-After" = u64, description = "Seconds until the window passes")),
        example = json!({"detail": "Too many failed login attempts; try again in 900 seconds"})
    )]
    RateLimited(ErrorBody),
}

/// The error of every route that uses the database.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Unavailable {
    /// No database connection could be had within 5 seconds, or it dropped.
    #[response(
        status = 503,
        headers(("Retry-After" = u64, description = "`5`")),
        example = json!({"detail": "Database unavailable; try again shortly"})
    )]
    Unavailable(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn document() -> Value {
        serde_json::from_str(document_json()).unwrap()
    }

    #[test]
    fn bearer_operations_document_401_and_403() {
        let document = document();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let secured = operation.get("security").is_some();
                let responses = operation["responses"].as_object().unwrap();
                let case = format!("{method} {path}");
                assert_eq!(responses.contains_key("403"), secured, "{case}: 403");
                if secured {
                    let unauthorized = &responses["401"];
                    assert!(
                        unauthorized["headers"].get("WWW-Authenticate").is_some(),
                        "{case}: WWW-Authenticate"
                    );
                }
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let document = document();
        let mut seen = std::collections::BTreeSet::new();
        for item in document["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let id = operation["operationId"].as_str().unwrap();
                assert!(seen.insert(id.to_string()), "operationId {id} is used twice");
            }
        }
    }

    /// The `pattern` of every title and username in the request schemas.
    const TEXT_PATTERN: &str =
        r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

    #[test]
    fn title_and_username_patterns_agree() {
        let document = document();
        let mut checked = 0;
        for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
            let Some(properties) = schema["properties"].as_object() else {
                continue;
            };
            for field in ["title", "username", "email"] {
                let Some(property) = properties.get(field) else {
                    continue;
                };
                // Response schemas describe stored values and carry no pattern.
                if name.ends_with("Request") || name.ends_with("Body") {
                    assert_eq!(property["pattern"], TEXT_PATTERN, "{name}.{field}");
                    checked += 1;
                }
            }
        }
        assert_eq!(
            checked, 8,
            "number of title, username and email fields in request schemas"
        );
    }

    #[test]
    fn every_error_response_uses_error_body() {
        let document = document();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if status.starts_with('2') {
                        continue;
                    }
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
            }
        }
    }
}
