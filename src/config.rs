//! Settings read once at start-up from built-in defaults, a `.env` file, the process
//! environment and command-line flags, in that order (later sources win).
//!
//! Nothing outside this module reads the environment.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

/// A setting that could not be parsed; the message names the variable and the value.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    fn new(variable: &str, value: &str, expected: impl Into<String>) -> Self {
        ConfigError {
            message: format!("invalid {variable} '{value}': {}", expected.into()),
        }
    }

    /// Builds an error for a secret-bearing value, which is never echoed back.
    fn redacted(variable: &str, expected: impl Into<String>) -> Self {
        ConfigError {
            message: format!("invalid {variable} (value hidden): {}", expected.into()),
        }
    }

    /// Describes a `.env` problem without echoing the offending line, which may hold a
    /// password.
    fn dotenv(path: &Path, error: dotenvy::Error) -> Self {
        let problem = match &error {
            dotenvy::Error::LineParse(line, index) => {
                let number = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|text| {
                        let fragment = line.lines().next().unwrap_or("").trim();
                        text.lines()
                            .position(|candidate| !fragment.is_empty() && candidate.contains(fragment))
                    })
                    .map_or_else(|| "a line".to_string(), |position| format!("line {}", position + 1));
                format!("invalid syntax on {number} at character {}", index + 1)
            }
            other => other.to_string(),
        };
        ConfigError {
            message: format!(
                "failed to read {}: {problem}; quote values that contain spaces, quotes or #, or remove the file",
                path.display()
            ),
        }
    }
}

/// The database location, chosen by the scheme of `SESAME_DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// An embedded SQLite file, created on first use.
    Sqlite { path: PathBuf },
    /// A PostgreSQL server; the URL may carry a password.
    Postgres { url: String },
}

impl DatabaseTarget {
    /// Parses `sqlite://PATH` or `postgres://...` (also `postgresql://`).
    pub fn parse(variable: &str, value: &str) -> Result<Self, ConfigError> {
        let value = value.trim();

        if let Some(path) = value.strip_prefix("sqlite://") {
            if path.is_empty() || path == ":memory:" || path.starts_with("file::memory:") {
                return Err(ConfigError::new(
                    variable,
                    value,
                    "expected sqlite://PATH naming a file, because an in-memory database would lose every user when the process exits",
                ));
            }
            if path.contains('\0') {
                return Err(ConfigError::new(variable, value, "a file path must not contain NUL"));
            }
            return Ok(DatabaseTarget::Sqlite {
                path: PathBuf::from(path),
            });
        }

        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            let parsed = Url::parse(value)
                .map_err(|error| ConfigError::redacted(variable, format!("not a valid PostgreSQL URL ({error})")))?;
            if parsed.host_str().unwrap_or("").is_empty() && !value.contains("host=") {
                return Err(ConfigError::redacted(
                    variable,
                    "a PostgreSQL URL needs a host, as in postgres://USER:PASSWORD@HOST:5432/DATABASE",
                ));
            }
            return Ok(DatabaseTarget::Postgres { url: value.to_string() });
        }

        Err(ConfigError::redacted(
            variable,
            "expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
        ))
    }

    /// Returns a description safe for logs and messages: the password of a URL is masked.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseTarget::Sqlite { path } => format!("sqlite://{}", path.display()),
            DatabaseTarget::Postgres { url } => match Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    parsed.to_string()
                }
                Err(_) => "postgres://(unparsable URL)".to_string(),
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseTarget::Postgres { .. })
    }
}

impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A password read from the configuration; `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: String) -> Self {
        SecretString(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// The database that `run` and the admin commands use. On PostgreSQL this should be the
    /// restricted role that `migrate` creates.
    pub target: DatabaseTarget,
    /// The owner or superuser database that `migrate` uses on PostgreSQL.
    pub admin_target: DatabaseTarget,
    /// Name of the restricted login role that `migrate` creates on PostgreSQL.
    pub app_role: String,
    /// Password `migrate` gives that role; `None` leaves an existing password unchanged.
    pub app_role_password: Option<SecretString>,
    /// Connections kept in the pool shared by the HTTP workers.
    pub pool_size: u32,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub show_web_ui: bool,
    /// Origins allowed to call the API from a browser; `["*"]` allows any origin.
    pub cors_allowed_origins: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Lifetime of a new token, in minutes.
    pub token_expiry_minutes: u32,
    /// Failed logins allowed per username inside one window.
    pub max_login_attempts: u32,
    pub rate_limit_window_minutes: u32,
    /// Live tokens per user; creating one more revokes the oldest.
    pub max_tokens_per_user: u32,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub server: ServerSettings,
    pub auth: AuthSettings,
    /// Tracing `EnvFilter` directives; `None` when `SESAME_LOG` is not set.
    pub log_filter: Option<String>,
}

/// Values given on the command line; they override every other source.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub database_url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
}

/// Maximum token lifetime: 100 years, in minutes.
pub const MAX_TOKEN_EXPIRY_MINUTES: u32 = 100 * 365 * 24 * 60;

impl Settings {
    /// Loads settings from `.env` in the working directory (a missing file is fine), the
    /// process environment and `overrides`.
    pub fn load(overrides: &Overrides) -> Result<Settings, anyhow::Error> {
        let mut variables = read_dotenv(Path::new(".env"))?;
        variables.extend(std::env::vars().filter(|(name, _)| name.starts_with("SESAME_")));
        Ok(Settings::from_variables(&variables, overrides)?)
    }

    /// Builds settings from `SESAME_*` variables; empty values count as unset.
    pub fn from_variables(variables: &HashMap<String, String>, overrides: &Overrides) -> Result<Settings, ConfigError> {
        let get = |name: &str| {
            variables
                .get(name)
                .map(|value| value.trim())
                .filter(|value| !value.is_empty())
                .map(str::to_string)
        };

        let database = database_settings(&get, overrides)?;

        let server = ServerSettings {
            host: overrides
                .host
                .clone()
                .or_else(|| get("SESAME_WEBAPP_HOST"))
                .unwrap_or_else(|| "127.0.0.1".to_string()),
            port: match overrides.port {
                Some(port) => port,
                None => parse_number(&get, "SESAME_WEBAPP_PORT", 8000u16, 0, u16::MAX, "a port number")?,
            },
            show_web_ui: parse_flag(&get, "SESAME_SHOW_WEB_UI", true)?,
            cors_allowed_origins: parse_origins(get("SESAME_CORS_ALLOWED_ORIGINS"))?,
        };

        let auth = AuthSettings {
            token_expiry_minutes: parse_number(
                &get,
                "SESAME_TOKEN_EXPIRY",
                525_600,
                1,
                MAX_TOKEN_EXPIRY_MINUTES,
                "a token lifetime in minutes",
            )?,
            max_login_attempts: parse_number(
                &get,
                "SESAME_MAX_LOGIN_ATTEMPTS",
                5,
                1,
                1_000_000,
                "a number of attempts",
            )?,
            rate_limit_window_minutes: parse_number(
                &get,
                "SESAME_RATE_LIMIT_WINDOW_MINUTES",
                15,
                1,
                10_080,
                "a window length in minutes",
            )?,
            max_tokens_per_user: parse_number(
                &get,
                "SESAME_MAX_TOKENS_PER_USER",
                100,
                1,
                1_000_000,
                "a number of tokens",
            )?,
        };

        Ok(Settings {
            database,
            server,
            auth,
            log_filter: get("SESAME_LOG"),
        })
    }
}

fn read_dotenv(path: &Path) -> Result<HashMap<String, String>, ConfigError> {
    let mut variables = HashMap::new();

    let iter = match dotenvy::from_path_iter(path) {
        Ok(iter) => iter,
        Err(error) if error.not_found() => return Ok(variables),
        Err(error) => return Err(ConfigError::dotenv(path, error)),
    };

    for item in iter {
        let (name, value) = item.map_err(|error| ConfigError::dotenv(path, error))?;
        if name.starts_with("SESAME_") {
            variables.insert(name, value);
        }
    }

    Ok(variables)
}

fn database_settings(
    get: &dyn Fn(&str) -> Option<String>,
    overrides: &Overrides,
) -> Result<DatabaseSettings, ConfigError> {
    let app_role = get("SESAME_DATABASE_USER").unwrap_or_else(|| "sesame".to_string());
    let app_role_password = get("SESAME_DATABASE_PASSWORD").map(SecretString::new);
    if !is_role_name(&app_role) {
        return Err(ConfigError::new(
            "SESAME_DATABASE_USER",
            &app_role,
            "expected a role name of letters, digits and underscores, starting with a letter or underscore, at most 63 characters",
        ));
    }

    let (target, admin_target) = match overrides.database_url.clone().or_else(|| get("SESAME_DATABASE_URL")) {
        Some(url) => {
            let variable = if overrides.database_url.is_some() {
                "--database-url"
            } else {
                "SESAME_DATABASE_URL"
            };
            let target = DatabaseTarget::parse(variable, &url)?;
            let target = fill_in_role(target, &app_role, app_role_password.as_ref());
            let admin_target = match get("SESAME_DATABASE_ADMIN_URL") {
                Some(admin) => DatabaseTarget::parse("SESAME_DATABASE_ADMIN_URL", &admin)?,
                None => DatabaseTarget::parse(variable, &url)?,
            };
            (target, admin_target)
        }
        None if get("SESAME_DATABASE_HOST").is_some() || get("SESAME_DATABASE_NAME").is_some() => {
            split_postgres_targets(get, &app_role, app_role_password.as_ref())?
        }
        None => {
            let target = DatabaseTarget::Sqlite {
                path: PathBuf::from("sesame.db"),
            };
            let admin_target = match get("SESAME_DATABASE_ADMIN_URL") {
                Some(admin) => DatabaseTarget::parse("SESAME_DATABASE_ADMIN_URL", &admin)?,
                None => target.clone(),
            };
            (target, admin_target)
        }
    };

    let pool_size = parse_number(
        get,
        "SESAME_DATABASE_POOL_SIZE",
        10u32,
        1,
        1000,
        "a number of connections",
    )?;

    Ok(DatabaseSettings {
        target,
        admin_target,
        app_role,
        app_role_password,
        pool_size,
    })
}

/// Puts the restricted role's name and password into a PostgreSQL URL that names no user.
fn fill_in_role(target: DatabaseTarget, role: &str, password: Option<&SecretString>) -> DatabaseTarget {
    let DatabaseTarget::Postgres { url } = &target else {
        return target;
    };
    let Ok(mut parsed) = Url::parse(url) else { return target };
    if !parsed.username().is_empty() {
        return target;
    }

    let _ = parsed.set_username(role);
    if let Some(password) = password {
        let _ = parsed.set_password(Some(password.expose()));
    }
    DatabaseTarget::Postgres {
        url: parsed.to_string(),
    }
}

/// Builds the server and admin URLs from the split variables of Open Sesame `.env` files.
fn split_postgres_targets(
    get: &dyn Fn(&str) -> Option<String>,
    app_role: &str,
    app_role_password: Option<&SecretString>,
) -> Result<(DatabaseTarget, DatabaseTarget), ConfigError> {
    let host = get("SESAME_DATABASE_HOST").unwrap_or_else(|| "127.0.0.1".to_string());
    let port: u16 = parse_number(get, "SESAME_DATABASE_PORT", 5432, 1, u16::MAX, "a port number")?;
    let name = get("SESAME_DATABASE_NAME").unwrap_or_else(|| "sesame".to_string());

    let build = |user: &str, password: Option<&str>| -> Result<DatabaseTarget, ConfigError> {
        let mut url = Url::parse("postgres://localhost/")
            .map_err(|_| ConfigError::new("SESAME_DATABASE_HOST", &host, "a host name or address"))?;
        url.set_host(Some(&host))
            .map_err(|_| ConfigError::new("SESAME_DATABASE_HOST", &host, "a host name or address"))?;
        let _ = url.set_port(Some(port));
        let _ = url.set_username(user);
        let _ = url.set_password(password);
        url.set_path(&name);
        Ok(DatabaseTarget::Postgres { url: url.to_string() })
    };

    let target = build(app_role, app_role_password.map(SecretString::expose))?;
    let admin_target = match get("SESAME_DATABASE_ADMIN_USER") {
        Some(admin) => build(&admin, get("SESAME_DATABASE_ADMIN_PASSWORD").as_deref())?,
        None => target.clone(),
    };
    Ok((target, admin_target))
}

fn is_role_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    name.len() <= 63
        && (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_number<T>(
    get: &dyn Fn(&str) -> Option<String>,
    variable: &str,
    default: T,
    min: T,
    max: T,
    what: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(value) = get(variable) else { return Ok(default) };
    match value.parse::<T>() {
        Ok(number) if number >= min && number <= max => Ok(number),
        _ => Err(ConfigError::new(
            variable,
            &value,
            format!("expected {what} from {min} to {max}"),
        )),
    }
}

fn parse_flag(get: &dyn Fn(&str) -> Option<String>, variable: &str, default: bool) -> Result<bool, ConfigError> {
    let Some(value) = get(variable) else { return Ok(default) };
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(variable, &value, "expected 1 or 0 (true or false)")),
    }
}

fn parse_origins(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(value) = value else { return Ok(Vec::new()) };
    let mut origins = Vec::new();

    for origin in value.split(',').map(str::trim).filter(|origin| !origin.is_empty()) {
        if origin == "*" {
            origins.push(origin.to_string());
            continue;
        }
        let valid = Url::parse(origin)
            .map(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.path() == "/"
                    && !origin.ends_with('/')
                    && url.query().is_none()
            })
            .unwrap_or(false);
        if !valid {
            return Err(ConfigError::new(
                "SESAME_CORS_ALLOWED_ORIGINS",
                origin,
                "expected a comma-separated list of origins such as https://chat.example.com (scheme, host and optional port, no path), or *",
            ));
        }
        origins.push(origin.to_string());
    }

    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let variables = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_variables(&variables, &Overrides::default())
    }

    #[test]
    fn defaults_match_documentation() {
        let settings = settings(&[]).unwrap();
        assert_eq!(
            settings.database.target,
            DatabaseTarget::Sqlite {
                path: "sesame.db".into()
            }
        );
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.server.port, 8000);
        assert_eq!(settings.auth.token_expiry_minutes, 525_600);
        assert_eq!(settings.auth.max_login_attempts, 5);
        assert_eq!(settings.auth.rate_limit_window_minutes, 15);
        assert_eq!(settings.auth.max_tokens_per_user, 100);
        assert!(settings.server.show_web_ui);
        assert!(settings.server.cors_allowed_origins.is_empty());
        assert_eq!(settings.database.app_role, "sesame");
    }

    #[test]
    fn bad_port_names_variable_and_value() {
        let error = settings(&[("SESAME_WEBAPP_PORT", "80a")]).unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid SESAME_WEBAPP_PORT '80a': expected a port number from 0 to 65535"
        );
    }

    #[test]
    fn zero_token_expiry_rejected() {
        let error = settings(&[("SESAME_TOKEN_EXPIRY", "0")]).unwrap_err().to_string();
        assert!(error.starts_with("invalid SESAME_TOKEN_EXPIRY '0'"), "{error}");
    }

    #[test]
    fn empty_value_counts_as_unset() {
        let settings = settings(&[("SESAME_WEBAPP_PORT", "")]).unwrap();
        assert_eq!(settings.server.port, 8000);
    }

    #[test]
    fn flag_overrides_environment() {
        let variables = [("SESAME_DATABASE_URL".to_string(), "sqlite://env.db".to_string())].into();
        let overrides = Overrides {
            database_url: Some("sqlite://flag.db".into()),
            ..Overrides::default()
        };
        let settings = Settings::from_variables(&variables, &overrides).unwrap();
        assert_eq!(
            settings.database.target,
            DatabaseTarget::Sqlite { path: "flag.db".into() }
        );
    }

    #[test]
    fn memory_sqlite_rejected() {
        assert!(settings(&[("SESAME_DATABASE_URL", "sqlite://:memory:")]).is_err());
    }

    #[test]
    fn unknown_scheme_hides_value() {
        let error = settings(&[("SESAME_DATABASE_URL", "mysql://root:hunter2@db/x")])
            .unwrap_err()
            .to_string();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(error.contains("SESAME_DATABASE_URL"), "{error}");
    }

    #[test]
    fn postgres_url_without_user_gets_app_role() {
        let settings = settings(&[
            ("SESAME_DATABASE_URL", "postgres://127.0.0.1:5432/sesame"),
            ("SESAME_DATABASE_USER", "chat_app"),
            ("SESAME_DATABASE_PASSWORD", "s3cret"),
        ])
        .unwrap();
        assert_eq!(
            settings.database.target,
            DatabaseTarget::Postgres {
                url: "postgres://chat_app:s3cret@127.0.0.1:5432/sesame".into()
            }
        );
        assert_eq!(
            settings.database.target.redacted(),
            "postgres://chat_app:***@127.0.0.1:5432/sesame"
        );
        assert!(!format!("{:?}", settings.database).contains("s3cret"));
    }

    #[test]
    fn split_variables_build_postgres_urls() {
        let settings = settings(&[
            ("SESAME_DATABASE_HOST", "db.internal"),
            ("SESAME_DATABASE_PORT", "6543"),
            ("SESAME_DATABASE_NAME", "chat"),
            ("SESAME_DATABASE_PASSWORD", "p@ss word"),
            ("SESAME_DATABASE_ADMIN_USER", "postgres"),
            ("SESAME_DATABASE_ADMIN_PASSWORD", "root"),
        ])
        .unwrap();
        assert_eq!(
            settings.database.target,
            DatabaseTarget::Postgres {
                url: "postgres://sesame:p%40ss%20word@db.internal:6543/chat".into()
            }
        );
        assert_eq!(
            settings.database.admin_target,
            DatabaseTarget::Postgres {
                url: "postgres://postgres:root@db.internal:6543/chat".into()
            }
        );
    }

    #[test]
    fn bad_role_name_rejected() {
        assert!(settings(&[("SESAME_DATABASE_USER", "bad-role; drop")]).is_err());
    }

    #[test]
    fn cors_origins_parsed_and_checked() {
        let settings = settings(&[(
            "SESAME_CORS_ALLOWED_ORIGINS",
            "https://a.example, http://localhost:3000",
        )])
        .unwrap();
        assert_eq!(
            settings.server.cors_allowed_origins,
            vec!["https://a.example", "http://localhost:3000"]
        );
        let error = self::settings(&[("SESAME_CORS_ALLOWED_ORIGINS", "https://a.example/path")]).unwrap_err();
        assert!(error.to_string().contains("SESAME_CORS_ALLOWED_ORIGINS"));
    }

    #[test]
    fn show_web_ui_accepts_zero() {
        assert!(!settings(&[("SESAME_SHOW_WEB_UI", "0")]).unwrap().server.show_web_ui);
        assert!(settings(&[("SESAME_SHOW_WEB_UI", "maybe")]).is_err());
    }
}
