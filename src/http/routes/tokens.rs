//! Bearer-authenticated token management under `/api/tokens`, as the Open Sesame web and
//! mobile clients call it.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{as_token_owner, utc, validate_title};
use crate::auth::PlainToken;
use crate::http::error::ApiError;
use crate::http::extract::{Bearer, OptionalJsonBody};
use crate::http::AppState;
use crate::store::models::TokenInfo;
use crate::store::{Access, TokenSelector};

/// A token as its owner sees it in a list: never the token or its digest.
#[derive(Debug, Serialize)]
pub struct TokenView {
    token_id: String,
    title: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked: bool,
}

impl From<TokenInfo> for TokenView {
    fn from(info: TokenInfo) -> Self {
        TokenView {
            token_id: info.token_id,
            title: info.title,
            created_at: utc(info.created_at),
            expires_at: utc(info.expires_at),
            last_used_at: info.last_used_at.map(utc),
            revoked: info.revoked,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewTokenRequest {
    #[serde(default)]
    title: Option<String>,
}

/// `{"token"?}` or `{"token_id"?}`; neither revokes every token of the caller.
#[derive(Debug, Default, Deserialize)]
pub struct RevokeRequest {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    token_id: Option<String>,
}

/// `GET /api/tokens`: the caller's tokens, newest first, revoked ones included until pruned.
pub async fn list(state: web::Data<AppState>, bearer: Bearer) -> Result<HttpResponse, ApiError> {
    let tokens = as_token_owner(&state, &bearer, Access::Read, |tenant, _| tenant.list_tokens()).await?;

    let views: Vec<TokenView> = tokens.into_iter().map(TokenView::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "success": true, "tokens": views })))
}

/// `POST /api/tokens/token`: mints another token for the caller, shown once.
pub async fn create(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: OptionalJsonBody<NewTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let title = body.0.title.as_deref().map(|title| validate_title("title", title)).transpose()?;
    let lifetime = Duration::minutes(i64::from(state.auth.token_expiry_minutes));
    let max_live = state.auth.max_tokens_per_user;
    let token = PlainToken::generate();
    let digest = token.digest();

    let issued = as_token_owner(&state, &bearer, Access::Write, move |tenant, now| {
        tenant.issue_token(&digest, title, now, now + lifetime, max_live)
    })
    .await?;

    tracing::info!(token_id = %issued.row.token_id, revoked_for_cap = issued.revoked_for_cap, "token created");
    let view = TokenView::from(TokenInfo::from(issued.row));
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "token": token.expose(),
        "token_id": view.token_id,
        "title": view.title,
        "created_at": view.created_at,
        "expires_at": view.expires_at,
    })))
}

/// `POST /api/tokens/revoke`: revokes one of the caller's tokens, by value or by id, or all
/// of them when the body names neither.
pub async fn revoke(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: OptionalJsonBody<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0;
    let target = match (request.token, request.token_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Validation("give token or token_id, not both".to_string()));
        }
        (Some(token), None) if token.trim().is_empty() => {
            return Err(ApiError::Validation("token must not be empty; leave it out to revoke all tokens".to_string()));
        }
        (None, Some(token_id)) if token_id.trim().is_empty() => {
            return Err(ApiError::Validation("token_id must not be empty; leave it out to revoke all tokens".to_string()));
        }
        (Some(token), None) => Target::Digest(PlainToken::from_client(token.trim()).digest()),
        (None, Some(token_id)) => Target::Id(token_id.trim().to_string()),
        (None, None) => Target::All,
    };
    let single = !matches!(target, Target::All);

    let revoked = as_token_owner(&state, &bearer, Access::Write, move |tenant, now| {
        let selector = match &target {
            Target::All => TokenSelector::All,
            Target::Digest(digest) => TokenSelector::Digest(digest),
            Target::Id(token_id) => TokenSelector::Id(token_id),
        };
        tenant.revoke_tokens(selector, now)
    })
    .await
    .map_err(|error| match error {
        ApiError::NotFound(_) => ApiError::NotFound("Token not found"),
        other => other,
    })?;

    tracing::info!(revoked, "tokens revoked");
    let message = if single { "Token revoked successfully." } else { "All tokens revoked successfully." };
    Ok(HttpResponse::Ok().json(json!({ "success": true, "message": message, "revoked": revoked })))
}

/// The tokens a `revoke` request selects, owned so the selection can move to the blocking pool.
enum Target {
    All,
    Digest(crate::auth::TokenDigest),
    Id(String),
}
