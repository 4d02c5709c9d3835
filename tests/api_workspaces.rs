//! Workspace routes: create, list (order and paging), get, update (title and config merge),
//! delete, and isolation between tenants.

mod common;

use chrono::Utc;
use common::{backend_tests, parse_utc, TestApp};
use serde_json::{json, Value};

const WORKSPACE_NOT_FOUND: &str = "Workspace not found";
const MISSING_ID: &str = "5f0c7a39-2f36-4a6e-9d1b-0d2a9c1e4b77";

fn workspace_path(workspace: &Value) -> String {
    format!(
        "/api/workspaces/{}",
        workspace["workspace_id"].as_str().expect("workspace_id is a string")
    )
}

/// Returns the titles of `GET /api/workspaces?QUERY`, failing the test unless the server
/// responds 200.
fn list_titles(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let reply = app.get(&format!("/api/workspaces{query}"), token);
    assert_eq!(reply.status, 200, "{}", reply.text);
    let list = reply.json();
    let items = list.as_array().expect("a JSON array");
    items
        .iter()
        .map(|item| item["title"].as_str().expect("title is a string").to_string())
        .collect()
}

fn create_titled(app: &TestApp, token: &str, titles: &[&str]) -> Vec<Value> {
    titles
        .iter()
        .map(|title| app.create_workspace(token, &json!({ "title": title })))
        .collect()
}

/// Returns the stored title, config and updated_at of a workspace, read from the database.
fn stored_row(app: &TestApp, workspace: &Value) -> Vec<String> {
    let id = workspace["workspace_id"].as_str().expect("workspace_id is a string");
    let mut db = app.env.db();
    ["title", "config", "CAST(updated_at AS TEXT)", "user_id"]
        .iter()
        .map(|column| {
            db.string(&format!(
                "SELECT {column} AS value FROM workspaces WHERE workspace_id = '{id}'"
            ))
        })
        .collect()
}

backend_tests! {
    fn create_returns_201_with_workspace(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let before = Utc::now();

        let reply = app.post("/api/workspaces", &token, &json!({ "title": "Notes" }));

        assert_eq!(reply.status, 201, "{}", reply.text);
        let workspace = reply.json();
        let id = workspace["workspace_id"].as_str().expect("workspace_id is a string");
        let parsed = uuid::Uuid::parse_str(id).expect("workspace_id is a UUID");
        assert_eq!(parsed.hyphenated().to_string(), id, "lower-case hyphenated form");
        let created_at = parse_utc(&workspace["created_at"]);
        assert_eq!(
            workspace,
            json!({
                "workspace_id": id,
                "title": "Notes",
                "config": {},
                "created_at": workspace["created_at"],
                "updated_at": workspace["created_at"],
            })
        );
        assert!(created_at >= before - chrono::Duration::seconds(5), "{created_at} is before the request");
        assert!(created_at <= Utc::now() + chrono::Duration::seconds(5), "{created_at} is in the future");
    }

    fn create_stores_row(backend) {
        let app = TestApp::start(backend);
        let (user_id, token) = app.user_with_token("alice");

        let workspace = app.create_workspace(&token, &json!({ "title": "Notes", "config": { "model": "m1" } }));

        let stored = stored_row(&app, &workspace);
        assert_eq!(stored[0], "Notes");
        assert_eq!(serde_json::from_str::<Value>(&stored[1]).expect("config is JSON"), json!({ "model": "m1" }));
        assert_eq!(stored[3], user_id);
    }

    fn create_keeps_config(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let config = json!({
            "model": "llama-3",
            "temperature": 0.25,
            "tools": ["search", "calculator"],
            "limits": { "tokens": 4096, "stream": true, "stop": null },
            "emoji": "🔑 ünïcödé",
        });

        let workspace = app.create_workspace(&token, &json!({ "title": "Notes", "config": config }));

        assert_eq!(workspace["config"], config);
        assert_eq!(app.get(&workspace_path(&workspace), &token).json()["config"], config);
    }

    fn create_null_config_means_empty(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        let workspace = app.create_workspace(&token, &json!({ "title": "Notes", "config": null }));

        assert_eq!(workspace["config"], json!({}));
    }

    fn create_trims_title(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        let workspace = app.create_workspace(&token, &json!({ "title": "  Notes \t" }));

        assert_eq!(workspace["title"], "Notes");
    }

    fn create_title_of_255_characters(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let title = "ü".repeat(255);

        let workspace = app.create_workspace(&token, &json!({ "title": title }));

        assert_eq!(workspace["title"], title);
    }

    fn get_returns_created_workspace(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let created = app.create_workspace(&token, &json!({ "title": "Notes", "config": { "a": 1 } }));

        let reply = app.get(&workspace_path(&created), &token);

        reply.assert(200, created);
    }

    fn get_accepts_upper_case_id(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let created = app.create_workspace(&token, &json!({ "title": "Notes" }));
        let upper = created["workspace_id"].as_str().expect("a string").to_uppercase();

        let reply = app.get(&format!("/api/workspaces/{upper}"), &token);

        reply.assert(200, created);
    }

    fn list_empty_for_new_user(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        let reply = app.get("/api/workspaces", &token);

        reply.assert(200, json!([]));
    }

    fn list_returns_full_workspaces(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let created = app.create_workspace(&token, &json!({ "title": "Notes", "config": { "a": 1 } }));

        let reply = app.get("/api/workspaces", &token);

        reply.assert(200, json!([created]));
    }

    fn list_most_recently_updated_first(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let created = create_titled(&app, &token, &["first", "second", "third"]);
        assert_eq!(list_titles(&app, &token, ""), ["third", "second", "first"]);

        app.put(&workspace_path(&created[0]), &token, &json!({ "config": { "touched": true } }));

        assert_eq!(list_titles(&app, &token, ""), ["first", "third", "second"]);
    }

    fn list_limit_and_offset(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        create_titled(&app, &token, &["w1", "w2", "w3"]);

        assert_eq!(list_titles(&app, &token, "?limit=2"), ["w3", "w2"]);
        assert_eq!(list_titles(&app, &token, "?limit=2&offset=2"), ["w1"]);
        assert_eq!(list_titles(&app, &token, "?offset=1"), ["w2", "w1"]);
        assert_eq!(list_titles(&app, &token, "?offset=3"), Vec::<String>::new());
        assert_eq!(list_titles(&app, &token, "?limit=1&offset=2147483647"), Vec::<String>::new());
        assert_eq!(list_titles(&app, &token, "?limit=100&unknown=1"), ["w3", "w2", "w1"]);
    }

    fn list_default_limit_is_20(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let titles: Vec<String> = (1..=21).map(|n| format!("w{n}")).collect();
        create_titled(&app, &token, &titles.iter().map(String::as_str).collect::<Vec<_>>());

        assert_eq!(list_titles(&app, &token, "").len(), 20);
        assert_eq!(list_titles(&app, &token, "?limit=100").len(), 21);
        assert_eq!(list_titles(&app, &token, "?limit=1"), ["w21"]);
    }

    fn list_paging_out_of_range_422(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let cases = [
            ("limit=0", "limit must be an integer from 1 to 100"),
            ("limit=101", "limit must be an integer from 1 to 100"),
            ("limit=abc", "limit must be an integer from 1 to 100"),
            ("limit=", "limit must be an integer from 1 to 100"),
            ("limit=1.5", "limit must be an integer from 1 to 100"),
            ("limit=-1", "limit must be an integer from 1 to 100"),
            ("offset=-1", "offset must be an integer from 0 to 2147483647"),
            ("offset=abc", "offset must be an integer from 0 to 2147483647"),
            ("offset=2147483648", "offset must be an integer from 0 to 2147483647"),
            ("offset=99999999999999999999", "offset must be an integer from 0 to 2147483647"),
        ];

        for (query, detail) in cases {
            let reply = app.get(&format!("/api/workspaces?{query}"), &token);
            reply.assert_case(&format!("?{query}"), 422, detail);
        }
    }

    fn put_merges_config_keys(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let created = app.create_workspace(
            &token,
            &json!({ "title": "Notes", "config": { "model": "m1", "temperature": 0.5, "nested": { "a": 1, "b": 2 } } }),
        );

        let reply = app.put(&workspace_path(&created), &token, &json!({ "config": { "temperature": 0.9, "nested": { "c": 3 }, "new": "x" } }));

        assert_eq!(reply.status, 200, "{}", reply.text);
        let updated = reply.json();
        let merged = json!({ "model": "m1", "temperature": 0.9, "nested": { "c": 3 }, "new": "x" });
        assert_eq!(updated["config"], merged);
        assert_eq!(updated["title"], "Notes");
        assert_eq!(updated["created_at"], created["created_at"]);
        assert!(parse_utc(&updated["updated_at"]) > parse_utc(&created["updated_at"]), "updated_at moved forward");
        app.get(&workspace_path(&created), &token).assert(200, updated);
    }

    fn put_changes_title_keeps_config(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let created = app.create_workspace(&token, &json!({ "title": "Notes", "config": { "model": "m1" } }));

        let reply = app.put(&workspace_path(&created), &token, &json!({ "title": "  Renamed  " }));

        assert_eq!(reply.status, 200, "{}", reply.text);
        let updated = reply.json();
        assert_eq!(updated["title"], "Renamed");
        assert_eq!(updated["config"], json!({ "model": "m1" }));
        assert_eq!(updated["workspace_id"], created["workspace_id"]);
        app.get(&workspace_path(&created), &token).assert(200, updated);
    }

    fn put_without_fields_keeps_values(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let created = app.create_workspace(&token, &json!({ "title": "Notes", "config": { "model": "m1" } }));

        let reply = app.put(&workspace_path(&created), &token, &json!({ "title": null, "config": null }));

        assert_eq!(reply.status, 200, "{}", reply.text);
        let updated = reply.json();
        assert_eq!(updated["title"], "Notes");
        assert_eq!(updated["config"], json!({ "model": "m1" }));
    }

    fn delete_removes_workspace(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let created = app.create_workspace(&token, &json!({ "title": "Notes" }));
        let kept = app.create_workspace(&token, &json!({ "title": "Kept" }));

        let reply = app.delete(&workspace_path(&created), &token);

        reply.assert(200, json!({ "success": true, "workspace_id": created["workspace_id"] }));
        app.get(&workspace_path(&created), &token).assert_detail(404, WORKSPACE_NOT_FOUND);
        app.delete(&workspace_path(&created), &token).assert_detail(404, WORKSPACE_NOT_FOUND);
        assert_eq!(list_titles(&app, &token, ""), ["Kept"]);
        assert_eq!(app.env.db().count("workspaces"), 1);
        app.get(&workspace_path(&kept), &token).assert(200, kept);
    }

    fn missing_workspace_404(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");
        let path = format!("/api/workspaces/{MISSING_ID}");

        app.get(&path, &token).assert_detail(404, WORKSPACE_NOT_FOUND);
        app.put(&path, &token, &json!({ "title": "x" })).assert_detail(404, WORKSPACE_NOT_FOUND);
        app.delete(&path, &token).assert_detail(404, WORKSPACE_NOT_FOUND);
        assert_eq!(app.env.db().count("workspaces"), 0);
    }

    fn non_uuid_id_422(backend) {
        let app = TestApp::start(backend);
        let (_, token) = app.user_with_token("alice");

        for id in ["not-a-uuid", "123", "5f0c7a39-2f36-4a6e-9d1b-0d2a9c1e4b7", "5f0c7a39-2f36-4a6e-9d1b-0d2a9c1e4b77x", "%00"] {
            let path = format!("/api/workspaces/{id}");
            app.get(&path, &token).assert_detail(422, "workspace_id must be a UUID");
            app.put(&path, &token, &json!({ "title": "x" })).assert_detail(422, "workspace_id must be a UUID");
            app.delete(&path, &token).assert_detail(422, "workspace_id must be a UUID");
        }
    }

    fn other_tenant_workspace_404(backend) {
        let app = TestApp::start(backend);
        let (_, alices) = app.user_with_token("alice");
        let (_, bobs) = app.user_with_token("bob");
        let workspace = app.create_workspace(&alices, &json!({ "title": "Private", "config": { "secret": 1 } }));
        let stored_before = stored_row(&app, &workspace);
        let path = workspace_path(&workspace);

        let get = app.get(&path, &bobs);
        let put = app.put(&path, &bobs, &json!({ "title": "Taken", "config": { "secret": 2 } }));
        let delete = app.delete(&path, &bobs);

        get.assert_detail(404, WORKSPACE_NOT_FOUND);
        put.assert_detail(404, WORKSPACE_NOT_FOUND);
        delete.assert_detail(404, WORKSPACE_NOT_FOUND);
        assert_eq!(stored_row(&app, &workspace), stored_before);
        app.get(&path, &alices).assert(200, workspace);
        assert_eq!(list_titles(&app, &bobs, ""), Vec::<String>::new());
    }

    fn list_shows_only_own_workspaces(backend) {
        let app = TestApp::start(backend);
        let (_, alices) = app.user_with_token("alice");
        let (_, bobs) = app.user_with_token("bob");
        create_titled(&app, &alices, &["a1", "a2"]);
        create_titled(&app, &bobs, &["b1"]);

        assert_eq!(list_titles(&app, &alices, ""), ["a2", "a1"]);
        assert_eq!(list_titles(&app, &bobs, ""), ["b1"]);
    }

    fn workspaces_outlive_token_revocation(backend) {
        let app = TestApp::start(backend);
        let (_, old) = app.user_with_token("alice");
        create_titled(&app, &old, &["kept"]);
        app.revoke("alice", common::PASSWORD, None);

        let new = app.token("alice");

        assert_eq!(list_titles(&app, &new, ""), ["kept"]);
    }
}
