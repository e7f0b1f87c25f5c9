//! The engine: runs one SQL statement for a session. Queries go through DataFusion's planner,
//! then [`stages::distribute`] cuts them into stages that run on the compute nodes; writes
//! stage blocks on the nodes and then commit through the [`Catalog`].
//!
//! ```text
//!  session ─► dispatch (parse, by kind) ─┬─ query ─► plan ─► stages ─► Output::Stream
//!                                        ├─ ddl   ─► catalog commit
//!                                        ├─ dml   ─► row ids ─► delete vectors ─┐
//!                                        └─ write ─► route rows ─► staged blocks ┴► commit
//! ```
//!
//! Modules: `session` (per-connection state), `output` (what a statement returns),
//! `dispatch` (parse, dispatch, plan, EXPLAIN, describe), `ddl`, `dml`, `write` (rows into
//! blocks), `settings` (SET/SHOW), `names` (PostgreSQL's result column names), `shapes` (statements
//! reshaped into forms DataFusion plans), `redshift` (Redshift's function syntax), `txn` (transaction blocks), `view` (CREATE/DROP VIEW), `snapshot` (CREATE/DROP SNAPSHOT), `copy` (COPY: its
//! grammar, planning, line accounting and STDIN), `unload` (UNLOAD).

mod analyze;
pub(crate) mod copy;
mod ddl;
mod dispatch;
mod dml;
mod names;
mod output;
mod redshift;
mod schemas;
mod security;
mod session;
mod settings;
mod shapes;
mod snapshot;
pub(crate) mod txn;
mod unload;
mod view;
mod write;

use std::sync::Arc;

use blueshift_compute::Peers;

use crate::catalog::Catalog;
use crate::config::LeaderConfig;
use crate::logs::SystemLogs;

pub(crate) use dispatch::plan_view;
pub use names::postgres_column_names;
pub use output::{LoggedStream, Output};
pub use schemas::reap_temporary;
pub use session::Session;

pub struct Engine {
    pub catalog: Catalog,
    pub cluster: Arc<Peers>,
    pub config: LeaderConfig,
    pub log: Arc<SystemLogs>,
    /// Object stores for COPY and UNLOAD.
    pub stores: Arc<blueshift_storage::Stores>,
    /// Snapshots: taking, listing and deleting them.
    pub snapshots: Arc<crate::snapshots::Snapshots>,
    /// Where COPY FROM STDIN spools its input until the client's last byte.
    pub spool_dir: std::path::PathBuf,
    /// Ids of ended sessions that made temporary tables (`schemas::reap_temporary`).
    pub ended_sessions: tokio::sync::mpsc::UnboundedSender<i32>,
    /// The memory pool and spill folder every session's queries share (`memory_limit`).
    pub runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
}
