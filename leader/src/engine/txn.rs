//! Transaction blocks: `BEGIN … COMMIT` commits every statement of the block at once;
//! `ROLLBACK`, and an error inside the block, undo them all.
//!
//! ```text
//!  BEGIN ─► Open { base: the committed state at the first statement (snapshot),
//!                  pending: base + this block's writes (staged, not committed) }
//!  statement in the block: reads pending (its own writes); writes build on pending
//!                          under the write lock and stage the result (Catalog::stage)
//!  error ─► Failed: every statement answers 25P02 until ROLLBACK (or COMMIT, which rolls back)
//!  COMMIT ─► under the write lock: each table the block wrote must be as in base
//!            (else 40001: the first committer wins), then the block's tables are put
//!            into the current state and committed as one commit-log record
//! ```
//!
//! Outside a block every statement commits when it ends, as before. Staged files stay in
//! use (garbage collection keeps them) while the block holds its pending state; after a
//! rollback they are garbage for the next collection.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::Statement;

use super::*;
use crate::catalog::{Catalog, ClusterState, unchanged};
use crate::error::{Error, Result};

/// A session's transaction state.
#[derive(Debug, Default)]
pub enum Tx {
    #[default]
    Idle,
    Open(Txn),
    /// A statement in the block failed: only ROLLBACK (or COMMIT, which rolls back) and
    /// ROLLBACK TO SAVEPOINT are accepted.
    Failed(Txn),
}

#[derive(Debug, Default)]
pub struct Txn {
    /// The committed state the block reads, pinned at its first statement.
    base: Option<Arc<ClusterState>>,
    /// `base` plus the block's writes.
    pending: Option<Arc<ClusterState>>,
    /// Tables (and views) the block wrote, created, dropped or truncated.
    touched: BTreeSet<String>,
    /// Whether the block dropped or truncated a table (files to collect after COMMIT).
    garbage: bool,
    savepoints: Vec<Savepoint>,
}

#[derive(Debug)]
struct Savepoint {
    name: String,
    pending: Option<Arc<ClusterState>>,
    touched: BTreeSet<String>,
    garbage: bool,
}

impl Txn {
    fn state(&mut self, catalog: &Catalog) -> Arc<ClusterState> {
        if let Some(p) = &self.pending {
            return Arc::clone(p);
        }
        Arc::clone(self.base.get_or_insert_with(|| catalog.pin()))
    }
}

impl Session {
    /// The state a statement reads: the committed one, or in a block its own.
    pub(crate) fn read_state(&self, catalog: &Catalog) -> Arc<ClusterState> {
        match &mut *self.tx.lock().expect("transaction") {
            Tx::Idle => catalog.pin(),
            Tx::Open(t) | Tx::Failed(t) => t.state(catalog),
        }
    }

    /// The status ReadyForQuery reports: idle, in a block, or in a failed block.
    pub(crate) fn tx_status(&self) -> pgwire::messages::response::TransactionStatus {
        use pgwire::messages::response::TransactionStatus;
        match *self.tx.lock().expect("transaction") {
            Tx::Idle => TransactionStatus::Idle,
            Tx::Open(_) => TransactionStatus::Transaction,
            Tx::Failed(_) => TransactionStatus::Error,
        }
    }

    /// Whether a transaction block is open (failed or not).
    pub(crate) fn in_block(&self) -> bool {
        !matches!(*self.tx.lock().expect("transaction"), Tx::Idle)
    }

    /// A statement in the block failed: the block is aborted until ROLLBACK.
    pub(crate) fn fail_block(&self) {
        fail(&self.tx);
    }

    /// 25P02 for any statement but the block's end, once the block has failed.
    pub(crate) fn check_not_failed(&self, sql: &str) -> Result<()> {
        if !matches!(*self.tx.lock().expect("transaction"), Tx::Failed(_)) {
            return Ok(());
        }
        let first = sql
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches(';')
            .to_ascii_lowercase();
        match first.as_str() {
            "commit" | "end" | "rollback" | "abort" | "" => Ok(()),
            _ => Err(Error::InFailedTransaction),
        }
    }
}

/// Marks the block of `tx` failed (a statement in it failed), if one is open.
pub fn fail(tx: &std::sync::Mutex<Tx>) {
    let mut tx = tx.lock().expect("transaction");
    *tx = match std::mem::take(&mut *tx) {
        Tx::Open(t) | Tx::Failed(t) => Tx::Failed(t),
        Tx::Idle => Tx::Idle,
    };
}

impl Engine {
    /// Ends a write built on [`Session::read_state`] as `next` (under the write lock
    /// `guard`): committed at once outside a block, staged as the block's state inside one.
    /// `garbage`: the write dropped or truncated tables. Returns whether it committed.
    pub(crate) async fn finish_write(
        &self,
        session: &Session,
        guard: &tokio::sync::MutexGuard<'_, ()>,
        next: ClusterState,
        touched: &[String],
        garbage: bool,
    ) -> Result<bool> {
        {
            let mut tx = session.tx.lock().expect("transaction");
            if let Tx::Open(t) = &mut *tx {
                t.pending = Some(self.catalog.stage(guard, next));
                t.touched.extend(touched.iter().cloned());
                t.garbage |= garbage;
                return Ok(false);
            }
        }
        self.catalog.commit(guard, next)?;
        if garbage {
            session.schema.unpin();
            self.collect_garbage(guard).await;
        }
        Ok(true)
    }

    /// BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE and ROLLBACK TO, as PostgreSQL answers
    /// them.
    pub(crate) async fn transaction_statement(
        &self,
        session: &Session,
        stmt: Statement,
    ) -> Result<Output> {
        let command = |tag: &str| Output::Command {
            tag: tag.into(),
            rows: None,
        };
        let end = |tag: &'static str| Output::Transaction { tag, start: false };
        match stmt {
            Statement::StartTransaction { .. } => {
                let mut tx = session.tx.lock().expect("transaction");
                if matches!(*tx, Tx::Idle) {
                    *tx = Tx::Open(Txn::default());
                } else {
                    session.notice("WARNING: there is already a transaction in progress");
                }
                Ok(Output::Transaction {
                    tag: "BEGIN",
                    start: true,
                })
            }
            Statement::Commit { .. } => {
                let taken = std::mem::take(&mut *session.tx.lock().expect("transaction"));
                match taken {
                    Tx::Idle => {
                        session.notice("WARNING: there is no transaction in progress");
                        Ok(end("COMMIT"))
                    }
                    // PostgreSQL answers COMMIT of a failed block as a rollback.
                    Tx::Failed(_) => Ok(end("ROLLBACK")),
                    Tx::Open(t) => {
                        session.schema.unpin();
                        self.commit_block(t).await?;
                        Ok(end("COMMIT"))
                    }
                }
            }
            Statement::Rollback {
                savepoint: Some(name),
                ..
            } => {
                let mut tx = session.tx.lock().expect("transaction");
                let mut t = match std::mem::take(&mut *tx) {
                    Tx::Idle => return Err(Error::NoActiveTransaction("ROLLBACK TO SAVEPOINT")),
                    Tx::Open(t) | Tx::Failed(t) => t,
                };
                let Some(at) = t.savepoints.iter().position(|s| s.name == name.value) else {
                    *tx = Tx::Failed(t);
                    return Err(Error::InvalidSavepoint(name.value));
                };
                t.savepoints.truncate(at + 1);
                let s = &t.savepoints[at];
                t.pending = s.pending.clone();
                t.touched = s.touched.clone();
                t.garbage = s.garbage;
                *tx = Tx::Open(t);
                Ok(command("ROLLBACK"))
            }
            Statement::Rollback { .. } => {
                let taken = std::mem::take(&mut *session.tx.lock().expect("transaction"));
                if matches!(taken, Tx::Idle) {
                    session.notice("WARNING: there is no transaction in progress");
                }
                // The block's staged files are garbage now, for the next collection.
                drop(taken);
                session.schema.unpin();
                Ok(end("ROLLBACK"))
            }
            Statement::Savepoint { name } => {
                let mut tx = session.tx.lock().expect("transaction");
                let Tx::Open(t) = &mut *tx else {
                    return Err(Error::NoActiveTransaction("SAVEPOINT"));
                };
                let s = Savepoint {
                    name: name.value,
                    pending: t.pending.clone(),
                    touched: t.touched.clone(),
                    garbage: t.garbage,
                };
                t.savepoints.push(s);
                Ok(command("SAVEPOINT"))
            }
            Statement::ReleaseSavepoint { name } => {
                let mut tx = session.tx.lock().expect("transaction");
                let Tx::Open(t) = &mut *tx else {
                    return Err(Error::NoActiveTransaction("RELEASE SAVEPOINT"));
                };
                let at = t
                    .savepoints
                    .iter()
                    .position(|s| s.name == name.value)
                    .ok_or_else(|| Error::InvalidSavepoint(name.value.clone()))?;
                t.savepoints.truncate(at);
                Ok(command("RELEASE"))
            }
            _ => Err(Error::Internal("not a transaction statement".into())),
        }
    }

    /// Commits a block's writes as one commit, if no other commit wrote the same tables
    /// since the block's snapshot.
    async fn commit_block(&self, t: Txn) -> Result<()> {
        let Txn {
            base,
            pending,
            touched,
            garbage,
            savepoints,
        } = t;
        // Savepoints hold earlier pending states (and so their files) alive.
        drop(savepoints);
        let (Some(base), Some(pending)) = (base, pending) else {
            return Ok(()); // nothing written
        };
        let guard = self.catalog.begin_write().await;
        let current = self.catalog.pin();
        if let Some(name) = touched.iter().find(|n| !unchanged(&base, &current, n)) {
            return Err(Error::SerializationFailure(name.clone()));
        }
        // Schemas the block created or dropped, unless another commit changed them too.
        let schemas: std::collections::BTreeSet<&String> = base
            .schemas
            .keys()
            .chain(pending.schemas.keys())
            .filter(|s| pending.schemas.get(*s) != base.schemas.get(*s))
            .collect();
        if let Some(s) = schemas
            .iter()
            .find(|s| current.schemas.get(**s) != base.schemas.get(**s))
        {
            return Err(Error::SerializationFailure(format!("schema {s}")));
        }
        let mut next = (*current).clone();
        for s in schemas {
            match pending.schemas.get(s) {
                Some(acl) => next.schemas.insert(s.clone(), acl.clone()),
                None => next.schemas.remove(s),
            };
        }
        let mut next_id = current.next_table_id.max(pending.next_table_id);
        for name in &touched {
            match pending.tables.get(name) {
                Some(table) => {
                    let mut table = table.clone();
                    // A table created in the block keeps its id unless a table committed
                    // meanwhile took it.
                    let created = !base.tables.contains_key(name);
                    // (Tables the block touched are replaced from its state: a table it
                    // renamed keeps its id.)
                    let taken = next
                        .tables
                        .iter()
                        .any(|(n, o)| !touched.contains(n) && o.def.id == table.def.id);
                    if created && taken {
                        table.def.id = next_id;
                        next_id += 1;
                    }
                    next.tables.insert(name.clone(), table);
                }
                None => {
                    next.tables.remove(name);
                }
            }
            match pending.views.get(name) {
                Some(view) => next.views.insert(name.clone(), view.clone()),
                None => next.views.remove(name),
            };
            // An owner the block set (created or dropped the object) goes with it; grants
            // made meanwhile on an object the block only wrote stay.
            if pending.acl.get(name) != base.acl.get(name) {
                match pending.acl.get(name) {
                    Some(acl) => next.acl.insert(name.clone(), acl.clone()),
                    None => next.acl.remove(name),
                };
            }
        }
        next.next_table_id = next_id;
        self.catalog.commit(&guard, next)?;
        drop(pending);
        drop(base);
        if garbage {
            self.collect_garbage(&guard).await;
        }
        Ok(())
    }
}
