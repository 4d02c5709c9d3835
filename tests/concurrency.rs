//! Many clients at once against one server: logins and workspace writes must neither fail
//! with a 5xx (such as SQLite's "database is locked") nor lose a row.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;

use common::{backend_tests, send, TestApp, TestEnv, PASSWORD};
use reqwest::Method;
use serde_json::json;

/// Clients that run at the same time, each with its own user.
const CLIENTS: usize = 64;

/// Workspaces each client creates.
const WORKSPACES_PER_CLIENT: usize = 4;

/// Threads that create the users beforehand. Each `create-user` hashes a password with
/// 19 MiB of memory, so a few at a time are enough.
const USER_CREATION_THREADS: usize = 4;

fn username(client: usize) -> String {
    format!("client-{client}")
}

fn create_users(env: &TestEnv) {
    thread::scope(|scope| {
        for worker in 0..USER_CREATION_THREADS {
            scope.spawn(move || {
                for client in (worker..CLIENTS).step_by(USER_CREATION_THREADS) {
                    env.create_user(&username(client));
                }
            });
        }
    });
}

/// Logs in as one client's user, creates its workspaces and lists them. Returns the status
/// of every request, in order.
fn run_client(app_url: &str, client: reqwest::blocking::Client, number: usize, start: &Barrier) -> Vec<u16> {
    let url = |path: &str| format!("{app_url}{path}");
    start.wait();

    let mut statuses = Vec::new();
    let login = send(
        client
            .request(Method::POST, url("/api/users/create_token"))
            .json(&json!({ "username": username(number), "password": PASSWORD })),
    );
    statuses.push(login.status);
    let Some(token) = login.json()["token"].as_str().map(str::to_string) else {
        return statuses;
    };

    for index in 0..WORKSPACES_PER_CLIENT {
        let body = json!({ "title": format!("client {number} workspace {index}"), "config": { "client": number } });
        let created = send(
            client
                .request(Method::POST, url("/api/workspaces"))
                .bearer_auth(&token)
                .json(&body),
        );
        statuses.push(created.status);
    }

    let listed = send(client.request(Method::GET, url("/api/workspaces")).bearer_auth(&token));
    statuses.push(listed.status);
    let count = listed.json().as_array().map_or(0, Vec::len);
    assert_eq!(
        count, WORKSPACES_PER_CLIENT,
        "client {number} lists its own workspaces only"
    );
    statuses
}

backend_tests! {
    fn parallel_logins_and_writes_succeed(backend) {
        let app = TestApp::start(backend);
        create_users(&app.env);
        let start = Arc::new(Barrier::new(CLIENTS));

        let handles: Vec<_> = (0..CLIENTS)
            .map(|number| {
                let (url, client, start) = (app.url.clone(), app.client(), Arc::clone(&start));
                thread::spawn(move || run_client(&url, client, number, &start))
            })
            .collect();
        let statuses: Vec<Vec<u16>> = handles.into_iter().map(|handle| handle.join().expect("a client thread panicked")).collect();

        let server_errors: Vec<u16> = statuses.iter().flatten().copied().filter(|status| *status >= 500).collect();
        assert_eq!(server_errors, Vec::<u16>::new(), "5xx responses");
        let mut expected = vec![200];
        expected.extend([201; WORKSPACES_PER_CLIENT]);
        expected.push(200);
        for (number, client_statuses) in statuses.iter().enumerate() {
            assert_eq!(client_statuses, &expected, "client {number}");
        }
        let mut db = app.env.db();
        assert_eq!(db.count("workspaces"), (CLIENTS * WORKSPACES_PER_CLIENT) as i64);
        assert_eq!(db.count("(SELECT DISTINCT user_id FROM workspaces) AS owners"), CLIENTS as i64);
        assert_eq!(db.count("tokens"), CLIENTS as i64);
        assert!(!app.logs().contains("database is locked"), "the server log reports a locked database");
    }
}
