//! The `blueshift` command: the `leader` and `compute` roles, and `dev`, which supervises a
//! leader and N compute processes on loopback.
//!
//! ```text
//!  blueshift.toml ─► BLUESHIFT_* ─► flags ─► Config ─┬─► leader  (blueshift_leader::run_leader)
//!                                                   ├─► compute (blueshift_compute::serve)
//!                                                   └─► dev     (spawns this binary per role)
//! ```
//!
//! Modules: `config` (loading and merging the sections each role crate defines), `dev`
//! (the supervisor), `error`.

mod config;
mod dev;
mod error;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::error::Error;

#[derive(Parser)]
#[command(
    name = "blueshift",
    version,
    about = "Blueshift: a columnar MPP data warehouse"
)]
struct Cli {
    /// TOML configuration file (values there are overridden by BLUESHIFT_* variables, then flags).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the leader: PostgreSQL wire protocol, catalog, planner.
    Leader(LeaderArgs),
    /// Run a compute node.
    Compute(ComputeArgs),
    /// Run a leader and N compute nodes on loopback with a local data folder.
    Dev(DevArgs),
}

#[derive(Args)]
struct LeaderArgs {
    /// Address for the PostgreSQL wire protocol [default: 127.0.0.1]
    #[arg(long)]
    host: Option<String>,
    /// PostgreSQL wire protocol port [default: 5439]
    #[arg(long)]
    port: Option<u16>,
    /// Folder for the catalog and commit log [default: ./blueshift-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Compute node addresses, comma-separated, node 0 first.
    #[arg(long, value_delimiter = ',')]
    compute: Option<Vec<String>>,
    /// Slices on each compute node [default: 2]
    #[arg(long)]
    slices_per_node: Option<u32>,
    /// Seconds before an unresponsive compute node fails a query [default: 30]
    #[arg(long)]
    node_timeout_secs: Option<u64>,
    /// DISTSTYLE AUTO tables stay ALL up to this many rows [default: 1000000]
    #[arg(long)]
    auto_all_max_rows: Option<u64>,
}

#[derive(Args)]
struct ComputeArgs {
    /// This node's number, from 0 [default: 0]
    #[arg(long)]
    node: Option<u32>,
    /// Address for the Arrow Flight service [default: 127.0.0.1:7100]
    #[arg(long)]
    listen: Option<String>,
    /// Folder for this node's slices [default: ./blueshift-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Slices on each compute node [default: 2]
    #[arg(long)]
    slices_per_node: Option<u32>,
}

#[derive(Args)]
struct DevArgs {
    /// PostgreSQL wire protocol port [default: 5439]
    #[arg(long)]
    port: Option<u16>,
    /// Folder for all data: leader/ and compute-<n>/ inside [default: ./blueshift-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of compute processes
    #[arg(long, default_value_t = 2)]
    nodes: u32,
    /// Slices on each compute node [default: 2]
    #[arg(long)]
    slices_per_node: Option<u32>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLUESHIFT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = Config::load(cli.config.as_deref()).and_then(|config| {
        // Planning recurses once per level of a statement's nesting: deep stacks let the
        // leader take statements as deeply nested as PostgreSQL does (the parser's limit,
        // 54001, comes first).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_stack_size(64 << 20)
            .build()
            .map_err(|e| Error::Io(e.to_string()))?;
        runtime.block_on(run(cli, config))
    });
    if let Err(e) = result {
        eprintln!("blueshift: {e}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli, mut config: Config) -> error::Result<()> {
    match cli.command {
        Command::Leader(a) => {
            set(&mut config.leader.host, a.host);
            set(&mut config.leader.port, a.port);
            set(&mut config.storage.data_dir, a.data_dir);
            set(&mut config.leader.compute, a.compute);
            set(&mut config.storage.slices_per_node, a.slices_per_node);
            set(&mut config.leader.node_timeout_secs, a.node_timeout_secs);
            set(&mut config.leader.auto_all_max_rows, a.auto_all_max_rows);
            let stores = config.store_config();
            blueshift_leader::run_leader(config.leader, config.storage, stores, shutdown_signal())
                .await?;
            Ok(())
        }
        Command::Compute(a) => {
            set(&mut config.compute.node, a.node);
            set(&mut config.compute.listen, a.listen);
            set(&mut config.storage.data_dir, a.data_dir);
            set(&mut config.storage.slices_per_node, a.slices_per_node);
            let opts = blueshift_compute::ComputeNodeOpts::new(
                &config.compute,
                &config.storage,
                config.store_config(),
            )?;
            tracing::info!("compute node {} listening on {}", opts.node, opts.listen);
            blueshift_compute::serve(opts, shutdown_signal()).await?;
            Ok(())
        }
        Command::Dev(a) => {
            set(&mut config.leader.port, a.port);
            set(&mut config.storage.data_dir, a.data_dir);
            set(&mut config.storage.slices_per_node, a.slices_per_node);
            dev::run_dev(dev::DevOpts {
                port: config.leader.port,
                data_dir: config.storage.data_dir.clone(),
                nodes: a.nodes,
                slices_per_node: config.storage.slices_per_node,
                config_file: cli.config.clone(),
            })
            .await
        }
    }
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}
