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
//! (the supervisor), `ops` (operator commands: snapshots, restore, DR drills), `error`.

mod config;
mod dev;
mod error;
mod ops;

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
    /// Create, list, describe or delete snapshots.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Build a new cluster's data folder from a snapshot (offline).
    Restore(RestoreArgs),
    /// Prove a snapshot restores: take one (or use --snapshot), wait for its copy in the DR
    /// region, restore it into a temporary cluster, verify every table, remove it.
    DrDrill {
        #[arg(long)]
        snapshot: Option<String>,
        /// The region to restore from [default: [snapshots] copy_to_region, else the primary]
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        leader: ops::LeaderAddr,
    },
    /// Restore one table of a snapshot into the running cluster under a new name.
    RestoreTable {
        #[arg(long)]
        snapshot: String,
        #[arg(long)]
        source_table: String,
        /// Must not exist yet.
        #[arg(long)]
        target_table: String,
        /// Read the snapshot from this region's copy [default: the primary location]
        #[arg(long)]
        region: Option<String>,
        #[command(flatten)]
        leader: ops::LeaderAddr,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Take a manual snapshot of the running cluster.
    Create {
        name: String,
        /// Delete it automatically after this many days [default: kept until deleted]
        #[arg(long)]
        retention_days: Option<u32>,
        /// Print the snapshot's record as JSON (no progress bar).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        leader: ops::LeaderAddr,
    },
    /// List snapshots: name, kind, commit, time, tables, rows, bytes, bytes uploaded, status, regions.
    List {
        /// Only snapshots complete in this region.
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        leader: ops::LeaderAddr,
    },
    /// Show one snapshot with its tables' rows and checksums.
    Describe {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        leader: ops::LeaderAddr,
    },
    /// Copy a snapshot to another region now (every new snapshot is copied to
    /// [snapshots] copy_to_region on its own).
    Copy {
        name: String,
        #[arg(long)]
        to_region: String,
        #[command(flatten)]
        leader: ops::LeaderAddr,
    },
    /// Delete a snapshot from every region, and the files no other snapshot needs.
    Delete {
        name: String,
        #[command(flatten)]
        leader: ops::LeaderAddr,
    },
}

#[derive(Args)]
struct RestoreArgs {
    /// The snapshot to restore.
    #[arg(long)]
    snapshot: String,
    /// Restore from this region's copy [default: the primary location]
    #[arg(long)]
    region: Option<String>,
    /// Read the snapshot from this location (s3://bucket/prefix or a folder) instead of
    /// the configured one.
    #[arg(long)]
    location: Option<String>,
    /// The new cluster's data folder (must not exist or be empty).
    #[arg(long)]
    data_dir: PathBuf,
    /// Compute nodes of the new cluster [default: the snapshot's]
    #[arg(long)]
    nodes: Option<u32>,
    /// Slices per node of the new cluster [default: the snapshot's]
    #[arg(long)]
    slices_per_node: Option<u32>,
    /// Write the catalog only and start answering at once: the nodes fetch their files
    /// when first read and in the background (the snapshot's own topology only).
    #[arg(long)]
    lazy: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
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
    /// Memory the leader's queries may hold at once: auto or a size such as 2GiB [default: auto]
    #[arg(long)]
    memory_limit: Option<String>,
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
    /// Memory the node's queries may hold at once: auto or a size such as 4GiB [default: auto]
    #[arg(long)]
    memory_limit: Option<String>,
}

#[derive(Args)]
struct DevArgs {
    /// PostgreSQL wire protocol port [default: 5439]
    #[arg(long)]
    port: Option<u16>,
    /// Folder for all data: leader/ and compute-<n>/ inside [default: ./blueshift-data]
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Number of compute processes [default: the data folder's, or 2]
    #[arg(long)]
    nodes: Option<u32>,
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
            set(&mut config.leader.memory_limit, a.memory_limit);
            let secret = blueshift_compute::secret::resolve(
                &config.cluster.secret,
                &config.storage.data_dir,
            )?;
            blueshift_compute::secret::install(&secret)?;
            let stores = config.store_config();
            blueshift_leader::run_leader(
                config.leader,
                config.storage,
                stores,
                config.snapshots,
                shutdown_signal(),
            )
            .await?;
            Ok(())
        }
        Command::Compute(a) => {
            set(&mut config.compute.node, a.node);
            set(&mut config.compute.listen, a.listen);
            set(&mut config.storage.data_dir, a.data_dir);
            set(&mut config.storage.slices_per_node, a.slices_per_node);
            set(&mut config.compute.memory_limit, a.memory_limit);
            let secret = blueshift_compute::secret::resolve(
                &config.cluster.secret,
                &config.storage.data_dir,
            )?;
            blueshift_compute::secret::install(&secret)?;
            let opts = blueshift_compute::ComputeNodeOpts::new(
                &config.compute,
                &config.storage,
                config.store_config(),
                secret,
            )?;
            tracing::info!("compute node {} listening on {}", opts.node, opts.listen);
            blueshift_compute::serve(opts, shutdown_signal()).await?;
            Ok(())
        }
        Command::Dev(a) => {
            set(&mut config.leader.port, a.port);
            set(&mut config.storage.data_dir, a.data_dir);
            // A data folder that holds a cluster fixes its topology; flags may only agree.
            let (nodes, slices_per_node) = match blueshift_leader::stored_topology(
                &config.storage.data_dir.join("leader"),
            )? {
                Some(t) => {
                    let contradicts = a.nodes.is_some_and(|n| n != t.nodes)
                        || a.slices_per_node.is_some_and(|s| s != t.slices_per_node);
                    if contradicts {
                        return Err(Error::Config(format!(
                            "{} holds a cluster of {} nodes x {} slices; --nodes/--slices-per-node cannot change that (restore a snapshot into a new folder to re-slice)",
                            config.storage.data_dir.display(),
                            t.nodes,
                            t.slices_per_node
                        )));
                    }
                    (t.nodes, t.slices_per_node)
                }
                None => (
                    a.nodes.unwrap_or(2),
                    a.slices_per_node.unwrap_or(config.storage.slices_per_node),
                ),
            };
            dev::run_dev(dev::DevOpts {
                port: config.leader.port,
                data_dir: config.storage.data_dir.clone(),
                nodes,
                slices_per_node,
                config_file: cli.config.clone(),
                secret_configured: !config.cluster.secret.is_empty(),
                // `auto` on one machine: the processes share its memory.
                compute_memory: shared_auto(&config.compute.memory_limit, nodes + 1),
                leader_memory: shared_auto(&config.leader.memory_limit, nodes + 1),
            })
            .await
        }
        Command::Snapshot(c) => match c {
            SnapshotCommand::Create {
                name,
                retention_days,
                json,
                leader,
            } => ops::snapshot_create(&config, &leader, &name, retention_days, json).await,
            SnapshotCommand::List {
                region,
                json,
                leader,
            } => ops::snapshot_list(&config, &leader, region.as_deref(), json).await,
            SnapshotCommand::Describe { name, json, leader } => {
                ops::snapshot_describe(&config, &leader, &name, json).await
            }
            SnapshotCommand::Copy {
                name,
                to_region,
                leader,
            } => ops::snapshot_copy(&config, &leader, &name, &to_region).await,
            SnapshotCommand::Delete { name, leader } => {
                ops::snapshot_delete(&config, &leader, &name).await
            }
        },
        Command::RestoreTable {
            snapshot,
            source_table,
            target_table,
            region,
            leader,
        } => {
            ops::restore_table(
                &config,
                &leader,
                &snapshot,
                &source_table,
                &target_table,
                region.as_deref(),
            )
            .await
        }
        Command::DrDrill {
            snapshot,
            region,
            json,
            leader,
        } => {
            let opts = ops::DrillOpts {
                snapshot,
                region,
                leader,
                config_file: cli.config.clone(),
            };
            let report = ops::dr_drill(&config, &opts).await?;
            ops::print_drill(&report, json)?;
            if report.ok {
                Ok(())
            } else {
                Err(Error::Io("the DR drill found mismatches".into()))
            }
        }
        Command::Restore(a) => {
            let opts = ops::RestoreOpts {
                snapshot: a.snapshot,
                region: a.region,
                location: a.location,
                data_dir: a.data_dir,
                nodes: a.nodes,
                slices_per_node: a.slices_per_node,
                lazy: a.lazy,
                json: a.json,
            };
            let report = ops::restore(&config, &opts).await?;
            ops::print_restore(&report, opts.json)
        }
    }
}

/// Resolves when the process receives SIGINT or SIGTERM after its first poll. Until then
/// the signals keep their default action (the process ends at once), which is what a
/// leader or compute node still starting up should do.
pub async fn shutdown_signal() {
    caught_shutdown_signal().await
}

/// SIGINT or SIGTERM, caught from this call on (not from the first poll), for a process
/// that must stop its children even when told to stop while it is still starting them.
pub fn caught_shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// The limit a process started by `dev` gets for a `memory_limit` setting: a size as given,
/// and `auto` as an equal share, among `processes`, of what `auto` gives one process.
fn shared_auto(setting: &str, processes: u32) -> Option<String> {
    if !setting.trim().eq_ignore_ascii_case("auto") {
        return None;
    }
    let whole = blueshift_compute::memory::parse_limit("auto").ok()?;
    Some((whole / processes.max(1) as usize).to_string())
}
