//! The HTTP API served by `sesame run`.

mod error;
mod extract;
mod middleware;
mod routes;

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use tokio::sync::Semaphore;

pub use error::ApiError;

use crate::auth::PasswordHasher;
use crate::config::{AuthSettings, ServerSettings};
use crate::store::Store;

/// Seconds `run` waits for requests in flight after SIGINT or SIGTERM.
const SHUTDOWN_GRACE_SECS: u64 = 30;

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hasher: PasswordHasher,
    pub auth: AuthSettings,
    pub show_web_ui: bool,
    /// One permit per pooled connection. Requests queue here, first come first served,
    /// before they take a blocking thread. Waiting on the pool itself would park a thread
    /// per request and wake them in no fair order, which showed as a long latency tail.
    pub database_slots: Arc<Semaphore>,
}

/// Binds the listening socket, so that a port already in use fails before anything else.
pub fn bind(settings: &ServerSettings) -> Result<TcpListener, anyhow::Error> {
    let address = (settings.host.as_str(), settings.port);
    TcpListener::bind(address).map_err(|error| {
        anyhow::anyhow!(
            "failed to listen on {}:{}: {error}; check --host (SESAME_WEBAPP_HOST) and --port (SESAME_WEBAPP_PORT)",
            settings.host,
            settings.port
        )
    })
}

/// Serves the API on `listener` until SIGINT or SIGTERM, then finishes requests in flight.
/// `on_ready` is called with the URL once the server accepts connections.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    server: &ServerSettings,
    on_ready: impl FnOnce(&str),
) -> Result<(), anyhow::Error> {
    let address = listener.local_addr()?;
    let origins = server.cors_allowed_origins.clone();

    let running = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
            .wrap(
                DefaultHeaders::new()
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::CACHE_CONTROL, "no-store")),
            )
            .wrap(from_fn(middleware::observe_request))
            .configure(routes::configure)
    })
    .shutdown_timeout(SHUTDOWN_GRACE_SECS)
    .listen(listener)?
    .run();

    let url = format!("http://{address}");
    tracing::info!(%url, "server started");
    on_ready(&url);

    running.await?;
    tracing::info!("server stopped");
    Ok(())
}

/// Cross-origin rules for browsers: only the configured origins, and never credentials
/// (cookies or HTTP authentication), because clients send the token in a header.
fn cors(origins: &[String]) -> Cors {
    let request_id = HeaderName::from_static("x-request-id");
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, request_id.clone()])
        .expose_headers([request_id, header::RETRY_AFTER, header::WWW_AUTHENTICATE])
        .max_age(3600);

    if origins.iter().any(|origin| origin == "*") {
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in origins {
            cors = cors.allowed_origin(origin);
        }
    }
    cors
}

/// Runs blocking work (database calls, password hashing) on the blocking thread pool, inside
/// the current request's span.
pub(crate) async fn blocking<T, E>(work: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let span = tracing::Span::current();
    match web::block(move || span.in_scope(work)).await {
        Ok(result) => result.map_err(Into::into),
        Err(error) => {
            tracing::error!(%error, "blocking task failed");
            Err(ApiError::Internal)
        }
    }
}
