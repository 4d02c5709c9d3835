//! Workspace routes. Every query runs through the token owner's [`Tenant`], so another user's
//! workspace is indistinguishable from a missing one (404).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::openapi::{BearerErrors, BodyErrors, InvalidInput, Unavailable};
use super::{as_token_owner, utc, validate_title};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Bearer, JsonBody};
use crate::store::models::{WorkspaceChanges, WorkspaceRow};
use crate::store::Access;

/// Default and maximum page size of `GET /api/workspaces`.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// A workspace as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    #[schema(format = Uuid, example = "f2d83aff-0606-4e1b-abde-dae63b18cd3e")]
    workspace_id: String,
    #[schema(example = "Research notes")]
    title: String,
    /// Any JSON object.
    // The stored object is passed through without parsing it into a tree and serializing it
    // again (the database's CHECK constraint keeps it a JSON object).
    #[schema(value_type = Object, example = json!({"model": "llama3"}))]
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

/// A new workspace.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateWorkspaceRequest {
    /// 1 to 255 characters after trimming, no control characters.
    #[serde(default)]
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        example = "Research notes"
    )]
    title: Option<String>,
    /// Any JSON object. Left out or `null`, it is `{}`.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"model": "llama3"}))]
    config: Option<Value>,
}

/// Changes to a workspace. `title` replaces the old one. The top-level keys of `config`
/// replace the stored keys of the same name, and stored keys that it leaves out are kept.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateWorkspaceRequest {
    /// 1 to 255 characters after trimming, no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$",
        example = "Research notes"
    )]
    title: Option<String>,
    /// A JSON object that is merged one level deep into the stored config. `null` leaves the
    /// config as it is.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"temperature": 0.7}))]
    config: Option<Value>,
}

/// The id of a deleted workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteWorkspaceResponse {
    success: bool,
    #[schema(format = Uuid, example = "f2d83aff-0606-4e1b-abde-dae63b18cd3e")]
    workspace_id: String,
}

/// The `{workspace_id}` path parameter in the OpenAPI document. Handlers parse it with
/// [`parse_workspace_id`].
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
struct WorkspaceIdParam {
    /// A UUID in any spelling, such as upper case. Anything else gets 422.
    #[param(format = Uuid, example = "f2d83aff-0606-4e1b-abde-dae63b18cd3e")]
    workspace_id: String,
}

/// `?limit=` (1 to 100, default 20) and `&offset=` (0 or more, default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Page {
    limit: i64,
    offset: i64,
}

impl Page {
    fn parse(query: &str) -> Result<Page, ApiError> {
        let mut page = Page {
            limit: DEFAULT_LIMIT,
            offset: 0,
        };
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
        _ => Err(ApiError::Validation(format!(
            "{name} must be an integer from {min} to {max}"
        ))),
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
        Some(Value::Object(map)) => match nul_path_in_object(&map) {
            Some(path) => Err(ApiError::Validation(format!(
                "config{path} must not contain NUL characters"
            ))),
            None => Ok(Some(map)),
        },
        Some(_) => Err(ApiError::Validation("config must be a JSON object".to_string())),
    }
}

/// Returns the path, such as `.a[2]`, of the first key or string in `map` that contains NUL.
/// Both backends reject such a config, because PostgreSQL's jsonb, which checks a stored
/// config, cannot hold U+0000. serde_json's recursion limit bounds the depth.
fn nul_path_in_object(map: &Map<String, Value>) -> Option<String> {
    map.iter().find_map(|(key, value)| {
        let rest = if key.contains('\0') {
            String::new()
        } else {
            nul_path(value)?
        };
        Some(format!(".{}{rest}", key.escape_debug()))
    })
}

fn nul_path(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(String::new),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| Some(format!("[{index}]{}", nul_path(item)?))),
        Value::Object(map) => nul_path_in_object(map),
        _ => None,
    }
}

fn workspace_not_found(error: ApiError) -> ApiError {
    match error {
        ApiError::NotFound(_) => ApiError::NotFound("Workspace not found"),
        other => other,
    }
}

/// List the caller's workspaces
///
/// Returns the caller's workspaces, most recently updated first (ties in `workspace_id`
/// order). The response has no total count, so a client pages until it gets fewer than
/// `limit` items.
#[utoipa::path(
    get,
    path = "/api/workspaces",
    operation_id = "list_workspaces",
    tag = "workspaces",
    security(("bearer" = [])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Page size, 20 by default"),
        (
            "offset" = Option<i64>,
            Query,
            minimum = 0,
            maximum = 2147483647,
            description = "Workspaces to skip, 0 by default"
        ),
    ),
    responses(
        (status = 200, description = "A page of the caller's workspaces", body = Vec<WorkspaceView>),
        BearerErrors,
        InvalidInput,
        Unavailable,
    )
)]
pub async fn list(
    state: web::Data<crate::http::AppState>,
    bearer: Bearer,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = Page::parse(request.query_string())?;

    let rows = as_token_owner(&state, &bearer, Access::Read, move |tenant, _| {
        tenant.list_workspaces(page.limit, page.offset)
    })
    .await?;

    let views = rows
        .into_iter()
        .map(WorkspaceView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(views))
}

/// Create a workspace
#[utoipa::path(
    post,
    path = "/api/workspaces",
    operation_id = "create_workspace",
    tag = "workspaces",
    security(("bearer" = [])),
    request_body = CreateWorkspaceRequest,
    responses(
        (status = 201, description = "The new workspace", body = WorkspaceView),
        BearerErrors,
        BodyErrors,
        Unavailable,
    )
)]
pub async fn create(
    state: web::Data<crate::http::AppState>,
    bearer: Bearer,
    body: JsonBody<CreateWorkspaceRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0;
    let raw_title = request
        .title
        .ok_or_else(|| ApiError::Validation("title is required".to_string()))?;
    let title = validate_title("title", &raw_title)?;
    let config = parse_config(request.config)?.unwrap_or_default();

    let row = as_token_owner(&state, &bearer, Access::Write, move |tenant, now| {
        tenant.create_workspace(title, &config, now)
    })
    .await?;

    tracing::info!(workspace_id = %row.workspace_id, "workspace created");
    Ok(HttpResponse::Created().json(WorkspaceView::try_from(row)?))
}

/// Get one of the caller's workspaces
#[utoipa::path(
    get,
    path = "/api/workspaces/{workspace_id}",
    operation_id = "get_workspace",
    tag = "workspaces",
    security(("bearer" = [])),
    params(WorkspaceIdParam),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceView),
        (status = 404, description = "No such workspace among the caller's", body = ErrorBody),
        BearerErrors,
        InvalidInput,
        Unavailable,
    )
)]
pub async fn get(
    state: web::Data<crate::http::AppState>,
    bearer: Bearer,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let workspace_id = parse_workspace_id(&path)?;

    let row = as_token_owner(&state, &bearer, Access::Read, move |tenant, _| {
        tenant.find_workspace(&workspace_id)
    })
    .await
    .map_err(workspace_not_found)?;

    Ok(HttpResponse::Ok().json(WorkspaceView::try_from(row)?))
}

/// Update one of the caller's workspaces
///
/// Replaces the title and merges the config keys one level deep. A nested object is replaced
/// whole, and a key set to `null` is stored as `null`. Every successful request sets
/// `updated_at`, even `{}`.
#[utoipa::path(
    put,
    path = "/api/workspaces/{workspace_id}",
    operation_id = "update_workspace",
    tag = "workspaces",
    security(("bearer" = [])),
    params(WorkspaceIdParam),
    request_body = UpdateWorkspaceRequest,
    responses(
        (status = 200, description = "The updated workspace", body = WorkspaceView),
        (status = 404, description = "No such workspace among the caller's", body = ErrorBody),
        BearerErrors,
        BodyErrors,
        Unavailable,
    )
)]
pub async fn update(
    state: web::Data<crate::http::AppState>,
    bearer: Bearer,
    path: web::Path<String>,
    body: JsonBody<UpdateWorkspaceRequest>,
) -> Result<HttpResponse, ApiError> {
    let workspace_id = parse_workspace_id(&path)?;
    let request = body.0;
    let changes = WorkspaceChanges {
        title: request
            .title
            .as_deref()
            .map(|title| validate_title("title", title))
            .transpose()?,
        config: parse_config(request.config)?,
    };

    let row = as_token_owner(&state, &bearer, Access::Write, move |tenant, now| {
        tenant.update_workspace(&workspace_id, changes, now)
    })
    .await
    .map_err(workspace_not_found)?;

    Ok(HttpResponse::Ok().json(WorkspaceView::try_from(row)?))
}

/// Delete one of the caller's workspaces
#[utoipa::path(
    delete,
    path = "/api/workspaces/{workspace_id}",
    operation_id = "delete_workspace",
    tag = "workspaces",
    security(("bearer" = [])),
    params(WorkspaceIdParam),
    responses(
        (status = 200, description = "The workspace is deleted", body = DeleteWorkspaceResponse),
        (status = 404, description = "No such workspace among the caller's", body = ErrorBody),
        BearerErrors,
        InvalidInput,
        Unavailable,
    )
)]
pub async fn delete(
    state: web::Data<crate::http::AppState>,
    bearer: Bearer,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let workspace_id = parse_workspace_id(&path)?;
    let deleted_id = workspace_id.clone();

    as_token_owner(&state, &bearer, Access::Write, move |tenant, _| {
        tenant.delete_workspace(&workspace_id)
    })
    .await
    .map_err(workspace_not_found)?;

    tracing::info!(workspace_id = %deleted_id, "workspace deleted");
    Ok(HttpResponse::Ok().json(DeleteWorkspaceResponse {
        success: true,
        workspace_id: deleted_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_defaults_and_bounds() {
        assert_eq!(Page::parse("").unwrap(), Page { limit: 20, offset: 0 });
        assert_eq!(
            Page::parse("limit=100&offset=5").unwrap(),
            Page { limit: 100, offset: 5 }
        );
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
    fn config_with_nul_names_the_path() {
        let cases = [
            (
                serde_json::json!({ "a": "x\u{0}" }),
                "config.a must not contain NUL characters",
            ),
            (
                serde_json::json!({ "a": [1, { "b\u{0}": 2 }] }),
                "config.a[1].b\\0 must not contain NUL characters",
            ),
        ];
        for (config, expected) in cases {
            let error = parse_config(Some(config)).unwrap_err();
            assert!(
                matches!(&error, ApiError::Validation(message) if message == expected),
                "{error:?}"
            );
        }
        assert!(parse_config(Some(serde_json::json!({ "a": ["x", { "b": null }] }))).is_ok());
    }

    #[test]
    fn config_must_be_object() {
        assert!(parse_config(Some(serde_json::json!([1]))).is_err());
        assert!(parse_config(Some(serde_json::json!("x"))).is_err());
        assert_eq!(parse_config(None).unwrap(), None);
    }
}
