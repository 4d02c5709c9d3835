use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::{Map, Value};

use super::models::{WorkspaceChanges, WorkspaceRow};
use super::schema::workspaces;
use super::{StoreError, Tenant};

impl WorkspaceRow {
    /// Parses the stored config back into a JSON object.
    pub fn config_object(&self) -> Result<Map<String, Value>, StoreError> {
        match serde_json::from_str::<Value>(&self.config) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(StoreError::Corrupt(format!(
                "config of workspace {} is not a JSON object",
                self.workspace_id
            ))),
        }
    }
}

impl Tenant<'_> {
    /// Lists this user's workspaces, most recently updated first.
    pub fn list_workspaces(&mut self, limit: i64, offset: i64) -> Result<Vec<WorkspaceRow>, StoreError> {
        let rows = workspaces::table
            .filter(workspaces::user_id.eq(&self.user_id))
            .order((workspaces::updated_at.desc(), workspaces::workspace_id.asc()))
            .limit(limit)
            .offset(offset)
            .select(WorkspaceRow::as_select())
            .load(self.connection)?;
        Ok(rows)
    }

    pub fn create_workspace(
        &mut self,
        title: String,
        config: &Map<String, Value>,
        now: NaiveDateTime,
    ) -> Result<WorkspaceRow, StoreError> {
        let row = WorkspaceRow {
            workspace_id: uuid::Uuid::new_v4().to_string(),
            user_id: self.user_id.clone(),
            title,
            config: Value::Object(config.clone()).to_string(),
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(workspaces::table)
            .values(&row)
            .execute(self.connection)?;
        Ok(row)
    }

    /// Finds one of this user's workspaces; another user's gives [`StoreError::NotFound`].
    pub fn find_workspace(&mut self, workspace_id: &str) -> Result<WorkspaceRow, StoreError> {
        workspaces::table
            .filter(workspaces::user_id.eq(&self.user_id))
            .filter(workspaces::workspace_id.eq(workspace_id))
            .select(WorkspaceRow::as_select())
            .first(self.connection)
            .optional()?
            .ok_or(StoreError::NotFound)
    }

    /// Applies `changes`. A new title replaces the old one. Config keys merge one level deep,
    /// so a key in the change replaces the stored key and other stored keys stay.
    pub fn update_workspace(
        &mut self,
        workspace_id: &str,
        changes: WorkspaceChanges,
        now: NaiveDateTime,
    ) -> Result<WorkspaceRow, StoreError> {
        let mut row = self.find_workspace(workspace_id)?;

        if let Some(title) = changes.title {
            row.title = title;
        }
        if let Some(patch) = changes.config {
            let mut config = row.config_object()?;
            config.extend(patch);
            row.config = Value::Object(config).to_string();
        }
        row.updated_at = now;

        diesel::update(
            workspaces::table
                .filter(workspaces::user_id.eq(&self.user_id))
                .filter(workspaces::workspace_id.eq(workspace_id)),
        )
        .set((
            workspaces::title.eq(&row.title),
            workspaces::config.eq(&row.config),
            workspaces::updated_at.eq(now),
        ))
        .execute(self.connection)?;

        Ok(row)
    }

    pub fn delete_workspace(&mut self, workspace_id: &str) -> Result<(), StoreError> {
        let deleted = diesel::delete(
            workspaces::table
                .filter(workspaces::user_id.eq(&self.user_id))
                .filter(workspaces::workspace_id.eq(workspace_id)),
        )
        .execute(self.connection)?;

        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
