//! Row-level security proofs on a real PostgreSQL server, connecting as the restricted role
//! that `sesame migrate` creates. Each test makes its own database and role and drops them.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::PgConnection;
use rand::distributions::{Alphanumeric, DistString};

const SERVER: &str = "127.0.0.1:5432";
const PASSWORD: &str = "correct horse battery";

/// A migrated database with a restricted role, both dropped on drop.
struct Cluster {
    database: String,
    role: String,
    /// The role that owns the database and runs `migrate`: `postgres`, or a plain role made
    /// for the test, as on managed services where the owner is not a superuser.
    owner: String,
}

impl Cluster {
    fn create() -> Cluster {
        Cluster::create_with_owner(false)
    }

    fn create_with_owner(plain_owner: bool) -> Cluster {
        let suffix = Alphanumeric.sample_string(&mut rand::thread_rng(), 10).to_lowercase();
        let owner = if plain_owner {
            format!("sesame_rls_owner_{suffix}")
        } else {
            "postgres".to_string()
        };
        let cluster = Cluster {
            database: format!("sesame_rls_{suffix}"),
            role: format!("sesame_rls_role_{suffix}"),
            owner,
        };

        let mut admin = PgConnection::establish(&format!("postgres://postgres@{SERVER}/postgres"))
            .expect("PostgreSQL must accept connections on 127.0.0.1:5432 as user postgres (trust auth); start it with pg_ctlcluster");
        if plain_owner {
            diesel::sql_query(format!("CREATE ROLE {} LOGIN CREATEROLE", cluster.owner))
                .execute(&mut admin)
                .unwrap();
        }
        diesel::sql_query(format!("CREATE DATABASE {} OWNER {}", cluster.database, cluster.owner))
            .execute(&mut admin)
            .unwrap();

        let output = cluster.sesame(&["migrate"], "");
        assert!(
            output.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        cluster
    }

    fn admin_url(&self) -> String {
        format!("postgres://{}@{SERVER}/{}", self.owner, self.database)
    }

    fn app_url(&self) -> String {
        format!("postgres://{}@{SERVER}/{}", self.role, self.database)
    }

    fn admin(&self) -> PgConnection {
        PgConnection::establish(&self.admin_url()).unwrap()
    }

    fn app(&self) -> PgConnection {
        PgConnection::establish(&self.app_url()).unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SESAME_DATABASE_URL", self.app_url())
            .env("SESAME_DATABASE_ADMIN_URL", self.admin_url())
            .env("SESAME_DATABASE_USER", &self.role)
            .current_dir(std::env::temp_dir());
        command
    }

    fn sesame(&self, args: &[&str], stdin: &str) -> std::process::Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Creates a user with the CLI and returns its id.
    fn create_user(&self, username: &str) -> String {
        let output = self.sesame(
            &["create-user", "--username", username, "--password-stdin", "--json"],
            PASSWORD,
        );
        assert!(
            output.status.success(),
            "create-user failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        created["user_id"].as_str().unwrap().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let Ok(mut admin) = PgConnection::establish(&format!("postgres://postgres@{SERVER}/postgres")) else {
            return;
        };
        let _ = diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '{}'",
            self.database
        ))
        .execute(&mut admin);
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {}", self.database)).execute(&mut admin);
        let _ = diesel::sql_query(format!("DROP ROLE IF EXISTS {}", self.role)).execute(&mut admin);
        if self.owner != "postgres" {
            let _ = diesel::sql_query(format!("DROP ROLE IF EXISTS {}", self.owner)).execute(&mut admin);
        }
    }
}

/// A running `sesame run`, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(cluster: &Cluster, extra_env: &[(&str, &str)]) -> Server {
        let mut command = cluster.command(&["run", "--port", "0"]);
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();

        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("Open Sesame is running at ")
            .unwrap_or_else(|| panic!("unexpected first line from sesame run: {line:?}"))
            .to_string();
        Server { child, url }
    }

    fn token(&self, username: &str) -> String {
        let response: serde_json::Value = reqwest::blocking::Client::new()
            .post(format!("{}/api/users/create_token", self.url))
            .json(&serde_json::json!({ "username": username, "password": PASSWORD }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        response["token"].as_str().unwrap().to_string()
    }

    fn create_workspace(&self, token: &str, title: &str) {
        let status = reqwest::blocking::Client::new()
            .post(format!("{}/api/workspaces", self.url))
            .bearer_auth(token)
            .json(&serde_json::json!({ "title": title }))
            .send()
            .unwrap()
            .status();
        assert_eq!(status, 201);
    }

    fn workspace_titles(&self, token: &str) -> Vec<String> {
        let workspaces: Vec<serde_json::Value> = reqwest::blocking::Client::new()
            .get(format!("{}/api/workspaces?limit=100", self.url))
            .bearer_auth(token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        workspaces
            .iter()
            .map(|w| w["title"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

fn count(connection: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(connection).unwrap().count
}

fn set_user(connection: &mut PgConnection, user_id: &str) {
    diesel::sql_query("SELECT set_config('app.current_user_id', $1, true)")
        .bind::<Text, _>(user_id)
        .execute(connection)
        .unwrap();
}

/// Two users with one token and one workspace each; returns their ids.
fn two_tenants(cluster: &Cluster) -> (String, String) {
    let alice = cluster.create_user("alice");
    let bob = cluster.create_user("bob");
    let server = Server::start(cluster, &[]);
    server.create_workspace(&server.token("alice"), "alice's workspace");
    server.create_workspace(&server.token("bob"), "bob's workspace");
    (alice, bob)
}

#[test]
fn no_user_set_sees_zero_rows() {
    let cluster = Cluster::create();
    two_tenants(&cluster);

    let mut admin = cluster.admin();
    for table in ["users", "tokens", "workspaces"] {
        assert_eq!(
            count(&mut admin, &format!("SELECT count(*) AS count FROM {table}")),
            2,
            "{table} as owner"
        );
    }

    let mut app = cluster.app();
    for table in ["users", "tokens", "workspaces"] {
        assert_eq!(
            count(&mut app, &format!("SELECT count(*) AS count FROM {table}")),
            0,
            "{table} as restricted role"
        );
    }
}

#[test]
fn tenant_sees_only_own_rows() {
    let cluster = Cluster::create();
    let (alice, _bob) = two_tenants(&cluster);
    let mut app = cluster.app();

    app.transaction::<_, diesel::result::Error, _>(|app| {
        set_user(app, &alice);
        for table in ["users", "tokens", "workspaces"] {
            assert_eq!(
                count(app, &format!("SELECT count(*) AS count FROM {table}")),
                1,
                "{table}"
            );
            let foreign = format!("SELECT count(*) AS count FROM {table} WHERE user_id <> '{alice}'");
            assert_eq!(count(app, &foreign), 0, "{table}");
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn tenant_cannot_change_other_rows() {
    let cluster = Cluster::create();
    let (alice, bob) = two_tenants(&cluster);
    let mut app = cluster.app();

    app.transaction::<_, diesel::result::Error, _>(|app| {
        set_user(app, &alice);
        let updated = diesel::sql_query("UPDATE workspaces SET title = 'taken' WHERE user_id = $1")
            .bind::<Text, _>(&bob)
            .execute(app)?;
        assert_eq!(updated, 0);
        let revoked = diesel::sql_query("UPDATE tokens SET revoked = true WHERE user_id = $1")
            .bind::<Text, _>(&bob)
            .execute(app)?;
        assert_eq!(revoked, 0);
        let deleted = diesel::sql_query("DELETE FROM users WHERE user_id = $1")
            .bind::<Text, _>(&bob)
            .execute(app)?;
        assert_eq!(deleted, 0);
        Ok(())
    })
    .unwrap();

    let mut admin = cluster.admin();
    let sql =
        format!("SELECT count(*) AS count FROM workspaces WHERE user_id = '{bob}' AND title = 'bob''s workspace'");
    assert_eq!(count(&mut admin, &sql), 1);
    let sql = format!("SELECT count(*) AS count FROM tokens WHERE user_id = '{bob}' AND NOT revoked");
    assert_eq!(count(&mut admin, &sql), 1);
}

#[test]
fn tenant_cannot_insert_for_other_user() {
    let cluster = Cluster::create();
    let (alice, bob) = two_tenants(&cluster);
    let mut app = cluster.app();

    let result = app.transaction::<_, diesel::result::Error, _>(|app| {
        set_user(app, &alice);
        diesel::sql_query(
            "INSERT INTO workspaces (workspace_id, user_id, title, config, created_at, updated_at)
             VALUES ('00000000-0000-4000-8000-000000000000', $1, 'planted', '{}', now(), now())",
        )
        .bind::<Text, _>(&bob)
        .execute(app)
    });

    let error = result.unwrap_err().to_string();
    assert!(error.contains("row-level security"), "{error}");
}

#[test]
fn setting_ends_with_transaction() {
    let cluster = Cluster::create();
    let (alice, _bob) = two_tenants(&cluster);
    let mut app = cluster.app();

    app.transaction::<_, diesel::result::Error, _>(|app| {
        set_user(app, &alice);
        assert_eq!(count(app, "SELECT count(*) AS count FROM workspaces"), 1);
        Ok(())
    })
    .unwrap();

    assert_eq!(count(&mut app, "SELECT count(*) AS count FROM workspaces"), 0);
}

#[derive(QueryableByName)]
struct RoleFlags {
    #[diesel(sql_type = Bool)]
    rolsuper: bool,
    #[diesel(sql_type = Bool)]
    rolbypassrls: bool,
    #[diesel(sql_type = Bool)]
    owns_tables: bool,
}

#[test]
fn restricted_role_has_no_bypass() {
    let cluster = Cluster::create();
    let mut app = cluster.app();

    let flags: RoleFlags = diesel::sql_query(
        "SELECT r.rolsuper, r.rolbypassrls,
                EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user) AS owns_tables
         FROM pg_roles r WHERE r.rolname = current_user",
    )
    .get_result(&mut app)
    .unwrap();
    assert!(!flags.rolsuper);
    assert!(!flags.rolbypassrls);
    assert!(!flags.owns_tables);

    let mut admin = cluster.admin();
    for table in ["users", "tokens", "workspaces"] {
        let sql = format!(
            "SELECT count(*) AS count FROM pg_class WHERE relname = '{table}' AND relrowsecurity AND relforcerowsecurity"
        );
        assert_eq!(
            count(&mut admin, &sql),
            1,
            "{table} must ENABLE and FORCE row level security"
        );
    }
}

#[test]
fn restricted_role_cannot_create_tables() {
    let cluster = Cluster::create();
    let mut app = cluster.app();

    let error = diesel::sql_query("CREATE TABLE planted (id int)")
        .execute(&mut app)
        .unwrap_err()
        .to_string();
    assert!(error.contains("permission denied"), "{error}");
}

#[test]
fn token_lookup_needs_the_digest() {
    let cluster = Cluster::create();
    two_tenants(&cluster);
    let mut app = cluster.app();

    let sql = "SELECT count(*) AS count FROM sesame_find_token(repeat('0', 64))";
    assert_eq!(count(&mut app, sql), 0);
    let sql = "SELECT count(*) AS count FROM sesame_find_login('nobody')";
    assert_eq!(count(&mut app, sql), 0);
}

#[test]
fn single_connection_pool_keeps_tenants_apart() {
    let cluster = Cluster::create();
    cluster.create_user("alice");
    cluster.create_user("bob");
    let server = Server::start(&cluster, &[("SESAME_DATABASE_POOL_SIZE", "1")]);
    let alice = server.token("alice");
    let bob = server.token("bob");
    server.create_workspace(&alice, "alice's workspace");
    server.create_workspace(&bob, "bob's workspace");

    for _ in 0..25 {
        assert_eq!(server.workspace_titles(&alice), vec!["alice's workspace"]);
        assert_eq!(server.workspace_titles(&bob), vec!["bob's workspace"]);
    }
}

#[test]
fn migrate_rejects_owner_as_server_role() {
    let cluster = Cluster::create();

    let output = cluster
        .command(&["migrate"])
        .env("SESAME_DATABASE_USER", "postgres")
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("role postgres"), "{stderr}");
}

#[test]
fn server_refuses_unmigrated_database() {
    let cluster = Cluster::create();
    let mut admin = cluster.admin();
    diesel::sql_query("DELETE FROM __diesel_schema_migrations")
        .execute(&mut admin)
        .unwrap();

    let output = cluster.command(&["run", "--port", "0"]).output().unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sesame migrate"), "{stderr}");
}

#[test]
fn plain_owner_can_migrate_and_serve() {
    let cluster = Cluster::create_with_owner(true);
    cluster.create_user("alice");
    cluster.create_user("bob");
    let server = Server::start(&cluster, &[]);
    let alice = server.token("alice");
    server.create_workspace(&alice, "alice's workspace");

    assert_eq!(server.workspace_titles(&alice), vec!["alice's workspace"]);
    assert_eq!(server.workspace_titles(&server.token("bob")), Vec::<String>::new());

    let mut app = cluster.app();
    assert_eq!(count(&mut app, "SELECT count(*) AS count FROM workspaces"), 0);
}

#[test]
fn server_warns_when_role_bypasses_rls() {
    let cluster = Cluster::create();
    let mut child = cluster
        .command(&["run", "--port", "0"])
        .env("SESAME_DATABASE_URL", cluster.admin_url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();

    assert!(line.starts_with("Open Sesame is running at "), "{line}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bypasses row-level security"), "{stderr}");
}
