//! Password-authenticated token routes: `create_token` and `revoke_token`.

use actix_web::{web, HttpResponse};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::{BodyErrors, LoginErrors, Unavailable};
use super::validate_title;
use crate::auth::login::verify_login;
use crate::auth::{Password, PlainToken, Username};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{string_not_null, JsonBody, Object};
use crate::http::middleware::record_user_id;
use crate::http::{blocking, AppState};
use crate::store::{now, Access, TokenSelector};

/// Credentials for a new token: `username` (or `email`) and `password`, and an optional title.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery", "title": "laptop"}))]
pub struct CreateTokenRequest {
    /// 1 to 255 characters after trimming, no control characters. The match ignores letter
    /// case. The server also accepts the older field `email` in its place.
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        example = "alice",
    )]
    username: Option<String>,
    /// Older name of `username`, used when `username` is left out.
    #[serde(default)]
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    email: Option<String>,
    /// At most 1024 bytes in UTF-8, no NUL characters.
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        pattern = r"^[^\u0000]*$",
        example = "correct horse battery",
    )]
    password: Option<String>,
    /// Label shown when the user lists tokens: 1 to 255 characters after trimming, no control
    /// characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        example = "laptop"
    )]
    title: Option<String>,
}

/// A username (or email) and password, nested in a revoke request.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery"}))]
pub struct CredentialsBody {
    /// 1 to 255 characters after trimming, no control characters. The server also accepts
    /// the older field `email` in its place.
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        example = "alice",
    )]
    username: Option<String>,
    /// Older name of `username`, used when `username` is left out.
    #[serde(default)]
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    email: Option<String>,
    /// At most 1024 bytes in UTF-8, no NUL characters.
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        pattern = r"^[^\u0000]*$",
        example = "correct horse battery",
    )]
    password: Option<String>,
}

/// The user's credentials and the token to revoke. Without `token`, every token of the user
/// is revoked.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeTokenRequest {
    #[serde(default)]
    #[schema(value_type = CredentialsBody, required = true)]
    user: Option<Object<CredentialsBody>>,
    #[serde(default, deserialize_with = "string_not_null")]
    #[schema(
        nullable = false,
        pattern = r"\S",
        example = "ses_0hlgL6I37AcSIQynFjiafipLDMet_QaSq29isMQIVwo"
    )]
    token: Option<String>,
}

/// A new token, shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateTokenResponse {
    success: bool,
    #[schema(example = "ses_0hlgL6I37AcSIQynFjiafipLDMet_QaSq29isMQIVwo")]
    token: String,
}

/// The result of a revocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokeTokenResponse {
    success: bool,
    /// `Token revoked successfully.` or `All tokens revoked successfully.`
    #[schema(example = "Token revoked successfully.")]
    message: &'static str,
}

/// Checks the username and password fields; `prefix` names the enclosing object in messages.
fn parse_credentials(
    prefix: &str,
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
) -> Result<(Username, Password), ApiError> {
    let raw_username = username
        .or(email)
        .ok_or_else(|| ApiError::Validation(format!("{prefix}username is required (or {prefix}email)")))?;
    let username = Username::parse(&raw_username).map_err(|error| ApiError::Validation(format!("{prefix}{error}")))?;

    let raw_password = password.ok_or_else(|| ApiError::Validation(format!("{prefix}password is required")))?;
    let password =
        Password::for_login(raw_password).map_err(|error| ApiError::Validation(format!("{prefix}{error}")))?;

    Ok((username, password))
}

/// Mint a token with a username and password
///
/// Verifies the password and mints a new token, which only this response shows. Failed
/// attempts count toward the login rate limit of the username.
#[utoipa::path(
    post,
    path = "/api/users/create_token",
    tag = "tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 200, description = "The new token", body = CreateTokenResponse),
        LoginErrors,
        BodyErrors,
        Unavailable,
    )
)]
pub async fn create_token(
    state: web::Data<AppState>,
    body: JsonBody<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0;
    let (username, password) = parse_credentials("", request.username, request.email, request.password)?;
    let title = request
        .title
        .as_deref()
        .map(|title| validate_title("title", title))
        .transpose()?;

    let state_for_work = state.clone();
    let (user_id, token) = blocking(move || {
        let state = state_for_work;
        let started = now();
        let user_id = verify_login(&state.store, &state.hasher, &state.auth, &username, &password, started)?;

        let token = PlainToken::generate();
        let expires_at = started + Duration::minutes(i64::from(state.auth.token_expiry_minutes));
        let issued = state.store.with_user(&user_id, Access::Write, |tenant| {
            tenant.issue_token(
                &token.digest(),
                title,
                started,
                expires_at,
                state.auth.max_tokens_per_user,
            )
        })?;
        if issued.revoked_for_cap > 0 {
            tracing::info!(
                revoked = issued.revoked_for_cap,
                "revoked the oldest tokens to stay within the per-user cap"
            );
        }
        tracing::info!(token_id = %issued.row.token_id, "token created");
        Ok::<_, ApiError>((user_id, token))
    })
    .await?;

    record_user_id(&user_id);
    Ok(HttpResponse::Ok().json(CreateTokenResponse {
        success: true,
        token: token.expose().to_string(),
    }))
}

/// Mint a token with a username and password
///
/// The same route as `POST /api/users/create_token`, at the path the Open Sesame clients use.
#[utoipa::path(
    post,
    path = "/api/auth/login",
    tag = "tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 200, description = "The new token", body = CreateTokenResponse),
        LoginErrors,
        BodyErrors,
        Unavailable,
    )
)]
pub async fn login(state: web::Data<AppState>, body: JsonBody<CreateTokenRequest>) -> Result<HttpResponse, ApiError> {
    create_token(state, body).await
}

/// Revoke tokens with a username and password
///
/// Verifies the password, then revokes the named token of the user, or all of them when the
/// body names none. Failed attempts count toward the login rate limit of the username.
#[utoipa::path(
    post,
    path = "/api/users/revoke_token",
    tag = "tokens",
    request_body = RevokeTokenRequest,
    responses(
        (status = 200, description = "The token, or every token of the user, is revoked", body = RevokeTokenResponse),
        (status = 404, description = "`token` is not one of this user's tokens", body = ErrorBody),
        LoginErrors,
        BodyErrors,
        Unavailable,
    )
)]
pub async fn revoke_token(
    state: web::Data<AppState>,
    body: JsonBody<RevokeTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0;
    let Object(user) = request
        .user
        .ok_or_else(|| ApiError::Validation("user is required".to_string()))?;
    let (username, password) = parse_credentials("user.", user.username, user.email, user.password)?;
    let token = match request.token {
        Some(token) if token.trim().is_empty() => {
            return Err(ApiError::Validation(
                "token must not be empty; leave it out to revoke all tokens".to_string(),
            ));
        }
        Some(token) => Some(PlainToken::from_client(token.trim())),
        None => None,
    };

    let state_for_work = state.clone();
    let single = token.is_some();
    let (user_id, revoked) = blocking(move || {
        let state = state_for_work;
        let started = now();
        let user_id = verify_login(&state.store, &state.hasher, &state.auth, &username, &password, started)?;
        let digest = token.map(|token| token.digest());
        let selector = digest.as_ref().map_or(TokenSelector::All, TokenSelector::Digest);
        let revoked = state
            .store
            .with_user(&user_id, Access::Write, |tenant| {
                tenant.revoke_tokens(selector, started)
            })
            .map_err(|error| match error {
                crate::store::StoreError::NotFound => ApiError::NotFound("Token not found"),
                other => ApiError::from(other),
            })?;
        Ok::<_, ApiError>((user_id, revoked))
    })
    .await?;

    record_user_id(&user_id);
    tracing::info!(revoked, "tokens revoked");
    let message = if single {
        "Token revoked successfully."
    } else {
        "All tokens revoked successfully."
    };
    Ok(HttpResponse::Ok().json(RevokeTokenResponse { success: true, message }))
}
