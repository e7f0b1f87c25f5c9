//! Blueshift compute node: runs plan stages on its local slices and writes the rows the
//! leader sends it as blocks. Everything it offers is an Arrow Flight service; the leader
//! talks to it through [`ComputeClient`].
//!
//! ```text
//!            leader
//!   ┌──────────┼─────────────────────────────┐
//!   │ do_get   │ do_put          do_action    │
//!   ▼          ▼                 ▼            │
//!  stage    ingest rows ─►    health / gc /   │
//!  (plan)   blocks (staged)   delete_rows     │
//!   │          │                 │            │
//!   └──── SliceStore: slices/<s>/blocks, dv ──┘
//! ```
//!
//! Modules: `service` (the Flight server), `client` (the leader's side), `codec`
//! (datafusion-proto codec for Blueshift plan nodes), `protocol` (messages), `error`.

mod client;
mod codec;
mod error;
mod load;
mod protocol;
mod service;

pub use client::ComputeClient;
pub use codec::BlueshiftCodec;
pub use error::{Error, Result};
pub use protocol::{
    DeleteRowsRequest, GcRequest, GcResponse, HealthRequest, HealthResponse, IngestRequest,
    IngestResponse, LoadEvent, LoadRequest, LoadResponse, StageTicket,
};
pub use service::{ComputeNodeOpts, ComputeService, MAX_MESSAGE_BYTES, serve};
