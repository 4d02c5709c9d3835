//! Workspace routes. Every query runs through the token owner's [`Tenant`], so another user's
//! workspace is indistinguishable from a missing one (404).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{as_token_owner, utc, validate_title};
use crate::http::error::ApiError;
use crate::http::extract::{Bearer, JsonBody};
use crate::store::models::{WorkspaceChanges, WorkspaceRow};
use crate::store::Access;

/// Default and maximum page size of `GET /api/workspaces`.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// A workspace as the API returns it.
#[derive(Debug, Serialize)]
pub struct WorkspaceView {
    workspace_id: String,
    title: String,
    /// The stored JSON object, passed through without parsing it into a tree and serializing
    /// it again (the database's CHECK constraint keeps it a JSON object).
    config: Box<RawValue>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<WorkspaceRow> for WorkspaceView {
    type Error = ApiError;

    fn try_from(row: WorkspaceRow) -> Result<Self, ApiError> {
        let config = match RawValue::from_string(row.config) {
            Ok(config) if config.get().starts_with('{') => config,
            _ => {
                tracing::error!(workspace_id = %row.workspace_id, "stored config is not a JSON object");
                return Err(ApiError::Internal);
            }
        };
        Ok(WorkspaceView {
            workspace_id: row.workspace_id,
            title: row.title,
            config,
            created_at: utc(row.created_at),
            updated_at: utc(row.updated_at),
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct CreateWorkspaceRequest {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    config: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateWorkspaceRequest {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    config: Option<Value>,
}

/// `?limit=` (1 to 100, default 20) and `&offset=` (0 or more, default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Page {
    limit: i64,
    offset: i64,
}

impl Page {
    fn parse(query: &str) -> Result<Page, ApiError> {
        let mut page = Page { limit: DEFAULT_LIMIT, offset: 0 };
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "limit" => page.limit = parse_integer("limit", &value, 1, MAX_LIMIT)?,
                "offset" => page.offset = parse_integer("offset", &value, 0, i64::from(i32::MAX))?,
                _ => {}
            }
        }
        Ok(page)
    }
}

fn parse_integer(name: &str, value: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    match value.trim().parse::<i64>() {
        Ok(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(ApiError::Validation(format!("{name} must be an integer from {min} to {max}"))),
    }
}

/// Parses a workspace id from the path into its canonical lower-case hyphenated form.
fn parse_workspace_id(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::try_parse(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::Validation("workspace_id must be a UUID".to_string()))
}

fn parse_config(value: Option<Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(ApiError::Validation("config must be a JSON object".to_string())),
    }
}

fn workspace_not_found(error: ApiError) -> ApiError {
    match error {
        ApiError::NotFound(_) => ApiError::NotFound("Workspace not found"),
        other => other,
    }
}

/// `GET /api/workspaces`: the caller's workspaces, most recently updated first.
pub async fn list(state: web::Data<crate::http::AppState>, bearer: Bearer, request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let page = Page::parse(request.query_string())?;

    let rows = as_token_owner(&state, &bearer, Access::Read, move |tenant, _| {
        tenant.list_workspaces(page.limit, page.offset)
    })
    .await?;

    let views = rows.into_iter().map(WorkspaceView::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(views))
}

/// `POST /api/workspaces`: creates a workspace; 201 with the workspace.
pub async fn create(
    state: web::Data<crate::http::AppState>,
    bearer: Bearer,
    body: JsonBody<CreateWorkspaceRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0;
    let raw_title = request.title.ok_or_else(|| ApiError::Validation("title is required".to_string()))?;
    let title = validate_title("title", &raw_title)?;
    let config = parse_config(request.config)?.unwrap_or_default();

    let row = as_token_owner(&state, &bearer, Access::Write, move |tenant, now| {
        tenant.create_workspace(title, &config, now)
    })
    .await?;

    tracing::info!(workspace_id = %row.workspace_id, "workspace created");
    Ok(HttpResponse::Created().json(WorkspaceView::try_from(row)?))
}

/// `GET /api/workspaces/{workspace_id}`.
pub async fn get(state: web::Data<crate::http::AppState>, bearer: Bearer, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let workspace_id = parse_workspace_id(&path)?;

    let row = as_token_owner(&state, &bearer, Access::Read, move |tenant, _| tenant.find_workspace(&workspace_id))
        .await
        .map_err(workspace_not_found)?;

    Ok(HttpResponse::Ok().json(WorkspaceView::try_from(row)?))
}

/// `PUT /api/workspaces/{workspace_id}`: replaces the title and merges config keys.
pub async fn update(
    state: web::Data<crate::http::AppState>,
    bearer: Bearer,
    path: web::Path<String>,
    body: JsonBody<UpdateWorkspaceRequest>,
) -> Result<HttpResponse, ApiError> {
    let workspace_id = parse_workspace_id(&path)?;
    let request = body.0;
    let changes = WorkspaceChanges {
        title: request.title.as_deref().map(|title| validate_title("title", title)).transpose()?,
        config: parse_config(request.config)?,
    };

    let row = as_token_owner(&state, &bearer, Access::Write, move |tenant, now| {
        tenant.update_workspace(&workspace_id, changes, now)
    })
    .await
    .map_err(workspace_not_found)?;

    Ok(HttpResponse::Ok().json(WorkspaceView::try_from(row)?))
}

/// `DELETE /api/workspaces/{workspace_id}`.
pub async fn delete(state: web::Data<crate::http::AppState>, bearer: Bearer, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let workspace_id = parse_workspace_id(&path)?;
    let deleted_id = workspace_id.clone();

    as_token_owner(&state, &bearer, Access::Write, move |tenant, _| tenant.delete_workspace(&workspace_id))
        .await
        .map_err(workspace_not_found)?;

    tracing::info!(workspace_id = %deleted_id, "workspace deleted");
    Ok(HttpResponse::Ok().json(serde_json::json!({ "success": true, "workspace_id": deleted_id })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_defaults_and_bounds() {
        assert_eq!(Page::parse("").unwrap(), Page { limit: 20, offset: 0 });
        assert_eq!(Page::parse("limit=100&offset=5").unwrap(), Page { limit: 100, offset: 5 });
        assert!(Page::parse("limit=0").is_err());
        assert!(Page::parse("limit=101").is_err());
        assert!(Page::parse("limit=abc").is_err());
        assert!(Page::parse("offset=-1").is_err());
        assert!(Page::parse("offset=99999999999999999999").is_err());
    }

    #[test]
    fn workspace_ids_are_canonical_uuids() {
        assert_eq!(
            parse_workspace_id("A1A2A3A4-B1B2-C1C2-D1D2-D3D4D5D6D7D8").unwrap(),
            "a1a2a3a4-b1b2-c1c2-d1d2-d3d4d5d6d7d8"
        );
        assert!(parse_workspace_id("not-a-uuid").is_err());
        assert!(parse_workspace_id("").is_err());
    }

    #[test]
    fn config_must_be_object() {
        assert!(parse_config(Some(serde_json::json!([1]))).is_err());
        assert!(parse_config(Some(serde_json::json!("x"))).is_err());
        assert_eq!(parse_config(None).unwrap(), None);
    }
}
