//! Counts of an import and their output as text or JSON.

use serde_json::{json, Value};

use super::parse::{Candidate, Row, RowFailure};
use crate::cli::{counted, print_json};
use crate::store::OnConflict;

/// A row that was not imported.
#[derive(Debug, Clone)]
pub struct FailedRow {
    pub line: u64,
    pub username: Option<String>,
    pub reason: String,
    /// Whether the row itself was fine but the import stopped before writing it. The text
    /// output leaves such rows to the final error, which names the line where it stopped.
    pub not_written: bool,
}

impl From<RowFailure> for FailedRow {
    fn from(failure: RowFailure) -> Self {
        FailedRow {
            line: failure.line,
            username: failure.username,
            reason: failure.reason,
            not_written: false,
        }
    }
}

/// Counts of an import. Every row read ends up created, skipped or failed, except the valid
/// rows of an import that a conflict with `--on-conflict fail` stops before writing.
#[derive(Debug, Default)]
pub struct Summary {
    /// Rows read, blank lines and the CSV header excluded.
    pub total_rows: usize,
    pub created: usize,
    pub skipped: usize,
    /// Rows whose username repeats in the file or is already stored, with `--on-conflict
    /// fail`; they are also in `failed`.
    pub conflicts: usize,
    pub failed: Vec<FailedRow>,
}

impl Summary {
    pub fn new(total_rows: usize) -> Summary {
        Summary {
            total_rows,
            ..Summary::default()
        }
    }

    /// Records the rows that failed validation and returns the valid ones, in file order.
    pub fn take_valid(&mut self, rows: Vec<Row>) -> Vec<Candidate> {
        let mut valid = Vec::with_capacity(rows.len());
        for row in rows {
            match row {
                Row::Valid(candidate) => valid.push(candidate),
                Row::Invalid(failure) => self.failed.push(failure.into()),
            }
        }
        valid
    }

    /// Records a row whose username repeats in the file or is already stored: a failure with
    /// [`OnConflict::Fail`], a skipped row with [`OnConflict::Skip`].
    pub fn conflict(&mut self, on_conflict: OnConflict, candidate: &Candidate, reason: String) {
        match on_conflict {
            OnConflict::Skip => self.skipped += 1,
            OnConflict::Fail => {
                self.conflicts += 1;
                self.failed.push(FailedRow {
                    line: candidate.line,
                    username: Some(candidate.username.as_str().to_string()),
                    reason,
                    not_written: false,
                });
            }
        }
    }

    /// Records a valid row that was not written because the import stopped.
    pub fn not_written(&mut self, candidate: &Candidate, reason: String) {
        self.failed.push(FailedRow {
            line: candidate.line,
            username: Some(candidate.username.as_str().to_string()),
            reason,
            not_written: true,
        });
    }

    /// Prints the summary: with `json`, one JSON document on stdout; otherwise one line per
    /// failed row on stderr and the counts on stdout. Failed rows are in line order.
    pub fn print(&mut self, json: bool) {
        self.failed.sort_by_key(|row| row.line);

        if json {
            let failed: Vec<Value> = self.failed.iter().map(failed_row_json).collect();
            print_json(&json!({ "created": self.created, "skipped": self.skipped, "failed": failed }));
            return;
        }

        for row in self.failed.iter().filter(|row| !row.not_written) {
            match &row.username {
                Some(username) => eprintln!("line {} ('{}'): {}", row.line, username.escape_debug(), row.reason),
                None => eprintln!("line {}: {}", row.line, row.reason),
            }
        }
        println!(
            "Created {}, skipped {}, failed {} (of {} read)",
            counted(self.created as u64, "user"),
            self.skipped,
            self.failed.len(),
            counted(self.total_rows as u64, "row"),
        );
    }
}

/// Returns `{"line", "username"?, "reason"}`; `username` is left out when the row gave none.
fn failed_row_json(row: &FailedRow) -> Value {
    let mut object = json!({ "line": row.line, "reason": row.reason });
    if let Some(username) = &row.username {
        object["username"] = json!(username);
    }
    object
}
