//! sesame: the authentication and workspace backend of Open Sesame.
//!
//! `cli` contains one module per command, `http` the API server, `store` the diesel repository
//! for SQLite and PostgreSQL, and `auth` passwords, tokens and the login rate limit.

pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod store;
pub mod telemetry;
pub mod title;
