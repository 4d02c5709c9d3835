//! Reading passwords and confirmations from standard input or the terminal.

use super::{read_stdin_line, UsageError};
use crate::auth::{Password, Username};

pub(super) fn read_password_from_stdin() -> Result<Password, anyhow::Error> {
    let line = read_stdin_line("the password")?;
    if line.is_empty() {
        return Err(UsageError("standard input is empty; send the password as its first line".to_string()).into());
    }
    Password::new(line).map_err(|error| UsageError(format!("invalid password: {error}")).into())
}

pub(super) fn prompt_new_password() -> Result<Password, anyhow::Error> {
    let first = rpassword::prompt_password("Password: ").map_err(|error| {
        UsageError(format!(
            "failed to read the password from the terminal ({error}); use --password-stdin in scripts"
        ))
    })?;
    let password = Password::new(first).map_err(|error| UsageError(format!("invalid password: {error}")))?;

    let second = rpassword::prompt_password("Repeat password: ")
        .map_err(|error| anyhow::anyhow!("failed to read the password from the terminal: {error}"))?;
    let confirmation =
        Password::for_login(second).map_err(|_| anyhow::anyhow!("the passwords do not match; try again"))?;

    if !password.matches(&confirmation) {
        anyhow::bail!("the passwords do not match; try again");
    }
    Ok(password)
}

/// Prints `question` on stderr and reads one line from standard input, which the caller has
/// checked is a terminal. Returns whether the line names `expected`, compared as usernames
/// are: trimmed and in any letter case.
pub(super) fn confirm_username(question: &str, expected: &Username) -> Result<bool, anyhow::Error> {
    eprint!("{question}");
    let typed = read_stdin_line("the confirmation")?;
    Ok(Username::parse(&typed).is_ok_and(|typed| typed.key() == expected.key()))
}
