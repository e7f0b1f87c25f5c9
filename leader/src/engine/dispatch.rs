//! One statement from text to its output: parse (with psql/JDBC compatibility rewrites),
//! dispatch by kind, plan with DataFusion and cut into stages; EXPLAIN; extended-protocol
//! descriptions.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use blueshift_compute::memory::name_out_of_memory;
use datafusion::common::ParamValues;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{self, ObjectType, Statement};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{StreamExt, TryStreamExt};

use super::dml::dml_target;
use super::*;
use crate::error::{Error, Result};
use crate::sql_split::StatementText;
use crate::stages;

/// How a plan joins on equal keys: DataFusion's hash joins, or merge joins over sorted
/// sides (which spill, through their sorts, where a hash join's build side cannot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinMethod {
    Hash,
    SortMerge,
}

impl JoinMethod {
    /// Hash joins, unless the session set PostgreSQL's `enable_hashjoin` off.
    fn preferred(session: &Session) -> JoinMethod {
        let setting = super::settings::setting(&session.settings, "enable_hashjoin");
        match setting.to_ascii_lowercase().as_str() {
            "off" | "false" | "0" | "no" => JoinMethod::SortMerge,
            _ => JoinMethod::Hash,
        }
    }
}

/// Whether a query failed because a hash join's build side outgrew a memory limit.
fn hash_join_out_of_memory(e: &datafusion::error::DataFusionError) -> bool {
    blueshift_storage::CodedError::find(e).is_some_and(|c| {
        c.code == blueshift_storage::Code::OutOfMemory && c.message.contains("for HashJoinInput")
    })
}

/// How long a failed query's error waits for its run to stop on the nodes.
const CANCEL_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Stops a run on every node, waiting for it up to [`CANCEL_WAIT`]: a node that does not
/// answer (the one that failed, say) must not hold an error back. The cancel is a task of
/// its own, so it finishes even if this wait is given up (the statement cancelled).
async fn stop_and_wait(cluster: &Arc<blueshift_compute::Peers>, run: String) {
    if let Some(task) = cluster.cancel_run_later(run) {
        let _ = tokio::time::timeout(CANCEL_WAIT, task).await;
    }
}

/// A run of a query's stages, stopped on every node (in the background) when dropped.
struct RunGuard {
    run: Option<String>,
    cluster: Arc<blueshift_compute::Peers>,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if let Some(run) = self.run.take() {
            self.cluster.cancel_run_later(run);
        }
    }
}

/// Stops a run on every node once the leader is done with it: when its stream fails
/// (before the error goes on), ends, or is dropped before its end (a cancelled query, a
/// result not read to the end), so no stage of it runs on.
fn stopping_run(
    schema: SchemaRef,
    stream: impl futures::Stream<Item = datafusion::error::Result<RecordBatch>> + Send + 'static,
    guard: RunGuard,
) -> SendableRecordBatchStream {
    let stream = Box::pin(stream);
    let items = futures::stream::unfold(Some((stream, guard)), |state| async move {
        let (mut stream, mut guard) = state?;
        match stream.next().await {
            // A plan can end before its stages do (a LIMIT met): what still runs of it
            // is stopped in the background.
            None => None,
            Some(Ok(batch)) => Some((Ok(batch), Some((stream, guard)))),
            Some(Err(e)) => {
                drop(stream);
                if let Some(run) = guard.run.take() {
                    stop_and_wait(&guard.cluster, run).await;
                }
                Some((Err(e), None))
            }
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, items))
}

/// Whether a statement names the PostgreSQL catalog (as drivers' and psql's metadata
/// queries do).
fn reads_catalog(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.contains("pg_") || lower.contains("information_schema") || lower.contains("::reg")
}

/// How deeply a statement's expressions may nest (sqlparser's default is 50, which long
/// generated WHERE clauses exceed); deeper is 54001 rather than a stack overflow.
pub(crate) const NESTING_LIMIT: usize = 1000;

/// Parses users' SQL with PostgreSQL's grammar and the compatibility rewrites that keep
/// its meaning. Left out: `RemoveSubqueryFromProjection`, which replaces a correlated
/// subquery in a select list by NULL and adds LIMIT 1 to an uncorrelated one (a silent
/// wrong answer for anything but catalog queries), `RewriteArrayAnyAllOperation`, which
/// turns `x = ANY (subquery)` into an array function, and `AliasDuplicatedProjectionRewrite`,
/// which renames result columns (duplicate names are handled by
/// `names::distinct_output_names`).
fn parse_user_sql(
    sql: &str,
) -> std::result::Result<Vec<Statement>, datafusion::sql::sqlparser::parser::ParserError> {
    use datafusion_pg_catalog::sql::rules::{self, SqlStatementRewriteRule};
    let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
    let stmts = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
        .with_recursion_limit(NESTING_LIMIT)
        .try_with_sql(sql)?
        .parse_statements()?;
    let rewrites: [&dyn SqlStatementRewriteRule; 7] = [
        &rules::ResolveUnqualifiedIdentifier,
        &rules::StripCallableQualifier,
        &rules::FixArrayLiteral,
        &rules::CurrentUserVariableToSessionUserFunctionCall,
        &rules::StripCollate,
        &rules::RewritePgCatalogOperator,
        &rules::FixVersionColumnName,
    ];
    Ok(stmts
        .into_iter()
        .map(|s| rewrites.iter().fold(s, |s, r| r.rewrite(s)))
        .collect())
}

impl Engine {
    /// Parses one statement the way every path does: psql/JDBC compatibility rewrites first.
    pub fn parse(&self, text: &StatementText) -> Result<Option<Statement>> {
        let mut stmts = if reads_catalog(&text.sql) {
            // Clients' catalog queries: the compatibility parser's rewrites, all of them.
            PostgresCompatibilityParser::new().parse(&text.sql)
        } else {
            parse_user_sql(&text.sql)
        }
        .map_err(|e| match e {
            datafusion::sql::sqlparser::parser::ParserError::RecursionLimitExceeded => {
                Error::DataFusion(datafusion::error::DataFusionError::External(Box::new(
                    blueshift_storage::CodedError::new(
                        blueshift_storage::Code::StatementTooComplex,
                        format!(
                            "statement too complex: expressions nest deeper than {NESTING_LIMIT} levels"
                        ),
                    ),
                )))
            }
            e => syntax_error(text, &e.to_string()),
        })?;
        for stmt in &mut stmts {
            super::shapes::postgres_information_schema_views(stmt);
            super::shapes::array_subqueries(stmt);
            super::shapes::like_escapes(stmt);
            super::shapes::table_functions(stmt);
            super::shapes::composite_values(stmt);
            super::redshift::rewrite(stmt)?;
        }
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
        let query_id = self
            .log
            .queries
            .start(session.pid, &session.user, &text.original);
        // Every statement kind's future lives in this one: boxed, so callers (one per
        // connection) carry a pointer rather than the largest statement's state.
        let result = Box::pin(self.execute_inner(session, text, params, query_id))
            .await
            .map_err(|e| e.located(&text.original, text.offset));
        match result {
            // A streamed result is logged when the client has read it (or gone away). Its
            // version stays pinned until then: the scans (and pg_catalog's tables, which
            // are built as they are read) still need it.
            Ok(Output::Stream(stream)) => {
                Ok(Output::Stream(Box::pin(crate::engine::LoggedStream::new(
                    stream,
                    Arc::clone(&self.log),
                    query_id,
                    Arc::clone(&session.schema),
                ))))
            }
            other => {
                if other.is_err() {
                    session.fail_block();
                }
                // The version is released as soon as nothing reads it any more.
                session.schema.unpin();
                self.log.queries.finish(
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
    pub(crate) async fn execute_inner(
        &self,
        session: &Session,
        text: &StatementText,
        params: Option<&ParamValues>,
        query_id: u64,
    ) -> Result<Output> {
        session.check_not_failed(&text.sql)?;
        if let Some(stmt) = super::security::parse(&text.sql) {
            return self.security_statement(session, stmt?).await;
        }
        if let Some(rename) = super::ddl::parse_rename(&text.sql) {
            let (name, to) = rename?;
            return self.rename_relation(session, &name, &to).await;
        }
        if let Some(stmt) = super::analyze::parse(&text.sql) {
            let stmt = stmt?;
            session.schema.pin(session.read_state(&self.catalog));
            return self.analyze(session, stmt, &query_id.to_string()).await;
        }
        if let Some(stmt) = super::snapshot::parse(&text.sql) {
            if session.in_block() {
                return Err(Error::ActiveTransaction("a snapshot statement"));
            }
            return self.snapshot_statement(session, stmt?).await;
        }
        if let Some(stmt) = crate::engine::copy::stdout::parse_copy_to_stdout(&text.sql) {
            session.schema.pin(session.read_state(&self.catalog));
            return Box::pin(self.copy_to_stdout(session, stmt, &query_id.to_string())).await;
        }
        match crate::engine::copy::sql::kind(&text.sql) {
            Some("COPY") => {
                session.schema.pin(session.read_state(&self.catalog));
                return self.copy(session, &text.sql, query_id).await;
            }
            Some("UNLOAD") => {
                session.schema.pin(session.read_state(&self.catalog));
                return self.unload(session, &text.sql, query_id).await;
            }
            _ => {}
        }
        let Some(stmt) = self.parse(text)? else {
            return Ok(Output::Empty);
        };
        reject_row_id_columns(text)?;
        session.schema.pin(session.read_state(&self.catalog));
        let qid = query_id.to_string();
        match stmt {
            Statement::CreateTable(ct) => {
                Box::pin(self.create_table(
                    session,
                    ct,
                    text.attributes.clone().unwrap_or_default(),
                    &qid,
                ))
                .await
            }
            Statement::Drop {
                object_type: ObjectType::Table,
                if_exists,
                names,
                ..
            } => self.drop_tables(session, &names, if_exists).await,
            Statement::Drop {
                object_type: ObjectType::View,
                if_exists,
                names,
                ..
            } => self.drop_views(session, &names, if_exists).await,
            Statement::CreateView(cv) => self.create_view(session, cv).await,
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => {
                self.create_schema(session, &schema_name, if_not_exists)
                    .await
            }
            Statement::Drop {
                object_type: ObjectType::Schema,
                if_exists,
                names,
                cascade,
                ..
            } => self.drop_schemas(session, &names, if_exists, cascade).await,
            Statement::Truncate(t) => {
                let names: Vec<ast::ObjectName> =
                    t.table_names.into_iter().map(|t| t.name).collect();
                self.truncate(session, &names).await
            }
            Statement::Insert(_) | Statement::Delete(_) | Statement::Update(_) => {
                Box::pin(self.dml(session, stmt, params, &qid)).await
            }
            Statement::Explain {
                analyze, statement, ..
            } => Box::pin(self.explain(session, *statement, analyze, params, &qid)).await,
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Savepoint { .. }
            | Statement::ReleaseSavepoint { .. } => self.transaction_statement(session, stmt).await,
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
        let mut stmt = stmt;
        let state = session.schema.pinned();
        crate::schema::qualify(&mut stmt, &state, &session.search_path(&state));
        drop(state);
        // Boxed: every statement kind's future holds this one.
        let checking = session.schema.checking();
        let plan = Box::pin(plan_statement(&session.ctx.state(), stmt)).await;
        drop(checking);
        let plan = plan?;
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
        session.check_not_failed(&text.sql)?;
        if crate::engine::copy::sql::kind(&text.sql).is_some() {
            return Ok((vec![], None));
        }
        let Some(stmt) = self.parse(text)? else {
            return Ok((vec![], None));
        };
        reject_row_id_columns(text)?;
        session.schema.pin(session.read_state(&self.catalog));
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
                let writing = is_dml.then(|| session.schema.writing(dml_target(session, &stmt)));
                let plan = self.plan(session, stmt, None).await;
                drop(writing);
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
        let joins = JoinMethod::preferred(session);
        match self.physical_with(session, plan, qid, joins).await {
            // PostgreSQL's enable_hashjoin = off discourages hash joins, never refuses
            // a query: a merge join plan that cannot be placed gives way to hash joins.
            Err(Error::DataFusion(e))
                if joins == JoinMethod::SortMerge
                    && matches!(e, datafusion::error::DataFusionError::NotImplemented(_)) =>
            {
                tracing::debug!(query = qid, error = %e, "no merge join plan");
                self.physical_with(session, plan, qid, JoinMethod::Hash)
                    .await
            }
            placed => placed,
        }
    }
    /// The staged plan, its equi-joins by `joins`.
    async fn physical_with(
        &self,
        session: &Session,
        plan: &LogicalPlan,
        qid: &str,
        joins: JoinMethod,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inline_subqueries(session, plan.clone(), qid).await?;
        let mut state = session.ctx.state();
        if joins == JoinMethod::SortMerge {
            state.config_mut().options_mut().optimizer.prefer_hash_join = false;
        }
        let physical = state.create_physical_plan(&plan).await?;
        Ok(stages::distribute(physical, &self.cluster, qid)?)
    }
    /// The plan with its uncorrelated subqueries run and put in as values
    /// (`subquery::inline_uncorrelated`); each subquery is planned and staged like a query.
    fn inline_subqueries<'a>(
        &'a self,
        session: &'a Session,
        plan: LogicalPlan,
        qid: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<LogicalPlan>> {
        Box::pin(async move {
            let run = |sub: LogicalPlan| async move {
                let physical = self
                    .physical(session, &sub, qid)
                    .await
                    .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
                let ctx = session.ctx.task_ctx();
                datafusion::physical_plan::collect(physical, Arc::clone(&ctx))
                    .await
                    .map_err(|e| name_out_of_memory(&ctx, e))
            };
            Ok(crate::subquery::inline_uncorrelated(plan, run).await?)
        })
    }
    pub(crate) async fn stream(
        &self,
        session: &Session,
        plan: &LogicalPlan,
        qid: &str,
    ) -> Result<SendableRecordBatchStream> {
        let (mut stream, run) = self.stream_with(session, plan, qid, None).await?;
        // From here on the run is stopped on the nodes however this ends (an error, the
        // statement cancelled while it waits for the first batch, the stream's end).
        let mut guard = RunGuard {
            run,
            cluster: Arc::clone(&self.cluster),
        };
        let schema = stream.schema();
        // Nothing has reached the client before the first batch: a hash join that ran out
        // of memory by then runs again as a merge join, whose sorts spill.
        let first = stream.next().await;
        if let Some(Err(e)) = &first
            && hash_join_out_of_memory(e)
        {
            drop(stream);
            // The failed run's stages free their memory before the new run starts.
            if let Some(run) = guard.run.take() {
                stop_and_wait(&self.cluster, run).await;
            }
            tracing::info!(
                query = qid,
                "a hash join ran out of memory: running it as a merge join"
            );
            match self
                .stream_with(session, plan, qid, Some(JoinMethod::SortMerge))
                .await
            {
                Ok((again, run)) => {
                    let guard = RunGuard {
                        run,
                        cluster: Arc::clone(&self.cluster),
                    };
                    return Ok(stopping_run(schema, again, guard));
                }
                Err(retry) => {
                    tracing::info!(query = qid, error = %retry, "no merge join plan");
                }
            }
            return Ok(Box::pin(RecordBatchStreamAdapter::new(
                schema,
                futures::stream::iter(first),
            )));
        }
        let rest = futures::stream::iter(first).chain(stream);
        Ok(stopping_run(schema, rest, guard))
    }
    /// A query's result stream, and the run its stages belong to (if it has stages);
    /// its joins by `joins`, else as the session prefers.
    async fn stream_with(
        &self,
        session: &Session,
        plan: &LogicalPlan,
        qid: &str,
        joins: Option<JoinMethod>,
    ) -> Result<(SendableRecordBatchStream, Option<String>)> {
        let physical = match joins {
            Some(joins) => self.physical_with(session, plan, qid, joins).await?,
            None => self.physical(session, plan, qid).await?,
        };
        let run = stages::run_of(&physical);
        let ctx = session.ctx.task_ctx();
        let stream = execute_stream(physical, Arc::clone(&ctx))?;
        let stream = Box::pin(RecordBatchStreamAdapter::new(
            stream.schema(),
            stream.map_err(move |e| name_out_of_memory(&ctx, e)),
        ));
        Ok((stream, run))
    }
    pub(crate) async fn explain(
        &self,
        session: &Session,
        stmt: Statement,
        analyze: bool,
        params: Option<&ParamValues>,
        qid: &str,
    ) -> Result<Output> {
        let physical = match stmt {
            Statement::Query(_) => {
                let plan = self.plan(session, stmt, params).await?;
                self.physical(session, &plan, qid).await?
            }
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) if !analyze => {
                Box::pin(self.explain_write(session, stmt, params, qid)).await?
            }
            _ => {
                return Err(Error::NotSupported(
                    "EXPLAIN supports queries, and INSERT, UPDATE and DELETE without ANALYZE"
                        .into(),
                ));
            }
        };
        if analyze {
            let ctx = session.ctx.task_ctx();
            let mut stream = execute_stream(Arc::clone(&physical), Arc::clone(&ctx))?;
            while let Some(b) = stream.next().await {
                b.map_err(|e| name_out_of_memory(&ctx, e))?;
            }
        }
        let figures = if analyze {
            match stages::run_of(&physical) {
                Some(run) => self.cluster.query_figures(&format!("{run}/")).await?,
                None => vec![],
            }
        } else {
            vec![]
        };
        let lines = stages::explain(&physical, &self.cluster, analyze, &figures);
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
}

impl Engine {
    /// The plan a DML statement would run: its write stage on the compute nodes when its
    /// rows come from the slices, else its input (whose rows the leader writes).
    async fn explain_write(
        &self,
        session: &Session,
        stmt: Statement,
        params: Option<&ParamValues>,
        qid: &str,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = session.read_state(&self.catalog);
        session.schema.pin(Arc::clone(&state));
        let writing = session.schema.writing(dml_target(session, &stmt));
        let plan = self.plan(session, stmt, params).await;
        drop(writing);
        let LogicalPlan::Dml(dml) = plan? else {
            return Err(Error::NotSupported("unsupported data modification".into()));
        };
        let table = state
            .table(&crate::schema::key_of(&dml.table_name))?
            .clone();
        let (_, shape) = super::dml::write_shape(&dml.op, &dml.input, &table.def)?;
        let physical = self.physical(session, &dml.input, qid).await?;
        Ok(
            match physical.downcast_ref::<blueshift_compute::GatherExec>() {
                Some(gather) => self.write_stage_plan(&state, &table, gather, shape, qid),
                None => physical,
            },
        )
    }
}

pub(crate) fn explain_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "QUERY PLAN",
        DataType::Utf8,
        false,
    )]))
}
pub(crate) fn syntax_error(text: &StatementText, message: &str) -> Error {
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
pub(crate) fn reject_row_id_columns(text: &StatementText) -> Result<()> {
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

/// The first relation a statement names that does not exist, as PostgreSQL reports it
/// (before any other error in the statement). Table functions are not relations.
/// Plans a statement with the reshapes every statement gets (PostgreSQL's names for
/// duplicate output columns, ORDER BY position, numbered set-operation duplicates).
async fn plan_statement(
    state: &datafusion::execution::SessionState,
    mut stmt: Statement,
) -> Result<LogicalPlan> {
    super::names::distinct_output_names(&mut stmt);
    super::shapes::sort_by_position_outside(&mut stmt);
    super::shapes::number_set_duplicates(&mut stmt)?;
    // Redshift lets WHERE name a select-list alias when no column has that name (AWS's
    // driver relies on it): a column that does not resolve but is an alias is replaced
    // by the aliased expression, one name at a time, so a real column always wins.
    for _ in 0..8 {
        let df = DFStatement::Statement(Box::new(stmt.clone()));
        match state.statement_to_plan(df.clone()).await {
            Ok(plan) => return Ok(plan),
            Err(e) => {
                if let Some(name) = unresolved_column(&e)
                    && super::shapes::where_alias(&mut stmt, &name)
                {
                    continue;
                }
                return Err(missing_relation(state, &df).unwrap_or(Error::DataFusion(e)));
            }
        }
    }
    Err(Error::syntax("too many select-list aliases named in WHERE"))
}

/// The unqualified column a planning error could not find.
fn unresolved_column(e: &datafusion::error::DataFusionError) -> Option<String> {
    use datafusion::common::SchemaError;
    use datafusion::error::DataFusionError;
    match e.find_root() {
        DataFusionError::SchemaError(s, _) => match s.as_ref() {
            SchemaError::FieldNotFound { field, .. } if field.relation.is_none() => {
                Some(field.name.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// A view's query planned against `state` (the reading statement's planner, at its
/// pinned version), its columns named as the view's.
pub(crate) async fn plan_view(
    state: &datafusion::execution::SessionState,
    view: &blueshift_storage::table::ViewDef,
) -> Result<LogicalPlan> {
    let mut stmts = parse_user_sql(&view.sql).map_err(|e| Error::syntax(e.to_string()))?;
    let (Some(stmt @ Statement::Query(_)), true) = (stmts.pop(), stmts.is_empty()) else {
        return Err(Error::Internal("a view holds one query".into()));
    };
    let plan = plan_statement(state, stmt).await?;
    let columns: Vec<datafusion::prelude::Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .zip(&view.columns)
        .map(|(c, name)| datafusion::prelude::Expr::Column(c).alias(name))
        .collect();
    Ok(datafusion::logical_expr::LogicalPlanBuilder::from(plan)
        .project(columns)?
        .build()?)
}

fn missing_relation(
    state: &datafusion::execution::SessionState,
    stmt: &DFStatement,
) -> Option<Error> {
    let references = state.resolve_table_references(stmt).ok()?;
    references.into_iter().find_map(|r| {
        let exists = state
            .schema_for_ref(r.clone())
            .is_ok_and(|schema| schema.table_exist(r.table()));
        let function = r.schema().is_none() && state.table_functions().contains_key(r.table());
        (!exists && !function).then(|| Error::UndefinedTable(r.table().to_string()))
    })
}
