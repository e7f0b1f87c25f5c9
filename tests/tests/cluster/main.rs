//! Integration tests: every test starts real `blueshift` processes (a leader and compute
//! nodes on loopback ports, data in a temporary folder) and talks to them through
//! tokio-postgres or the real `psql`. One binary, so the tree links once.

mod basic;
mod copy;
mod crash;
mod dev;
mod distribution;
mod errors;
mod psql;
mod slt;
