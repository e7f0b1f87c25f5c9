//! The engine: runs one SQL statement for a session. Queries go through DataFusion's planner,
//! then [`stages::distribute`] cuts them into stages that run on the compute nodes; writes
//! stage blocks on the nodes and then commit through the [`Catalog`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::FormatOptions;
use blueshift_compute::{DeleteRowsRequest, IngestRequest};
use blueshift_storage::placement::route_batch;
use blueshift_storage::table::{ColumnDef, ColumnEncoding, DistStyle, SqlType, TableDef};
use blueshift_storage::{BlockTable, ROW_BLOCK, ROW_POS, ROW_SLICE, TableData};
use datafusion::catalog::CatalogProvider;
use datafusion::catalog::MemoryCatalogProvider;
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{DmlStatement, LogicalPlan, LogicalPlanBuilder, WriteOp};
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{self, ObjectType, Statement};
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::catalog::{Catalog, ClusterState, TableState};
use crate::cluster::Cluster;
use crate::config::LeaderConfig;
use crate::error::{Error, Result};
use crate::query_log::QueryLog;
use crate::schema::PinnedSchema;
use crate::sql_split::{StatementText, TableAttributes};
use crate::stages;

/// What a statement produced.
pub enum Output {
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    },
    /// A query's rows, produced as the client reads them.
    Stream(SendableRecordBatchStream),
    Command {
        tag: String,
        rows: Option<u64>,
    },
    /// BEGIN / COMMIT / ROLLBACK, which move the session's transaction status.
    Transaction {
        tag: &'static str,
        start: bool,
    },
    /// COPY FROM STDIN: the client sends the data next (the session holds the pending COPY).
    CopyIn {
        columns: usize,
    },
    Empty,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Rows { batches, .. } => write!(f, "Rows({} batches)", batches.len()),
            Output::Stream(_) => write!(f, "Stream"),
            Output::Command { tag, rows } => write!(f, "Command({tag}, {rows:?})"),
            Output::Transaction { tag, .. } => write!(f, "Transaction({tag})"),
            Output::CopyIn { columns } => write!(f, "CopyIn({columns})"),
            Output::Empty => write!(f, "Empty"),
        }
    }
}

impl Output {
    /// Reads a streamed result to the end (when statements after it must wait for it).
    pub async fn collect(self) -> Result<Output> {
        match self {
            Output::Stream(mut stream) => {
                let schema = stream.schema();
                let mut batches = Vec::new();
                while let Some(b) = stream.next().await {
                    batches.push(b?);
                }
                Ok(Output::Rows { schema, batches })
            }
            other => Ok(other),
        }
    }

    pub fn row_count(&self) -> i64 {
        match self {
            Output::Rows { batches, .. } => batches.iter().map(|b| b.num_rows() as i64).sum(),
            Output::Command { rows, .. } => rows.map_or(0, |r| r as i64),
            _ => 0,
        }
    }
}

pub struct Engine {
    pub catalog: Catalog,
    pub cluster: Arc<Cluster>,
    pub config: LeaderConfig,
    pub log: Arc<QueryLog>,
    /// Object stores for COPY and UNLOAD.
    pub stores: Arc<blueshift_load::Stores>,
    /// Where COPY FROM STDIN spools its input until the client's last byte.
    pub spool_dir: std::path::PathBuf,
}

/// A connection's state: its DataFusion context (with pg_catalog), settings, user.
pub struct Session {
    pub ctx: SessionContext,
    pub(crate) schema: Arc<PinnedSchema>,
    pub user: String,
    pub pid: i32,
    pub settings: std::sync::Mutex<BTreeMap<String, String>>,
    /// Bumped by a cancel request; a running statement watches it.
    pub cancel: tokio::sync::watch::Sender<u64>,
    /// Where NOTICEs of the running statement go (set by the server while it runs one).
    pub notices: std::sync::Mutex<Option<mpsc::UnboundedSender<String>>>,
    /// `pg_last_copy_id()` and `pg_last_copy_count()`.
    pub last_copy: Arc<std::sync::Mutex<(i64, i64)>>,
    /// A COPY FROM STDIN whose data is arriving.
    pub pending_copy: std::sync::Mutex<Option<crate::copy::PendingCopy>>,
}

impl Session {
    /// Sends a NOTICE to the client, if it is listening.
    pub fn notice(&self, message: &str) {
        if let Some(tx) = self.notices.lock().expect("notices").as_ref() {
            let _ = tx.send(message.to_string());
        }
    }
}

impl Engine {
    pub fn new_session(&self, user: &str, pid: i32) -> Result<Session> {
        let total = self.cluster.topology.total_slices() as usize;
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema("dev", "public")
            .with_information_schema(true)
            .with_target_partitions(total.max(1));
        let opts = config.options_mut();
        // Parallelism comes from slices; no round-robin or hash repartitioning inside a plan,
        // so every exchange in a plan is one of our network boundaries.
        opts.optimizer.enable_round_robin_repartition = false;
        opts.optimizer.repartition_aggregations = false;
        opts.optimizer.repartition_joins = false;
        opts.optimizer.repartition_windows = false;
        opts.optimizer.repartition_file_scans = false;
        opts.optimizer.enable_dynamic_filter_pushdown = false;
        opts.optimizer.enable_topk_dynamic_filter_pushdown = false;
        opts.optimizer.enable_join_dynamic_filter_pushdown = false;
        opts.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
        opts.sql_parser.parse_float_as_decimal = true;
        let ctx = SessionContext::new_with_config(config);
        let schema = Arc::new(PinnedSchema::new(self.catalog.pin(), Arc::clone(&self.log)));
        let catalog = MemoryCatalogProvider::new();
        catalog.register_schema("public", Arc::clone(&schema) as _)?;
        ctx.register_catalog("dev", Arc::new(catalog));
        datafusion_pg_catalog::setup_pg_catalog(&ctx, "dev", EmptyContextProvider)
            .map_err(|e| Error::DataFusion(*e))?;
        let last_copy = Arc::new(std::sync::Mutex::new((-1i64, 0i64)));
        for (name, pick) in [("pg_last_copy_id", 0usize), ("pg_last_copy_count", 1)] {
            let last = Arc::clone(&last_copy);
            ctx.register_udf(datafusion::logical_expr::create_udf(
                name,
                vec![],
                DataType::Int64,
                datafusion::logical_expr::Volatility::Volatile,
                Arc::new(move |_args: &[datafusion::logical_expr::ColumnarValue]| {
                    let (id, count) = *last.lock().expect("last copy");
                    let v = if pick == 0 { id } else { count };
                    Ok(datafusion::logical_expr::ColumnarValue::Scalar(
                        datafusion::common::ScalarValue::Int64(Some(v)),
                    ))
                }),
            ));
        }
        Ok(Session {
            notices: std::sync::Mutex::new(None),
            last_copy,
            pending_copy: std::sync::Mutex::new(None),
            ctx,
            schema,
            user: user.to_string(),
            pid,
            settings: std::sync::Mutex::new(BTreeMap::new()),
            cancel: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Parses one statement the way every path does: psql/JDBC compatibility rewrites first.
    pub fn parse(&self, text: &StatementText) -> Result<Option<Statement>> {
        let parser = PostgresCompatibilityParser::new();
        let mut stmts = parser
            .parse(&text.sql)
            .map_err(|e| syntax_error(text, &e.to_string()))?;
        match stmts.len() {
            0 => Ok(None),
            1 => Ok(stmts.pop()),
            _ => Err(Error::syntax("cannot run several statements as one")),
        }
    }

    /// Runs one statement, logging it in `stl_query`.
    pub async fn execute(
        &self,
        session: &Session,
        text: &StatementText,
        params: Option<&ParamValues>,
    ) -> Result<Output> {
        let query_id = self.log.start(session.pid, &session.user, &text.original);
        let result = self.execute_inner(session, text, params, query_id).await;
        match result {
            // A streamed result is logged when the client has read it (or gone away). Its
            // version stays pinned until then: the scans (and pg_catalog's tables, which
            // are built as they are read) still need it.
            Ok(Output::Stream(stream)) => Ok(Output::Stream(Box::pin(
                crate::query_log::LoggedStream::new(
                    stream,
                    Arc::clone(&self.log),
                    query_id,
                    Arc::clone(&session.schema),
                ),
            ))),
            other => {
                // The version is released as soon as nothing reads it any more.
                session.schema.unpin();
                self.log.finish(
                    query_id,
                    match &other {
                        Ok(o) => Ok(o.row_count()),
                        Err(e) => Err(e.user_message()),
                    },
                );
                other
            }
        }
    }

    async fn execute_inner(
        &self,
        session: &Session,
        text: &StatementText,
        params: Option<&ParamValues>,
        query_id: u64,
    ) -> Result<Output> {
        match crate::copy_sql::kind(&text.sql) {
            Some("COPY") => {
                session.schema.pin(self.catalog.pin());
                return self.copy(session, &text.sql, query_id).await;
            }
            Some("UNLOAD") => {
                session.schema.pin(self.catalog.pin());
                return self.unload(session, &text.sql, query_id).await;
            }
            _ => {}
        }
        let Some(stmt) = self.parse(text)? else {
            return Ok(Output::Empty);
        };
        reject_row_id_columns(text)?;
        session.schema.pin(self.catalog.pin());
        let qid = query_id.to_string();
        match stmt {
            Statement::CreateTable(ct) => {
                self.create_table(
                    session,
                    ct,
                    text.attributes.clone().unwrap_or_default(),
                    &qid,
                )
                .await
            }
            Statement::Drop {
                object_type: ObjectType::Table,
                if_exists,
                names,
                ..
            } => self.drop_tables(session, &names, if_exists).await,
            Statement::Truncate(t) => {
                let names: Vec<ast::ObjectName> =
                    t.table_names.into_iter().map(|t| t.name).collect();
                self.truncate(session, &names).await
            }
            Statement::Insert(_) | Statement::Delete(_) | Statement::Update(_) => {
                self.dml(session, stmt, params, &qid).await
            }
            Statement::Explain {
                analyze, statement, ..
            } => {
                self.explain(session, *statement, analyze, params, &qid)
                    .await
            }
            Statement::StartTransaction { .. } => Ok(Output::Transaction {
                tag: "BEGIN",
                start: true,
            }),
            Statement::Commit { .. } => Ok(Output::Transaction {
                tag: "COMMIT",
                start: false,
            }),
            Statement::Rollback { .. } => Ok(Output::Transaction {
                tag: "ROLLBACK",
                start: false,
            }),
            Statement::Set(set) => Ok(self.set(session, set)),
            Statement::ShowVariable { variable } => Ok(self.show(session, &variable)),
            Statement::Query(ref query) => {
                let query = query.clone();
                let plan = self.plan(session, stmt, params).await?;
                let stream = self.stream(session, &plan, &qid).await?;
                let schema = postgres_column_names(&query, &stream.schema());
                let renamed = Arc::clone(&schema);
                let batches = stream.map(move |b| {
                    let b = b?;
                    let options =
                        arrow::array::RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
                    Ok(RecordBatch::try_new_with_options(
                        Arc::clone(&renamed),
                        b.columns().to_vec(),
                        &options,
                    )?)
                });
                Ok(Output::Stream(Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        schema, batches,
                    ),
                )))
            }
            other => Err(Error::NotSupported(format!(
                "statement not supported: {}",
                other
                    .to_string()
                    .split_whitespace()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
        }
    }

    /// Plans a statement to a DataFusion logical plan, with parameters bound if given.
    pub async fn plan(
        &self,
        session: &Session,
        stmt: Statement,
        params: Option<&ParamValues>,
    ) -> Result<LogicalPlan> {
        let plan = session
            .ctx
            .state()
            .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
            .await?;
        Ok(match params {
            Some(p) => plan.with_param_values(p.clone())?,
            None => plan,
        })
    }

    /// Parameter types and result columns of a statement, for the extended protocol.
    pub async fn describe(
        &self,
        session: &Session,
        text: &StatementText,
    ) -> Result<(Vec<Option<DataType>>, Option<SchemaRef>)> {
        if crate::copy_sql::kind(&text.sql).is_some() {
            return Ok((vec![], None));
        }
        let Some(stmt) = self.parse(text)? else {
            return Ok((vec![], None));
        };
        reject_row_id_columns(text)?;
        session.schema.pin(self.catalog.pin());
        let query = match &stmt {
            Statement::Query(q) => Some(q.clone()),
            _ => None,
        };
        let returns_rows = query.is_some();
        match stmt {
            Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Delete(_)
            | Statement::Update(_) => {
                let is_dml = !returns_rows;
                if is_dml {
                    session.schema.set_row_ids_for(dml_target(&stmt));
                }
                let plan = self.plan(session, stmt, None).await;
                session.schema.set_row_ids_for(None);
                session.schema.unpin();
                let plan = plan?;
                let types = plan.get_parameter_types()?;
                let mut ordered: Vec<(usize, Option<DataType>)> = types
                    .into_iter()
                    .filter_map(|(k, v)| {
                        k.trim_start_matches('$')
                            .parse::<usize>()
                            .ok()
                            .map(|i| (i, v))
                    })
                    .collect();
                ordered.sort_by_key(|(i, _)| *i);
                let n = ordered.last().map_or(0, |(i, _)| *i);
                let mut params = vec![None; n];
                for (i, t) in ordered {
                    params[i - 1] = t;
                }
                let schema = query.map(|q| {
                    postgres_column_names(&q, &Arc::new(plan.schema().as_arrow().clone()))
                });
                Ok((params, schema))
            }
            Statement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|v| v.value.clone())
                    .collect::<Vec<_>>()
                    .join("_");
                Ok((
                    vec![],
                    Some(Arc::new(Schema::new(vec![Field::new(
                        name,
                        DataType::Utf8,
                        true,
                    )]))),
                ))
            }
            Statement::Explain { .. } => Ok((vec![], Some(explain_schema()))),
            _ => Ok((vec![], None)),
        }
    }

    pub(crate) async fn physical(
        &self,
        session: &Session,
        plan: &LogicalPlan,
        qid: &str,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let physical = session.ctx.state().create_physical_plan(plan).await?;
        Ok(stages::distribute(physical, &self.cluster, qid)?)
    }

    async fn stream(
        &self,
        session: &Session,
        plan: &LogicalPlan,
        qid: &str,
    ) -> Result<SendableRecordBatchStream> {
        let physical = self.physical(session, plan, qid).await?;
        Ok(execute_stream(physical, session.ctx.task_ctx())?)
    }

    // ---- DDL ----

    async fn create_table(
        &self,
        session: &Session,
        ct: ast::CreateTable,
        attrs: TableAttributes,
        qid: &str,
    ) -> Result<Output> {
        let name = table_name(&ct.name)?;
        let guard = self.catalog.begin_write().await;
        let state = self.catalog.pin();
        if state.tables.contains_key(&name) {
            if ct.if_not_exists {
                return Ok(Output::Command {
                    tag: "CREATE TABLE".into(),
                    rows: None,
                });
            }
            return Err(Error::DuplicateTable(name));
        }
        let mut next = (*state).clone();
        let id = next.next_table_id;
        next.next_table_id += 1;
        let (columns, source) = match &ct.query {
            None => {
                if ct.columns.is_empty() {
                    return Err(Error::syntax("CREATE TABLE needs columns or AS query"));
                }
                let columns = ct
                    .columns
                    .iter()
                    .map(column_def)
                    .collect::<Result<Vec<_>>>()?;
                (columns, None)
            }
            Some(query) => {
                session.schema.pin(Arc::clone(&state));
                let plan = self
                    .plan(session, Statement::Query(query.clone()), None)
                    .await?;
                // Columns are named as a query result would be (`count`, not `count(*)`).
                let named =
                    postgres_column_names(query, &Arc::new(plan.schema().as_arrow().clone()));
                let columns = named
                    .fields()
                    .iter()
                    .map(|f| {
                        let sql_type = SqlType::from_arrow(f.data_type()).ok_or_else(|| {
                            Error::NotSupported(format!(
                                "column \"{}\" has unsupported type {}",
                                f.name(),
                                f.data_type()
                            ))
                        })?;
                        Ok(ColumnDef {
                            name: f.name().clone(),
                            sql_type,
                            nullable: true,
                            encoding: None,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                (columns, Some(plan))
            }
        };
        let def = table_def(id, name.clone(), columns, &attrs)?;
        let mut table = TableState {
            def,
            data: Arc::new(TableData::default()),
        };
        let mut rows = None;
        if let Some(plan) = source {
            let stream = self.stream(session, &plan, qid).await?;
            let (data, n) = self.write_rows(&next, &table, stream).await?;
            table.data = Arc::new(data);
            table = self.maybe_leave_auto_all(&next, table, qid).await?;
            rows = Some(n);
        }
        next.tables.insert(name, table);
        self.catalog.commit(&guard, next)?;
        Ok(match rows {
            Some(n) => Output::Command {
                tag: "SELECT".into(),
                rows: Some(n),
            },
            None => Output::Command {
                tag: "CREATE TABLE".into(),
                rows: None,
            },
        })
    }

    async fn drop_tables(
        &self,
        session: &Session,
        names: &[ast::ObjectName],
        if_exists: bool,
    ) -> Result<Output> {
        let guard = self.catalog.begin_write().await;
        let mut next = (*self.catalog.pin()).clone();
        for n in names {
            let name = table_name(n)?;
            if next.tables.remove(&name).is_none() && !if_exists {
                return Err(Error::UndefinedTable(name));
            }
        }
        self.catalog.commit(&guard, next)?;
        session.schema.unpin();
        self.collect_garbage(&guard).await;
        Ok(Output::Command {
            tag: "DROP TABLE".into(),
            rows: None,
        })
    }

    async fn truncate(&self, session: &Session, names: &[ast::ObjectName]) -> Result<Output> {
        let guard = self.catalog.begin_write().await;
        let mut next = (*self.catalog.pin()).clone();
        for n in names {
            let name = table_name(n)?;
            let t = next
                .tables
                .get_mut(&name)
                .ok_or_else(|| Error::UndefinedTable(name.clone()))?;
            if t.def.dist_style == DistStyle::AutoEven {
                t.def.dist_style = DistStyle::AutoAll;
            }
            t.data = Arc::new(TableData::default());
        }
        self.catalog.commit(&guard, next)?;
        session.schema.unpin();
        self.collect_garbage(&guard).await;
        Ok(Output::Command {
            tag: "TRUNCATE TABLE".into(),
            rows: None,
        })
    }

    /// Removes files no version in use names (dropped or truncated tables), while the write
    /// lock keeps any new write from staging files meanwhile. The statement has committed,
    /// so a failure here is only logged; start-up collection catches what is left.
    pub(crate) async fn collect_garbage(&self, _guard: &tokio::sync::MutexGuard<'_, ()>) {
        match self.cluster.gc(&self.catalog.files_in_use()).await {
            Ok(n) => tracing::debug!(removed = n, "collected garbage"),
            Err(e) => tracing::warn!("garbage collection: {e}"),
        }
    }

    // ---- DML ----

    async fn dml(
        &self,
        session: &Session,
        stmt: Statement,
        params: Option<&ParamValues>,
        qid: &str,
    ) -> Result<Output> {
        let guard = self.catalog.begin_write().await;
        let state = self.catalog.pin();
        session.schema.pin(Arc::clone(&state));
        let target = dml_target(&stmt);
        let is_insert = matches!(stmt, Statement::Insert(_));
        if !is_insert {
            session.schema.set_row_ids_for(target.clone());
        }
        let plan = self.plan(session, stmt, params).await;
        session.schema.set_row_ids_for(None);
        let LogicalPlan::Dml(DmlStatement {
            table_name,
            op,
            input,
            ..
        }) = plan?
        else {
            return Err(Error::NotSupported("unsupported data modification".into()));
        };
        let name = table_name.table().to_string();
        let table = state.table(&name)?.clone();
        let mut next = (*state).clone();
        let (tag, rows, new_table) = match op {
            WriteOp::Insert(_) => {
                let stream = self.stream(session, &input, qid).await?;
                let (data, n) = self.write_rows(&next, &table, stream).await?;
                let t = TableState {
                    def: table.def.clone(),
                    data: Arc::new(data),
                };
                ("INSERT", n, self.maybe_leave_auto_all(&next, t, qid).await?)
            }
            WriteOp::Delete => {
                let ids = self.row_ids_of(session, &input, qid, &[]).await?;
                let n = ids.rows;
                let data = self.apply_deletes(&table, ids.positions).await?;
                (
                    "DELETE",
                    n,
                    TableState {
                        def: table.def.clone(),
                        data: Arc::new(data),
                    },
                )
            }
            WriteOp::Update => {
                let ncols = table.def.columns.len();
                let ids = self
                    .row_ids_of(session, &input, qid, &(0..ncols).collect::<Vec<_>>())
                    .await?;
                let n = ids.rows;
                let data = self.apply_deletes(&table, ids.positions).await?;
                let deleted = TableState {
                    def: table.def.clone(),
                    data: Arc::new(data),
                };
                let schema = table.def.schema();
                let batches = ids.values;
                let stream: SendableRecordBatchStream = Box::pin(
                    datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
                        Arc::clone(&schema),
                        futures::stream::iter(batches.into_iter().map(Ok)),
                    ),
                );
                let (data, _) = self.write_rows(&next, &deleted, stream).await?;
                (
                    "UPDATE",
                    n,
                    TableState {
                        def: table.def.clone(),
                        data: Arc::new(data),
                    },
                )
            }
            other => return Err(Error::NotSupported(format!("{other} is not supported"))),
        };
        next.tables.insert(name, new_table);
        self.catalog.commit(&guard, next)?;
        Ok(Output::Command {
            tag: tag.into(),
            rows: Some(rows),
        })
    }

    /// Runs the DELETE/UPDATE input plan and collects the row ids it selects (and, for
    /// UPDATE, the new values of each table column).
    async fn row_ids_of(
        &self,
        session: &Session,
        input: &LogicalPlan,
        qid: &str,
        value_cols: &[usize],
    ) -> Result<RowIds> {
        let mut stream = self.stream(session, input, qid).await?;
        let schema = stream.schema();
        let idx = |n: &str| schema.index_of(n).map_err(|e| Error::DataFusion(e.into()));
        let (si, bi, ri) = (idx(ROW_SLICE)?, idx(ROW_BLOCK)?, idx(ROW_POS)?);
        let mut out = RowIds::default();
        let mut seen = std::collections::HashSet::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            let slices = batch
                .column(si)
                .as_primitive::<arrow::datatypes::Int32Type>();
            let blocks = batch
                .column(bi)
                .as_primitive::<arrow::datatypes::Int32Type>();
            let rows = batch
                .column(ri)
                .as_primitive::<arrow::datatypes::Int64Type>();
            // A row matched twice (UPDATE ... FROM with a fan-out join) is changed once.
            let mut first = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                let id = (
                    slices.value(i) as u32,
                    blocks.value(i) as u32,
                    rows.value(i) as u64,
                );
                let new = seen.insert(id);
                if new {
                    out.positions.entry((id.0, id.1)).or_default().push(id.2);
                    out.rows += 1;
                }
                first.push(new);
            }
            if !value_cols.is_empty() {
                let keep = arrow::array::BooleanArray::from(first);
                out.values.push(arrow::compute::filter_record_batch(
                    &batch.project(value_cols)?,
                    &keep,
                )?);
            }
        }
        Ok(out)
    }

    async fn apply_deletes(
        &self,
        table: &TableState,
        positions: HashMap<(u32, u32), Vec<u64>>,
    ) -> Result<TableData> {
        let mut data = (*table.data).clone();
        let topo = self.cluster.topology;
        for ((slice, block), rows) in positions {
            // A DISTSTYLE ALL table has identical blocks on every node's copy slice.
            let targets: Vec<u32> = if table.def.dist_style.is_all() {
                (0..topo.nodes).map(|n| topo.all_copy_slice(n)).collect()
            } else {
                vec![slice]
            };
            for target in targets {
                let manifest = data.slices.get_mut(&target).ok_or_else(|| {
                    Error::Io(format!(
                        "slice {target} of table {} has no manifest",
                        table.def.name
                    ))
                })?;
                let meta = manifest.blocks.get_mut(block as usize).ok_or_else(|| {
                    Error::Io(format!(
                        "block #{block} is not in slice {target} of table {}",
                        table.def.name
                    ))
                })?;
                let dv = self
                    .cluster
                    .client_for_slice(target)
                    .delete_rows(&DeleteRowsRequest {
                        slice: target,
                        block: meta.clone(),
                        rows: rows.clone(),
                    })
                    .await?;
                meta.deletes = Some(dv);
            }
        }
        Ok(data)
    }

    /// Streams rows into staged blocks on their slices and returns the table's next data
    /// (old blocks plus the new ones) without committing it.
    pub(crate) async fn write_rows(
        &self,
        state: &ClusterState,
        table: &TableState,
        mut stream: SendableRecordBatchStream,
    ) -> Result<(TableData, u64)> {
        let def = &table.def;
        let schema = def.schema();
        let mut data = (*table.data).clone();
        let mut senders: HashMap<u32, mpsc::Sender<blueshift_compute::Result<RecordBatch>>> =
            HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut total = 0u64;
        let mut failure: Option<Error> = None;
        'rows: while let Some(batch) = stream.next().await {
            let batch = match batch
                .map_err(Error::from)
                .and_then(|b| conform_batch(def, &schema, &b))
            {
                Ok(b) => b,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            total += batch.num_rows() as u64;
            for (slice, part) in route_batch(def, &state.topology, &batch, &mut data.even_cursor)? {
                let tx = senders.entry(slice).or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(4);
                    let client = self.cluster.client_for_slice(slice).clone();
                    let req = IngestRequest {
                        table: def.clone(),
                        slice,
                    };
                    let schema = Arc::clone(&schema);
                    tasks.spawn(async move {
                        let rows = tokio_stream_from(rx);
                        (slice, client.ingest(&req, schema, rows).await)
                    });
                    tx
                });
                if tx.send(Ok(part)).await.is_err() {
                    // An ingest task ended early (node lost): stop reading the source; the
                    // task's error is collected below.
                    break 'rows;
                }
            }
        }
        if let Some(e) = failure {
            // Aborting the ingest calls cancels their streams; the nodes see no end marker and
            // answer with an error, and whatever they staged is never committed.
            drop(senders);
            tasks.abort_all();
            return Err(e);
        }
        drop(senders);
        let mut first_err = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((slice, Ok(resp))) => data
                    .slices
                    .entry(slice)
                    .or_default()
                    .blocks
                    .extend(resp.blocks),
                Ok((_, Err(e))) => {
                    first_err.get_or_insert(Error::from(e));
                }
                Err(e) => {
                    first_err.get_or_insert(Error::Io(format!("ingest task failed: {e}")));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        Ok((data, total))
    }

    /// DISTSTYLE AUTO starts as ALL; once the table outgrows `auto_all_max_rows` its rows are
    /// redistributed EVEN (in the same commit as the write that made it grow).
    pub(crate) async fn maybe_leave_auto_all(
        &self,
        state: &ClusterState,
        table: TableState,
        qid: &str,
    ) -> Result<TableState> {
        if table.def.dist_style != DistStyle::AutoAll
            || table.data.logical_rows(true) <= self.config.auto_all_max_rows
        {
            return Ok(table);
        }
        let source = BlockTable::new(table.def.clone(), Arc::clone(&table.data), state.topology);
        let ctx = SessionContext::new();
        let plan = LogicalPlanBuilder::scan(
            table.def.name.clone(),
            datafusion::datasource::provider_as_source(Arc::new(source)),
            None,
        )?
        .build()?;
        let physical = ctx.state().create_physical_plan(&plan).await?;
        let physical = stages::distribute(physical, &self.cluster, qid)?;
        let stream = execute_stream(physical, ctx.task_ctx())?;
        let mut def = table.def.clone();
        def.dist_style = DistStyle::AutoEven;
        let empty = TableState {
            def: def.clone(),
            data: Arc::new(TableData::default()),
        };
        let (data, _) = self.write_rows(state, &empty, stream).await?;
        Ok(TableState {
            def,
            data: Arc::new(data),
        })
    }

    // ---- EXPLAIN, SET, SHOW ----

    async fn explain(
        &self,
        session: &Session,
        stmt: Statement,
        analyze: bool,
        params: Option<&ParamValues>,
        qid: &str,
    ) -> Result<Output> {
        if !matches!(stmt, Statement::Query(_)) {
            return Err(Error::NotSupported("EXPLAIN supports queries".into()));
        }
        let plan = self.plan(session, stmt, params).await?;
        let physical = self.physical(session, &plan, qid).await?;
        if analyze {
            let mut stream = execute_stream(Arc::clone(&physical), session.ctx.task_ctx())?;
            while let Some(b) = stream.next().await {
                b?;
            }
        }
        let lines = stages::explain(&physical, &self.cluster, analyze);
        let schema = explain_schema();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(lines)) as ArrayRef],
        )?;
        Ok(Output::Rows {
            schema,
            batches: vec![batch],
        })
    }

    fn set(&self, session: &Session, set: ast::Set) -> Output {
        let mut settings = session.settings.lock().expect("settings");
        match set {
            ast::Set::SingleAssignment {
                variable, values, ..
            } => {
                let value = values
                    .iter()
                    .map(|v| v.to_string().trim_matches('\'').to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                settings.insert(variable.to_string().to_lowercase(), value);
            }
            ast::Set::SetTimeZone { value, .. } => {
                settings.insert(
                    "timezone".into(),
                    value.to_string().trim_matches('\'').to_string(),
                );
            }
            _ => {}
        }
        Output::Command {
            tag: "SET".into(),
            rows: None,
        }
    }

    fn show(&self, session: &Session, variable: &[ast::Ident]) -> Output {
        let name = variable
            .iter()
            .map(|v| v.value.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ");
        let settings = session.settings.lock().expect("settings");
        let value = settings
            .get(&name)
            .cloned()
            .unwrap_or_else(|| match name.as_str() {
                "server_version" => "15.0 (Blueshift)".into(),
                "search_path" => "$user, public".into(),
                "timezone" | "time zone" => "UTC".into(),
                "datestyle" => "ISO, MDY".into(),
                "client_encoding" | "server_encoding" => "UTF8".into(),
                "transaction isolation level" | "transaction_isolation" => "serializable".into(),
                "standard_conforming_strings" => "on".into(),
                "integer_datetimes" => "on".into(),
                "max_identifier_length" => "127".into(),
                _ => String::new(),
            });
        let schema = Arc::new(Schema::new(vec![Field::new(
            name.replace(' ', "_"),
            DataType::Utf8,
            true,
        )]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(vec![value])) as ArrayRef],
        )
        .expect("one column");
        Output::Rows {
            schema,
            batches: vec![batch],
        }
    }
}

/// Names result columns the way PostgreSQL does: an unaliased function call is named after
/// the function (`count`, `sum`), a CASE `case`, any other unaliased expression `?column?`.
/// DataFusion names them after their whole text (`count(*)`, `sum(t.x)`).
pub fn postgres_column_names(query: &ast::Query, schema: &SchemaRef) -> SchemaRef {
    let mut body = query.body.as_ref();
    let select = loop {
        match body {
            ast::SetExpr::Select(s) => break s,
            ast::SetExpr::SetOperation { left, .. } => body = left,
            ast::SetExpr::Query(q) => body = q.body.as_ref(),
            _ => return Arc::clone(schema),
        }
    };
    if select.projection.len() != schema.fields().len() {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&select.projection)
        .map(|(f, item)| match item {
            ast::SelectItem::UnnamedExpr(e) => match postgres_name(e) {
                Some(name) => f.as_ref().clone().with_name(name),
                None => f.as_ref().clone(),
            },
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// PostgreSQL's name for an unaliased expression; `None` keeps DataFusion's (plain columns).
fn postgres_name(e: &ast::Expr) -> Option<String> {
    use ast::Expr as E;
    match e {
        E::Identifier(_) | E::CompoundIdentifier(_) => None,
        E::Nested(inner) => postgres_name(inner),
        E::Cast { expr, .. } => match expr.as_ref() {
            E::Identifier(i) => Some(i.value.to_lowercase()),
            E::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_lowercase()),
            other => postgres_name(other),
        },
        E::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.to_lowercase()),
        E::Case { .. } => Some("case".into()),
        E::Extract { .. } => Some("extract".into()),
        _ => Some("?column?".into()),
    }
}

#[derive(Default)]
struct RowIds {
    rows: u64,
    /// (slice, block position in the slice manifest) → row positions.
    positions: HashMap<(u32, u32), Vec<u64>>,
    values: Vec<RecordBatch>,
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn explain_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "QUERY PLAN",
        DataType::Utf8,
        false,
    )]))
}

fn syntax_error(text: &StatementText, message: &str) -> Error {
    // sqlparser reports "... at Line: L, Column: C"; turn that into a character position.
    let position = message
        .rfind("Line: ")
        .and_then(|i| {
            let rest = &message[i + 6..];
            let (line, rest) = rest.split_once(", Column: ")?;
            let col: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let loc = datafusion::sql::sqlparser::tokenizer::Location {
                line: line.trim().parse().ok()?,
                column: col.parse().ok()?,
            };
            Some(crate::sql_split::char_position(&text.sql, loc) + text.offset)
        })
        // "found: EOF" has no location: point just past the statement, as PostgreSQL does.
        .or_else(|| {
            message
                .contains("EOF")
                .then(|| text.offset + text.original.chars().count() + 1)
        });
    let message = message
        .trim_start_matches("sql parser error: ")
        .split(" at Line: ")
        .next()
        .unwrap_or(message)
        .to_string();
    Error::Syntax {
        message: format!("syntax error: {message}"),
        position,
    }
}

/// The row-id columns exist only while planning DELETE/UPDATE; users cannot name them.
fn reject_row_id_columns(text: &StatementText) -> Result<()> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    // Identifiers only: a string literal may well contain the prefix.
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, &text.sql)
        .tokenize()
        .map_err(|e| Error::syntax(e.message))?;
    match tokens.iter().find_map(|t| match t {
        Token::Word(w) if w.value.to_lowercase().starts_with("__bs_") => Some(w.value.clone()),
        _ => None,
    }) {
        Some(column) => Err(Error::UndefinedColumn { column }),
        None => Ok(()),
    }
}

fn dml_target(stmt: &Statement) -> Option<String> {
    match stmt {
        Statement::Delete(d) => {
            let tables = match &d.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
            };
            tables.first().and_then(|t| match &t.relation {
                ast::TableFactor::Table { name, .. } => table_name(name).ok(),
                _ => None,
            })
        }
        Statement::Update(u) => match &u.table.relation {
            ast::TableFactor::Table { name, .. } => table_name(name).ok(),
            _ => None,
        },
        _ => None,
    }
}

pub fn table_name(name: &ast::ObjectName) -> Result<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        })
        .collect();
    match parts.as_slice() {
        [t] => Ok(t.clone()),
        [s, t] if s == "public" => Ok(t.clone()),
        [d, s, t] if d == "dev" && s == "public" => Ok(t.clone()),
        _ => Err(Error::UndefinedTable(name.to_string())),
    }
}

fn column_def(c: &ast::ColumnDef) -> Result<ColumnDef> {
    let mut nullable = true;
    for opt in &c.options {
        match &opt.option {
            ast::ColumnOption::NotNull => nullable = false,
            ast::ColumnOption::Null => nullable = true,
            ast::ColumnOption::PrimaryKey(_) => nullable = false,
            ast::ColumnOption::Unique(_) => {}
            other => {
                return Err(Error::NotSupported(format!(
                    "column option {other} is not supported (column \"{}\")",
                    c.name.value
                )));
            }
        }
    }
    Ok(ColumnDef {
        name: if c.name.quote_style.is_some() {
            c.name.value.clone()
        } else {
            c.name.value.to_lowercase()
        },
        sql_type: sql_type(&c.data_type.to_string())?,
        nullable,
        encoding: None,
    })
}

/// Reads a declared type the way Redshift does (VARCHAR = VARCHAR(256), TEXT = VARCHAR(256),
/// CHAR = CHAR(1), DECIMAL = DECIMAL(18,0)).
pub fn sql_type(declared: &str) -> Result<SqlType> {
    let t = declared.trim().to_uppercase();
    let (base, args) = match t.find('(') {
        Some(i) => (
            t[..i].trim().to_string(),
            Some(t[i + 1..].trim_end_matches(')').to_string()),
        ),
        None => (t.clone(), None),
    };
    let nums: Vec<u32> = args
        .as_deref()
        .map(|a| a.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_default();
    let len = |default: u32| -> Result<u32> {
        let n = match args.as_deref().map(str::trim) {
            None => default,
            // Redshift's VARCHAR(MAX) is its longest VARCHAR.
            Some(a) if a.eq_ignore_ascii_case("MAX") => 65535,
            Some(a) => a.parse().map_err(|_| {
                Error::InvalidInput(format!("invalid length {a:?} for type {base}"))
            })?,
        };
        if n == 0 || n > 65535 {
            return Err(Error::InvalidInput(format!(
                "length for type {base} must be between 1 and 65535"
            )));
        }
        Ok(n)
    };
    Ok(match base.as_str() {
        "SMALLINT" | "INT2" => SqlType::SmallInt,
        "INTEGER" | "INT" | "INT4" => SqlType::Integer,
        "BIGINT" | "INT8" => SqlType::BigInt,
        "DECIMAL" | "NUMERIC" | "DEC" => {
            let precision = nums.first().copied().unwrap_or(18);
            let scale = nums.get(1).copied().unwrap_or(0);
            if !(1..=38).contains(&precision) || scale > precision {
                return Err(Error::InvalidInput(format!(
                    "invalid DECIMAL({precision},{scale})"
                )));
            }
            SqlType::Decimal {
                precision: precision as u8,
                scale: scale as i8,
            }
        }
        "REAL" | "FLOAT4" => SqlType::Real,
        "DOUBLE PRECISION" | "DOUBLE" | "FLOAT8" | "FLOAT" => SqlType::Double,
        "BOOLEAN" | "BOOL" => SqlType::Boolean,
        "CHAR" | "CHARACTER" | "NCHAR" | "BPCHAR" => SqlType::Char(len(1)?),
        "VARCHAR" | "CHARACTER VARYING" | "NVARCHAR" => SqlType::Varchar(len(256)?),
        "TEXT" => SqlType::Varchar(256),
        "DATE" => SqlType::Date,
        "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => SqlType::Timestamp,
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => SqlType::TimestampTz,
        _ => {
            return Err(Error::NotSupported(format!(
                "type {declared} is not supported"
            )));
        }
    })
}

fn table_def(
    id: u64,
    name: String,
    mut columns: Vec<ColumnDef>,
    attrs: &TableAttributes,
) -> Result<TableDef> {
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].iter().any(|other| other.name == c.name) {
            return Err(Error::DuplicateColumn(c.name.clone()));
        }
    }
    let find = |columns: &[ColumnDef], c: &str| {
        columns
            .iter()
            .position(|col| col.name == c)
            .ok_or_else(|| Error::UndefinedColumn {
                column: c.to_string(),
            })
    };
    for (col, enc) in &attrs.encodings {
        let i = find(&columns, col)?;
        columns[i].encoding = Some(ColumnEncoding::parse(enc).ok_or_else(|| {
            Error::InvalidInput(format!("unknown ENCODE {enc} for column \"{col}\""))
        })?);
    }
    let dist_key = attrs
        .distkey
        .as_deref()
        .map(|c| find(&columns, c))
        .transpose()?;
    let dist_style = match (attrs.diststyle.as_deref(), dist_key) {
        (Some("KEY"), Some(_)) | (None, Some(_)) => DistStyle::Key,
        (Some("KEY"), None) => {
            return Err(Error::InvalidInput("DISTSTYLE KEY needs a DISTKEY".into()));
        }
        (Some(other), Some(_)) => {
            return Err(Error::InvalidInput(format!(
                "DISTKEY cannot be used with DISTSTYLE {other}"
            )));
        }
        (Some("EVEN"), None) => DistStyle::Even,
        (Some("ALL"), None) => DistStyle::All,
        (Some("AUTO"), None) | (None, None) => DistStyle::AutoAll,
        (Some(other), None) => {
            return Err(Error::InvalidInput(format!("unknown DISTSTYLE {other}")));
        }
    };
    let sort_key = attrs
        .sortkey
        .iter()
        .map(|c| find(&columns, c))
        .collect::<Result<Vec<_>>>()?;
    Ok(TableDef {
        id,
        name,
        columns,
        dist_style,
        dist_key,
        sort_key,
    })
}

/// Casts a batch to the table's column types and checks lengths and NOT NULL.
fn conform_batch(def: &TableDef, schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    if batch.num_columns() != def.columns.len() {
        return Err(Error::InvalidInput(format!(
            "INSERT has {} expressions but table \"{}\" has {} columns",
            batch.num_columns(),
            def.name,
            def.columns.len()
        )));
    }
    let opts = CastOptions {
        safe: false,
        format_options: FormatOptions::default(),
    };
    let mut columns = Vec::with_capacity(def.columns.len());
    for (col, array) in def.columns.iter().zip(batch.columns()) {
        let target = col.sql_type.arrow_type();
        let array = if array.data_type() == &target {
            Arc::clone(array)
        } else {
            cast_with_options(array, &target, &opts)?
        };
        if !col.nullable && array.null_count() > 0 {
            return Err(Error::NotNull(col.name.clone()));
        }
        if let Some(limit) = col.sql_type.max_len() {
            let strings = array.as_string::<i32>();
            let too_long = strings.iter().flatten().any(|s| {
                // Redshift limits VARCHAR(n) in bytes; CHAR(n) trailing blanks don't count.
                let s = if matches!(col.sql_type, SqlType::Char(_)) {
                    s.trim_end_matches(' ')
                } else {
                    s
                };
                s.len() > limit as usize
            });
            if too_long {
                return Err(Error::ValueTooLong { limit });
            }
        }
        columns.push(array);
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

impl Drop for Session {
    /// pg_catalog's tables refer back to the session's catalog list, which holds them: the
    /// cycle is cut here so a closed connection frees its context.
    fn drop(&mut self) {
        if let Some(catalog) = self.ctx.catalog("dev") {
            for name in catalog.schema_names() {
                let _ = catalog.deregister_schema(&name, true);
            }
        }
    }
}
