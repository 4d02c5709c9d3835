//! `sesame import-users`: creates users in bulk from a CSV or JSON lines file.
//!
//! The import runs in three steps. It validates every row, then looks for conflicts (a
//! username repeated in the file or already stored, compared in any letter case), and then
//! hashes the passwords in parallel and inserts the users in batches of [`BATCH_SIZE`], one
//! transaction each. With `--on-conflict fail` a conflict found in the second step stops the
//! import before anything is written.

mod parse;
mod report;

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use self::parse::{Candidate, Format, Row};
use self::report::Summary;
use super::{counted, open_admin_store, stdin_is_terminal, UsageError};
use crate::auth::password::hash_password;
use crate::config::Settings;
use crate::store::{now, AdminStore, NewUser, OnConflict, StoreError};

/// Users hashed and inserted per transaction.
const BATCH_SIZE: usize = 500;

/// Minimum number of users to create before a progress bar is shown; fewer take about a
/// second at most.
const PROGRESS_MIN_USERS: usize = 100;

/// Attempts at one batch with `--on-conflict skip` when another process creates one of its
/// usernames between the look-up and the insert.
const MAX_BATCH_ATTEMPTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ConflictChoice {
    /// Write nothing when a username repeats in the file or already exists
    Fail,
    /// Leave existing users as they are, and import the first row of a repeated username
    Skip,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
A CSV file starts with the header username,password (email is accepted for username); quote a
value that contains a comma. A JSON lines file has one object per line, such as
{\"username\": \"alice\", \"password\": \"...\"}. Blank lines are ignored, and usernames are
compared in any letter case.

Rows that fail validation are reported with their line number and the others are imported.
The exit code is 1 when any row failed, and 2 when the file cannot be read. On PostgreSQL the
command connects with SESAME_DATABASE_ADMIN_URL, because it checks usernames across users.")]
pub struct Args {
    /// File of users to create; - reads standard input
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Format of FILE [default: JSON lines when the first non-blank line starts with {, CSV
    /// otherwise]
    #[arg(long, value_enum)]
    format: Option<Format>,

    /// Action when a username is already stored or repeats in the file
    #[arg(long, value_enum, value_name = "ACTION", default_value_t = ConflictChoice::Fail)]
    on_conflict: ConflictChoice,

    /// Print {"created", "skipped", "failed": [{"line", "username", "reason"}]} as JSON
    /// instead of text
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, settings: &Settings) -> Result<(), anyhow::Error> {
    let on_conflict = match args.on_conflict {
        ConflictChoice::Fail => OnConflict::Fail,
        ConflictChoice::Skip => OnConflict::Skip,
    };
    let source = if args.file.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        args.file.display().to_string()
    };
    let input = read_input(&args.file)?;
    let rows = parse_rows(&input, args.format, &source)?;
    drop(input);

    let store = open_admin_store(settings)?;
    let mut summary = Summary::new(rows.len());
    let valid = summary.take_valid(rows);
    let to_create = resolve_conflicts(&store, valid, on_conflict, &mut summary)?;

    if on_conflict == OnConflict::Fail && summary.conflicts > 0 {
        summary.print(args.json);
        anyhow::bail!(
            "nothing was written because of {} (already stored or repeated in the file); remove those rows, \
             or pass --on-conflict skip to import the others",
            counted(summary.conflicts as u64, "conflicting username"),
        );
    }

    let outcome = create_users(&store, to_create, on_conflict, &mut summary);
    tracing::info!(
        created = summary.created,
        skipped = summary.skipped,
        failed = summary.failed.len(),
        "import finished"
    );
    summary.print(args.json);

    if let Err(stop) = outcome {
        return Err(stop.into_error(&summary));
    }
    if !summary.failed.is_empty() {
        anyhow::bail!(
            "{} of {} failed; fix them and run the import again with --on-conflict skip",
            summary.failed.len(),
            counted(summary.total_rows as u64, "row"),
        );
    }
    Ok(())
}

/// Reads the whole file, or standard input for `-`.
fn read_input(file: &Path) -> Result<Vec<u8>, anyhow::Error> {
    let mut input = Vec::new();

    if file.as_os_str() == "-" {
        if stdin_is_terminal() {
            return Err(UsageError(
                "FILE is - but standard input is a terminal; pipe the file in, or pass its path".to_string(),
            )
            .into());
        }
        std::io::stdin()
            .read_to_end(&mut input)
            .map_err(|error| UsageError(format!("failed to read standard input: {error}")))?;
        return Ok(input);
    }

    std::fs::File::open(file)
        .and_then(|mut opened| opened.read_to_end(&mut input))
        .map_err(|error| UsageError(format!("failed to read {}: {error}; check the path", file.display())))?;
    Ok(input)
}

/// Detects or applies the format and validates every row.
fn parse_rows(input: &[u8], format: Option<Format>, source: &str) -> Result<Vec<Row>, anyhow::Error> {
    let input = parse::strip_byte_order_mark(input);
    let Some(detected) = parse::detect_format(input) else {
        anyhow::bail!("{source} is empty; expected a CSV header username,password or JSON lines");
    };

    let rows = match format.unwrap_or(detected) {
        Format::Csv => parse::parse_csv(input).map_err(|error| anyhow::anyhow!("{source}: {error}"))?,
        Format::Jsonl => parse::parse_jsonl(input),
    };
    Ok(rows)
}

/// Finds usernames that repeat in the file or are already stored, and returns the rows to
/// create. A conflict becomes a failed row with `--on-conflict fail` and a skipped row with
/// `skip`. The first row of a repeated username is the one kept.
fn resolve_conflicts(
    store: &AdminStore,
    valid: Vec<Candidate>,
    on_conflict: OnConflict,
    summary: &mut Summary,
) -> Result<Vec<Candidate>, anyhow::Error> {
    let mut first_lines: HashMap<String, u64> = HashMap::new();
    let mut unique = Vec::with_capacity(valid.len());

    for candidate in valid {
        match first_lines.get(candidate.username.key()) {
            Some(&first_line) => summary.conflict(
                on_conflict,
                &candidate,
                format!("duplicate of line {first_line}; usernames are compared in any letter case"),
            ),
            None => {
                first_lines.insert(candidate.username.key().to_string(), candidate.line);
                unique.push(candidate);
            }
        }
    }

    let keys: Vec<&str> = unique.iter().map(|candidate| candidate.username.key()).collect();
    let existing = store.existing_username_keys(&keys).map_err(|error| {
        anyhow::Error::new(error).context("failed to look up existing usernames, so nothing was written")
    })?;

    let mut to_create = Vec::with_capacity(unique.len());
    for candidate in unique {
        if existing.contains(candidate.username.key()) {
            summary.conflict(on_conflict, &candidate, "user already exists".to_string());
        } else {
            to_create.push(candidate);
        }
    }
    Ok(to_create)
}

/// Line where the import stopped before creating every user, and the cause.
struct Stop {
    /// Line of the first row not written.
    line: u64,
    /// Lines of the rows whose username another process created during the import.
    taken_lines: HashSet<u64>,
    cause: anyhow::Error,
}

impl Stop {
    /// Builds the final error, which reports how many users were created before the stop.
    fn into_error(self, summary: &Summary) -> anyhow::Error {
        self.cause.context(format!(
            "the import stopped at line {line} after creating {created}, and no row from line {line} on was written; \
             run the import again with --on-conflict skip to create the rest",
            line = self.line,
            created = counted(summary.created as u64, "user"),
        ))
    }
}

/// Hashes the passwords on every core and inserts the users, one transaction per batch. On
/// a failure, the rows not written are recorded as failed and the returned [`Stop`] names
/// the line where the import stopped.
fn create_users(
    store: &AdminStore,
    to_create: Vec<Candidate>,
    on_conflict: OnConflict,
    summary: &mut Summary,
) -> Result<(), Stop> {
    let progress = progress_bar(to_create.len());

    for (batch_index, batch) in to_create.chunks(BATCH_SIZE).enumerate() {
        let users: Vec<NewUser> = batch
            .par_iter()
            .map(|candidate| {
                let password_hash = hash_password(&candidate.password);
                progress.inc(1);
                NewUser {
                    username: candidate.username.clone(),
                    password_hash,
                }
            })
            .collect();

        if let Err(stop) = insert_batch(store, batch, &users, on_conflict, summary) {
            progress.abandon();
            // Batches are in file order, so this batch and the ones after it hold every row
            // still to create.
            for candidate in &to_create[batch_index * BATCH_SIZE..] {
                let reason = if stop.taken_lines.contains(&candidate.line) {
                    "user was created by another process during the import".to_string()
                } else {
                    format!("not written, because the import stopped at line {}", stop.line)
                };
                summary.not_written(candidate, reason);
            }
            return Err(stop);
        }
    }

    progress.finish_and_clear();
    Ok(())
}

/// Inserts one batch, retrying with `--on-conflict skip` when another process took one of
/// its usernames between the look-up and the insert.
fn insert_batch(
    store: &AdminStore,
    batch: &[Candidate],
    users: &[NewUser],
    on_conflict: OnConflict,
    summary: &mut Summary,
) -> Result<(), Stop> {
    let first_line = batch.first().map_or(0, |candidate| candidate.line);
    let stop = |cause: anyhow::Error, taken_lines: HashSet<u64>| Stop {
        line: first_line,
        taken_lines,
        cause,
    };

    let mut attempt = 1;
    let outcome = loop {
        match store.insert_users(users, now(), on_conflict) {
            Ok(outcome) => break outcome,
            Err(StoreError::UsernameTaken) if on_conflict == OnConflict::Skip && attempt < MAX_BATCH_ATTEMPTS => {
                tracing::warn!(
                    attempt,
                    first_line,
                    "another process created a username of the batch; retrying the batch"
                );
                attempt += 1;
            }
            Err(error) => {
                let cause = anyhow::Error::new(error)
                    .context(format!("failed to insert the batch starting at line {first_line}"));
                return Err(stop(cause, HashSet::new()));
            }
        }
    };

    if on_conflict == OnConflict::Fail && !outcome.existing.is_empty() {
        let taken_lines: HashSet<u64> = outcome.existing.iter().map(|&index| batch[index].line).collect();
        let cause = anyhow::anyhow!(
            "another process created {} of the usernames during the import",
            taken_lines.len()
        );
        return Err(stop(cause, taken_lines));
    }

    summary.created += outcome.created.len();
    summary.skipped += outcome.existing.len();
    Ok(())
}

/// Returns a progress bar on stderr for long imports when stderr is a terminal, and a hidden
/// one otherwise, so that piped output carries no control sequences.
fn progress_bar(users: usize) -> ProgressBar {
    if users < PROGRESS_MIN_USERS || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} users hashed, {eta} left")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(users as u64).with_style(style)
}
