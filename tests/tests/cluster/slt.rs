//! Runs the `.slt` files under `tests/slt/` against a 2-node × 2-slice cluster and a
//! 1 × 1 cluster: both must produce the expected output. `BLUESHIFT_SLT_COMPLETE=1`
//! rewrites the expected output from the 1 × 1 run.
//!
//! Format: records separated by blank lines.
//! `statement ok` / `statement error <SQLSTATE>` then SQL; `query [rowsort]` then SQL,
//! `----`, and one line per row with cells separated by ` | ` (NULL as `NULL`).

use std::path::{Path, PathBuf};

use blueshift_tests::TestCluster;
use tokio_postgres::SimpleQueryMessage;

#[derive(Debug, Clone)]
enum Record {
    Statement {
        sql: String,
        error: Option<String>,
    },
    Query {
        sql: String,
        rowsort: bool,
        expected: Vec<String>,
    },
}

fn parse(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let lines: Vec<&str> = block.lines().filter(|l| !l.starts_with('#')).collect();
        let Some((head, rest)) = lines.split_first() else {
            continue;
        };
        let head = head.trim();
        if let Some(kind) = head.strip_prefix("statement") {
            let kind = kind.trim();
            out.push(Record::Statement {
                sql: rest.join("\n"),
                error: kind.strip_prefix("error").map(|c| c.trim().to_string()),
            });
        } else if let Some(opts) = head.strip_prefix("query") {
            let sep = rest
                .iter()
                .position(|l| l.trim() == "----")
                .unwrap_or(rest.len());
            out.push(Record::Query {
                sql: rest[..sep].join("\n"),
                rowsort: opts.contains("rowsort"),
                expected: rest
                    .get(sep + 1..)
                    .unwrap_or(&[])
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            });
        } else if !head.is_empty() {
            panic!("unknown record: {head}");
        }
    }
    out
}

fn render(records: &[Record]) -> String {
    records
        .iter()
        .map(|r| match r {
            Record::Statement { sql, error: None } => format!("statement ok\n{sql}"),
            Record::Statement {
                sql,
                error: Some(code),
            } => format!("statement error {code}\n{sql}"),
            Record::Query {
                sql,
                rowsort,
                expected,
            } => {
                let mut s = format!(
                    "query{}\n{sql}\n----",
                    if *rowsort { " rowsort" } else { "" }
                );
                for l in expected {
                    s.push('\n');
                    s.push_str(l);
                }
                s
            }
        })
        .collect::<Vec<_>>()
        .join("\n\n")
        + "\n"
}

async fn run_query(
    c: &tokio_postgres::Client,
    sql: &str,
    rowsort: bool,
) -> Result<Vec<String>, String> {
    let msgs = c.simple_query(sql).await.map_err(|e| format!("{e:?}"))?;
    let mut rows: Vec<String> = msgs
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| {
                        r.get(i).map_or("NULL".to_string(), |v| {
                            if v.is_empty() {
                                "(empty)".into()
                            } else {
                                v.to_string()
                            }
                        })
                    })
                    .collect::<Vec<_>>()
                    .join(" | "),
            ),
            _ => None,
        })
        .collect();
    if rowsort {
        rows.sort();
    }
    Ok(rows)
}

/// Runs every record; returns the records with actual results filled in, and mismatches.
async fn run(
    c: &tokio_postgres::Client,
    records: &[Record],
    label: &str,
) -> (Vec<Record>, Vec<String>) {
    let mut actual = Vec::new();
    let mut failures = Vec::new();
    for r in records {
        match r {
            Record::Statement { sql, error } => {
                let got = c.simple_query(sql).await;
                match (error, got) {
                    (None, Err(e)) => failures.push(format!("[{label}] {sql}\n  failed: {e:?}")),
                    (Some(code), Ok(_)) => {
                        failures.push(format!("[{label}] {sql}\n  expected error {code}"))
                    }
                    (Some(code), Err(e)) => {
                        let got = e
                            .as_db_error()
                            .map(|d| d.code().code().to_string())
                            .unwrap_or_default();
                        if &got != code {
                            failures.push(format!(
                                "[{label}] {sql}\n  expected {code}, got {got}: {e:?}"
                            ));
                        }
                    }
                    (None, Ok(_)) => {}
                }
                actual.push(r.clone());
            }
            Record::Query {
                sql,
                rowsort,
                expected,
            } => {
                let got = run_query(c, sql, *rowsort)
                    .await
                    .unwrap_or_else(|e| vec![format!("ERROR {e}")]);
                if &got != expected {
                    failures.push(format!(
                        "[{label}] {sql}\n  expected: {expected:#?}\n  got: {got:#?}"
                    ));
                }
                actual.push(Record::Query {
                    sql: sql.clone(),
                    rowsort: *rowsort,
                    expected: got,
                });
            }
        }
    }
    (actual, failures)
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
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
        let records = parse(&std::fs::read_to_string(&file).unwrap());
        queries += records
            .iter()
            .filter(|r| matches!(r, Record::Query { .. }))
            .count();
        let (c1, c4) = (single.client().await, multi.client().await);
        let (actual1, f1) = run(&c1, &records, "1x1").await;
        if complete {
            std::fs::write(&file, render(&actual1)).unwrap();
            let (_, f4) = run(&c4, &actual1, "2x2").await;
            failures.extend(f4);
        } else {
            failures.extend(f1);
            let (_, f4) = run(&c4, &records, "2x2").await;
            failures.extend(f4);
        }
    }
    assert!(queries >= 40, "only {queries} queries");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
