//! Runs the sqllogictest files under `tests/slt/` with the `sqllogictest` crate (the runner
//! DataFusion, RisingWave and Databend use) against a 1-node × 1-slice cluster and a
//! 2 × 2 cluster: both must produce the expected output, and every mismatch is listed.
//! Each file runs on new connections, but all files share the two clusters (and so the
//! tables they create): a file must not reuse another's table names.
//!
//! Format: the crate's standard records, separated by blank lines; `#` starts a comment.
//! - `statement ok` then SQL: the statement must succeed.
//! - `statement error (42703)` then SQL: it must fail with exactly that SQLSTATE.
//!   `statement error <regex>` instead matches the regex anywhere in the error message,
//!   which reads `db error: <SQLSTATE>: <message>` for an error the server sent.
//! - `query <types> [rowsort]` then SQL, `----`, and one line per row. `<types>` has a
//!   letter per column, checked against the column types the server describes for the
//!   statement: `I` integer, `R` float or numeric, `T` any other type (text, boolean,
//!   date, time), `?` any type. `rowsort` sorts the rows before they are compared.
//!   `query error (SQLSTATE)` works as for statements.
//!
//! Rows are compared exactly, as text, with cells separated by ` | `: NULL reads `NULL`
//! and the empty string `(empty)`. (The crate's default joins cells with a space and
//! collapses whitespace, so it could not tell `a b` in one cell from `a` and `b` in two.)
//!
//! `BLUESHIFT_SLT_COMPLETE=1 cargo test -p blueshift-tests --test cluster slt` rewrites
//! the expected output (rows, column types and SQLSTATEs) from the 1 × 1 run, then checks
//! the 2 × 2 cluster against it. Records of an `include`d file run, but only the including
//! file is rewritten.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use blueshift_tests::TestCluster;
use sqllogictest::{
    AsyncDB, DBOutput, DefaultColumnType, ExpectedError, Injected, MakeConnection, Normalizer,
    QueryExpect, Record, RecordOutput, Runner, StatementExpect, TestErrorKind,
};
use tokio_postgres::SimpleQueryMessage;
use tokio_postgres::types::Type;

/// What separates the cells of a row in the expected output.
const COLUMN_SEPARATOR: &str = " | ";

/// An error of a statement, whose message names the SQLSTATE the server sent.
#[derive(Debug)]
struct SltError(tokio_postgres::Error);

impl SltError {
    fn sqlstate(&self) -> Option<String> {
        self.0.as_db_error().map(|db| db.code().code().to_string())
    }
}

impl fmt::Display for SltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(db) = self.0.as_db_error() else {
            return write!(f, "{}", self.0);
        };
        write!(f, "db error: {}: {}", db.code().code(), db.message())?;
        if let Some(detail) = db.detail() {
            write!(f, " (detail: {detail})")?;
        }
        if let Some(hint) = db.hint() {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for SltError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// A connection to a cluster's leader; SQL goes through the simple query protocol.
struct Blueshift {
    client: tokio_postgres::Client,
}

impl Blueshift {
    async fn connect(conn_str: String) -> Result<Blueshift, SltError> {
        let (client, conn) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
            .await
            .map_err(SltError)?;
        tokio::spawn(conn);
        Ok(Blueshift { client })
    }

    /// The types of the `n` result columns of `sql`, from the server's description of the
    /// statement (the simple protocol tells only the names); `?` where it has none.
    async fn column_types(&self, sql: &str, n: usize) -> Vec<DefaultColumnType> {
        match self.client.prepare(sql).await {
            Ok(stmt) if stmt.columns().len() == n => stmt
                .columns()
                .iter()
                .map(|c| column_type(c.type_()))
                .collect(),
            _ => vec![DefaultColumnType::Any; n],
        }
    }
}

fn column_type(t: &Type) -> DefaultColumnType {
    if [Type::INT2, Type::INT4, Type::INT8, Type::OID].contains(t) {
        DefaultColumnType::Integer
    } else if [Type::FLOAT4, Type::FLOAT8, Type::NUMERIC].contains(t) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn cell(value: Option<&str>) -> String {
    match value {
        None => "NULL".into(),
        Some("") => "(empty)".into(),
        Some(v) => v.into(),
    }
}

#[async_trait::async_trait]
impl AsyncDB for Blueshift {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let messages = self.client.simple_query(sql).await.map_err(SltError)?;
        let (mut columns, mut rows, mut count) = (None, Vec::new(), 0);
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(c) => {
                    columns.get_or_insert(c.len());
                }
                SimpleQueryMessage::Row(r) => {
                    rows.push((0..r.len()).map(|i| cell(r.get(i))).collect());
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        Ok(match columns {
            Some(n) => DBOutput::Rows {
                types: self.column_types(sql, n).await,
                rows,
            },
            None => DBOutput::StatementComplete(count),
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "blueshift"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }

    async fn run_command(command: std::process::Command) -> std::io::Result<std::process::Output> {
        tokio::process::Command::from(command).output().await
    }

    fn error_sql_state(err: &SltError) -> Option<String> {
        err.sqlstate()
    }
}

/// Rows match when each, its cells joined by [`COLUMN_SEPARATOR`], is the expected line
/// exactly: no whitespace is trimmed or collapsed.
fn exact_validator(_: Normalizer, actual: &[Vec<String>], expected: &[String]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(row, line)| row.join(COLUMN_SEPARATOR) == *line)
}

/// As many columns as expected, each of the expected type; `?` (and any letter other than
/// `I`, `R`, `T`) accepts every type.
#[allow(clippy::ptr_arg)] // the crate's `ColumnTypeValidator` signature
fn column_validator(actual: &Vec<DefaultColumnType>, expected: &Vec<DefaultColumnType>) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| *e == DefaultColumnType::Any || a == e)
}

fn runner(cluster: &TestCluster) -> Runner<Blueshift, impl MakeConnection<Conn = Blueshift>> {
    let conn_str = cluster.conn_str();
    let mut runner = Runner::new(move || Blueshift::connect(conn_str.clone()));
    runner.with_validator(exact_validator);
    runner.with_column_validator(column_validator);
    runner
}

fn parse(file: &Path) -> Vec<Record<DefaultColumnType>> {
    sqllogictest::parse_file(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Runs every record of `file` on `cluster`, going on after a failure; returns how many
/// query records ran, and the failures.
async fn run_file(cluster: &TestCluster, file: &Path, label: &str) -> (usize, Vec<String>) {
    let mut runner = runner(cluster);
    let (mut queries, mut failures) = (0, Vec::new());
    for record in parse(file) {
        if matches!(record, Record::Halt { .. }) {
            break;
        }
        let query = matches!(record, Record::Query { .. });
        match runner.run_async(record).await {
            Ok(RecordOutput::Nothing) => {}
            Ok(_) => queries += usize::from(query),
            Err(e) => {
                queries += usize::from(query);
                let mut failure = format!("[{label}] {}", e.display(false));
                if let TestErrorKind::QueryResultMismatch { .. } = e.kind() {
                    failure.push_str(
                        "(the actual rows above have their cells joined by one space; \
                         BLUESHIFT_SLT_COMPLETE=1 writes them as the file lays them out)\n",
                    );
                }
                failures.push(failure);
            }
        }
    }
    runner.shutdown_async().await;
    (queries, failures)
}

/// The record with `output` as its expected output, through the crate's
/// `update_record_with_output`, which would replace an expected SQLSTATE with the error
/// message: such a record gets the actual SQLSTATE instead.
fn completed(
    record: Record<DefaultColumnType>,
    output: &RecordOutput<DefaultColumnType>,
) -> Record<DefaultColumnType> {
    let sqlstate = match output {
        RecordOutput::Statement { error: Some(e), .. }
        | RecordOutput::Query { error: Some(e), .. } => {
            e.downcast_ref::<SltError>().and_then(SltError::sqlstate)
        }
        _ => None,
    };
    match (record, sqlstate) {
        (
            Record::Statement {
                loc,
                conditions,
                connection,
                sql,
                expected: StatementExpect::Error(ExpectedError::SqlState(_)),
                retry,
            },
            Some(code),
        ) => Record::Statement {
            loc,
            conditions,
            connection,
            sql,
            expected: StatementExpect::Error(ExpectedError::SqlState(code)),
            retry,
        },
        (
            Record::Query {
                loc,
                conditions,
                connection,
                sql,
                expected: QueryExpect::Error(ExpectedError::SqlState(_)),
                retry,
            },
            Some(code),
        ) => Record::Query {
            loc,
            conditions,
            connection,
            sql,
            expected: QueryExpect::Error(ExpectedError::SqlState(code)),
            retry,
        },
        (record, _) => sqllogictest::update_record_with_output(
            &record,
            output,
            COLUMN_SEPARATOR,
            exact_validator,
            sqllogictest::default_normalizer,
            column_validator,
        )
        .unwrap_or(record),
    }
}

/// Rewrites the expected output of `file` from a run on `cluster` (the crate's
/// `update_test_file`, keeping `(SQLSTATE)` expectations).
async fn complete_file(cluster: &TestCluster, file: &Path) {
    let mut runner = runner(cluster);
    let (mut out, mut include_depth, mut halted) = (String::new(), 0, false);
    for record in parse(file) {
        match &record {
            Record::Injected(Injected::BeginInclude(_)) => include_depth += 1,
            Record::Injected(Injected::EndInclude(_)) => include_depth -= 1,
            Record::Halt { .. } => halted = true,
            _ => {}
        }
        if matches!(record, Record::Injected(_)) {
            continue;
        }
        let record = if halted {
            record
        } else {
            let output = runner.apply_record(record.clone()).await;
            completed(record, &output)
        };
        if include_depth == 0 {
            writeln!(out, "{record}").expect("writing to a String");
        }
    }
    runner.shutdown_async().await;
    let text = out.trim_end_matches('\n').to_string() + "\n";
    std::fs::write(file, text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn slt_results_match_on_one_slice_and_four() {
    let single = TestCluster::start(1, 1).await;
    let multi = TestCluster::start(2, 2).await;
    let complete = std::env::var("BLUESHIFT_SLT_COMPLETE").is_ok();
    let mut failures = Vec::new();
    let mut queries = 0;
    for file in slt_files() {
        if complete {
            complete_file(&single, &file).await;
        } else {
            failures.extend(run_file(&single, &file, "1x1").await.1);
        }
        let (ran, f4) = run_file(&multi, &file, "2x2").await;
        queries += ran;
        failures.extend(f4);
    }
    assert!(queries >= 40, "only {queries} queries");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
