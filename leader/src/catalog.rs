//! The catalog: every table's definition and its committed data (slice manifests), as one
//! immutable [`ClusterState`] value. A query pins the current `Arc<ClusterState>` and reads
//! that version throughout (snapshot isolation); a write builds the next state, records it
//! durably in the commit log, and only then publishes it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};

use blueshift_storage::placement::Topology;
use blueshift_storage::table::{TableDef, ViewDef};
use blueshift_storage::{CommitLog, TableData};
use serde::{Deserialize, Serialize};

use crate::access::{Acl, Group, User};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableState {
    pub def: TableDef,
    pub data: Arc<TableData>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterState {
    pub version: u64,
    /// Chosen when the cluster is created; every compute data folder records it.
    pub cluster_id: String,
    pub topology: Topology,
    pub next_table_id: u64,
    pub tables: BTreeMap<String, TableState>,
    /// Views share the tables' names (a name is a table or a view).
    #[serde(default)]
    pub views: BTreeMap<String, ViewDef>,
    /// Users by name (`access`).
    #[serde(default)]
    pub users: BTreeMap<String, User>,
    #[serde(default)]
    pub groups: BTreeMap<String, Group>,
    /// Each table's and view's owner and grants, by the object's name.
    #[serde(default)]
    pub acl: BTreeMap<String, Acl>,
    /// Schemas besides `public` (which always exists), with their owners and grants.
    /// Their tables and views are keyed `schema.name` (`schema::key`).
    #[serde(default)]
    pub schemas: BTreeMap<String, Acl>,
}

impl ClusterState {
    /// The state of a new cluster: nothing in it yet.
    pub fn new(cluster_id: String, topology: Topology) -> Self {
        ClusterState {
            version: 1,
            cluster_id,
            topology,
            next_table_id: 100_000,
            tables: BTreeMap::new(),
            views: BTreeMap::new(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            acl: BTreeMap::new(),
            schemas: BTreeMap::new(),
        }
    }

    pub fn table(&self, name: &str) -> Result<&TableState> {
        if self.views.contains_key(name) {
            return Err(Error::NotSupported(format!(
                "\"{name}\" is a view: only tables can be written"
            )));
        }
        self.tables
            .get(name)
            .ok_or_else(|| Error::UndefinedTable(name.to_string()))
    }

    /// Every block and delete vector id each slice's committed state names.
    pub fn live_files(&self) -> BTreeMap<u32, Vec<String>> {
        let mut live: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for t in self.tables.values() {
            for (slice, m) in &t.data.slices {
                let ids = live.entry(*slice).or_default();
                for b in &m.blocks {
                    ids.push(b.id.clone());
                    if let Some(d) = &b.deletes {
                        ids.push(d.id.clone());
                    }
                }
            }
        }
        live
    }
}

#[derive(Debug)]
pub struct Catalog {
    current: RwLock<Arc<ClusterState>>,
    log: CommitLog,
    /// Held for the whole of a write, so writers are serialized.
    write_lock: tokio::sync::Mutex<()>,
    /// Earlier versions that queries may still be reading (a session keeps the version it
    /// pinned until its next statement).
    retired: std::sync::Mutex<Vec<std::sync::Weak<ClusterState>>>,
    /// Uncommitted states of open transaction blocks: their staged files are in use too.
    staged: std::sync::Mutex<Vec<std::sync::Weak<ClusterState>>>,
}

impl Catalog {
    /// Opens the commit log under `dir`, or starts an empty catalog for `topology`.
    pub fn open(dir: &Path, topology: Topology) -> Result<Self> {
        let (log, latest) = CommitLog::open::<ClusterState>(dir)?;
        let state = match latest {
            Some((_, state)) => {
                if state.topology != topology {
                    return Err(Error::InvalidInput(format!(
                        "data folder holds a cluster of {} nodes x {} slices, not {} x {}",
                        state.topology.nodes,
                        state.topology.slices_per_node,
                        topology.nodes,
                        topology.slices_per_node
                    )));
                }
                state
            }
            None => {
                // A new cluster: record its identity before anything else happens.
                let state = ClusterState::new(new_cluster_id(), topology);
                log.commit(state.version, &state)?;
                state
            }
        };
        Ok(Catalog {
            current: RwLock::new(Arc::new(state)),
            log,
            write_lock: tokio::sync::Mutex::new(()),
            retired: std::sync::Mutex::new(Vec::new()),
            staged: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The committed state a new statement reads.
    pub fn pin(&self) -> Arc<ClusterState> {
        Arc::clone(&self.current.read().expect("catalog lock"))
    }

    pub async fn begin_write(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// Durably commits `next` (built from the pinned current state while holding the write
    /// lock) and publishes it.
    pub fn commit(
        &self,
        _guard: &tokio::sync::MutexGuard<'_, ()>,
        mut next: ClusterState,
    ) -> Result<Arc<ClusterState>> {
        next.version = self.pin().version + 1;
        self.log.commit(next.version, &next)?;
        let next = Arc::new(next);
        let old = std::mem::replace(
            &mut *self.current.write().expect("catalog lock"),
            Arc::clone(&next),
        );
        self.retired
            .lock()
            .expect("retired versions")
            .push(Arc::downgrade(&old));
        Ok(next)
    }

    /// Holds `next`, a transaction block's uncommitted state built while holding the write
    /// lock, as in use: garbage collection keeps the files it names (staged under the same
    /// lock) for as long as the block holds it.
    pub fn stage(
        &self,
        _guard: &tokio::sync::MutexGuard<'_, ()>,
        next: ClusterState,
    ) -> Arc<ClusterState> {
        let next = Arc::new(next);
        self.staged
            .lock()
            .expect("staged versions")
            .push(Arc::downgrade(&next));
        next
    }

    /// Files named by the current version, by any earlier version still in use, or by an
    /// open transaction block's uncommitted state.
    pub fn files_in_use(&self) -> BTreeMap<u32, Vec<String>> {
        let mut versions = vec![self.pin()];
        for list in [&self.retired, &self.staged] {
            list.lock()
                .expect("versions in use")
                .retain(|w| match w.upgrade() {
                    Some(state) => {
                        versions.push(state);
                        true
                    }
                    None => false,
                });
        }
        let mut live: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for state in versions {
            for (slice, ids) in state.live_files() {
                live.entry(slice).or_default().extend(ids);
            }
        }
        live
    }
}

/// Whether table `name` is the same in `base` and `current`: both without it, or both with
/// the same definition and the very same data. Every commit clones the state and shares
/// the data of the tables it does not write, so a table another commit wrote has new data;
/// a transaction keeps `base` alive, so its data cannot be reused by a later table.
pub fn unchanged(base: &ClusterState, current: &ClusterState, name: &str) -> bool {
    let table = match (base.tables.get(name), current.tables.get(name)) {
        (None, None) => true,
        (Some(b), Some(c)) => b.def == c.def && Arc::ptr_eq(&b.data, &c.data),
        _ => false,
    };
    table && base.views.get(name) == current.views.get(name)
}

/// The catalog folder inside a leader's data folder.
pub fn catalog_dir(leader_data_dir: &Path) -> std::path::PathBuf {
    leader_data_dir.join("catalog")
}

/// The topology recorded in a leader's data folder, if it holds a cluster.
pub fn stored_topology(leader_data_dir: &Path) -> Result<Option<Topology>> {
    let dir = catalog_dir(leader_data_dir);
    if !dir.exists() {
        return Ok(None);
    }
    Ok(CommitLog::read_latest::<ClusterState>(&dir)?.map(|s| s.topology))
}

/// Writes the first commit of a cluster made from restored tables (a new cluster id: its
/// compute folders are new too). Returns the cluster id.
pub fn create_restored(
    leader_data_dir: &Path,
    topology: Topology,
    next_table_id: u64,
    tables: BTreeMap<String, (TableDef, TableData)>,
    views: BTreeMap<String, ViewDef>,
    security: Option<serde_json::Value>,
) -> Result<String> {
    let security = security
        .map(crate::access::Security::from_json)
        .transpose()?
        .unwrap_or_default();
    let (log, latest) = CommitLog::open::<ClusterState>(&catalog_dir(leader_data_dir))?;
    if latest.is_some() {
        return Err(Error::InvalidInput(format!(
            "{} already holds a cluster",
            leader_data_dir.display()
        )));
    }
    let state = ClusterState {
        next_table_id,
        tables: tables
            .into_iter()
            .map(|(n, (def, data))| {
                (
                    n,
                    TableState {
                        def,
                        data: Arc::new(data),
                    },
                )
            })
            .collect(),
        views,
        users: security.users,
        groups: security.groups,
        acl: security.acl,
        schemas: security.schemas,
        ..ClusterState::new(new_cluster_id(), topology)
    };
    log.commit(state.version, &state)?;
    Ok(state.cluster_id)
}

fn new_cluster_id() -> String {
    let seed = format!(
        "{:?} {} {:?}",
        std::time::SystemTime::now(),
        std::process::id(),
        std::thread::current().id()
    );
    blake3::hash(seed.as_bytes()).to_hex()[..16].to_string()
}
