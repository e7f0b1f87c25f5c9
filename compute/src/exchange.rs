//! Network boundaries as DataFusion plan nodes. Each cuts a plan into stages: the part
//! below runs on the compute nodes, one partition per slice; the part above reads the
//! streams the boundary delivers over Arrow Flight.
//!
//! - [`GatherExec`]: every slice's stream to the leader.
//! - [`ExchangeExec`]: redistribute (by the placement hash, onto every slice) and
//!   broadcast (to every node), node to node.

mod gather;
mod shuffle;

pub use gather::GatherExec;
pub use shuffle::{ExchangeExec, ExchangeRegistry, ExchangeSpec, home_node};
