//! The one error type of the HTTP layer. Every status code a client can see, and every
//! `{"detail": ...}` body, is decided here.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::login::LoginError;
use crate::store::StoreError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Message of one sentence. For invalid input, it names the field.
    #[schema(example = "Invalid or revoked authentication token")]
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization` header, or not a Bearer scheme. 403 because Open Sesame's clients
    /// expect that status here.
    #[error("Not authenticated")]
    NotAuthenticated,
    #[error("Invalid or revoked authentication token")]
    InvalidToken,
    #[error("Invalid username or password")]
    InvalidCredentials,
    #[error("Too many failed login attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// A resource that does not exist or is another user's; the message names what.
    #[error("{0}")]
    NotFound(&'static str),
    /// A well-formed body or query with a missing, mistyped or invalid field.
    #[error("{0}")]
    Validation(String),
    /// A body that is not JSON at all.
    #[error("{0}")]
    MalformedBody(String),
    #[error("Request body is larger than the limit of {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    #[error("Request body was not received within 30 seconds")]
    RequestTimeout,
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    #[error("Not Found")]
    RouteNotFound,
    #[error("Database unavailable; try again shortly")]
    Unavailable,
    /// Anything else; the cause was logged where the error was converted.
    #[error("Internal server error")]
    Internal,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::NotAuthenticated => StatusCode::FORBIDDEN,
            ApiError::InvalidToken | ApiError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MalformedBody(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());

        match self {
            ApiError::InvalidToken => {
                response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            ApiError::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }

        response.json(ErrorBody {
            detail: self.to_string(),
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidToken => ApiError::InvalidToken,
            StoreError::NotFound => ApiError::NotFound("Not found"),
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "request failed");
                ApiError::Internal
            }
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => {
                tracing::info!("login failed: invalid username or password");
                ApiError::InvalidCredentials
            }
            LoginError::RateLimited { retry_after_secs } => {
                tracing::warn!(
                    retry_after_secs,
                    "login rejected: too many failed attempts for one username"
                );
                ApiError::RateLimited { retry_after_secs }
            }
            LoginError::Store(error) => ApiError::from(error),
        }
    }
}
