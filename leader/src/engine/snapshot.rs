//! Snapshot statements:
//!
//! ```text
//!  CREATE SNAPSHOT name [RETENTION n [DAYS]]   a manual snapshot, kept until dropped or n days
//!  DROP SNAPSHOT name                         from every region, with its unshared files
//!  COPY SNAPSHOT name TO REGION 'r'           a cross-region copy now
//!  RESTORE TABLE new FROM SNAPSHOT name TABLE old [REGION 'r']
//!                                             one table back, under a new name, atomically
//!  CHECKSUM TABLE [t, ...]                    rows and content checksum of each table now
//!                                             (what a snapshot records; DR drills compare)
//! ```
//!
//! `name` is an identifier or a quoted string (`'nightly-2026-11-30'`). `svv_snapshots` and
//! `stl_snapshot_log` show the rest. While a snapshot is taken the session gets NOTICEs
//! `snapshot progress: files d/t, bytes d/t`, which the `blueshift snapshot` command
//! turns into a progress bar.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use blueshift_snapshots::Kind;
use datafusion::sql::sqlparser::tokenizer::Token;

use super::copy::sql::Tokens;
use super::{Engine, Output, Session};
use crate::error::{Error, Result};
use crate::snapshots::{NewSnapshot, Progress, TableRestore};

#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotStatement {
    Create {
        name: String,
        retention_days: Option<u32>,
    },
    Drop {
        name: String,
    },
    Copy {
        name: String,
        region: String,
    },
    Checksum {
        tables: Vec<String>,
    },
    RestoreTable {
        target: String,
        name: String,
        source: String,
        region: Option<String>,
    },
}

/// The statement, when `sql` is one of the snapshot statements.
pub fn parse(sql: &str) -> Option<Result<SnapshotStatement>> {
    let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
    let first = words.next()?;
    if first == "RESTORE" {
        return Some(parse_restore(sql));
    }
    if first == "CHECKSUM" {
        return Some(parse_checksum(sql));
    }
    if !matches!(first.as_str(), "CREATE" | "DROP" | "COPY") || words.next()? != "SNAPSHOT" {
        return None;
    }
    Some(parse_tokens(sql))
}

fn snapshot_name(t: &mut Tokens) -> Result<String> {
    match t.peek() {
        Some(Token::SingleQuotedString(_)) => t.string("SNAPSHOT"),
        _ => t.ident(),
    }
}

fn parse_checksum(sql: &str) -> Result<SnapshotStatement> {
    let mut t = Tokens::new(sql)?;
    t.expect_word("CHECKSUM")?;
    t.expect_word("TABLE")?;
    let mut tables = Vec::new();
    while !t.done() {
        tables.push(t.ident()?);
        if !t.eat(&Token::Comma) && !t.done() {
            return Err(t.unexpected("expected , or the end of the statement"));
        }
    }
    Ok(SnapshotStatement::Checksum { tables })
}

fn parse_restore(sql: &str) -> Result<SnapshotStatement> {
    let mut t = Tokens::new(sql)?;
    t.expect_word("RESTORE")?;
    t.expect_word("TABLE")?;
    let target = t.ident()?;
    t.expect_word("FROM")?;
    t.expect_word("SNAPSHOT")?;
    let name = snapshot_name(&mut t)?;
    t.expect_word("TABLE")?;
    let source = t.ident()?;
    let region = if t.eat_word("REGION") {
        Some(t.string("REGION")?)
    } else {
        None
    };
    if !t.done() {
        return Err(t.unexpected("expected the end of the statement"));
    }
    Ok(SnapshotStatement::RestoreTable {
        target,
        name,
        source,
        region,
    })
}

fn parse_tokens(sql: &str) -> Result<SnapshotStatement> {
    let mut t = Tokens::new(sql)?;
    let create = t.eat_word("CREATE");
    let copy = !create && t.eat_word("COPY");
    if !create && !copy {
        t.expect_word("DROP")?;
    }
    t.expect_word("SNAPSHOT")?;
    let name = snapshot_name(&mut t)?;
    let stmt = if create {
        let retention_days = if t.eat_word("RETENTION") {
            let n = t.number("RETENTION")?;
            t.eat_word("DAYS");
            Some(
                u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=3653).contains(n))
                    .ok_or_else(|| {
                        Error::InvalidInput(format!("RETENTION must be 1 to 3653 days, not {n}"))
                    })?,
            )
        } else {
            None
        };
        SnapshotStatement::Create {
            name,
            retention_days,
        }
    } else if copy {
        t.expect_word("TO")?;
        t.expect_word("REGION")?;
        let region = t.string("REGION")?;
        SnapshotStatement::Copy { name, region }
    } else {
        SnapshotStatement::Drop { name }
    };
    if !t.done() {
        return Err(t.unexpected("expected the end of the statement"));
    }
    Ok(stmt)
}

impl Engine {
    pub(crate) async fn snapshot_statement(
        &self,
        session: &Session,
        stmt: SnapshotStatement,
    ) -> Result<Output> {
        // Snapshots are the cluster's, a superuser's to take, copy, drop and restore from;
        // a checksum reads the tables, so it needs SELECT on each.
        let state = self.catalog.pin();
        match &stmt {
            SnapshotStatement::Checksum { tables } => {
                let named: Vec<&String> = if tables.is_empty() {
                    state.tables.keys().collect()
                } else {
                    tables
                        .iter()
                        .filter(|t| state.tables.contains_key(*t))
                        .collect()
                };
                for t in named {
                    state.require(&session.user, t, crate::access::Privilege::Select)?;
                }
            }
            _ => state.require_superuser(&session.user, "a snapshot statement")?,
        }
        drop(state);
        match stmt {
            SnapshotStatement::Create {
                name,
                retention_days,
            } => {
                let last = Mutex::new(None::<Instant>);
                let report = |p: Progress| {
                    let mut last = last.lock().expect("progress clock");
                    let done = p.files_done == p.files_total;
                    if done || last.is_none_or(|t| t.elapsed() >= Duration::from_millis(200)) {
                        *last = Some(Instant::now());
                        session.notice(&format!(
                            "snapshot progress: files {}/{}, bytes {}/{}",
                            p.files_done, p.files_total, p.bytes_done, p.bytes_total
                        ));
                    }
                };
                let record = self
                    .snapshots
                    .create(
                        &self.catalog,
                        &self.cluster,
                        &self.log,
                        NewSnapshot {
                            name: &name,
                            kind: Kind::Manual,
                            retention_days,
                        },
                        &report,
                    )
                    .await?;
                session.notice(&format!(
                    "snapshot {} holds commit {}: {} tables, {} rows, {} bytes; {} bytes uploaded",
                    record.name,
                    record.commit,
                    record.tables.len(),
                    record.rows,
                    record.bytes,
                    record.bytes_uploaded
                ));
                // The cross-region copy follows in the background.
                let (snapshots, log) = (
                    std::sync::Arc::clone(&self.snapshots),
                    std::sync::Arc::clone(&self.log),
                );
                tokio::spawn(async move {
                    if let Err(e) = snapshots.copy_missing(&log).await {
                        tracing::warn!("cross-region snapshot copy: {}", e.user_message());
                    }
                });
                Ok(Output::Command {
                    tag: "CREATE SNAPSHOT".into(),
                    rows: None,
                })
            }
            SnapshotStatement::Copy { name, region } => {
                let report = self.snapshots.copy_to(&self.log, &name, &region).await?;
                session.notice(&if report.already {
                    format!("region {region} already holds snapshot {name}")
                } else {
                    format!(
                        "snapshot {name} copied to region {region}: {} files, {} bytes",
                        report.files_copied, report.bytes_copied
                    )
                });
                Ok(Output::Command {
                    tag: "COPY SNAPSHOT".into(),
                    rows: None,
                })
            }
            SnapshotStatement::RestoreTable {
                target,
                name,
                source,
                region,
            } => {
                let rows = self
                    .snapshots
                    .restore_table(
                        &self.catalog,
                        &self.cluster,
                        &self.log,
                        TableRestore {
                            snapshot: &name,
                            region: region.as_deref(),
                            source: &source,
                            target: &target,
                            node_timeout_secs: self.config.node_timeout_secs,
                        },
                    )
                    .await?;
                session.notice(&format!(
                    "table {source} of snapshot {name} restored as {target}: {rows} rows, checksum verified"
                ));
                Ok(Output::Command {
                    tag: "RESTORE TABLE".into(),
                    rows: None,
                })
            }
            SnapshotStatement::Checksum { tables } => {
                let (commit, sums) =
                    crate::snapshots::live_checksums(&self.catalog, &self.cluster, &tables).await?;
                use arrow::array::{Int64Array, StringArray};
                use arrow::datatypes::{DataType, Field, Schema};
                let schema = std::sync::Arc::new(Schema::new(vec![
                    Field::new("table_name", DataType::Utf8, false),
                    Field::new("rows", DataType::Int64, false),
                    Field::new("checksum", DataType::Utf8, false),
                    Field::new("commit", DataType::Int64, false),
                ]));
                let batch = arrow::array::RecordBatch::try_new(
                    std::sync::Arc::clone(&schema),
                    vec![
                        std::sync::Arc::new(StringArray::from_iter_values(
                            sums.iter().map(|s| s.name.as_str()),
                        )),
                        std::sync::Arc::new(Int64Array::from_iter_values(
                            sums.iter().map(|s| s.rows as i64),
                        )),
                        std::sync::Arc::new(StringArray::from_iter_values(
                            sums.iter().map(|s| s.checksum.as_str()),
                        )),
                        std::sync::Arc::new(Int64Array::from_iter_values(
                            sums.iter().map(|_| commit as i64),
                        )),
                    ],
                )?;
                Ok(Output::Rows {
                    schema,
                    batches: vec![batch],
                })
            }
            SnapshotStatement::Drop { name } => {
                self.snapshots.delete(&self.log, &name).await?;
                Ok(Output::Command {
                    tag: "DROP SNAPSHOT".into(),
                    rows: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse("create snapshot 'Nightly-1' retention 7 days").map(|r| r.ok()),
            Some(Some(SnapshotStatement::Create {
                name: "Nightly-1".into(),
                retention_days: Some(7)
            }))
        );
        assert_eq!(
            parse("DROP SNAPSHOT s1;").map(|r| r.ok()),
            Some(Some(SnapshotStatement::Drop { name: "s1".into() }))
        );
        assert!(parse("CREATE TABLE t (a int)").is_none());
        assert_eq!(
            parse("COPY SNAPSHOT s1 TO REGION 'west'").map(|r| r.ok()),
            Some(Some(SnapshotStatement::Copy {
                name: "s1".into(),
                region: "west".into()
            }))
        );
        assert!(parse("COPY t FROM '/x'").is_none());
        assert_eq!(
            parse("RESTORE TABLE t2 FROM SNAPSHOT 'n-1' TABLE t REGION 'west'").map(|r| r.ok()),
            Some(Some(SnapshotStatement::RestoreTable {
                target: "t2".into(),
                name: "n-1".into(),
                source: "t".into(),
                region: Some("west".into())
            }))
        );
        assert!(matches!(
            parse("CREATE SNAPSHOT s RETENTION 0"),
            Some(Err(Error::InvalidInput(_)))
        ));
        assert!(matches!(
            parse("CREATE SNAPSHOT s extra"),
            Some(Err(Error::Syntax { .. }))
        ));
    }
}
