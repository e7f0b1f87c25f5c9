//! The leader process: reach every compute node, open the catalog, clear what a crash left
//! behind, then serve the PostgreSQL wire protocol until `shutdown`.

use std::sync::Arc;
use std::time::Duration;

use blueshift_storage::{StorageConfig, StoreConfig};

use crate::catalog::Catalog;
use crate::config::LeaderConfig;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::logs::SystemLogs;
use blueshift_compute::Peers;

pub async fn run_leader(
    lc: LeaderConfig,
    storage: StorageConfig,
    stores: StoreConfig,
    snapshots: blueshift_snapshots::SnapshotConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    let timeout = Duration::from_secs(lc.node_timeout_secs.max(1));
    let cluster = Arc::new(Peers::new(&lc.compute, storage.slices_per_node, timeout)?);
    let catalog = Catalog::open(
        &crate::catalog::catalog_dir(&storage.data_dir),
        cluster.topology,
    )?;
    crate::auth::ensure_admin(&catalog, &lc.admin_password, &storage.data_dir).await?;
    let cluster_id = catalog.pin().cluster_id.clone();
    cluster
        .wait_healthy(&cluster_id, Duration::from_secs(120))
        .await?;
    // COPY FROM STDIN input spooled before a crash belongs to no statement any more.
    let spool = storage.data_dir.join("spool");
    if spool.exists() {
        std::fs::remove_dir_all(&spool)
            .map_err(|e| Error::Io(format!("cannot clear {}: {e}", spool.display())))?;
    }
    let removed = cluster.gc(&catalog.files_in_use()).await?;
    if removed > 0 {
        tracing::info!(removed, "removed files of uncommitted or dropped data");
    }
    let tls = crate::tls::acceptor(&lc, &storage.data_dir)?;
    let listener = tokio::net::TcpListener::bind((lc.host.as_str(), lc.port))
        .await
        .map_err(|e| Error::Io(format!("cannot listen on {}:{}: {e}", lc.host, lc.port)))?;
    tracing::info!("leader listening on {}:{}", lc.host, lc.port);
    let stores = Arc::new(blueshift_storage::Stores::new(stores));
    let log = Arc::new(SystemLogs::new(lc.query_log_size));
    let _ = log.cluster.set(Arc::clone(&cluster));
    let snapshots = Arc::new(crate::snapshots::Snapshots::open(
        snapshots,
        &stores,
        &storage.data_dir,
        &cluster_id,
    )?);
    // An unreachable snapshot location must not keep the cluster down: it shows in the
    // log, and snapshot statements report it themselves.
    if let Err(e) = snapshots.start(&log).await {
        tracing::warn!(
            "snapshot location {}: {}",
            snapshots.primary.url,
            e.user_message()
        );
    }
    let (ended_sessions, ended) = tokio::sync::mpsc::unbounded_channel();
    let runtime = blueshift_compute::memory::runtime(
        blueshift_compute::memory::parse_limit(&lc.memory_limit)?,
        blueshift_compute::memory::LEADER_SLICES,
        // Not `spill`: a compute node started on the same folder empties that one.
        &storage.data_dir.join("leader-spill"),
    )?;
    let engine = Arc::new(Engine {
        catalog,
        cluster,
        log,
        stores,
        snapshots,
        spool_dir: spool,
        config: lc,
        ended_sessions,
        runtime,
    });
    // Temporary tables of sessions a crash or stop ended go first.
    engine.drop_temporary(|_| true).await?;
    tokio::spawn(crate::engine::reap_temporary(Arc::clone(&engine), ended));
    tokio::spawn(crate::snapshots::schedule(Arc::clone(&engine)));
    crate::server::serve(engine, listener, tls, shutdown).await;
    Ok(())
}
