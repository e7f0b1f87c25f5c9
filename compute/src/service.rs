//! The compute node's Arrow Flight service.
//!
//! ```text
//!  leader ── do_get(StageTicket) ──► decode stage ─► execute(partition) ─► FlightData stream
//!  leader ── do_put(IngestRequest + batches) ──► sort, encode, write blocks ─► IngestResponse
//!  leader ── do_action(health | gc | delete_rows) ──► JSON answer
//! ```

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use blueshift_storage::{BlockCache, SliceStore};
use datafusion::execution::TaskContext;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use crate::codec::BlueshiftCodec;
use crate::config::ComputeNodeOpts;
use crate::error::{Error, Result};
use crate::protocol::{
    ACTION_DELETE_ROWS, ACTION_GC, ACTION_HEALTH, ACTION_LOAD, ACTION_QUERY_FIGURES,
    ACTION_SNAPSHOT_FETCH, ACTION_SNAPSHOT_REPLACE, ACTION_SNAPSHOT_UPLOAD, DeleteRowsRequest,
    GcRequest, GcResponse, HealthRequest, HealthResponse, INGEST_END, IngestRequest,
    IngestResponse, LoadRequest, MAX_MESSAGE_BYTES, QueryFiguresRequest, StageTicket,
};
use crate::write::LocalNode;

pub struct ComputeService {
    opts: ComputeNodeOpts,
    store: Arc<SliceStore>,
    stores: Arc<blueshift_storage::Stores>,
    ctx: SessionContext,
    stages: Arc<StageCache>,
    exchanges: Arc<crate::exchange::ExchangeRegistry>,
    telemetry: Arc<crate::telemetry::Telemetry>,
    runs: Arc<crate::cancel::Runs>,
}

/// Stages decoded once per node and shared by their local partitions: an entry lives until
/// every local partition has asked for it (then the running partitions hold the plan).
#[derive(Default)]
struct StageCache {
    plans: std::sync::Mutex<std::collections::HashMap<String, SharedStage>>,
}

/// A decoded stage, the partitions still to ask for it, and when it was decoded.
type SharedStage = (
    Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    u32,
    std::time::Instant,
);

impl StageCache {
    /// How long an entry waits for partitions that never came.
    const KEPT: std::time::Duration = std::time::Duration::from_secs(300);

    fn sweep(&self) {
        self.plans
            .lock()
            .expect("stage cache")
            .retain(|_, (_, _, at)| at.elapsed() < Self::KEPT);
    }

    /// Drops the stages of a cancelled run that partitions have yet to ask for.
    fn cancel(&self, prefix: &str) {
        self.plans
            .lock()
            .expect("stage cache")
            .retain(|stage, _| !stage.starts_with(prefix));
    }

    fn get(
        &self,
        ticket: &StageTicket,
        decode: impl FnOnce() -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        if ticket.stage.is_empty() || ticket.local_partitions <= 1 {
            return decode();
        }
        self.sweep();
        let mut plans = self.plans.lock().expect("stage cache");
        if let Some((plan, remaining, _)) = plans.get_mut(&ticket.stage) {
            let plan = Arc::clone(plan);
            *remaining -= 1;
            if *remaining == 0 {
                plans.remove(&ticket.stage);
            }
            return Ok(plan);
        }
        let plan = decode()?;
        plans.insert(
            ticket.stage.clone(),
            (
                Arc::clone(&plan),
                ticket.local_partitions - 1,
                std::time::Instant::now(),
            ),
        );
        Ok(plan)
    }
}

impl ComputeService {
    pub fn new(opts: ComputeNodeOpts) -> Result<Self> {
        let store = Arc::new(SliceStore::open(&opts.data_dir)?);
        let exchanges = Arc::new(crate::exchange::ExchangeRegistry::default());
        let telemetry = Arc::new(crate::telemetry::Telemetry::default());
        let runs = Arc::new(crate::cancel::Runs::default());
        // The block cache's share of the memory limit is not the queries'.
        let queries = opts.memory_limit - opts.block_cache;
        let mut config = SessionConfig::new()
            .with_extension(Arc::clone(&store))
            .with_extension(Arc::new(BlockCache::new(opts.block_cache)))
            .with_extension(Arc::new(LocalNode(opts.node)))
            .with_extension(Arc::clone(&exchanges))
            .with_extension(Arc::clone(&telemetry))
            .with_extension(Arc::clone(&runs))
            .with_target_partitions(1)
            .with_batch_size(crate::memory::batch_rows(queries, opts.slices.len()))
            .with_sort_spill_reservation_bytes(crate::memory::merge_reserve(
                queries,
                opts.slices.len(),
            ));
        // A partial aggregate that keeps more than half its rows as groups costs more
        // than it saves: its rows pass on to the exchange as they are.
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_ratio_threshold =
            crate::memory::SKIP_PARTIAL_AGGREGATION_RATIO;
        let runtime =
            crate::memory::runtime(queries, opts.slices.len(), &opts.data_dir.join("spill"))?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        // Stages name these functions; the plans are decoded with this context.
        blueshift_functions::register(&ctx);
        Ok(ComputeService {
            stores: Arc::new(blueshift_storage::Stores::new(opts.stores.clone())),
            opts,
            store,
            ctx,
            stages: Arc::new(StageCache::default()),
            exchanges,
            telemetry,
            runs,
        })
    }

    fn task_ctx(&self) -> Arc<TaskContext> {
        self.ctx.task_ctx()
    }

    /// Runs a ticket's stage partition (or feeds an exchange's consumer), with the
    /// figures its stream will record and, for a stage, whether its operators spilled.
    #[allow(clippy::type_complexity)]
    fn run_stage(
        &self,
        ticket: &StageTicket,
    ) -> Result<(
        datafusion::physical_plan::SendableRecordBatchStream,
        crate::telemetry::StreamFigures,
        Option<crate::telemetry::After>,
    )> {
        let ctx = self.task_ctx();
        let plan = self.stages.get(ticket, || {
            let plan =
                physical_plan_from_bytes_with_extension_codec(&ticket.plan, &ctx, &BlueshiftCodec)?;
            Ok(crate::conjunction::split_filters(plan, ticket.exchange)?)
        })?;
        if ticket.exchange {
            let exchange = plan
                .downcast_ref::<crate::exchange::ExchangeExec>()
                .ok_or_else(|| Error::BadRequest("exchange ticket without an exchange".into()))?;
            let figures = crate::telemetry::StreamFigures {
                boundary: exchange.spec().boundary(ticket.partition as usize),
                label: exchange.spec().label(ticket.partition as usize).into(),
                node: self.opts.node,
                partition: ticket.partition,
                ..Default::default()
            };
            // The node's producers run the input of the first consumer's plan; a stream
            // that ends after them reads their figures.
            let input = Arc::clone(exchange.input());
            let after: crate::telemetry::After =
                Box::new(move || crate::telemetry::operator_figures(&input, None));
            return Ok((
                exchange.produce(ticket.partition as usize, ctx)?,
                figures,
                Some(after),
            ));
        }
        let figures = crate::telemetry::StreamFigures {
            boundary: if ticket.stage.is_empty() {
                format!("{}/stage", ticket.query_id)
            } else {
                ticket.stage.clone()
            },
            label: "return".into(),
            node: self.opts.node,
            partition: ticket.partition,
            ..Default::default()
        };
        let partition = ticket.partition as usize;
        let stream = plan.execute(partition, ctx)?;
        let after: crate::telemetry::After =
            Box::new(move || crate::telemetry::operator_figures(&plan, Some(partition)));
        Ok((stream, figures, Some(after)))
    }

    async fn ingest(
        &self,
        req: IngestRequest,
        batches: FlightRecordBatchStream,
    ) -> Result<IngestResponse> {
        let blocks =
            crate::write::stage_rows(Arc::clone(&self.store), req.table, req.slice, batches)
                .await?;
        Ok(IngestResponse { blocks })
    }

    fn action(&self, action: &Action) -> Result<Vec<u8>> {
        match action.r#type.as_str() {
            ACTION_HEALTH => {
                let req: HealthRequest = parse(&action.body)?;
                self.check_identity(&req)?;
                json(&HealthResponse {
                    node: self.opts.node,
                    slices: self.opts.slices.clone(),
                })
            }
            ACTION_GC => {
                let req: GcRequest = parse(&action.body)?;
                let mut removed = 0;
                for &slice in &self.opts.slices {
                    let live: HashSet<String> = req
                        .live
                        .get(&slice)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .collect();
                    removed += self.store.gc(slice, &live)?;
                }
                json(&GcResponse { removed })
            }
            ACTION_QUERY_FIGURES => {
                let req: QueryFiguresRequest = parse(&action.body)?;
                json(&self.telemetry.matching(&req.prefix))
            }
            crate::protocol::ACTION_RUNNING => {
                let req: QueryFiguresRequest = parse(&action.body)?;
                json(&self.runs.running(&req.prefix))
            }
            ACTION_DELETE_ROWS => {
                let req: DeleteRowsRequest = parse(&action.body)?;
                let dv = self
                    .store
                    .put_delete_vector(req.slice, &req.block, &req.rows)?;
                json(&dv)
            }
            other => Err(Error::BadRequest(format!("unknown action {other}"))),
        }
    }
}

impl ComputeService {
    /// Starts a load; its answer stream carries progress every 250 ms, then the result.
    #[allow(clippy::result_large_err)]
    fn start_load(
        &self,
        body: &[u8],
    ) -> std::result::Result<Response<BoxStream<arrow_flight::Result>>, Status> {
        let req: LoadRequest = parse(body).map_err(Status::from)?;
        tracing::debug!(query = %req.query_id, tasks = req.tasks.len(), "load");
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(crate::load::run_load(
            Arc::clone(&self.store),
            Arc::clone(&self.stores),
            self.opts.node,
            self.opts.slices.len(),
            req,
            tx,
        ));
        Ok(json_answers(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    /// Starts this node's share of a snapshot (or of restoring a table from one); its
    /// answer stream carries progress after each file, then the result.
    #[allow(clippy::result_large_err)]
    fn start_snapshot_transfer(
        &self,
        kind: &str,
        body: &[u8],
    ) -> std::result::Result<Response<BoxStream<arrow_flight::Result>>, Status> {
        use blueshift_snapshots::upload::{UploadEvent, UploadRequest};
        let req: UploadRequest = parse(body).map_err(Status::from)?;
        // No location: only the checksums asked for (`CHECKSUM TABLE`).
        let location = if req.location.is_empty() {
            None
        } else {
            Some(
                blueshift_snapshots::Location::open(&self.stores, &req.location, &req.region)
                    .map_err(|e| Status::from(Error::from(e)))?,
            )
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let slices = Arc::clone(&self.store);
        let fetch = kind == ACTION_SNAPSHOT_FETCH;
        tokio::spawn(async move {
            let progress_tx = tx.clone();
            let progress = move |p| {
                let _ = progress_tx.send(Ok(UploadEvent::Progress(p)));
            };
            let result = match &location {
                None => blueshift_snapshots::upload::checksums(slices, &req, &progress)
                    .await
                    .map(|sums| blueshift_snapshots::upload::UploadResult {
                        sums,
                        ..Default::default()
                    }),
                Some(location) if fetch => {
                    blueshift_snapshots::upload::fetch(location, slices, &req, progress).await
                }
                Some(location) => {
                    blueshift_snapshots::upload::upload(location, slices, &req, progress).await
                }
            };
            let _ = tx.send(result.map(UploadEvent::Done).map_err(Error::from));
        });
        Ok(json_answers(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
        ))
    }

    /// Starts this node's share of restoring a table onto this topology; its answer
    /// stream carries progress after each block read, then the staged blocks.
    #[allow(clippy::result_large_err)]
    fn start_replace(
        &self,
        body: &[u8],
    ) -> std::result::Result<Response<BoxStream<arrow_flight::Result>>, Status> {
        let req: crate::protocol::ReplaceRequest = parse(body).map_err(Status::from)?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(crate::replace::replace(
            Arc::clone(&self.store),
            Arc::clone(&self.stores),
            self.opts.node,
            req,
            tx,
        ));
        Ok(json_answers(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
        ))
    }

    /// Records the cluster identity on first contact; refuses a different one afterwards.
    fn check_identity(&self, req: &HealthRequest) -> Result<()> {
        let path = self.store.root().join("node.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let mine: HealthRequest = parse(&bytes)?;
                if &mine != req || req.node != self.opts.node {
                    return Err(Error::BadRequest(format!(
                        "data folder {} belongs to cluster {} node {}, not cluster {} node {}",
                        self.store.root().display(),
                        mine.cluster_id,
                        mine.node,
                        req.cluster_id,
                        req.node
                    )));
                }
                Ok(())
            }
            Err(_) => {
                if req.node != self.opts.node {
                    return Err(Error::BadRequest(format!(
                        "this is compute node {}, not node {}",
                        self.opts.node, req.node
                    )));
                }
                let tmp = self.store.root().join("node.json.tmp");
                let write = || -> std::io::Result<()> {
                    let mut f = std::fs::File::create(&tmp)?;
                    std::io::Write::write_all(&mut f, &json(req).map_err(std::io::Error::other)?)?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &path)
                };
                write()
                    .map_err(|e| Error::BadRequest(format!("cannot record node identity: {e}")))?;
                blueshift_storage::sync_dir(self.store.root())?;
                Ok(())
            }
        }
    }
}

/// A streamed action's answer: each event as one JSON message, an error as the status.
fn json_answers<E: serde::Serialize + Send + 'static>(
    events: impl Stream<Item = Result<E>> + Send + 'static,
) -> Response<BoxStream<arrow_flight::Result>> {
    Response::new(Box::pin(events.map(|event| {
        let event = event.map_err(Status::from)?;
        let body = serde_json::to_vec(&event).map_err(|e| Status::internal(e.to_string()))?;
        Ok(arrow_flight::Result { body: body.into() })
    })))
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::BadRequest(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::BadRequest(e.to_string()))
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = std::result::Result<T, Status>> + Send + 'static>>;

fn unimplemented<T>(what: &str) -> std::result::Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{what} is not offered by a compute node"
    )))
}

#[tonic::async_trait]
impl FlightService for ComputeService {
    type HandshakeStream = BoxStream<HandshakeResponse>;
    type ListFlightsStream = BoxStream<FlightInfo>;
    type DoGetStream = BoxStream<FlightData>;
    type DoPutStream = BoxStream<PutResult>;
    type DoExchangeStream = BoxStream<FlightData>;
    type DoActionStream = BoxStream<arrow_flight::Result>;
    type ListActionsStream = BoxStream<ActionType>;

    async fn handshake(
        &self,
        _r: Request<Streaming<HandshakeRequest>>,
    ) -> std::result::Result<Response<Self::HandshakeStream>, Status> {
        unimplemented("handshake")
    }

    async fn list_flights(
        &self,
        _r: Request<Criteria>,
    ) -> std::result::Result<Response<Self::ListFlightsStream>, Status> {
        unimplemented("list_flights")
    }

    async fn get_flight_info(
        &self,
        _r: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<FlightInfo>, Status> {
        unimplemented("get_flight_info")
    }

    async fn poll_flight_info(
        &self,
        _r: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<PollInfo>, Status> {
        unimplemented("poll_flight_info")
    }

    async fn get_schema(
        &self,
        _r: Request<FlightDescriptor>,
    ) -> std::result::Result<Response<SchemaResult>, Status> {
        unimplemented("get_schema")
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> std::result::Result<Response<Self::DoGetStream>, Status> {
        let ticket = StageTicket::decode(request.into_inner().ticket)
            .map_err(|e| Status::invalid_argument(format!("bad stage ticket: {e}")))?;
        tracing::debug!(
            query = %ticket.query_id,
            partition = ticket.partition,
            exchange = ticket.exchange,
            "run stage"
        );
        self.runs.check(&format!("{}/", ticket.query_id))?;
        let (stream, figures, after) = self.run_stage(&ticket).map_err(Status::from)?;
        let described = figures.clone();
        let schema = stream.schema();
        let rows = crate::telemetry::RowCount::default();
        let counted = rows.clone();
        let stream = stream.inspect_ok(move |b| counted.add(b.num_rows()));
        let ctx = self.task_ctx();
        let batches = stream.map_err(move |e| {
            let e = crate::memory::name_out_of_memory(&ctx, e);
            FlightError::Tonic(Box::new(Error::from(e).to_status()))
        });
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches)
            .map_err(|e| match e {
                FlightError::Tonic(status) => *status,
                other => Status::internal(other.to_string()),
            });
        let measured = crate::telemetry::Measured::new(
            flight,
            figures,
            rows,
            after,
            Arc::clone(&self.telemetry),
        );
        Ok(Response::new(Box::pin(
            self.runs.track(described, measured),
        )))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoPutStream>, Status> {
        let mut input = request.into_inner();
        let first = input
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty ingest stream"))?;
        let cmd = first
            .flight_descriptor
            .as_ref()
            .map(|d| d.cmd.clone())
            .ok_or_else(|| Status::invalid_argument("ingest stream without a descriptor"))?;
        let req: IngestRequest = parse(&cmd).map_err(Status::from)?;
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen_end = Arc::clone(&ended);
        let rest = futures::stream::once(async move { Ok(first) })
            .chain(input)
            .try_filter(move |d| {
                let end = d.app_metadata.as_ref() == INGEST_END;
                if end {
                    seen_end.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                futures::future::ready(!end)
            })
            .map_err(|s: Status| FlightError::Tonic(Box::new(s)));
        let batches = FlightRecordBatchStream::new_from_flight_data(rest);
        let resp = self.ingest(req, batches).await.map_err(Status::from)?;
        if !ended.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Status::aborted(
                "ingest stream was cut off before its end marker",
            ));
        }
        let body = serde_json::to_vec(&resp).map_err(|e| Status::internal(e.to_string()))?;
        let out = PutResult {
            app_metadata: body.into(),
        };
        Ok(Response::new(Box::pin(futures::stream::once(async move {
            Ok(out)
        }))))
    }

    async fn do_exchange(
        &self,
        _r: Request<Streaming<FlightData>>,
    ) -> std::result::Result<Response<Self::DoExchangeStream>, Status> {
        unimplemented("do_exchange")
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> std::result::Result<Response<Self::DoActionStream>, Status> {
        let action = request.into_inner();
        if action.r#type == ACTION_LOAD {
            return self.start_load(&action.body);
        }
        if action.r#type == crate::protocol::ACTION_CANCEL_RUN {
            let req: QueryFiguresRequest = parse(&action.body).map_err(Status::from)?;
            if req.prefix.is_empty() {
                return Err(Status::invalid_argument("cancel_run needs a run"));
            }
            // Producers no consumer came for are no stream: stop them first.
            self.exchanges.cancel(&req.prefix);
            self.stages.cancel(&req.prefix);
            let cancelled = self.runs.cancel(&req.prefix).await;
            let body = json(&cancelled).map_err(Status::from)?;
            let out = arrow_flight::Result { body: body.into() };
            return Ok(Response::new(Box::pin(futures::stream::once(async move {
                Ok(out)
            }))));
        }
        if action.r#type == ACTION_SNAPSHOT_REPLACE {
            return self.start_replace(&action.body);
        }
        if action.r#type == ACTION_SNAPSHOT_UPLOAD || action.r#type == ACTION_SNAPSHOT_FETCH {
            return self.start_snapshot_transfer(&action.r#type, &action.body);
        }
        // Actions touch files: keep them off the async workers.
        let body = tokio::task::block_in_place(|| self.action(&action)).map_err(Status::from)?;
        let out = arrow_flight::Result { body: body.into() };
        Ok(Response::new(Box::pin(futures::stream::once(async move {
            Ok(out)
        }))))
    }

    async fn list_actions(
        &self,
        _r: Request<Empty>,
    ) -> std::result::Result<Response<Self::ListActionsStream>, Status> {
        let actions = [
            ACTION_HEALTH,
            ACTION_GC,
            ACTION_DELETE_ROWS,
            ACTION_QUERY_FIGURES,
            crate::protocol::ACTION_CANCEL_RUN,
            crate::protocol::ACTION_RUNNING,
            ACTION_LOAD,
            ACTION_SNAPSHOT_UPLOAD,
            ACTION_SNAPSHOT_FETCH,
            ACTION_SNAPSHOT_REPLACE,
        ]
        .into_iter()
        .map(|a| {
            Ok(ActionType {
                r#type: a.into(),
                description: String::new(),
            })
        })
        .collect::<Vec<_>>();
        Ok(Response::new(Box::pin(futures::stream::iter(actions))))
    }
}

/// Runs a compute node until `shutdown` resolves.
pub async fn serve(
    opts: ComputeNodeOpts,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let listen = opts.listen;
    let check = crate::secret::Check::new(&opts.secret);
    let service = ComputeService::new(opts)?;
    // Entries of queries that failed or were cancelled before all their partitions and
    // consumers came are dropped even if this node gets no further query.
    let (stages, exchanges) = (Arc::clone(&service.stages), Arc::clone(&service.exchanges));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            stages.sweep();
            exchanges.sweep();
        }
    });
    // A node restored with `restore --lazy` answers at once and fetches its files meanwhile.
    blueshift_snapshots::lazy::start(&service.stores, Arc::clone(&service.store))?;
    let server = FlightServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .add_service(tonic::service::interceptor::InterceptedService::new(
            server, check,
        ))
        .serve_with_shutdown(listen, shutdown)
        .await
        .map_err(|e| Error::BadRequest(format!("compute server on {listen}: {e}")))
}
