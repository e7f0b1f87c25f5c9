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

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use arrow::array::RecordBatch;
use blueshift_compute::{LoadRequest, LoadResponse};
use blueshift_load::{Access, Format, LoadTask, Reject, Sink, Target};
use blueshift_storage::Code;
use blueshift_storage::table::TableDef;
use datafusion::execution::SendableRecordBatchStream;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::mpsc;

use crate::catalog::TableState;
use crate::copy_sql::{CopyStatement, Source};
use crate::engine::{Engine, Output, Session};
use crate::error::{Error, Result};

/// The NOTICE for COPY's and UNLOAD's `IAM_ROLE`.
pub const IAM_ROLE_IGNORED: &str = "IAM_ROLE is accepted and ignored: object storage is reached \
     with the keys of the [regions] configuration or the AWS environment";

/// A COPY FROM STDIN waiting for the client's data.
pub struct PendingCopy {
    stmt: CopyStatement,
    target: Target,
    query: u64,
    path: PathBuf,
    file: std::fs::File,
}

impl PendingCopy {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.file
            .write_all(data)
            .map_err(|e| Error::Io(format!("cannot spool COPY data: {e}")))
    }
}

impl Drop for PendingCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The load's target: COPY's column list (or every column) mapped to table columns.
fn target_of(def: &TableDef, columns: &[String]) -> Result<Target> {
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
fn unchanged(table: &TableState, target: &Target, name: &str) -> Result<()> {
    if table.def != target.table {
        return Err(Error::InvalidInput(format!(
            "table \"{name}\" changed while COPY was running; run it again"
        )));
    }
    Ok(())
}

/// The manifest file COPY ... MANIFEST reads.
#[derive(serde::Deserialize)]
struct Manifest {
    entries: Vec<ManifestEntry>,
}

#[derive(serde::Deserialize)]
struct ManifestEntry {
    url: String,
    #[serde(default)]
    mandatory: bool,
}

impl Engine {
    pub(crate) async fn copy(&self, session: &Session, sql: &str, query: u64) -> Result<Output> {
        let stmt = crate::copy_sql::parse_copy(sql)?;
        if stmt.iam_role {
            session.notice(IAM_ROLE_IGNORED);
        }
        let state = self.catalog.pin();
        let table = state.table(&stmt.table)?;
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

    /// The objects a COPY reads: every object under the prefix, or the manifest's entries.
    async fn copy_sources(&self, stmt: &CopyStatement, url: &str) -> Result<Vec<(String, u64)>> {
        let located = self.stores.locate(url, &stmt.access)?;
        if stmt.options.manifest {
            let bytes = located
                .store
                .get(&located.path)
                .await
                .map_err(|e| blueshift_load::Error::store(url, e))?
                .bytes()
                .await
                .map_err(|e| blueshift_load::Error::store(url, e))?;
            let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Load(blueshift_load::Error::Data(format!(
                    "{url}: not a COPY manifest ({e}); expected {{\"entries\": [{{\"url\": ..., \"mandatory\": true}}]}}"
                )))
            })?;
            let mut out = Vec::new();
            for entry in manifest.entries {
                let e = self.stores.locate(&entry.url, &stmt.access)?;
                match e.store.head(&e.path).await {
                    Ok(meta) => out.push((entry.url, meta.size)),
                    Err(object_store::Error::NotFound { .. }) if !entry.mandatory => {
                        tracing::debug!(url = %entry.url, "optional manifest entry missing");
                    }
                    Err(object_store::Error::NotFound { .. }) => {
                        return Err(Error::Load(blueshift_load::Error::NotFound {
                            url: entry.url,
                            detail: format!(
                                "no such object, and manifest {url} marks it mandatory"
                            ),
                        }));
                    }
                    Err(other) => {
                        return Err(Error::Load(blueshift_load::Error::store(&entry.url, other)));
                    }
                }
            }
            return Ok(out);
        }
        let objects = located.list_prefix().await?;
        if objects.is_empty() {
            return Err(Error::Load(blueshift_load::Error::NotFound {
                url: url.to_string(),
                detail: "no object has this prefix".into(),
            }));
        }
        Ok(objects
            .into_iter()
            .map(|m| (located.url_of(&m.location), m.size))
            .collect())
    }

    /// Splits the sources into tasks: whole files, byte ranges of large uncompressed
    /// text/CSV files, row-group sets of large Parquet files.
    async fn copy_tasks(
        &self,
        stmt: &CopyStatement,
        files: Vec<(String, u64)>,
    ) -> Result<Vec<LoadTask>> {
        let split = self.config.copy_split_mb.max(1) << 20;
        // Parquet sizes are compressed: the same amount of rows to convert takes about an
        // eighth of the bytes.
        let parquet_split = (split / 8).max(1);
        let mut tasks = Vec::new();
        for (url, size) in files {
            let whole = |id| LoadTask {
                id,
                url: url.clone(),
                size,
                range: None,
                row_groups: None,
                first_of_file: true,
            };
            // With ESCAPE a newline may be part of a value, so such files are not split.
            let splittable_text = (matches!(stmt.options.format, Format::Csv { .. })
                || (stmt.options.format == Format::Text && !stmt.options.escape))
                && stmt
                    .options
                    .compression
                    .unwrap_or_else(|| blueshift_load::Compression::from_suffix(&url))
                    == blueshift_load::Compression::None;
            if size > split && splittable_text {
                let mut start = 0;
                while start < size {
                    let end = (start + split).min(size);
                    tasks.push(LoadTask {
                        id: tasks.len(),
                        url: url.clone(),
                        size,
                        range: Some((start, end)),
                        row_groups: None,
                        first_of_file: start == 0,
                    });
                    start = end;
                }
            } else if size > parquet_split && stmt.options.format == Format::Parquet {
                let groups = self.parquet_groups(stmt, &url, size).await?;
                let mut current: Vec<usize> = Vec::new();
                let mut current_bytes = 0;
                let mut rows_before = 0;
                let mut first_row = 0;
                for (i, (rows, bytes)) in groups.iter().enumerate() {
                    if current.is_empty() {
                        first_row = rows_before;
                    }
                    current.push(i);
                    current_bytes += bytes;
                    rows_before += rows;
                    if current_bytes >= parquet_split {
                        tasks.push(LoadTask {
                            id: tasks.len(),
                            url: url.clone(),
                            size,
                            range: None,
                            row_groups: Some((std::mem::take(&mut current), first_row)),
                            first_of_file: first_row == 0,
                        });
                        current_bytes = 0;
                    }
                }
                if !current.is_empty() {
                    tasks.push(LoadTask {
                        id: tasks.len(),
                        url: url.clone(),
                        size,
                        range: None,
                        row_groups: Some((current, first_row)),
                        first_of_file: first_row == 0,
                    });
                }
            } else {
                tasks.push(whole(tasks.len()));
            }
        }
        Ok(tasks)
    }

    /// Rows and compressed bytes of each row group of a Parquet file.
    async fn parquet_groups(
        &self,
        stmt: &CopyStatement,
        url: &str,
        size: u64,
    ) -> Result<Vec<(u64, u64)>> {
        let located = self.stores.locate(url, &stmt.access)?;
        #[allow(deprecated)]
        let reader = parquet::arrow::async_reader::ParquetObjectReader::new(
            Arc::clone(&located.store),
            located.path.clone(),
        )
        .with_file_size(size);
        let builder = parquet::arrow::ParquetRecordBatchStreamBuilder::new(reader)
            .await
            .map_err(|e| {
                Error::Load(blueshift_load::Error::Data(format!(
                    "{url}: not a readable Parquet file: {e}"
                )))
            })?;
        Ok(builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| (g.num_rows() as u64, g.compressed_size() as u64))
            .collect())
    }

    async fn copy_from_url(
        &self,
        session: &Session,
        stmt: &CopyStatement,
        url: &str,
        target: Target,
        query: u64,
    ) -> Result<u64> {
        let files = self.copy_sources(stmt, url).await?;
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
        let state = self.catalog.pin();
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
        next.tables.insert(stmt.table.clone(), new_table);
        self.catalog.commit(&guard, next)?;
        drop(running);
        Ok(rows)
    }

    /// For rejects in a range whose earlier ranges did not all report their line counts
    /// (a load stopped by MAXERROR or an error), the lines before the range, counted in
    /// the file itself.
    async fn exact_offsets(
        &self,
        stmt: &CopyStatement,
        tasks: &[LoadTask],
        lines: &BTreeMap<usize, u64>,
        rejects: &[Reject],
    ) -> Result<BTreeMap<usize, u64>> {
        let mut exact = BTreeMap::new();
        for r in rejects {
            let task = &tasks[r.task];
            let Some((start, _)) = task.range else {
                continue;
            };
            let earlier_unknown = tasks.iter().any(|t| {
                t.url == task.url
                    && t.range.is_some_and(|(s, _)| s < start)
                    && !lines.contains_key(&t.id)
            });
            if start == 0 || !earlier_unknown || exact.contains_key(&task.id) {
                continue;
            }
            // The range's first line follows the first newline at or after start - 1.
            let located = self.stores.locate(&task.url, &stmt.access)?;
            let mut bytes = located
                .store
                .get_opts(
                    &located.path,
                    object_store::GetOptions {
                        range: Some((0..start - 1).into()),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| blueshift_load::Error::store(&task.url, e))?
                .into_stream();
            let mut newlines = 0u64;
            while let Some(chunk) = futures::StreamExt::next(&mut bytes).await {
                let chunk = chunk.map_err(|e| blueshift_load::Error::store(&task.url, e))?;
                newlines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            }
            exact.insert(task.id, newlines + 1);
        }
        Ok(exact)
    }

    /// Records rejects in `stl_load_errors`; fails the COPY if they exceed MAXERROR.
    fn check_rejects(
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

    /// Loads the spooled data of a COPY FROM STDIN: read on the leader, written like an
    /// INSERT, committed once.
    pub async fn finish_stdin_copy(&self, session: &Session, pending: PendingCopy) -> Result<u64> {
        let PendingCopy {
            ref stmt,
            ref target,
            query,
            ref path,
            ..
        } = pending;
        let size = std::fs::metadata(path)
            .map_err(|e| Error::Io(format!("cannot read spooled COPY data: {e}")))?
            .len();
        let task = LoadTask {
            id: 0,
            url: path.display().to_string(),
            size,
            range: None,
            row_groups: None,
            first_of_file: true,
        };
        let running = self
            .log
            .loads
            .start(query, session.pid, &stmt.table, 1, 1, size);
        let guard = self.catalog.begin_write().await;
        let state = self.catalog.pin();
        let table = state.table(&stmt.table)?.clone();
        unchanged(&table, target, &stmt.table)?;
        let schema = table.def.schema();
        let (tx, rx) = mpsc::channel(4);
        let stores = Arc::clone(&self.stores);
        let (target, opts) = (target.clone(), stmt.options.clone());
        let progress = Arc::clone(&running.progress);
        let reader = tokio::task::spawn_blocking(move || {
            let mut sink = ChannelSink {
                tx,
                rejects: Vec::new(),
                count: 0,
                max_error: opts.max_error,
                progress,
            };
            let r = blueshift_load::read_task(
                &stores,
                &Access::default(),
                &task,
                &target,
                &opts,
                Arc::new(AtomicU64::new(0)),
                &mut sink,
            );
            if let Err(e) = &r
                && sink.count <= sink.max_error
            {
                let _ = sink
                    .tx
                    .blocking_send(Err(datafusion::error::DataFusionError::External(Box::new(
                        Error::Load(blueshift_load::Error::Data(e.to_string())),
                    ))));
            }
            (r, sink.rejects, sink.count)
        });
        let stream: SendableRecordBatchStream = Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                schema,
                tokio_stream::wrappers::ReceiverStream::new(rx),
            ),
        );
        let written = self.write_rows(&state, &table, stream).await;
        let (read, mut rejects, count) = reader
            .await
            .map_err(|e| Error::Internal(format!("COPY reader failed: {e}")))?;
        for r in &mut rejects {
            r.file = "STDIN".into();
        }
        let checked = self.check_rejects(session, stmt, query, rejects, count);
        let failed = checked.and_then(|_| match (read, written) {
            // The reader stops when the writer does: the writer's error is the cause.
            (Err(_), Err(w)) => Err(w),
            (Err(e), Ok(_)) => Err(Error::Load(stdin_error(e, path))),
            (Ok(_), w) => w,
        });
        let (data, rows) = match failed {
            Ok(w) => w,
            Err(e) => {
                self.collect_garbage(&guard).await;
                return Err(e);
            }
        };
        let mut next = (*state).clone();
        let new_table = self
            .maybe_leave_auto_all(
                &next,
                TableState {
                    def: table.def.clone(),
                    data: Arc::new(data),
                },
                &query.to_string(),
            )
            .await?;
        next.tables.insert(stmt.table.clone(), new_table);
        self.catalog.commit(&guard, next)?;
        *session.last_copy.lock().expect("last copy") = (query as i64, rows as i64);
        drop(running);
        Ok(rows)
    }
}

/// Errors about the spool file speak of STDIN.
fn stdin_error(e: blueshift_load::Error, path: &std::path::Path) -> blueshift_load::Error {
    let text = e.to_string().replace(&path.display().to_string(), "STDIN");
    match e.code() {
        Code::BadCopyData => blueshift_load::Error::Data(text),
        _ => blueshift_load::Error::InvalidOption(text),
    }
}

/// A task's share of the input in bytes, for balancing.
fn task_bytes(t: &LoadTask) -> u64 {
    match t.range {
        Some((s, e)) => e - s,
        None => t.size,
    }
}

/// Lines of a file read as several ranges are numbered from the file's start: a range's
/// offset is the lines of the ranges before it, or, where one of those stopped early (a
/// load that failed), the exact count in `exact`.
fn number_lines(
    tasks: &[LoadTask],
    lines: &BTreeMap<usize, u64>,
    exact: &BTreeMap<usize, u64>,
    rejects: &mut [Reject],
) {
    let mut offset = vec![0u64; tasks.len()];
    let mut by_file: BTreeMap<&str, Vec<&LoadTask>> = BTreeMap::new();
    for t in tasks.iter().filter(|t| t.range.is_some()) {
        by_file.entry(t.url.as_str()).or_default().push(t);
    }
    for ranges in by_file.values_mut() {
        ranges.sort_by_key(|t| t.range.map(|r| r.0));
        let mut before = 0;
        for t in ranges.iter() {
            offset[t.id] = before;
            before += lines.get(&t.id).copied().unwrap_or(0);
        }
    }
    let split: HashSet<usize> = tasks
        .iter()
        .filter(|t| t.range.is_some())
        .map(|t| t.id)
        .collect();
    for (&task, &lines_before) in exact {
        offset[task] = lines_before;
    }
    for r in rejects.iter_mut() {
        if split.contains(&r.task) {
            r.line += offset[r.task];
        }
    }
}

/// Feeds rows read on the leader (STDIN) into the INSERT path.
struct ChannelSink {
    tx: mpsc::Sender<datafusion::error::Result<RecordBatch>>,
    rejects: Vec<Reject>,
    count: u64,
    max_error: u64,
    progress: Arc<crate::load_log::LoadProgress>,
}

impl Sink for ChannelSink {
    fn rows(&mut self, batch: RecordBatch) -> blueshift_load::Result<()> {
        self.progress.add_local_rows(batch.num_rows() as u64);
        self.tx
            .blocking_send(Ok(batch))
            .map_err(|_| blueshift_load::Error::Data("the row writer stopped".into()))
    }

    fn rejects(&mut self, rejects: Vec<Reject>) -> blueshift_load::Result<()> {
        self.count += rejects.len() as u64;
        let room = self
            .max_error
            .saturating_add(1)
            .saturating_sub(self.rejects.len() as u64) as usize;
        self.rejects.extend(rejects.into_iter().take(room));
        if self.count > self.max_error {
            // End the row stream with an error so nothing is written; the caller reports
            // the rejects.
            let _ = self
                .tx
                .blocking_send(Err(datafusion::error::DataFusionError::Execution(format!(
                    "{}MAXERROR exceeded",
                    Code::BadCopyData.tag()
                ))));
            return Err(blueshift_load::Error::Data("MAXERROR exceeded".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_ranges_number_lines_from_the_file_start() {
        let task = |id, range| LoadTask {
            id,
            url: "/f.csv".into(),
            size: 300,
            range: Some(range),
            row_groups: None,
            first_of_file: id == 0,
        };
        let tasks = vec![task(0, (0, 100)), task(1, (100, 200)), task(2, (200, 300))];
        let lines = BTreeMap::from([(0, 10), (1, 12), (2, 9)]);
        let reject = |task, line| Reject {
            file: "/f.csv".into(),
            line,
            task,
            column: String::new(),
            column_type: String::new(),
            raw_value: String::new(),
            code: 0,
            reason: String::new(),
        };
        let mut rejects = vec![reject(0, 3), reject(2, 1), reject(1, 12)];
        number_lines(&tasks, &lines, &BTreeMap::new(), &mut rejects);
        let got: Vec<u64> = rejects.iter().map(|r| r.line).collect();
        assert_eq!(got, vec![3, 23, 22]);
    }
}
