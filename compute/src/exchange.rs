//! Network boundaries as DataFusion plan nodes. Each cuts a plan into stages: the part
//! below runs on the compute nodes, one partition per slice; the part above reads the
//! streams the boundary delivers over Arrow Flight.
//!
//! - [`GatherExec`]: every slice's stream to the leader.
//!
//! Redistribute (by the placement hash) and broadcast belong here beside it, decoded by the
//! same codec and reaching other nodes through the same [`crate::Peers`].

mod gather;

pub use gather::GatherExec;
