//! The leader's handle on one compute node. Every call names the node in its errors, and a
//! node that dies or stops answering is detected by HTTP/2 keep-alive pings within the
//! configured timeout rather than hanging the query.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::{Action, FlightData, FlightDescriptor, Ticket};
use blueshift_snapshots::upload::{UploadEvent, UploadProgress, UploadRequest, UploadResult};
use blueshift_storage::DeleteVectorMeta;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::error::{Error, Result};
use crate::protocol::{
    ACTION_DELETE_ROWS, ACTION_GC, ACTION_HEALTH, ACTION_LOAD, ACTION_SNAPSHOT_FETCH,
    ACTION_SNAPSHOT_REPLACE, ACTION_SNAPSHOT_UPLOAD, DeleteRowsRequest, GcRequest, GcResponse,
    HealthRequest, HealthResponse, INGEST_END, IngestRequest, IngestResponse, LoadEvent,
    LoadRequest, LoadResponse, MAX_MESSAGE_BYTES, StageTicket,
};

#[derive(Debug, Clone)]
pub struct ComputeClient {
    node: u32,
    addr: String,
    timeout: Duration,
    client: FlightServiceClient<InterceptedService<Channel, crate::secret::Carry>>,
}

impl ComputeClient {
    /// Creates a client; the connection is made on first use.
    pub fn new(node: u32, addr: &str, timeout: Duration) -> Result<Self> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Error::BadRequest(format!("bad compute address {addr}: {e}")))?
            .connect_timeout(timeout)
            .http2_keep_alive_interval(timeout / 3)
            .keep_alive_timeout(timeout / 3)
            .keep_alive_while_idle(true)
            // Many stage streams share one connection and the leader may read them unevenly
            // (a merge waits on one slice): windows large enough that unread streams cannot
            // starve the one being read.
            .initial_stream_window_size(Some(4 << 20))
            .initial_connection_window_size(Some(1 << 30))
            .tcp_nodelay(true);
        let client =
            FlightServiceClient::with_interceptor(endpoint.connect_lazy(), crate::secret::Carry)
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(ComputeClient {
            node,
            addr: addr.to_string(),
            timeout,
            client,
        })
    }

    pub fn node(&self) -> u32 {
        self.node
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn status_error(&self, status: tonic::Status) -> Error {
        remote_error(self.node, &self.addr, status)
    }

    /// Awaits a call's answer, failing with the node's name if it does not come in time.
    async fn within_timeout<T>(
        &self,
        call: impl std::future::Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<tonic::Response<T>> {
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| Error::NodeTimeout {
                node: self.node,
                secs: self.timeout.as_secs(),
            })?
            .map_err(|s| self.status_error(s))
    }

    /// The one message a unary-style answer stream carries.
    async fn first_message<T>(&self, mut answer: tonic::Streaming<T>) -> Result<T> {
        answer
            .message()
            .await
            .map_err(|s| self.status_error(s))?
            .ok_or_else(|| bad_answer(format!("compute node {} sent an empty answer", self.node)))
    }

    async fn action<T: serde::de::DeserializeOwned>(&self, kind: &str, body: Vec<u8>) -> Result<T> {
        let mut client = self.client.clone();
        let call = client.do_action(Action {
            r#type: kind.into(),
            body: body.into(),
        });
        let resp = self.within_timeout(call).await?;
        let first = self.first_message(resp.into_inner()).await?;
        serde_json::from_slice(&first.body).map_err(|e| bad_answer(e.to_string()))
    }

    pub async fn health(&self, cluster_id: &str) -> Result<HealthResponse> {
        let req = HealthRequest {
            cluster_id: cluster_id.to_string(),
            node: self.node,
        };
        self.action(
            ACTION_HEALTH,
            serde_json::to_vec(&req).expect("serializable"),
        )
        .await
    }

    /// An action about the streams of boundaries starting with `prefix`.
    async fn prefix_action<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        prefix: &str,
    ) -> Result<T> {
        let req = crate::protocol::QueryFiguresRequest {
            prefix: prefix.to_string(),
        };
        self.action(kind, serde_json::to_vec(&req).expect("serializable"))
            .await
    }

    /// The figures of the streams this node served for boundaries starting with `prefix`.
    pub async fn query_figures(
        &self,
        prefix: &str,
    ) -> Result<Vec<crate::telemetry::StreamFigures>> {
        self.prefix_action(crate::protocol::ACTION_QUERY_FIGURES, prefix)
            .await
    }

    /// Stops this node's streams of the run `prefix` names (`<run>/`); answers once they
    /// are gone, with how many there were.
    pub async fn cancel_run(&self, prefix: &str) -> Result<usize> {
        self.prefix_action(crate::protocol::ACTION_CANCEL_RUN, prefix)
            .await
    }

    /// The streams this node is serving now for boundaries starting with `prefix`.
    pub async fn running(&self, prefix: &str) -> Result<Vec<crate::telemetry::StreamFigures>> {
        self.prefix_action(crate::protocol::ACTION_RUNNING, prefix)
            .await
    }

    pub async fn gc(&self, req: &GcRequest) -> Result<GcResponse> {
        self.action(ACTION_GC, serde_json::to_vec(req).expect("serializable"))
            .await
    }

    pub async fn delete_rows(&self, req: &DeleteRowsRequest) -> Result<DeleteVectorMeta> {
        self.action(
            ACTION_DELETE_ROWS,
            serde_json::to_vec(req).expect("serializable"),
        )
        .await
    }

    /// Runs a node's share of a COPY. `progress` sees each progress report; a node that
    /// sends nothing (not even progress) for the timeout fails the load naming the node.
    pub async fn load(
        &self,
        req: &LoadRequest,
        mut progress: impl FnMut(u64, u64, u64),
    ) -> Result<LoadResponse> {
        self.streamed(ACTION_LOAD, req, "a load", |event| match event {
            LoadEvent::Progress {
                bytes,
                rows,
                tasks_done,
            } => {
                progress(bytes, rows, tasks_done);
                None
            }
            LoadEvent::Done(resp) => Some(resp),
        })
        .await
    }

    /// Runs a node's share of a snapshot (its files put into the location, the block
    /// checksums asked for), reporting progress as it goes.
    pub async fn snapshot_upload(
        &self,
        req: &UploadRequest,
        progress: impl FnMut(UploadProgress),
    ) -> Result<UploadResult> {
        self.snapshot_transfer(ACTION_SNAPSHOT_UPLOAD, req, progress)
            .await
    }

    /// Re-places a snapshot table's rows from the node's share of its blocks onto this
    /// cluster's slices (restoring a table taken on another topology).
    pub async fn snapshot_replace(
        &self,
        req: &crate::protocol::ReplaceRequest,
    ) -> Result<crate::protocol::ReplaceResult> {
        self.streamed(
            ACTION_SNAPSHOT_REPLACE,
            req,
            "a table restore",
            |event| match event {
                crate::protocol::ReplaceEvent::Progress(_) => None,
                crate::protocol::ReplaceEvent::Done(r) => Some(r),
            },
        )
        .await
    }

    /// Fetches files of a snapshot into the node's slices (restoring a table).
    pub async fn snapshot_fetch(
        &self,
        req: &UploadRequest,
        progress: impl FnMut(UploadProgress),
    ) -> Result<UploadResult> {
        self.snapshot_transfer(ACTION_SNAPSHOT_FETCH, req, progress)
            .await
    }

    async fn snapshot_transfer(
        &self,
        kind: &str,
        req: &UploadRequest,
        mut progress: impl FnMut(UploadProgress),
    ) -> Result<UploadResult> {
        self.streamed(kind, req, "a snapshot transfer", |event| match event {
            UploadEvent::Progress(p) => {
                progress(p);
                None
            }
            UploadEvent::Done(r) => Some(r),
        })
        .await
    }

    /// An action answered by a stream of JSON events until `on_event` finds the result.
    /// A node that sends nothing for the timeout fails the call naming the node.
    async fn streamed<E: serde::de::DeserializeOwned, R>(
        &self,
        kind: &str,
        req: &impl serde::Serialize,
        what: &str,
        mut on_event: impl FnMut(E) -> Option<R>,
    ) -> Result<R> {
        let mut client = self.client.clone();
        let call = client.do_action(Action {
            r#type: kind.into(),
            body: serde_json::to_vec(req).expect("serializable").into(),
        });
        let mut answers = self.within_timeout(call).await?.into_inner();
        loop {
            let next = tokio::time::timeout(self.timeout, answers.message())
                .await
                .map_err(|_| Error::NodeTimeout {
                    node: self.node,
                    secs: self.timeout.as_secs(),
                })?
                .map_err(|s| self.status_error(s))?
                .ok_or_else(|| {
                    bad_answer(format!(
                        "compute node {} ended {what} without its result",
                        self.node
                    ))
                })?;
            let event =
                serde_json::from_slice(&next.body).map_err(|e| bad_answer(e.to_string()))?;
            if let Some(result) = on_event(event) {
                return Ok(result);
            }
        }
    }

    /// Runs one partition of a stage on the node and streams its batches.
    pub async fn run_stage(
        &self,
        ticket: StageTicket,
    ) -> Result<BoxStream<'static, Result<RecordBatch>>> {
        let mut client = self.client.clone();
        let req = Ticket {
            ticket: ticket.encode_to_vec().into(),
        };
        let resp = self.within_timeout(client.do_get(req)).await?;
        let (node, addr) = (self.node, self.addr.clone());
        let flight = resp
            .into_inner()
            .map_err(|s| FlightError::Tonic(Box::new(s)));
        let batches =
            FlightRecordBatchStream::new_from_flight_data(flight).map_err(move |e| match e {
                FlightError::Tonic(status) => remote_error(node, &addr, *status),
                other => Error::Flight(other),
            });
        Ok(batches.boxed())
    }

    /// Streams rows for one slice to the node, which writes them as staged blocks.
    pub async fn ingest(
        &self,
        req: &IngestRequest,
        schema: arrow::datatypes::SchemaRef,
        batches: impl Stream<Item = Result<RecordBatch>> + Send + 'static,
    ) -> Result<IngestResponse> {
        let mut client = self.client.clone();
        let descriptor = FlightDescriptor::new_cmd(serde_json::to_vec(req).expect("serializable"));
        let flight = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .with_flight_descriptor(Some(descriptor))
            .build(batches.map_err(|e| FlightError::ExternalError(Box::new(e))));
        // Rows are acknowledged only if the stream ends with the end marker, which follows
        // only a stream that had no error.
        let failed = Arc::new(AtomicBool::new(false));
        let saw_error = Arc::clone(&failed);
        let end = futures::stream::once(async move {
            (!failed.load(Ordering::SeqCst)).then(|| FlightData {
                app_metadata: INGEST_END.into(),
                ..Default::default()
            })
        })
        .filter_map(futures::future::ready);
        let flight = flight
            .take_while(move |r| {
                if r.is_err() {
                    saw_error.store(true, Ordering::SeqCst);
                }
                futures::future::ready(r.is_ok())
            })
            .filter_map(|r| futures::future::ready(r.ok()))
            .chain(end);
        let resp = client
            .do_put(flight)
            .await
            .map_err(|s| self.status_error(s))?;
        let first = self.first_message(resp.into_inner()).await?;
        serde_json::from_slice(&first.app_metadata).map_err(|e| bad_answer(e.to_string()))
    }
}

fn remote_error(node: u32, addr: &str, status: tonic::Status) -> Error {
    Error::from_status(node, addr, &status)
}

/// A node's answer that does not follow the protocol.
fn bad_answer(message: impl Into<String>) -> Error {
    Error::Remote {
        code: blueshift_storage::Code::Internal,
        message: message.into(),
    }
}
