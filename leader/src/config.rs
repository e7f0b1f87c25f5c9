//! The `[leader]` section of the configuration.

use serde::{Deserialize, Serialize};

/// The leader role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LeaderConfig {
    /// Address the PostgreSQL wire protocol listens on.
    pub host: String,
    /// PostgreSQL wire protocol port (Redshift's default is 5439).
    pub port: u16,
    /// Compute node addresses, node 0 first.
    pub compute: Vec<String>,
    /// Seconds before an unresponsive compute node fails a query.
    pub node_timeout_secs: u64,
    /// DISTSTYLE AUTO tables are stored like ALL until they hold more rows than this.
    pub auto_all_max_rows: u64,
    /// How many finished queries `stl_query` keeps.
    pub query_log_size: usize,
    /// COPY splits uncompressed CSV/text files and Parquet files larger than this (MiB)
    /// into byte ranges / row-group sets, so one big file loads on every slice.
    pub copy_split_mb: u64,
    /// Milliseconds between progress NOTICEs of a running COPY.
    pub copy_progress_ms: u64,
    /// How connections prove who they are: "scram-sha-256", "md5", "password" (clear
    /// text) or "trust" (no password; only for a cluster no one else can reach).
    pub auth: crate::auth::Method,
    /// The password of the first superuser, `admin`, set when the cluster is created.
    /// Empty: a generated one, printed once and kept in `<data dir>/admin_password`.
    pub admin_password: String,
    /// PEM certificate (chain) and key for TLS. Empty: a self-signed pair made at the
    /// first start in `<data dir>/tls/`.
    pub tls_cert: String,
    pub tls_key: String,
    /// Refuse connections that do not use TLS.
    pub require_tls: bool,
    /// Memory the leader's share of queries (final merges, joins it runs itself) may hold
    /// at once: `auto` (three quarters of the machine's memory) or a size such as `2GiB`.
    pub memory_limit: String,
}

impl Default for LeaderConfig {
    fn default() -> Self {
        LeaderConfig {
            host: "127.0.0.1".into(),
            port: 5439,
            compute: vec![],
            node_timeout_secs: 30,
            auto_all_max_rows: 1_000_000,
            query_log_size: 10_000,
            copy_split_mb: 64,
            copy_progress_ms: 3000,
            auth: crate::auth::Method::Scram,
            admin_password: String::new(),
            tls_cert: String::new(),
            tls_key: String::new(),
            require_tls: false,
            memory_limit: "auto".into(),
        }
    }
}
