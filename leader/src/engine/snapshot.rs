//! Snapshot statements:
//!
//! ```text
//!  CREATE SNAPSHOT name [RETENTION n [DAYS]]   a manual snapshot, kept until dropped or n days
//!  DROP SNAPSHOT name                         from every region, with its unshared files
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
use crate::snapshots::{NewSnapshot, Progress};

#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotStatement {
    Create {
        name: String,
        retention_days: Option<u32>,
    },
    Drop {
        name: String,
    },
}

/// The statement, when `sql` is one of the snapshot statements.
pub fn parse(sql: &str) -> Option<Result<SnapshotStatement>> {
    let mut words = sql.split_whitespace().map(str::to_ascii_uppercase);
    let first = words.next()?;
    if !matches!(first.as_str(), "CREATE" | "DROP") || words.next()? != "SNAPSHOT" {
        return None;
    }
    Some(parse_tokens(sql))
}

fn parse_tokens(sql: &str) -> Result<SnapshotStatement> {
    let mut t = Tokens::new(sql)?;
    let create = t.eat_word("CREATE");
    if !create {
        t.expect_word("DROP")?;
    }
    t.expect_word("SNAPSHOT")?;
    let name = match t.peek() {
        Some(Token::SingleQuotedString(_)) => t.string("SNAPSHOT")?,
        _ => t.ident()?,
    };
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
                Ok(Output::Command {
                    tag: "CREATE SNAPSHOT".into(),
                    rows: None,
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
