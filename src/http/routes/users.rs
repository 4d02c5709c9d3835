//! Password-authenticated token routes: `create_token` and `revoke_token`.

use actix_web::{web, HttpResponse};
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;

use super::validate_title;
use crate::auth::login::verify_login;
use crate::auth::{Password, PlainToken, Username};
use crate::http::error::ApiError;
use crate::http::extract::{JsonBody, Object};
use crate::http::middleware::record_user_id;
use crate::http::{blocking, AppState};
use crate::store::{now, Access, TokenSelector};

/// `{"username", "password"}`; `email` is accepted in place of `username`.
#[derive(Debug, Deserialize)]
pub struct CreateTokenRequest {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<String>,
    /// Optional label shown when the user lists tokens.
    #[serde(default)]
    title: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CredentialsBody {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// `{"user": {"username", "password"}, "token"?}`.
#[derive(Debug, Deserialize)]
pub struct RevokeTokenRequest {
    #[serde(default)]
    user: Option<Object<CredentialsBody>>,
    #[serde(default)]
    token: Option<String>,
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
    let password = Password::for_login(raw_password).map_err(|error| ApiError::Validation(format!("{prefix}{error}")))?;

    Ok((username, password))
}

/// `POST /api/users/create_token` and `POST /api/auth/login`: verifies the password and mints
/// a new token, shown once.
pub async fn create_token(state: web::Data<AppState>, body: JsonBody<CreateTokenRequest>) -> Result<HttpResponse, ApiError> {
    let request = body.0;
    let (username, password) = parse_credentials("", request.username, request.email, request.password)?;
    let title = request.title.as_deref().map(|title| validate_title("title", title)).transpose()?;

    let state_for_work = state.clone();
    let (user_id, token) = blocking(move || {
        let state = state_for_work;
        let started = now();
        let user_id = verify_login(&state.store, &state.hasher, &state.auth, &username, &password, started)?;

        let token = PlainToken::generate();
        let expires_at = started + Duration::minutes(i64::from(state.auth.token_expiry_minutes));
        let issued = state.store.with_user(&user_id, Access::Write, |tenant| {
            tenant.issue_token(&token.digest(), title, started, expires_at, state.auth.max_tokens_per_user)
        })?;
        if issued.revoked_for_cap > 0 {
            tracing::info!(revoked = issued.revoked_for_cap, "revoked the oldest tokens to stay within the per-user cap");
        }
        tracing::info!(token_id = %issued.row.token_id, "token created");
        Ok::<_, ApiError>((user_id, token))
    })
    .await?;

    record_user_id(&user_id);
    Ok(HttpResponse::Ok().json(json!({ "success": true, "token": token.expose() })))
}

/// `POST /api/users/revoke_token`: verifies the password, then revokes one token of the user
/// or all of them.
pub async fn revoke_token(state: web::Data<AppState>, body: JsonBody<RevokeTokenRequest>) -> Result<HttpResponse, ApiError> {
    let request = body.0;
    let Object(user) = request.user.ok_or_else(|| ApiError::Validation("user is required".to_string()))?;
    let (username, password) = parse_credentials("user.", user.username, user.email, user.password)?;
    let token = match request.token {
        Some(token) if token.trim().is_empty() => {
            return Err(ApiError::Validation("token must not be empty; leave it out to revoke all tokens".to_string()));
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
            .with_user(&user_id, Access::Write, |tenant| tenant.revoke_tokens(selector, started))
            .map_err(|error| match error {
                crate::store::StoreError::NotFound => ApiError::NotFound("Token not found"),
                other => ApiError::from(other),
            })?;
        Ok::<_, ApiError>((user_id, revoked))
    })
    .await?;

    record_user_id(&user_id);
    tracing::info!(revoked, "tokens revoked");
    let message = if single { "Token revoked successfully." } else { "All tokens revoked successfully." };
    Ok(HttpResponse::Ok().json(json!({ "success": true, "message": message })))
}
