//! COPY and UNLOAD, shared by the leader (listing, planning, STDIN) and the compute nodes
//! (reading their share of the input in parallel).
//!
//! Object stores (URLs, `[regions.*]`) live one floor down, in `blueshift_storage`, so
//! snapshots use them without depending on COPY.
//!
//! - [`options`]: Redshift's COPY data-format options.
//! - [`read`]: one task (file, byte range, Parquet row groups) to converted batches.
//! - [`convert`]: fields to typed rows with per-row rejects for `stl_load_errors`.
//! - [`unload`]: query results to files (text, CSV, JSON, Parquet; gzip/zstd).

pub mod convert;
mod error;
pub mod options;
pub mod read;
pub mod unload;

pub use convert::{Reject, Target};
pub use error::{Error, Result};
pub use options::{Compression, CopyOptions, Format, TimeFormat};
pub use read::{LoadTask, Sink, TaskOutcome, read_task};
