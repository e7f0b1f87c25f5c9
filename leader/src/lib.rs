//! Blueshift leader: the PostgreSQL wire protocol front end, the catalog and commit log, the
//! distributed planner, and the `blueshift` binary's roles.
//!
//! ```text
//!  psql / drivers ──pgwire──► server ──► engine ──► DataFusion plan ──► stages::distribute
//!                                          │                                  │
//!                                          │ writes: route rows by DISTSTYLE  │ GatherExec per stage
//!                                          ▼                                  ▼
//!                                 catalog (commit log) ◄── blocks ── compute nodes (Arrow Flight)
//! ```
//!
//! Modules: `server` (pgwire, SQLSTATE mapping), `engine` (statement execution), `stages`
//! (network boundaries and stage cutting, EXPLAIN), `catalog` (committed state), `cluster`
//! (compute node clients), `schema` and `system` (what a session can name), `sql_split`
//! (statement splitting and Redshift table attributes), `query_log` (`stl_query`),
//! `config`, `run` (the process roles).

mod catalog;
mod cluster;
pub mod config;
mod copy;
mod copy_sql;
mod engine;
mod error;
mod load_log;
mod query_log;
pub mod run;
mod schema;
mod server;
mod sql_split;
mod stages;
mod system;
mod unload;

pub use error::{Error, Result};
