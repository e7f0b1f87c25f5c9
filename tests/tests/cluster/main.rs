//! Integration tests: every test starts real `blueshift` processes (a leader and compute
//! nodes on loopback ports, data in a temporary folder) and talks to them through
//! tokio-postgres or the real `psql`. One binary, so the tree links once.

// Helpers of tests, like the tests (`clippy.toml`): a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod basic;
mod clients;
mod copy;
mod crash;
mod dev;
mod difftest;
mod distribution;
mod errors;
mod memory;
mod mpp;
mod psql;
mod schemas;
mod security;
mod slt;
mod snapshots;
mod stats;
mod tpch;
mod transactions;
mod views;
mod writes;
