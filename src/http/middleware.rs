//! The request span, the `X-Request-Id` header and the one log line every request gets.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;
use tracing::field::Empty;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Maximum length of a client-supplied request id that is kept; longer ones are replaced.
const MAX_REQUEST_ID_LENGTH: usize = 128;

/// Longest path written to the log, in bytes, so a huge URL cannot flood it.
const MAX_LOGGED_PATH: usize = 256;

/// Wraps each request in a span (method, path, request id, and the user id once a handler
/// records it), sets `X-Request-Id` on the response and logs status and duration.
pub async fn observe_request(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_acceptable_request_id(value))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());

    let path = request.path();
    let path = if path.len() > MAX_LOGGED_PATH {
        &path[..floor_char_boundary(path, MAX_LOGGED_PATH)]
    } else {
        path
    };
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %path,
        request_id = %request_id,
        user_id = Empty,
    );

    let started = Instant::now();
    let result = next.call(request).instrument(span.clone()).await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;

    match result {
        Ok(response) => {
            let mut response = ensure_json_error(response);
            let status = response.status().as_u16();
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            if status >= 500 {
                tracing::warn!(parent: &span, status, duration_ms, "request finished");
            } else {
                tracing::info!(parent: &span, status, duration_ms, "request finished");
            }
            Ok(response)
        }
        Err(error) => {
            tracing::error!(parent: &span, %error, duration_ms, "request failed");
            Err(error)
        }
    }
}

/// Rewrites an error response whose body is not JSON (such as a CORS rejection from
/// actix-cors) into the API's `{"detail": ...}` shape, keeping its status and headers.
fn ensure_json_error<B: MessageBody + 'static>(response: ServiceResponse<B>) -> ServiceResponse<EitherBody<B, String>> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response.map_into_left_body();
    }

    let detail = response
        .response()
        .error()
        .map(ToString::to_string)
        .filter(|message| !message.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_string());
    let body = serde_json::json!({ "detail": detail }).to_string();

    let (request, mut rewritten) = response.into_parts();
    rewritten
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    ServiceResponse::new(request, rewritten.set_body(body)).map_into_right_body()
}

/// Records the authenticated user on the current request's span.
pub fn record_user_id(user_id: &str) {
    tracing::Span::current().record("user_id", tracing::field::display(user_id));
}

/// Accepts a client's request id when it is short and printable ASCII without spaces.
fn is_acceptable_request_id(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_REQUEST_ID_LENGTH && value.bytes().all(|b| b.is_ascii_graphic())
}

fn floor_char_boundary(text: &str, index: usize) -> usize {
    (0..=index).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_rules() {
        assert!(is_acceptable_request_id("abc-123_XYZ"));
        assert!(!is_acceptable_request_id(""));
        assert!(!is_acceptable_request_id("has space"));
        assert!(!is_acceptable_request_id(&"x".repeat(129)));
        assert!(!is_acceptable_request_id("tab\there"));
    }
}
