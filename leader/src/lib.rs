//! Blueshift leader: the PostgreSQL wire protocol front end, the catalog and commit log, and
//! the distributed planner.
//!
//! ```text
//!  psql / drivers ──pgwire──► server ──► engine ──► DataFusion plan ──► stages::distribute
//!                                          │                                  │
//!                                          │ writes: route rows by DISTSTYLE  │ GatherExec per stage
//!                                          ▼                                  ▼
//!                                 catalog (commit log) ◄── blocks ── compute nodes (Arrow Flight)
//! ```
//!
//! Modules:
//! - `server`: pgwire handlers, COPY FROM STDIN data, NOTICEs, the one SQLSTATE mapping.
//! - `engine`: a statement from text to output (session, dispatch, DDL, DML, writes, COPY,
//!   UNLOAD, SET/SHOW).
//! - `stages`: the stage cutter (which subtrees run on the slices) and EXPLAIN.
//! - `casts`: decimal to integer casts that round, as PostgreSQL's do.
//! - `outer_joins`: outer joins made inner only where the WHERE clause proves it right.
//! - `push_down`: filters moved below joins, aggregates and windows only where they mean
//!   the same there.
//! - `windows`: window results are not taken as sorted where they are not.
//! - `subquery`: the subqueries DataFusion is not trusted with, run per outer binding.
//! - `catalog`: the committed cluster state and its commit log.
//! - `schema` and `system`: what a session's queries can name (tables at the pinned
//!   version, system views).
//! - `logs`: `stl_query`, `stl_load_errors`, `stv_load_state`, `svv_snapshots`,
//!   `stl_snapshot_log`.
//! - `snapshots`: taking, listing and deleting snapshots (one operation at a time).
//! - `sql_split`: statement splitting and Redshift's table attributes.
//! - `auth` (passwords and the start-up exchange) and `access` (users, groups, owners and
//!   grants; the privilege check every path asks).
//! - `tls`: the certificate pgwire's TLS uses (configured, or self-signed at first start).
//! - `pg_overrides`: where pg_catalog's answers about our relations are corrected (column
//!   types with modifiers, `pg_tables`, `pg_views`).
//! - `pg_functions`: catalog functions drivers call that the pg_catalog crate lacks.
//! - `identity`: the versions and user names the server reports to drivers.
//! - `config` (the `[leader]` section), `run` (the leader process), `error`.

mod access;
mod auth;
mod broadcast_joins;
mod casts;
mod catalog;
mod config;
mod engine;
mod error;
mod estimates;
mod explain;
mod identity;
mod join_order;
mod key_filters;
mod key_taps;
mod logs;
mod outer_joins;
mod pg_functions;
mod pg_overrides;
mod push_down;
mod reduce_groups;
mod run;
mod schema;
mod semi_join_reduction;
mod server;
mod snapshots;
mod sql_split;
mod stages;
mod subquery;
mod system;
mod tls;
mod windows;

pub use auth::Method as AuthMethod;
pub use catalog::{create_restored, stored_topology};
pub use config::LeaderConfig;
pub use error::{Error, Result};
pub use run::run_leader;
