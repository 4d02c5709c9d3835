use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::http::{blocking, ApiError, AppState};

/// Reports that the process is up, without touching the database.
pub async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Reports whether the database responds, with 503 when it does not.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let store = state.store.clone();
    blocking(move || store.ping()).await?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok" })))
}
