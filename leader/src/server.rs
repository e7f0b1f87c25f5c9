//! The PostgreSQL wire protocol front end (pgwire): simple and extended query protocols,
//! result encoding with arrow-pg, and the one place where error codes become SQLSTATEs.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use arrow::datatypes::{DataType, SchemaRef};
use arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use async_trait::async_trait;
use blueshift_storage::Code;
use futures::{FutureExt, Sink};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
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
        Code::InvalidInput => "22P02",
        Code::StringTooLong => "22001",
        Code::NotNull => "23502",
        Code::DivisionByZero => "22012",
        Code::NumericOutOfRange => "22003",
        Code::FeatureNotSupported => "0A000",
        Code::NodeUnavailable => "58030",
        Code::Storage => "58030",
        Code::Cancelled => "57014",
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
) -> Result<Output, Error> {
    std::panic::AssertUnwindSafe(engine.execute(session, text, params))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            tracing::error!("statement panicked: {what}");
            Err(Error::Internal(format!("internal error: {what}")))
        })
}

fn to_pg_error(e: &Error) -> PgWireError {
    let mut info = ErrorInfo::new("ERROR".into(), sqlstate(e.code()).into(), e.user_message());
    if let Error::Syntax { position: Some(p), .. } = e {
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

/// Session ids (`pid` in `stl_query`).
static NEXT_PID: AtomicI32 = AtomicI32::new(1);

pub struct Handlers {
    engine: Arc<Engine>,
    parser: Arc<StatementParser>,
}

impl Handlers {
    pub fn new(engine: Arc<Engine>) -> Arc<Self> {
        Arc::new(Handlers {
            parser: Arc::new(StatementParser { engine: Arc::clone(&engine) }),
            engine,
        })
    }

    fn session<C: ClientInfo>(&self, client: &C) -> PgWireResult<Arc<Session>> {
        session_of(&self.engine, &NEXT_PID, client)
    }
}

fn session_of<C: ClientInfo>(engine: &Engine, next_pid: &AtomicI32, client: &C) -> PgWireResult<Arc<Session>> {
    if let Some(s) = client.session_extensions().get::<Session>() {
        return Ok(s);
    }
    let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_else(|| "admin".into());
    let session = engine
        .new_session(&user, next_pid.fetch_add(1, Ordering::Relaxed))
        .map_err(|e| to_pg_error(&e))?;
    client.session_extensions().insert(session);
    Ok(client.session_extensions().get::<Session>().expect("just inserted"))
}

fn rows_response(schema: &SchemaRef, batches: Vec<arrow::array::RecordBatch>, format: &Format) -> PgWireResult<Response> {
    let fields = Arc::new(arrow_schema_to_pg_fields(schema, format, None)?);
    let mut rows = Vec::new();
    for batch in batches {
        rows.extend(encode_recordbatch(Arc::clone(&fields), batch));
    }
    Ok(Response::Query(QueryResponse::new(fields, futures::stream::iter(rows))))
}

fn output_response(out: Output, format: &Format) -> PgWireResult<Response> {
    Ok(match out {
        Output::Rows { schema, batches } => rows_response(&schema, batches, format)?,
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
        Output::Empty => Response::EmptyQuery,
    })
}

#[async_trait]
impl SimpleQueryHandler for Handlers {
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
        for text in &statements {
            let result = execute_guarded(&self.engine, &session, text, None)
                .await
                .and_then(|out| output_response(out, &Format::UnifiedText).map_err(|e| Error::Internal(e.to_string())));
            match result {
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

/// A prepared statement: its text, and what describing it found.
#[derive(Debug, Clone)]
pub struct Prepared {
    text: Option<StatementText>,
    params: Vec<Option<DataType>>,
    schema: Option<SchemaRef>,
}

pub struct StatementParser {
    engine: Arc<Engine>,
}


#[async_trait]
impl QueryParser for StatementParser {
    type Statement = Prepared;

    async fn parse_sql<C>(&self, client: &C, sql: &str, _types: &[Option<Type>]) -> PgWireResult<Option<Prepared>>
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
            return Ok(Some(Prepared { text: None, params: vec![], schema: None }));
        };
        let session = session_of(&self.engine, &NEXT_PID, client)?;
        let described = std::panic::AssertUnwindSafe(self.engine.describe(&session, &text))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(Error::Internal("internal error while planning".into())));
        let (params, schema) = described.map_err(|e| to_pg_error(&e))?;
        Ok(Some(Prepared { text: Some(text), params, schema }))
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

    fn get_result_schema(&self, stmt: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        match &stmt.schema {
            Some(schema) => arrow_schema_to_pg_fields(schema, format.unwrap_or(&Format::UnifiedText), None),
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

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let Some(text) = &prepared.text else { return Ok(Response::EmptyQuery) };
        let session = self.session(client)?;
        let params = if prepared.params.is_empty() {
            None
        } else {
            let inferred: Vec<Option<&DataType>> = prepared.params.iter().map(|t| t.as_ref()).collect();
            let wire = self.parser.get_parameter_types(prepared)?;
            let wire_refs: Vec<Option<&Type>> = wire.iter().map(Some).collect();
            Some(arrow_pg::datatypes::df::deserialize_parameters_with_server_types(portal, &inferred, &wire_refs)?)
        };
        match execute_guarded(&self.engine, &session, text, params.as_ref()).await {
            Ok(out) => output_response(out, &portal.result_column_format),
            Err(e) => Err(to_pg_error(&e)),
        }
    }
}

/// Trusts every connection (the `dev` cluster listens on loopback only by default).
pub struct TrustStartup;

#[async_trait]
impl NoopStartupHandler for TrustStartup {}

pub struct Factory {
    handlers: Arc<Handlers>,
}

impl Factory {
    pub fn new(engine: Arc<Engine>) -> Self {
        Factory { handlers: Handlers::new(engine) }
    }
}

impl PgWireServerHandlers for Factory {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.handlers)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.handlers)
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::new(TrustStartup)
    }
}

/// Accepts pgwire connections until `shutdown` resolves.
pub async fn serve(engine: Arc<Engine>, listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()>) {
    let factory = Arc::new(Factory::new(engine));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                let _ = socket.set_nodelay(true);
                let factory = Arc::clone(&factory);
                tokio::spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(socket, None, factory).await {
                        tracing::debug!("connection closed: {e}");
                    }
                });
            }
        }
    }
}
