//! COPY on the leader: list the sources, split them into tasks, hand each node its share,
//! gather the staged blocks and the rejects, and commit everything in one catalog version,
//! or nothing.
//!
//! ```text
//!  COPY t FROM 's3://b/prefix' ...
//!    list (prefix | manifest) ─► tasks (files; byte ranges of big uncompressed text/CSV;
//!    row-group sets of big Parquet) ─► nodes by size ─► LoadRequest per node ─┐
//!    progress NOTICEs every few seconds ◄── Progress events ◄─────────────────┤
//!    rejects ─► stl_load_errors;  > MAXERROR ─► error, nothing committed      │
//!    blocks of every node ─► one commit ◄── Done{blocks, rejects} ◄──────────┘
//! ```
//!
//! `COPY ... FROM STDIN` spools the client's bytes to a file on the leader, reads it there
//! with the same readers, and writes the rows like an INSERT.
//!
//! Modules: `sql` (COPY and UNLOAD grammar), `plan` (sources, manifests, tasks), `lines`
//! (file line numbers across split ranges), `stdin` (COPY FROM STDIN). This file runs a
//! load on the nodes and commits it.

mod lines;
mod plan;
pub(crate) mod sql;
mod stdin;
pub(crate) mod stdout;

pub use stdin::PendingCopy;

use lines::number_lines;
use plan::task_bytes;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use blueshift_compute::{LoadRequest, LoadResponse};
use blueshift_load::{LoadTask, Reject, Target};
use blueshift_storage::table::TableDef;

use crate::catalog::TableState;
use crate::engine::copy::sql::{CopyStatement, Source};
use crate::engine::{Engine, Output, Session};
use crate::error::{Error, Result};

/// The NOTICE for COPY's and UNLOAD's `IAM_ROLE`.
pub const IAM_ROLE_IGNORED: &str = "IAM_ROLE is accepted and ignored: object storage is reached \
     with the keys of the [regions] configuration or the AWS environment";

/// The load's target: COPY's column list (or every column) mapped to table columns.
pub(crate) fn target_of(def: &TableDef, columns: &[String]) -> Result<Target> {
    if columns.is_empty() {
        return Ok(Target::all_columns(def.clone()));
    }
    let mut fields = Vec::with_capacity(columns.len());
    for name in columns {
        let i = def
            .columns
            .iter()
            .position(|c| c.name == *name)
            .ok_or_else(|| Error::UndefinedColumn {
                column: name.clone(),
            })?;
        if fields.contains(&i) {
            return Err(Error::DuplicateColumn(name.clone()));
        }
        fields.push(i);
    }
    Ok(Target {
        table: def.clone(),
        fields,
    })
}

/// Fails if the table was dropped and created anew (or altered) between the COPY statement
/// and its commit: the load was planned for the old definition.
pub(crate) fn unchanged(table: &TableState, target: &Target, name: &str) -> Result<()> {
    if table.def != target.table {
        return Err(Error::InvalidInput(format!(
            "table \"{name}\" changed while COPY was running; run it again"
        )));
    }
    Ok(())
}

/// Files on the nodes' own disks are a superuser's to read and write, as PostgreSQL keeps
/// server-side files to superusers: 42501 for anyone else.
pub(crate) fn server_file_check(
    state: &crate::catalog::ClusterState,
    user: &str,
    url: &str,
    what: &str,
) -> Result<()> {
    if url.trim_start().starts_with("s3://") || state.is_superuser(user) {
        return Ok(());
    }
    Err(Error::PermissionDenied(format!(
        "permission denied: {what} a file on the cluster's disks ({url}) requires a superuser; use an s3:// location, or COPY FROM STDIN (psql's \\copy)"
    )))
}

impl Engine {
    pub(crate) async fn copy(&self, session: &Session, sql: &str, query: u64) -> Result<Output> {
        let mut stmt = crate::engine::copy::sql::parse_copy(sql)?;
        if stmt.iam_role {
            session.notice(IAM_ROLE_IGNORED);
        }
        let state = session.read_state(&self.catalog);
        stmt.table = session.resolve_written(&state, &stmt.table, false)?;
        let table = state.table(&stmt.table)?;
        state.require(&session.user, &stmt.table, crate::access::Privilege::Insert)?;
        if let Source::Url(url) = &stmt.source {
            server_file_check(&state, &session.user, url, "COPY from")?;
        }
        let target = target_of(&table.def, &stmt.columns)?;
        *session.last_copy.lock().expect("last copy") = (query as i64, 0);
        match &stmt.source {
            Source::Stdin => {
                std::fs::create_dir_all(&self.spool_dir)
                    .map_err(|e| Error::Io(format!("cannot create spool folder: {e}")))?;
                let path = self
                    .spool_dir
                    .join(format!("stdin-{}-{query}", session.pid));
                let file = std::fs::File::create(&path)
                    .map_err(|e| Error::Io(format!("cannot spool COPY data: {e}")))?;
                let columns = target.fields.len();
                *session.pending_copy.lock().expect("pending copy") = Some(PendingCopy {
                    stmt,
                    target,
                    query,
                    path,
                    file,
                });
                Ok(Output::CopyIn { columns })
            }
            Source::Url(url) => {
                let url = url.clone();
                let rows = self
                    .copy_from_url(session, &stmt, &url, target, query)
                    .await?;
                *session.last_copy.lock().expect("last copy") = (query as i64, rows as i64);
                Ok(Output::Command {
                    tag: "COPY".into(),
                    rows: Some(rows),
                })
            }
        }
    }
    pub(crate) async fn copy_from_url(
        &self,
        session: &Session,
        stmt: &CopyStatement,
        url: &str,
        target: Target,
        query: u64,
    ) -> Result<u64> {
        let files = self.copy_sources(session, stmt, url).await?;
        let file_count = files.len() as u64;
        let bytes_total: u64 = files.iter().map(|f| f.1).sum();
        let tasks = self.copy_tasks(stmt, files).await?;
        let running = self.log.loads.start(
            query,
            session.pid,
            &stmt.table,
            file_count,
            tasks.len() as u64,
            bytes_total,
        );
        let guard = self.catalog.begin_write().await;
        let state = session.read_state(&self.catalog);
        let table = state.table(&stmt.table)?.clone();
        unchanged(&table, &target, &stmt.table)?;
        let topology = self.cluster.topology;
        let addrs: Vec<String> = (0..topology.nodes)
            .map(|n| {
                self.cluster
                    .client_for_slice(n * topology.slices_per_node)
                    .addr()
                    .to_string()
            })
            .collect();
        // Largest tasks first, each to the node with the least work so far.
        let mut order: Vec<&LoadTask> = tasks.iter().collect();
        order.sort_by_key(|t| std::cmp::Reverse(task_bytes(t)));
        let mut shares: Vec<(u64, Vec<LoadTask>)> = vec![(0, vec![]); topology.nodes as usize];
        for t in order {
            let least = shares
                .iter_mut()
                .min_by_key(|(bytes, _)| *bytes)
                .expect("at least one node");
            least.0 += task_bytes(t);
            least.1.push(t.clone());
        }
        let calls = shares
            .into_iter()
            .enumerate()
            .filter(|(_, (_, tasks))| !tasks.is_empty())
            .map(|(node, (_, tasks))| {
                let node = node as u32;
                let client = self
                    .cluster
                    .client_for_slice(node * topology.slices_per_node)
                    .clone();
                let req = LoadRequest {
                    query_id: query.to_string(),
                    target: target.clone(),
                    topology,
                    nodes: addrs.clone(),
                    options: stmt.options.clone(),
                    access: stmt.access.clone(),
                    tasks,
                    even_start: table.data.even_cursor + u64::from(node * topology.slices_per_node),
                    timeout_secs: self.config.node_timeout_secs,
                };
                let progress = Arc::clone(&running.progress);
                async move {
                    client
                        .load(&req, |bytes, rows, done| {
                            progress.report(node, bytes, rows, done)
                        })
                        .await
                }
            });
        let all = futures::future::try_join_all(calls);
        tokio::pin!(all);
        let mut tick =
            tokio::time::interval(Duration::from_millis(self.config.copy_progress_ms.max(10)));
        tick.tick().await;
        let answers = loop {
            tokio::select! {
                r = &mut all => break r,
                _ = tick.tick() => {
                    let (bytes, rows, done) = running.progress.totals();
                    session.notice(&format!(
                        "COPY {}: {done} of {} tasks ({file_count} files), {:.1} of {:.1} MB read, {rows} rows",
                        stmt.table,
                        tasks.len(),
                        bytes as f64 / 1e6,
                        bytes_total as f64 / 1e6,
                    ));
                }
            }
        };
        let answers: Vec<LoadResponse> = match answers {
            Ok(a) => a,
            Err(e) => {
                self.collect_garbage(&guard).await;
                return Err(e.into());
            }
        };
        let mut rejects: Vec<Reject> = Vec::new();
        let mut reject_count = 0;
        let mut task_lines = BTreeMap::new();
        for a in &answers {
            rejects.extend(a.rejects.iter().cloned());
            reject_count += a.reject_count;
            task_lines.extend(a.task_lines.iter().copied());
        }
        let exact = self
            .exact_offsets(stmt, &tasks, &task_lines, &rejects)
            .await?;
        number_lines(&tasks, &task_lines, &exact, &mut rejects);
        if let Err(e) = self.check_rejects(session, stmt, query, rejects, reject_count) {
            // Staged blocks of a failed load are never committed; free them now.
            self.collect_garbage(&guard).await;
            return Err(e);
        }
        let rows: u64 = answers.iter().map(|a| a.rows).sum();
        let mut data = (*table.data).clone();
        for a in answers {
            for (slice, blocks) in a.blocks {
                data.slices.entry(slice).or_default().blocks.extend(blocks);
            }
        }
        data.even_cursor += rows;
        let new_table = TableState {
            def: table.def.clone(),
            data: Arc::new(data),
        };
        let mut next = (*state).clone();
        let new_table = self
            .maybe_leave_auto_all(&next, new_table, &query.to_string())
            .await?;
        let new_table = self
            .analyzed_if_new(
                &next,
                table.data.live_rows(),
                new_table,
                stmt.statupdate,
                &query.to_string(),
            )
            .await?;
        next.tables.insert(stmt.table.clone(), new_table);
        self.finish_write(
            session,
            &guard,
            next,
            std::slice::from_ref(&stmt.table),
            false,
        )
        .await?;
        drop(running);
        Ok(rows)
    }
    /// Records rejects in `stl_load_errors`; fails the COPY if they exceed MAXERROR.
    pub(crate) fn check_rejects(
        &self,
        session: &Session,
        stmt: &CopyStatement,
        query: u64,
        mut rejects: Vec<Reject>,
        count: u64,
    ) -> Result<()> {
        rejects.sort_by(|a, b| (a.file.as_str(), a.line).cmp(&(b.file.as_str(), b.line)));
        self.log
            .loads
            .record(query, session.pid, &session.user, &rejects);
        if count == 0 {
            return Ok(());
        }
        let first = &rejects[0];
        let place = if first.column.is_empty() {
            format!("{}, line {}", first.file, first.line)
        } else {
            format!(
                "{}, line {}, column {} ({})",
                first.file, first.line, first.column, first.column_type
            )
        };
        if count > stmt.options.max_error {
            let message = if stmt.options.max_error == 0 {
                format!(
                    "Load into table '{}' failed: {place}: {} (error {}; value '{}')",
                    stmt.table, first.reason, first.code, first.raw_value
                )
            } else {
                format!(
                    "Load into table '{}' failed: {count} rows rejected, more than MAXERROR {}; first at {place}: {} (error {}; value '{}')",
                    stmt.table, stmt.options.max_error, first.reason, first.code, first.raw_value
                )
            };
            return Err(Error::LoadFailed {
                message,
                hint: format!(
                    "Check 'stl_load_errors' system table for details (SELECT * FROM stl_load_errors WHERE query = {query})."
                ),
            });
        }
        session.notice(&format!(
            "COPY {}: {count} rows rejected (MAXERROR {}); see stl_load_errors for query {query}",
            stmt.table, stmt.options.max_error
        ));
        Ok(())
    }
}
