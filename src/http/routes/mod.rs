//! Route table and the helpers that handlers share.

mod docs;
mod health;
mod openapi;
mod tokens;
mod ui;
mod users;
mod workspaces;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use tracing::Instrument;

use super::error::ApiError;
use super::extract::{Bearer, BodyLimit};
use super::middleware::record_user_id;
use super::{blocking, AppState};
use crate::store::models::Principal;
use crate::store::{now, Access, Backend, StoreError, Tenant};
use crate::title::{parse_title, TitleError, MAX_TITLE_CHARS};

/// Body limit of the workspace routes, whose configs can be large: 1 MiB.
const WORKSPACE_BODY_LIMIT: usize = 1024 * 1024;

/// A token's `last_used_at` is written at most this often, so reads stay reads.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

/// Registers every route. Each API route here needs its handler listed in the paths of
/// [`openapi::ApiDoc`] too; tests/openapi.rs compares the document with its own list of routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/")
                .route(web::get().to(ui::index))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/assets/{name}")
                .route(web::get().to(ui::asset))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/openapi.json")
                .route(web::get().to(openapi::document))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/docs")
                .route(web::get().to(docs::redirect))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/docs/{file:.*}")
                .route(web::get().to(docs::file))
                .default_service(web::to(method_not_allowed)),
        )
        // Health checkers often probe with HEAD; actix-web sends the GET response's headers
        // without its body.
        .service(
            web::resource("/livez")
                .route(web::get().to(health::livez))
                .route(web::head().to(health::livez))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/readyz")
                .route(web::get().to(health::readyz))
                .route(web::head().to(health::readyz))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/users/create_token")
                .route(web::post().to(users::create_token))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/auth/login")
                .route(web::post().to(users::login))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/tokens")
                .route(web::get().to(tokens::list))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/tokens/token")
                .route(web::post().to(tokens::create))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/tokens/revoke")
                .route(web::post().to(tokens::revoke))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::resource("/api/users/revoke_token")
                .route(web::post().to(users::revoke_token))
                .default_service(web::to(method_not_allowed)),
        )
        .service(
            web::scope("/api/workspaces")
                .app_data(BodyLimit(WORKSPACE_BODY_LIMIT))
                .service(
                    web::resource("")
                        .route(web::get().to(workspaces::list))
                        .route(web::post().to(workspaces::create))
                        .default_service(web::to(method_not_allowed)),
                )
                .service(
                    web::resource("/{workspace_id}")
                        .route(web::get().to(workspaces::get))
                        .route(web::put().to(workspaces::update))
                        .route(web::delete().to(workspaces::delete))
                        .default_service(web::to(method_not_allowed)),
                ),
        )
        .default_service(web::to(route_not_found));
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}

/// Authenticates the bearer token and runs `work` for its owner in one database transaction,
/// then records the user on the request's log line and refreshes the token's `last_used_at`
/// when it is older than a minute.
pub(super) async fn as_token_owner<T: Send + 'static>(
    state: &web::Data<AppState>,
    bearer: &Bearer,
    access: Access,
    work: impl FnOnce(&mut Tenant<'_>, NaiveDateTime) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let digest = bearer.digest()?;
    let store = state.store.clone();
    let started = now();

    let run = move || store.with_token(&digest, started, access, |tenant| work(tenant, started));
    let (principal, value) = if access == Access::Read && state.store.backend() == Backend::Sqlite {
        // A read on SQLite in WAL mode does not wait for the writer's lock and takes
        // microseconds, less than the two thread switches of the blocking pool, so it runs on
        // the worker. Its connection comes from the reader pool, which writers never use.
        run().map_err(ApiError::from)?
    } else {
        let _slot = state
            .database_slots
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable)?;
        blocking(run).await?
    };

    record_user_id(&principal.user_id);
    refresh_last_used(state, principal, started);
    Ok(value)
}

fn refresh_last_used(state: &web::Data<AppState>, principal: Principal, now: NaiveDateTime) {
    let fresh = principal
        .last_used_at
        .is_some_and(|last| now - last < LAST_USED_RESOLUTION);
    if fresh {
        return;
    }

    let store = state.store.clone();
    let span = tracing::Span::current();
    actix_web::rt::spawn(
        async move {
            // A failure is logged by the conversion to ApiError and costs only freshness.
            let _ = blocking(move || {
                store.with_user(&principal.user_id, Access::Write, |tenant| {
                    tenant.touch_token(&principal.token_id, now)
                })
            })
            .await;
        }
        .instrument(span),
    );
}

/// Checks a title: required characters after trimming, at most 255, no control characters.
/// Returns the trimmed title.
///
/// The request schemas of the OpenAPI document state the same rule for titles and usernames
/// as `max_length = 255` and a `pattern`: no control character (`\u0000-\u001F`,
/// `\u007F-\u009F`, as [`char::is_control`]) and at least one character that is not white
/// space. utoipa takes only a literal pattern, so each field repeats it; a unit test in
/// `openapi.rs` checks that the copies agree.
pub(super) fn validate_title(field: &str, value: &str) -> Result<String, ApiError> {
    parse_title(value).map_err(|error| {
        ApiError::Validation(match error {
            TitleError::Empty => format!("{field} must not be empty"),
            TitleError::TooLong => format!("{field} must be at most {MAX_TITLE_CHARS} characters"),
            TitleError::ControlCharacter => format!("{field} must not contain control characters"),
        })
    })
}

/// Formats a stored UTC time as RFC 3339 with a `Z` suffix.
pub(super) fn utc(time: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(time, Utc)
}
