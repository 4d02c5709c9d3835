//! Reading the rows of an import file, in CSV or JSON lines, and validating each one.

use serde_json::{Map, Value};

use crate::auth::{Password, Username};

/// Input format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with the header `username,password`
    Csv,
    /// One JSON object per line: {"username": ..., "password": ...}
    Jsonl,
}

/// A row that passed validation.
pub struct Candidate {
    /// Line of the file where the row starts, from 1.
    pub line: u64,
    pub username: Username,
    pub password: Password,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowFailure {
    pub line: u64,
    /// The username as the row gave it, trimmed, when it gave one as text.
    pub username: Option<String>,
    pub reason: String,
}

/// The rows of a file, each validated or failed, in file order.
pub enum Row {
    Valid(Candidate),
    Invalid(RowFailure),
}

/// An import file whose layout is wrong as a whole (exit 1), as opposed to a bad row.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

/// UTF-8 byte order mark, which spreadsheet programs put at the start of exported CSV files.
const BYTE_ORDER_MARK: &[u8] = b"\xEF\xBB\xBF";

/// Removes a leading UTF-8 byte order mark.
pub fn strip_byte_order_mark(input: &[u8]) -> &[u8] {
    input.strip_prefix(BYTE_ORDER_MARK).unwrap_or(input)
}

/// Detects the format from the first line that is not blank: JSON lines when it starts with
/// `{`, CSV otherwise. Returns `None` when every line is blank.
pub fn detect_format(input: &[u8]) -> Option<Format> {
    let first = input
        .split(|&byte| byte == b'\n')
        .map(<[u8]>::trim_ascii)
        .find(|line| !line.is_empty())?;
    if first.starts_with(b"{") {
        Some(Format::Jsonl)
    } else {
        Some(Format::Csv)
    }
}

/// Parses and validates every row of a CSV file whose first line is the header. The header
/// names the columns `username` (or `email`) and `password` in any order and letter case.
pub fn parse_csv(input: &[u8]) -> Result<Vec<Row>, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|error| FileError(format!("failed to read the CSV header on line 1: {error}")))?
        .clone();
    let columns = header_columns(&header)?;

    let lines = LineIndex::new(input);
    let mut rows = Vec::new();
    for result in reader.records() {
        let record = match result {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map_or(0, |position| lines.line_of(position.byte()));
                match error.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        rows.push(Row::Invalid(RowFailure {
                            line,
                            username: None,
                            reason: "the row is not valid UTF-8; save the file as UTF-8".to_string(),
                        }));
                        continue;
                    }
                    _ => {
                        return Err(FileError(format!(
                            "failed to read the CSV file at line {line}: {error}"
                        )))
                    }
                }
            }
        };
        let line = record.position().map_or(0, |position| lines.line_of(position.byte()));

        let is_blank = record.len() == 1 && record[0].trim().is_empty();
        if is_blank {
            continue;
        }
        if record.len() != header.len() {
            rows.push(Row::Invalid(RowFailure {
                line,
                username: None,
                reason: format!(
                    "expected {} fields as in the header, found {}; quote a value that contains a comma",
                    header.len(),
                    record.len()
                ),
            }));
            continue;
        }

        let username = record[columns.username].to_string();
        let password = record[columns.password].to_string();
        rows.push(validate(line, Some(username), Some(password)));
    }
    Ok(rows)
}

/// Maps byte offsets of a file to line numbers. The csv crate's own line numbers (csv 1.4)
/// came out too low after blank lines and with CRLF line endings, so records are located by
/// their byte offset instead.
struct LineIndex<'a> {
    input: &'a [u8],
    /// Offset of every line feed in `input`, in increasing order.
    line_feeds: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(input: &'a [u8]) -> Self {
        let line_feeds = input
            .iter()
            .enumerate()
            .filter(|(_, &byte)| byte == b'\n')
            .map(|(offset, _)| offset)
            .collect();
        LineIndex { input, line_feeds }
    }

    /// Returns the line, from 1, of the first character at or after `offset` that is not a
    /// line ending. A record's offset can point at the blank lines before it.
    fn line_of(&self, offset: u64) -> u64 {
        let mut offset = usize::try_from(offset).unwrap_or(usize::MAX).min(self.input.len());
        while offset < self.input.len() && matches!(self.input[offset], b'\r' | b'\n') {
            offset += 1;
        }
        self.line_feeds.partition_point(|&line_feed| line_feed < offset) as u64 + 1
    }
}

/// Positions of the username and password columns in a CSV header.
struct Columns {
    username: usize,
    password: usize,
}

fn header_columns(header: &csv::StringRecord) -> Result<Columns, FileError> {
    let mut username = None;
    let mut password = None;

    for (index, name) in header.iter().enumerate() {
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "username" | "email" => &mut username,
            "password" => &mut password,
            // The column name is not shown, because in a file without a header it is a password.
            _ => {
                return Err(FileError(format!(
                    "column {} of the CSV header on line 1 is neither username nor password; \
                     the first line must be the header username,password",
                    index + 1
                )))
            }
        };
        if slot.replace(index).is_some() {
            return Err(FileError(format!(
                "the CSV header on line 1 names the {} column twice; keep one",
                if name.trim().eq_ignore_ascii_case("password") {
                    "password"
                } else {
                    "username"
                }
            )));
        }
    }

    match (username, password) {
        (Some(username), Some(password)) => Ok(Columns { username, password }),
        _ => Err(FileError(
            "the CSV header on line 1 must name the columns username and password, as in username,password".to_string(),
        )),
    }
}

/// Parses and validates every non-blank line of a JSON lines file, each an object with the
/// string fields `username` (or `email`) and `password` and no others.
pub fn parse_jsonl(input: &[u8]) -> Vec<Row> {
    let mut rows = Vec::new();

    for (index, raw_line) in input.split(|&byte| byte == b'\n').enumerate() {
        let line = index as u64 + 1;
        if raw_line.trim_ascii().is_empty() {
            continue;
        }
        rows.push(parse_json_line(line, raw_line));
    }
    rows
}

fn parse_json_line(line: u64, raw_line: &[u8]) -> Row {
    let invalid = |username: Option<String>, reason: String| Row::Invalid(RowFailure { line, username, reason });

    let Ok(text) = std::str::from_utf8(raw_line) else {
        return invalid(None, "the line is not valid UTF-8; save the file as UTF-8".to_string());
    };
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return invalid(
                None,
                "expected a JSON object {\"username\": ..., \"password\": ...}".to_string(),
            )
        }
        Err(error) => {
            return invalid(
                None,
                format!(
                    "invalid JSON at column {}: {}",
                    error.column(),
                    json_error_message(&error)
                ),
            );
        }
    };

    let username = match text_field(&object, "username").or_else(|| text_field(&object, "email")) {
        Some(Ok(username)) => Some(username.to_string()),
        Some(Err(reason)) => return invalid(None, reason),
        None => None,
    };
    if let Some(unknown) = object
        .keys()
        .find(|key| !matches!(key.as_str(), "username" | "email" | "password"))
    {
        return invalid(
            username.map(|name| name.trim().to_string()),
            format!(
                "unknown field '{}'; expected username and password",
                unknown.escape_debug()
            ),
        );
    }
    if object.contains_key("username") && object.contains_key("email") {
        return invalid(
            username.map(|name| name.trim().to_string()),
            "give username or email, not both".to_string(),
        );
    }

    let password = match text_field(&object, "password") {
        Some(Ok(password)) => Some(password.to_string()),
        Some(Err(reason)) => return invalid(username.map(|name| name.trim().to_string()), reason),
        None => None,
    };
    validate(line, username, password)
}

/// Returns a field's text, an error when it is not a string, or `None` when it is missing.
fn text_field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<Result<&'a str, String>> {
    match object.get(name)? {
        Value::String(text) => Some(Ok(text)),
        _ => Some(Err(format!("{name} must be a string"))),
    }
}

/// Returns serde_json's message without its " at line L column C" suffix, which counts
/// within the one line and so would repeat line 1.
fn json_error_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    message.strip_suffix(&suffix).unwrap_or(&message).to_string()
}

/// Validates one row's username and password with the rules of `create-user`.
fn validate(line: u64, raw_username: Option<String>, raw_password: Option<String>) -> Row {
    let shown = raw_username.as_ref().map(|name| name.trim().to_string());
    let invalid = |reason: String| {
        Row::Invalid(RowFailure {
            line,
            username: shown.clone(),
            reason,
        })
    };

    let Some(raw_username) = raw_username else {
        return invalid("missing username".to_string());
    };
    let username = match Username::parse(&raw_username) {
        Ok(username) => username,
        Err(error) => return invalid(format!("invalid username: {error}")),
    };

    let Some(raw_password) = raw_password else {
        return invalid("missing password".to_string());
    };
    match Password::new(raw_password) {
        Ok(password) => Row::Valid(Candidate {
            line,
            username,
            password,
        }),
        Err(error) => invalid(format!("invalid password: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(rows: &[Row]) -> Vec<(u64, Option<&str>, &str)> {
        rows.iter()
            .filter_map(|row| match row {
                Row::Invalid(failure) => Some((failure.line, failure.username.as_deref(), failure.reason.as_str())),
                Row::Valid(_) => None,
            })
            .collect()
    }

    fn valid_names(rows: &[Row]) -> Vec<(u64, &str)> {
        rows.iter()
            .filter_map(|row| match row {
                Row::Valid(candidate) => Some((candidate.line, candidate.username.as_str())),
                Row::Invalid(_) => None,
            })
            .collect()
    }

    #[test]
    fn detects_format_from_first_non_blank_line() {
        assert_eq!(detect_format(b"\n  \n{\"username\": \"a\"}\n"), Some(Format::Jsonl));
        assert_eq!(detect_format(b"\r\nusername,password\n"), Some(Format::Csv));
        assert_eq!(detect_format(b" \n\t\n"), None);
    }

    #[test]
    fn byte_order_mark_is_removed() {
        let input = strip_byte_order_mark(b"\xEF\xBB\xBFusername,password\nalice,secret123\n");
        assert_eq!(detect_format(input), Some(Format::Csv));
        assert_eq!(valid_names(&parse_csv(input).unwrap()), vec![(2, "alice")]);

        let input = strip_byte_order_mark(b"\xEF\xBB\xBF{\"username\": \"bob\", \"password\": \"secret123\"}\n");
        assert_eq!(detect_format(input), Some(Format::Jsonl));
        assert_eq!(valid_names(&parse_jsonl(input)), vec![(1, "bob")]);
    }

    #[test]
    fn csv_quoted_fields_keep_commas_and_quotes() {
        let input = b"username,password\n\"smith, anna\",\"pa,ss \"\"word\"\"\"\nbob,secret123\n";
        let rows = parse_csv(input).unwrap();
        assert_eq!(valid_names(&rows), vec![(2, "smith, anna"), (3, "bob")]);
        let Row::Valid(first) = &rows[0] else {
            panic!("row 2 is valid")
        };
        assert!(first
            .password
            .matches(&Password::new("pa,ss \"word\"".to_string()).unwrap()));
    }

    #[test]
    fn csv_columns_in_any_order_and_case() {
        let rows = parse_csv(b"Password,EMAIL\r\nsecret123,alice@example.com\r\n").unwrap();
        assert_eq!(valid_names(&rows), vec![(2, "alice@example.com")]);
    }

    #[test]
    fn csv_bad_rows_report_line_and_reason() {
        let input = b"username,password\nalice,short\n\nbob\n,secret123\ncarol,secret123,extra\n";
        let rows = parse_csv(input).unwrap();
        assert_eq!(
            failures(&rows),
            vec![
                (2, Some("alice"), "invalid password: password must be at least 8 bytes"),
                (
                    4,
                    None,
                    "expected 2 fields as in the header, found 1; quote a value that contains a comma"
                ),
                (5, Some(""), "invalid username: username must not be empty"),
                (
                    6,
                    None,
                    "expected 2 fields as in the header, found 3; quote a value that contains a comma"
                ),
            ]
        );
    }

    #[test]
    fn csv_lines_count_newlines_inside_quotes() {
        let rows = parse_csv(b"username,password\n\"two\nlines\",secret123\n\nbob,secret123\n").unwrap();
        assert_eq!(
            failures(&rows),
            vec![(
                2,
                Some("two\nlines"),
                "invalid username: username must not contain control characters"
            )]
        );
        assert_eq!(valid_names(&rows), vec![(5, "bob")]);
    }

    #[test]
    fn csv_invalid_utf8_fails_only_its_row() {
        let rows = parse_csv(b"username,password\nal\xffice,secret123\nbob,secret123\n").unwrap();
        assert_eq!(
            failures(&rows),
            vec![(2, None, "the row is not valid UTF-8; save the file as UTF-8")]
        );
        assert_eq!(valid_names(&rows), vec![(3, "bob")]);
    }

    #[test]
    fn csv_header_must_name_both_columns() {
        let error = parse_csv(b"alice,secret123\n").err().unwrap();
        assert!(error.0.starts_with("column 1 of the CSV header"), "{error}");
        let error = parse_csv(b"username\nalice\n").err().unwrap();
        assert!(
            error.0.contains("must name the columns username and password"),
            "{error}"
        );
        let error = parse_csv(b"username,email,password\n").err().unwrap();
        assert!(error.0.contains("names the username column twice"), "{error}");
    }

    #[test]
    fn jsonl_rows_and_their_errors() {
        let input = concat!(
            "{\"username\": \"alice\", \"password\": \"secret123\"}\n",
            "\n",
            "{\"email\": \"bob@example.com\", \"password\": \"secret123\"}\r\n",
            "{\"username\": \"carol\", \"password\": 12345678}\n",
            "{\"username\": \"dave\", \"password\": \"secret123\", \"role\": \"admin\"}\n",
            "{\"username\": \"erin\"\n",
            "[1, 2]\n",
            "{\"password\": \"secret123\"}\n",
            "{\"username\": \"frank\", \"email\": \"f@example.com\", \"password\": \"secret123\"}\n",
        );
        let rows = parse_jsonl(input.as_bytes());
        assert_eq!(valid_names(&rows), vec![(1, "alice"), (3, "bob@example.com")]);
        assert_eq!(
            failures(&rows),
            vec![
                (4, Some("carol"), "password must be a string"),
                (5, Some("dave"), "unknown field 'role'; expected username and password"),
                (6, None, "invalid JSON at column 19: EOF while parsing an object"),
                (7, None, "expected a JSON object {\"username\": ..., \"password\": ...}"),
                (8, None, "missing username"),
                (9, Some("frank"), "give username or email, not both"),
            ]
        );
    }
}
