//! Messages between the leader and compute nodes. Everything rides on Arrow Flight (gRPC
//! over tonic): stages are `do_get` tickets, row ingest is `do_put`, control calls are
//! `do_action`s with JSON bodies.

use std::collections::BTreeMap;

use blueshift_storage::BlockMeta;
use blueshift_storage::table::TableDef;
use serde::{Deserialize, Serialize};

/// Largest gRPC message either side accepts.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// A `do_get` ticket: run `partition` of the serialized stage and stream its output.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StageTicket {
    /// The stage plan, encoded by datafusion-proto with [`crate::BlueshiftCodec`].
    #[prost(bytes = "vec", tag = "1")]
    pub plan: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub partition: u32,
    #[prost(string, tag = "3")]
    pub query_id: String,
    /// The plan is an exchange and the caller is its consumer `partition`: stream this
    /// node's share of the exchanged rows (starting its producers on the first call).
    #[prost(bool, tag = "4")]
    pub exchange: bool,
    /// Names the stage within its run: the node decodes it once and runs each of its
    /// `local_partitions` partitions from that one plan (so a build side broadcast to
    /// this node is read and hashed once).
    #[prost(string, tag = "5")]
    pub stage: String,
    #[prost(uint32, tag = "6")]
    pub local_partitions: u32,
}

/// The details of an error status: the protocol-neutral code, by [`blueshift_storage::Code`]
/// name, so a node's error reaches the user with its code whatever its text says.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ErrorDetails {
    #[prost(string, tag = "1")]
    pub code: String,
}

/// The `do_put` descriptor command: rows that follow belong to `table` on `slice`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestRequest {
    pub table: TableDef,
    pub slice: u32,
}

/// The `do_put` answer: the blocks written (staged, not yet committed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestResponse {
    pub blocks: Vec<BlockMeta>,
}

pub const ACTION_HEALTH: &str = "health";
pub const ACTION_GC: &str = "gc";
/// A run's stream figures (`telemetry`): body [`QueryFiguresRequest`], answer a JSON list.
pub const ACTION_QUERY_FIGURES: &str = "query_figures";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryFiguresRequest {
    /// Boundaries whose name starts with this (a run, `<query>.`; empty: all kept).
    pub prefix: String,
}
/// Stop a run's streams on the node (`cancel`): body [`QueryFiguresRequest`] (its prefix
/// is `<run>/`), answered once they are gone with the JSON count cancelled.
pub const ACTION_CANCEL_RUN: &str = "cancel_run";
/// The streams the node is serving now: body [`QueryFiguresRequest`], answer a JSON list
/// of stream figures whose `micros` is the time so far.
pub const ACTION_RUNNING: &str = "running";
pub const ACTION_DELETE_ROWS: &str = "delete_rows";
/// A node's share of a snapshot: [`blueshift_snapshots::upload::UploadRequest`], answered
/// by a stream of [`blueshift_snapshots::upload::UploadEvent`]s.
pub const ACTION_SNAPSHOT_UPLOAD: &str = "snapshot_upload";
/// The files of a table restored from a snapshot, fetched into this node's slices; the
/// same request and answer as [`ACTION_SNAPSHOT_UPLOAD`].
pub const ACTION_SNAPSHOT_FETCH: &str = "snapshot_fetch";
/// Rows of a snapshot's table re-placed onto this cluster's slices (restoring one table
/// taken on another topology): [`ReplaceRequest`], answered by [`ReplaceEvent`]s.
pub const ACTION_SNAPSHOT_REPLACE: &str = "snapshot_replace";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplaceRequest {
    pub location: String,
    pub region: String,
    /// The table as it will be committed (its new name and id).
    pub table: blueshift_storage::table::TableDef,
    pub topology: blueshift_storage::placement::Topology,
    /// Every compute node's address, node 0 first.
    pub nodes: Vec<String>,
    /// Where this node's round-robin starts for EVEN tables.
    pub even_start: u64,
    pub timeout_secs: u64,
    /// The snapshot's blocks this node reads.
    pub blocks: Vec<BlockMeta>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReplaceResult {
    /// Staged (uncommitted) blocks per destination slice.
    pub blocks: BTreeMap<u32, Vec<BlockMeta>>,
    pub rows: u64,
    /// The checksum of the rows read (`blueshift_storage::checksum`).
    pub checksum: u64,
    pub bytes_read: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReplaceEvent {
    /// Blocks read so far.
    Progress(u64),
    Done(ReplaceResult),
}

/// Marks the end of an ingest stream (the `app_metadata` of a final, empty message): a
/// stream that ends without it was cut off, and its rows are not acknowledged.
pub const INGEST_END: &[u8] = b"blueshift:end-of-rows";

/// Which cluster and node the leader takes this node to be. A node's data folder records
/// the first identity it is given and refuses any other, so a leader pointed at the wrong
/// folders cannot garbage-collect another cluster's blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRequest {
    pub cluster_id: String,
    pub node: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthResponse {
    pub node: u32,
    pub slices: Vec<u32>,
}

/// Remove every file of these slices that the committed state does not name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcRequest {
    pub live: BTreeMap<u32, Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GcResponse {
    pub removed: usize,
}

/// Mark rows of one block deleted by writing a new delete vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteRowsRequest {
    pub slice: u32,
    pub block: BlockMeta,
    pub rows: Vec<u64>,
}

pub const ACTION_LOAD: &str = "load";

/// A node's share of a COPY: read these tasks, route each row to its slice by the table's
/// distribution (rows for other nodes travel there by `do_put`), stage the blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadRequest {
    pub query_id: String,
    pub target: blueshift_load::Target,
    pub topology: blueshift_storage::placement::Topology,
    /// Every compute node's address, node 0 first.
    pub nodes: Vec<String>,
    pub options: blueshift_load::CopyOptions,
    pub access: blueshift_storage::Access,
    pub tasks: Vec<blueshift_load::LoadTask>,
    /// Where this node's round-robin starts for EVEN tables.
    pub even_start: u64,
    pub timeout_secs: u64,
}

/// One message of a load's answer stream: progress while it runs, then the result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LoadEvent {
    Progress {
        bytes: u64,
        rows: u64,
        tasks_done: u64,
    },
    Done(LoadResponse),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadResponse {
    /// Staged (uncommitted) blocks per destination slice.
    pub blocks: BTreeMap<u32, Vec<BlockMeta>>,
    pub rows: u64,
    /// Rejected rows (at most MAXERROR + 1 of them).
    pub rejects: Vec<blueshift_load::Reject>,
    pub reject_count: u64,
    /// Lines each task spanned, by task id.
    pub task_lines: Vec<(usize, u64)>,
    /// The node stopped early because its rejects alone exceed MAXERROR.
    pub exceeded: bool,
}
