use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::Unavailable;
use crate::http::{blocking, ApiError, AppState};

/// The body of a successful health check.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

const OK: HealthStatus = HealthStatus { status: "ok" };

/// Report that the process is up
///
/// Responds without touching the database.
#[utoipa::path(
    get,
    path = "/livez",
    tag = "health",
    responses((status = 200, description = "The process is up", body = HealthStatus))
)]
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(OK)
}

/// Report whether the database responds
///
/// The 503 comes after the 5 seconds the server waits for a database connection.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "The database responds", body = HealthStatus),
        Unavailable,
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    blocking(move || store.ping()).await?;
    Ok(HttpResponse::Ok().json(OK))
}
