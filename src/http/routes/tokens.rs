//! Bearer-authenticated token management under `/api/tokens`, as the Open Sesame web and
//! mobile clients call it.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::{BearerErrors, BodyErrors, Unavailable};
use super::{as_token_owner, utc, validate_title};
use crate::auth::PlainToken;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{string_not_null, Bearer, OptionalJsonBody};
use crate::http::AppState;
use crate::store::models::TokenInfo;
use crate::store::{Access, TokenSelector};

/// A token as its owner sees it in a list: never the token or its digest.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    #[schema(example = "0c059057-27d6-4be7-8e59-1ff44b90d858")]
    token_id: String,
    #[schema(example = "laptop")]
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

/// An optional title for a new token.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NewTokenRequest {
    /// Label shown when the user lists tokens: 1 to 255 characters after trimming, no control
    /// characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        example = "phone"
    )]
    title: Option<String>,
}

/// The token to revoke, by value or by id but not both. A body that names neither, or no body
/// at all, revokes every token of the caller.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RevokeRequest {
    #[serde(default, deserialize_with = "string_not_null")]
    #[schema(
        nullable = false,
        pattern = r"\S",
        example = "ses_0hlgL6I37AcSIQynFjiafipLDMet_QaSq29isMQIVwo"
    )]
    token: Option<String>,
    #[serde(default, deserialize_with = "string_not_null")]
    #[schema(nullable = false, pattern = r"\S", example = "0c059057-27d6-4be7-8e59-1ff44b90d858")]
    token_id: Option<String>,
}

/// The caller's tokens, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenListResponse {
    success: bool,
    tokens: Vec<TokenView>,
}

/// A new token, shown only in this response, and its stored details.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenResponse {
    success: bool,
    #[schema(example = "ses_eFXeWK-qZ_as1FF-SQMyxu5YIQZb_oD1iYZ9I1HvLQs")]
    token: String,
    #[schema(example = "d6a76b60-3b8d-4c15-ab1c-7964fd786822")]
    token_id: String,
    #[schema(example = "phone")]
    title: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The result of a revocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokeResponse {
    success: bool,
    /// `Token revoked successfully.` or `All tokens revoked successfully.`
    #[schema(example = "Token revoked successfully.")]
    message: &'static str,
    /// Number of tokens that were live and are now revoked: 0 for a token that was already
    /// revoked.
    revoked: usize,
}

/// List the caller's tokens
///
/// Returns the caller's tokens, newest first. Revoked and expired tokens are listed until
/// pruning deletes them. Neither the token nor its digest is ever returned.
#[utoipa::path(
    get,
    path = "/api/tokens",
    operation_id = "list_tokens",
    tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's tokens", body = TokenListResponse),
        BearerErrors,
        Unavailable,
    )
)]
pub async fn list(state: web::Data<AppState>, bearer: Bearer) -> Result<HttpResponse, ApiError> {
    let tokens = as_token_owner(&state, &bearer, Access::Read, |tenant, _| tenant.list_tokens()).await?;

    let views: Vec<TokenView> = tokens.into_iter().map(TokenView::from).collect();
    Ok(HttpResponse::Ok().json(TokenListResponse {
        success: true,
        tokens: views,
    }))
}

/// Mint another token for the caller
///
/// The new token is subject to the same per-user cap as a login, and only this response
/// shows it. The body may be left out.
#[utoipa::path(
    post,
    path = "/api/tokens/token",
    operation_id = "new_token",
    tag = "tokens",
    security(("bearer" = [])),
    request_body(content = Option<NewTokenRequest>, description = "May be left out"),
    responses(
        (status = 200, description = "The new token", body = NewTokenResponse),
        BearerErrors,
        BodyErrors,
        Unavailable,
    )
)]
pub async fn create(
    state: web::Data<AppState>,
    bearer: Bearer,
    body: OptionalJsonBody<NewTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let title = body
        .0
        .title
        .as_deref()
        .map(|title| validate_title("title", title))
        .transpose()?;
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
    Ok(HttpResponse::Ok().json(NewTokenResponse {
        success: true,
        token: token.expose().to_string(),
        token_id: view.token_id,
        title: view.title,
        created_at: view.created_at,
        expires_at: view.expires_at,
    }))
}

/// Revoke the caller's tokens
///
/// Revokes one of the caller's tokens, named by value or by id, or all of them when the body
/// names neither or is left out. The caller may revoke the token it authenticates with.
#[utoipa::path(
    post,
    path = "/api/tokens/revoke",
    operation_id = "revoke_tokens",
    tag = "tokens",
    security(("bearer" = [])),
    request_body(
        content = Option<RevokeRequest>,
        description = "May be left out, and then every token of the caller is revoked"
    ),
    responses(
        (status = 200, description = "The token, or every token of the caller, is revoked", body = RevokeResponse),
        (status = 404, description = "The token is not one of the caller's", body = ErrorBody),
        BearerErrors,
        BodyErrors,
        Unavailable,
    )
)]
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
            return Err(ApiError::Validation(
                "token must not be empty; leave it out to revoke all tokens".to_string(),
            ));
        }
        (None, Some(token_id)) if token_id.trim().is_empty() => {
            return Err(ApiError::Validation(
                "token_id must not be empty; leave it out to revoke all tokens".to_string(),
            ));
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
    let message = if single {
        "Token revoked successfully."
    } else {
        "All tokens revoked successfully."
    };
    Ok(HttpResponse::Ok().json(RevokeResponse {
        success: true,
        message,
        revoked,
    }))
}

/// The tokens a `revoke` request selects, owned so the selection can move to the blocking pool.
enum Target {
    All,
    Digest(crate::auth::TokenDigest),
    Id(String),
}
