//! The PostgreSQL wire protocol front end (pgwire): simple and extended query protocols,
//! result encoding with arrow-pg, and the one place where error codes become SQLSTATEs.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use arrow::datatypes::{DataType, SchemaRef};
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use async_trait::async_trait;
use blueshift_storage::Code;
use futures::{FutureExt, Sink, SinkExt, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{CopyResponse, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, METADATA_USER, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use crate::engine::{Engine, Output, Session};
use crate::error::Error;
use crate::sql_split::{self, StatementText};

/// The SQLSTATE for a code. This is the only place codes become SQLSTATEs.
pub fn sqlstate(code: Code) -> &'static str {
    match code {
        Code::Syntax => "42601",
        Code::UndefinedTable => "42P01",
        Code::UndefinedColumn => "42703",
        Code::DuplicateTable => "42P07",
        Code::UndefinedObject => "42704",
        Code::DuplicateObject => "42710",
        Code::DuplicateColumn => "42701",
        Code::InvalidInput => "22P02",
        Code::StringTooLong => "22001",
        Code::NotNull => "23502",
        Code::DivisionByZero => "22012",
        Code::NumericOutOfRange => "22003",
        Code::CardinalityViolation => "21000",
        Code::StatementTooComplex => "54001",
        Code::FeatureNotSupported => "0A000",
        Code::NodeUnavailable => "58030",
        Code::Storage => "58030",
        Code::Cancelled => "57014",
        Code::BadCopyData => "22P04",
        Code::UndefinedFile => "58P01",
        Code::DuplicateFile => "58P02",
        Code::AccessDenied => "42501",
        Code::NoActiveTransaction => "25P01",
        Code::InvalidSavepoint => "3B001",
        Code::InFailedTransaction => "25P02",
        Code::ActiveTransaction => "25001",
        Code::SerializationFailure => "40001",
        Code::WrongObjectType => "42809",
        Code::DependentObjects => "2BP01",
        Code::UndefinedFunction => "42883",
        Code::InvalidParameter => "22023",
        Code::UndefinedSchema => "3F000",
        Code::DuplicateSchema => "42P06",
        Code::InvalidGrant => "0LP01",
        Code::ReservedName => "42939",
        Code::OutOfMemory => "53200",
        Code::Internal => "XX000",
    }
}

/// Runs a statement; a panic anywhere in it becomes an internal error for this statement
/// instead of taking the connection down.
async fn execute_guarded(
    engine: &Engine,
    session: &Session,
    text: &StatementText,
    params: Option<&datafusion::common::ParamValues>,
    may_stream: bool,
) -> Result<Output, Error> {
    // In a multi-statement query each statement finishes before the next starts, so only a
    // lone statement streams its rows.
    let mut cancel = session.cancel.subscribe();
    let stream_cancel = cancel.clone();
    let run = async {
        let out = engine.execute(session, text, params).await?;
        if may_stream {
            Ok(out)
        } else {
            out.collect().await
        }
    };
    let guarded = std::panic::AssertUnwindSafe(run).catch_unwind();
    let finished = tokio::select! {
        r = guarded => r,
        _ = cancel.changed() => {
            session.fail_block();
            return Err(Error::Cancelled);
        }
    };
    finished
        .map(|r| {
            r.map(|out| match out {
                Output::Stream(s) => {
                    Output::Stream(cancellable(s, stream_cancel, Arc::clone(&session.tx)))
                }
                other => other,
            })
        })
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            tracing::error!("statement panicked: {what}");
            Err(Error::Internal(format!("internal error: {what}")))
        })
        .inspect_err(|_| session.fail_block())
}

fn to_pg_error(e: &Error) -> PgWireError {
    if let Error::At { inner, position } = e {
        let mut err = to_pg_error(inner);
        if let PgWireError::UserError(info) = &mut err {
            info.position = Some(position.to_string());
        }
        return err;
    }
    let mut info = ErrorInfo::new("ERROR".into(), sqlstate(e.code()).into(), e.user_message());
    if let Error::LoadFailed { hint, .. } = e {
        info.hint = Some(hint.clone());
    }
    if let Error::WrongObjectType { hint, .. } = e {
        info.hint = Some(hint.to_string());
    }
    if let Error::Syntax {
        position: Some(p), ..
    } = e
    {
        info.position = Some(p.to_string());
    }
    PgWireError::UserError(Box::new(info))
}

fn error_response(e: &Error) -> Response {
    match to_pg_error(e) {
        PgWireError::UserError(info) => Response::Error(info),
        _ => unreachable!("to_pg_error builds user errors"),
    }
}

/// Runs a statement while passing the NOTICEs it raises (COPY progress, ignored options)
/// to the client as they come.
async fn with_notices<C, T>(
    client: &mut C,
    session: &Session,
    run: impl std::future::Future<Output = T>,
) -> PgWireResult<T>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    *session.notices.lock().expect("notices") = Some(tx);
    tokio::pin!(run);
    let out = loop {
        tokio::select! {
            out = &mut run => break out,
            Some(message) = rx.recv() => send_notice(client, message).await?,
        }
    };
    *session.notices.lock().expect("notices") = None;
    while let Ok(message) = rx.try_recv() {
        send_notice(client, message).await?;
    }
    Ok(out)
}

async fn send_notice<C>(client: &mut C, message: String) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let info = ErrorInfo::new("NOTICE".into(), "00000".into(), message);
    client
        .send(PgWireBackendMessage::NoticeResponse(info.into()))
        .await?;
    Ok(())
}

#[async_trait]
impl pgwire::api::copy::CopyHandler for Handlers {
    async fn on_copy_data<C>(
        &self,
        client: &mut C,
        copy_data: pgwire::messages::copy::CopyData,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.session(client)?;
        let mut pending = session.pending_copy.lock().expect("pending copy");
        let written = match pending.as_mut() {
            Some(p) => p.write(&copy_data.data),
            None => Err(Error::InvalidInput(
                "no COPY FROM STDIN is in progress".into(),
            )),
        };
        if written.is_err() {
            // The rest of the client's data is dropped; so is the spool.
            pending.take();
        }
        written.map_err(|e| to_pg_error(&e))
    }

    async fn on_copy_done<C>(
        &self,
        client: &mut C,
        _done: pgwire::messages::copy::CopyDone,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.session(client)?;
        let pending = session
            .pending_copy
            .lock()
            .expect("pending copy")
            .take()
            .ok_or_else(|| {
                to_pg_error(&Error::InvalidInput(
                    "no COPY FROM STDIN is in progress".into(),
                ))
            })?;
        let run = std::panic::AssertUnwindSafe(self.engine.finish_stdin_copy(&session, pending))
            .catch_unwind();
        let rows = match with_notices(client, &session, run).await? {
            Ok(Ok(rows)) => rows,
            Ok(Err(e)) => {
                session.fail_block();
                return Err(to_pg_error(&e));
            }
            Err(_) => {
                session.fail_block();
                return Err(to_pg_error(&Error::Internal(
                    "internal error while loading COPY data".into(),
                )));
            }
        };
        let done: pgwire::messages::response::CommandComplete =
            Tag::new("COPY").with_rows(rows as usize).into();
        client
            .send(PgWireBackendMessage::CommandComplete(done))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(
        &self,
        client: &mut C,
        fail: pgwire::messages::copy::CopyFail,
    ) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Ok(session) = self.session(client) {
            session.pending_copy.lock().expect("pending copy").take();
            session.fail_block();
        }
        PgWireError::UserError(Box::new(ErrorInfo::new(
            "ERROR".into(),
            "57014".into(),
            format!("COPY from stdin failed: {}", fail.message),
        )))
    }
}

/// Session ids (`pid` in `stl_query`).
static NEXT_PID: AtomicI32 = AtomicI32::new(1);

pub struct Handlers {
    engine: Arc<Engine>,
    parser: Arc<StatementParser>,
    cancels: Arc<CancelRegistry>,
}

impl Handlers {
    pub fn new(engine: Arc<Engine>) -> Arc<Self> {
        let cancels = Arc::new(CancelRegistry::default());
        Arc::new(Handlers {
            parser: Arc::new(StatementParser {
                engine: Arc::clone(&engine),
                cancels: Arc::clone(&cancels),
            }),
            engine,
            cancels,
        })
    }

    fn session<C: ClientInfo>(&self, client: &C) -> PgWireResult<Arc<Session>> {
        session_of(&self.engine, &self.cancels, client)
    }
}

fn session_of<C: ClientInfo>(
    engine: &Engine,
    cancels: &CancelRegistry,
    client: &C,
) -> PgWireResult<Arc<Session>> {
    if let Some(s) = client.session_extensions().get::<Session>() {
        return Ok(s);
    }
    let user = client
        .metadata()
        .get(METADATA_USER)
        .cloned()
        .unwrap_or_else(|| "admin".into());
    let session = engine
        .new_session(&user, NEXT_PID.fetch_add(1, Ordering::Relaxed))
        .map_err(|e| to_pg_error(&e))?;
    client.session_extensions().insert(session);
    let session = client
        .session_extensions()
        .get::<Session>()
        .expect("just inserted");
    cancels.register(client, &session);
    Ok(session)
}

/// Ends a result stream with a 57014 error as soon as the session is cancelled; an error
/// in the stream fails the session's transaction block, as one before it would.
fn cancellable(
    stream: datafusion::execution::SendableRecordBatchStream,
    mut cancel: tokio::sync::watch::Receiver<u64>,
    tx: Arc<std::sync::Mutex<crate::engine::txn::Tx>>,
) -> datafusion::execution::SendableRecordBatchStream {
    let schema = stream.schema();
    let cancelled: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(async move {
            let _ = cancel.changed().await;
        });
    let rows = futures::stream::unfold(Some((stream, cancelled)), |state| async move {
        let (mut stream, mut cancelled) = state?;
        tokio::select! {
            item = stream.next() => item.map(|i| (i, Some((stream, cancelled)))),
            _ = &mut cancelled => Some((
                Err(Error::Cancelled.into()),
                None,
            )),
        }
    });
    let rows = rows.inspect(move |item| {
        if item.is_err() {
            crate::engine::txn::fail(&tx);
        }
    });
    Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, rows))
}

/// Streams a result: each batch is encoded as the client reads; an error after some rows
/// reaches the client as an ErrorResponse, as in PostgreSQL.
fn stream_response(
    stream: datafusion::execution::SendableRecordBatchStream,
    format: &Format,
) -> PgWireResult<Response> {
    let fields = Arc::new(arrow_schema_to_pg_fields(&stream.schema(), format, None)?);
    let encode_fields = Arc::clone(&fields);
    let rows = stream
        .map(move |batch| {
            let rows: Vec<PgWireResult<pgwire::messages::data::DataRow>> = match batch {
                Ok(b) => encode_recordbatch(Arc::clone(&encode_fields), b).collect(),
                Err(e) => vec![Err(to_pg_error(&Error::DataFusion(e)))],
            };
            futures::stream::iter(rows)
        })
        .flatten();
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

fn output_response(out: Output, format: &Format) -> PgWireResult<Response> {
    Ok(match out {
        Output::Rows { schema, batches } => {
            let batches = futures::stream::iter(batches.into_iter().map(Ok));
            let stream =
                datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, batches);
            stream_response(Box::pin(stream), format)?
        }
        Output::Stream(stream) => stream_response(stream, format)?,
        Output::Command { tag, rows } => {
            let t = Tag::new(&tag);
            let t = if tag == "INSERT" { t.with_oid(0) } else { t };
            Response::Execution(match rows {
                Some(n) => t.with_rows(n as usize),
                None => t,
            })
        }
        Output::Transaction { tag, start: true } => Response::TransactionStart(Tag::new(tag)),
        Output::Transaction { tag, start: false } => Response::TransactionEnd(Tag::new(tag)),
        Output::CopyIn { columns } => {
            Response::CopyIn(CopyResponse::new(0, columns, futures::stream::empty()))
        }
        Output::CopyOut { columns, rows } => Response::CopyOut(CopyResponse::new(
            0,
            columns,
            rows.map(|r| {
                r.map(pgwire::messages::copy::CopyData::new)
                    .map_err(|e| to_pg_error(&e))
            }),
        )),
        Output::Empty => Response::EmptyQuery,
    })
}

#[async_trait]
impl SimpleQueryHandler for Handlers {
    /// As pgwire's, except that the transaction status sent with ReadyForQuery is the
    /// session's own (`Session::tx_status`): pgwire derives it from the responses, which
    /// cannot say that a failed COMMIT ends the block or that ROLLBACK TO SAVEPOINT
    /// recovers a failed one.
    async fn on_query<C>(
        &self,
        client: &mut C,
        query: pgwire::messages::simplequery::Query,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        use pgwire::api::PgWireConnectionState as State;
        use pgwire::api::query::{send_execution_response, send_query_response};
        if !matches!(client.state(), State::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(State::QueryInProgress);
        let session = self.session(client)?;
        for response in SimpleQueryHandler::do_query(self, client, &query.query).await? {
            match response {
                Response::EmptyQuery => {
                    client
                        .feed(PgWireBackendMessage::EmptyQueryResponse(
                            pgwire::messages::response::EmptyQueryResponse::new(),
                        ))
                        .await?;
                }
                Response::Query(results) => send_query_response(client, results, true).await?,
                Response::Execution(tag)
                | Response::TransactionStart(tag)
                | Response::TransactionEnd(tag) => send_execution_response(client, tag).await?,
                Response::Error(e) => {
                    client
                        .feed(PgWireBackendMessage::ErrorResponse((*e).into()))
                        .await?;
                }
                Response::CopyIn(copy) => {
                    pgwire::api::copy::send_copy_in_response(client, copy).await?;
                    client.set_state(State::CopyInProgress(false));
                }
                Response::CopyOut(copy) => {
                    pgwire::api::copy::send_copy_out_response(client, copy).await?;
                }
                Response::CopyBoth(copy) => {
                    pgwire::api::copy::send_copy_both_response(client, copy).await?;
                    client.set_state(State::CopyInProgress(false));
                }
            }
        }
        // During COPY FROM STDIN, ReadyForQuery comes when the data is done.
        if !matches!(client.state(), State::CopyInProgress(_)) {
            client.set_state(State::ReadyForQuery);
            let status = session.tx_status();
            client.set_transaction_status(status);
            pgwire::api::query::send_ready_for_query(client, status).await?;
        }
        Ok(())
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = self.session(client)?;
        let statements = match sql_split::split(query) {
            Ok(s) => s,
            Err(e) => return Ok(vec![error_response(&e)]),
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        let single = statements.len() == 1;
        for text in &statements {
            if let Some(target) = deallocate_target(&text.sql) {
                let tag = match target {
                    Some(name) => {
                        client.portal_store().rm_statement(&name);
                        "DEALLOCATE"
                    }
                    None => "DEALLOCATE ALL",
                };
                responses.push(Response::Execution(Tag::new(tag)));
                continue;
            }
            let run = execute_guarded(&self.engine, &session, text, None, single);
            let result = with_notices(client, &session, run).await?.and_then(|out| {
                output_response(out, &Format::UnifiedText)
                    .map_err(|e| Error::Internal(e.to_string()))
            });
            match result {
                Ok(response @ Response::CopyIn(_)) => {
                    // The client sends the COPY data next; statements after it wait for
                    // that, as in PostgreSQL (they are not run here).
                    responses.push(response);
                    break;
                }
                Ok(response) => responses.push(response),
                Err(e) => {
                    // Like PostgreSQL, the rest of a multi-statement query is skipped.
                    responses.push(error_response(&e));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

/// `DEALLOCATE [PREPARE] name` (`Some(name)`) or `DEALLOCATE [PREPARE] ALL` (`None`), which
/// drivers send to drop their protocol-level prepared statements (psycopg after DDL).
/// `ALL` has nothing to do here: a driver parses its statements again under the same
/// names, which replaces them.
fn deallocate_target(sql: &str) -> Option<Option<String>> {
    let mut words = sql.split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("deallocate") {
        return None;
    }
    let mut name = words.next()?;
    if name.eq_ignore_ascii_case("prepare") {
        name = words.next()?;
    }
    let name = name.trim_end_matches(';');
    match name.eq_ignore_ascii_case("all") {
        true => Some(None),
        false => Some(Some(name.trim_matches('"').to_string())),
    }
}

/// A prepared statement: its text, and what describing it found.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    text: Option<StatementText>,
    params: Vec<Option<DataType>>,
    schema: Option<SchemaRef>,
}

pub struct StatementParser {
    engine: Arc<Engine>,
    cancels: Arc<CancelRegistry>,
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = sql_split::split(sql).map_err(|e| to_pg_error(&e))?;
        if statements.len() > 1 {
            return Err(to_pg_error(&Error::syntax(
                "cannot insert multiple commands into a prepared statement",
            )));
        }
        let Some(text) = statements.pop() else {
            return Ok(Some(Prepared {
                text: None,
                params: vec![],
                schema: None,
            }));
        };
        let session = session_of(&self.engine, &self.cancels, client)?;
        let described =
            std::panic::AssertUnwindSafe(Box::pin(self.engine.describe(&session, &text)))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Err(Error::Internal("internal error while planning".into())));
        let (params, schema) = described.map_err(|e| {
            session.fail_block();
            to_pg_error(&e)
        })?;
        Ok(Some(Prepared {
            text: Some(text),
            params,
            schema,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(stmt
            .params
            .iter()
            .map(|t| {
                t.as_ref()
                    .and_then(|dt| arrow_pg::datatypes::into_pg_type(dt).ok())
                    .unwrap_or(Type::UNKNOWN)
            })
            .collect())
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.schema {
            Some(schema) => {
                arrow_schema_to_pg_fields(schema, format.unwrap_or(&Format::UnifiedText), None)
            }
            None => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Handlers {
    type Statement = Prepared;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<StatementParser> {
        Arc::clone(&self.parser)
    }

    /// pgwire's, then the session's own transaction status for the next ReadyForQuery
    /// (an error returned here moves a block's status to failed, as the session did).
    async fn on_execute<C>(
        &self,
        client: &mut C,
        message: pgwire::messages::extendedquery::Execute,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self._on_execute(client, message).await;
        if let Ok(session) = self.session(client) {
            if result.is_err() {
                session.fail_block();
            }
            if !matches!(
                client.state(),
                pgwire::api::PgWireConnectionState::CopyInProgress(_)
            ) {
                client.set_transaction_status(session.tx_status());
            }
        }
        result
    }

    /// As pgwire's, except that a statement returning no rows is described by NoData also
    /// when it has parameters (pgwire sends an empty RowDescription then, which JDBC takes
    /// for a query and so counts batch updates as 0).
    async fn on_describe<C>(
        &self,
        client: &mut C,
        message: pgwire::messages::extendedquery::Describe,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        use pgwire::api::store::Entry;
        if message.target_type == pgwire::messages::extendedquery::TARGET_TYPE_BYTE_STATEMENT {
            let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
            if let Some(Entry::Value(stmt)) = client.portal_store().get_statement(name)
                && stmt.statement.schema.is_none()
            {
                let described = self.do_describe_statement(client, &stmt).await?;
                let types = described.parameters.iter().map(|t| t.oid()).collect();
                client
                    .send(PgWireBackendMessage::ParameterDescription(
                        pgwire::messages::data::ParameterDescription::new(types),
                    ))
                    .await?;
                client
                    .send(PgWireBackendMessage::NoData(
                        pgwire::messages::data::NoData::new(),
                    ))
                    .await?;
                return Ok(());
            }
        }
        self._on_describe(client, message).await
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let Some(text) = &prepared.text else {
            return Ok(Response::EmptyQuery);
        };
        let session = self.session(client)?;
        let params = if prepared.params.is_empty() {
            None
        } else {
            Some(bind_parameters(
                portal,
                &prepared.params,
                &self.parser.get_parameter_types(prepared)?,
            )?)
        };
        let run = execute_guarded(&self.engine, &session, text, params.as_ref(), true);
        match with_notices(client, &session, run).await? {
            Ok(out) => output_response(out, &portal.result_column_format),
            Err(e) => Err(to_pg_error(&e)),
        }
    }
}

/// A portal's parameter values, typed as the plan expects them.
///
/// arrow-pg decodes the values, with two corrections made here: a NULL of a type it cannot
/// place is dropped from its list (shifting every later parameter: `$2` would get `$3`'s
/// value), so NULLs are bound here, typed by the plan; and a value the client sent with a
/// type of its own (a float for a NUMERIC column) is decoded as sent and then cast to the
/// plan's type, as PostgreSQL casts on assignment.
/// A NUMERIC parameter as the decimal it is: its digits, at its own scale, with a
/// precision that holds them (at least the scale, as Arrow requires).
fn numeric_parameter(
    bytes: &[u8],
    binary: bool,
) -> Result<datafusion::common::ScalarValue, String> {
    use postgres_types::FromSql;
    let d: rust_decimal::Decimal = if binary {
        rust_decimal::Decimal::from_sql(&Type::NUMERIC, bytes).map_err(|e| e.to_string())?
    } else {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())?
            .trim();
        text.parse()
            .map_err(|_| format!("invalid input syntax for type numeric: \"{text}\""))?
    };
    let scale = d.scale() as i8;
    let mantissa = d.mantissa();
    let digits = mantissa.unsigned_abs().to_string().len() as u8;
    let precision = digits.max(scale as u8).clamp(1, 38);
    Ok(datafusion::common::ScalarValue::Decimal128(
        Some(mantissa),
        precision,
        scale,
    ))
}

fn bind_parameters(
    portal: &Portal<Prepared>,
    inferred: &[Option<DataType>],
    wire: &[Type],
) -> PgWireResult<datafusion::common::ParamValues> {
    use datafusion::common::ScalarValue;
    let declared = |i: usize| {
        portal
            .statement
            .parameter_types
            .get(i)
            .cloned()
            .flatten()
            .filter(|t| *t != Type::UNKNOWN)
    };
    // NUMERIC values the client typed are decoded here (arrow-pg gives 0.05 a precision of
    // 1 at scale 2, which Arrow refuses); the rest by arrow-pg.
    let numeric = |i: usize| declared(i) == Some(Type::NUMERIC);
    let present: Vec<usize> = (0..portal.parameters.len())
        .filter(|&i| portal.parameters[i].is_some() && !numeric(i))
        .collect();
    let formats = match &portal.parameter_format {
        Format::Individual(f) if f.len() > 1 => Format::Individual(
            present
                .iter()
                .map(|&i| f.get(i).copied().unwrap_or(0))
                .collect(),
        ),
        other => other.clone(),
    };
    let statement = pgwire::api::stmt::StoredStatement::new(
        portal.statement.id.clone(),
        portal.statement.statement.clone(),
        present.iter().map(|&i| declared(i)).collect(),
    );
    let mut values = Portal::<Prepared>::default();
    values.name = portal.name.clone();
    values.statement = Arc::new(statement);
    values.parameter_format = formats;
    values.parameters = present
        .iter()
        .map(|&i| portal.parameters[i].clone())
        .collect();
    values.result_column_format = portal.result_column_format.clone();
    // A value the client typed is decoded as its own type; the rest as the plan's.
    let hint: Vec<Option<&DataType>> = present
        .iter()
        .map(|&i| match declared(i) {
            Some(_) => None,
            None => inferred.get(i).and_then(|t| t.as_ref()),
        })
        .collect();
    let wire_of: Vec<Option<&Type>> = present.iter().map(|&i| wire.get(i)).collect();
    let decoded = arrow_pg::datatypes::df::deserialize_parameters_with_server_types(
        &values, &hint, &wire_of,
    )?;
    let datafusion::common::ParamValues::List(decoded) = decoded else {
        return Err(to_pg_error(&Error::Internal("named parameters".into())));
    };
    let mut decoded = decoded.into_iter();
    let mut out = Vec::with_capacity(portal.parameters.len());
    for i in 0..portal.parameters.len() {
        let target = inferred.get(i).cloned().flatten();
        let value = match portal.parameters[i] {
            None => match &target {
                Some(t) => ScalarValue::try_from(t).unwrap_or(ScalarValue::Null),
                None => ScalarValue::Null,
            },
            Some(ref bytes) if numeric(i) => {
                let v = numeric_parameter(bytes, portal.parameter_format.is_binary(i)).map_err(
                    |e| to_pg_error(&Error::InvalidInput(format!("parameter ${}: {e}", i + 1))),
                )?;
                match &target {
                    Some(t) if v.data_type() != *t => v.cast_to(t).map_err(|e| {
                        to_pg_error(&Error::InvalidInput(format!("parameter ${}: {e}", i + 1)))
                    })?,
                    _ => v,
                }
            }
            Some(_) => {
                let v = decoded
                    .next()
                    .ok_or_else(|| to_pg_error(&Error::Internal("parameter not decoded".into())))?
                    .value;
                match &target {
                    Some(t) if v.data_type() != *t && declared(i).is_some() => {
                        v.cast_to(t).map_err(|e| {
                            to_pg_error(&Error::InvalidInput(format!("parameter ${}: {e}", i + 1)))
                        })?
                    }
                    _ => v,
                }
            }
        };
        out.push(value.into());
    }
    Ok(datafusion::common::ParamValues::List(out))
}

/// Sessions by their cancel key (`pid`, secret), so a cancel request can reach the
/// statement a session is running — also while its rows are streaming.
#[derive(Default)]
pub struct CancelRegistry {
    sessions:
        std::sync::Mutex<std::collections::HashMap<(i32, bytes::Bytes), std::sync::Weak<Session>>>,
}

impl CancelRegistry {
    fn register<C: ClientInfo>(&self, client: &C, session: &Arc<Session>) {
        let (pid, key) = client.pid_and_secret_key();
        let mut sessions = self.sessions.lock().expect("cancel registry");
        sessions.retain(|_, s| s.strong_count() > 0);
        sessions.insert((pid, key.to_bytes()), Arc::downgrade(session));
    }
}

#[async_trait]
impl pgwire::api::cancel::CancelHandler for CancelRegistry {
    async fn on_cancel_request(&self, request: pgwire::messages::cancel::CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes());
        let session = self
            .sessions
            .lock()
            .expect("cancel registry")
            .get(&key)
            .and_then(|s| s.upgrade());
        if let Some(session) = session {
            session.cancel.send_modify(|generation| *generation += 1);
        }
    }
}

pub struct Factory {
    handlers: Arc<Handlers>,
}

impl Factory {
    pub fn new(engine: Arc<Engine>) -> Self {
        Factory {
            handlers: Handlers::new(engine),
        }
    }
}

impl PgWireServerHandlers for Factory {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.handlers)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.handlers)
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        Arc::clone(&self.handlers)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::new(crate::auth::Login::new(
            Arc::clone(&self.handlers.engine),
            self.handlers.engine.config.auth,
            self.handlers.engine.config.require_tls,
        ))
    }

    /// A cancel request drops the running statement (or ends its result stream): its
    /// remote stages are cancelled with their streams and a write in progress never commits.
    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.handlers.cancels)
    }
}

/// Accepts pgwire connections until `shutdown` resolves.
pub async fn serve(
    engine: Arc<Engine>,
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let factory = Arc::new(Factory::new(engine));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                let factory = Arc::clone(&factory);
                let tls = tls.clone();
                tokio::spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, Some(tls), factory).await {
                        tracing::debug!("connection closed: {e}");
                    }
                });
            }
        }
    }
}
