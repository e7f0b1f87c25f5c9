//! Blueshift compute node: runs plan stages on its local slices, writes rows as blocks, and
//! holds the pieces both sides of the wire share: the exchange plan nodes, the codec that
//! ships them, and the peer directory through which the leader and the nodes reach nodes.
//!
//! ```text
//!            leader (GatherExec, Peers)              other nodes (Peers)
//!   ┌──────────┼─────────────────────────────┐            │ do_put: COPY rows
//!   │ do_get   │ do_put          do_action    │            ▼ for my slices
//!   ▼          ▼                 ▼            │
//!  stage    ingest rows ─►    health / gc /   │
//!  (plan)   blocks (staged)   delete_rows /   │
//!   │          │              load (COPY)     │
//!   └──── SliceStore: slices/<s>/blocks, dv ──┘
//! ```
//!
//! Modules: `service` (the Flight server), `client` (one node's Flight client), `peers`
//! (topology and a client per node), `exchange` (network boundaries: gather,
//! redistribute, broadcast),
//! `codec` (datafusion-proto codec for Blueshift plan nodes), `protocol` (messages),
//! `config` (the `[compute]` section), `memory` (the memory limit and spilling), `load` (a node's share of a COPY), `replace` (a
//! node's share of restoring a table onto another topology), `write` (write
//! stages: rows routed to their slices where they are produced), `error` (and how codes
//! cross the wire).

mod cancel;
mod client;
mod codec;
mod config;
mod conjunction;
mod error;
mod exchange;
mod key_filter;
mod load;
pub mod memory;
mod peers;
mod protocol;
mod replace;
pub mod secret;
mod service;
pub mod telemetry;
mod write;

pub use client::ComputeClient;
pub use codec::BlueshiftCodec;
pub use config::{ComputeConfig, ComputeNodeOpts};
pub use error::{Error, Result};
pub use exchange::{ExchangeExec, ExchangeRegistry, ExchangeSpec, GatherExec, KeysExec, home_node};
pub use key_filter::{KeyFilterExec, filterable, semi_join_by_keys};
pub use peers::Peers;
pub use protocol::{
    DeleteRowsRequest, ErrorDetails, GcRequest, GcResponse, HealthRequest, HealthResponse,
    IngestRequest, IngestResponse, LoadEvent, LoadRequest, LoadResponse, MAX_MESSAGE_BYTES,
    ReplaceRequest, ReplaceResult, StageTicket,
};
pub use service::{ComputeService, serve};
pub use write::{Replaces, WriteExec, WriteOutcome, WriteSpec};
