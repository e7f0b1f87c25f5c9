//! Blueshift snapshots: a complete, consistent image of the cluster at one commit, in an
//! S3-compatible bucket or a folder, taken incrementally over content-addressed files.
//!
//! ```text
//!  leader: pin a commit ─► pending/<name> ─► nodes: put missing files/<hash> (each its own
//!          slices, in parallel) + block checksums ─► manifests/<name> ─► snapshots/<name>
//!  restore: record ─► manifest (hash checked) ─► files (hash checked) ─► node folders,
//!           re-placed when N x S differs ─► table rows and checksums compared
//! ```
//!
//! Modules: `config` (`[snapshots]`), `format` (record, manifest, layout), `location`
//! (one location's objects), `copy` (cross-region copy), `upload` (a node's share of a snapshot), `gc` (retention and
//! garbage collection), `restore`.

mod config;
pub mod copy;
pub mod format;
pub mod gc;
mod location;
pub mod restore;
pub mod upload;

pub use config::SnapshotConfig;
pub use format::{Kind, Manifest, Record};
pub use location::{Location, list_all, manifest_key, pending_key, record_key};
