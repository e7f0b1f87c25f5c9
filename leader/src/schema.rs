//! The `public` schema a session plans against: user tables at the session's pinned
//! catalog version, plus the system views.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use blueshift_storage::BlockTable;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::Result;

use crate::catalog::ClusterState;
use crate::query_log::QueryLog;
use crate::system;

#[derive(Debug)]
pub struct PinnedSchema {
    state: Mutex<Arc<ClusterState>>,
    /// Pinned between statements, so an idle session holds no version's files alive.
    empty: Arc<ClusterState>,
    /// While planning DELETE/UPDATE of this table, its scans carry row ids.
    row_ids_for: Mutex<Option<String>>,
    log: Arc<QueryLog>,
}

impl PinnedSchema {
    pub fn new(state: Arc<ClusterState>, log: Arc<QueryLog>) -> Self {
        let empty = Arc::new(ClusterState {
            tables: Default::default(),
            ..(*state).clone()
        });
        PinnedSchema {
            state: Mutex::new(Arc::clone(&empty)),
            empty,
            row_ids_for: Mutex::new(None),
            log,
        }
    }

    pub fn pin(&self, state: Arc<ClusterState>) {
        *self.state.lock().expect("pinned state") = state;
    }

    /// Releases the pinned version (the statement is done with it).
    pub fn unpin(&self) {
        self.pin(Arc::clone(&self.empty));
    }

    /// Releases `version` if it is still the pinned one (a later statement may have pinned
    /// another since).
    pub fn unpin_if(&self, version: &Arc<ClusterState>) {
        let mut state = self.state.lock().expect("pinned state");
        if Arc::ptr_eq(&state, version) {
            *state = Arc::clone(&self.empty);
        }
    }

    pub fn pinned(&self) -> Arc<ClusterState> {
        Arc::clone(&self.state.lock().expect("pinned state"))
    }

    pub fn set_row_ids_for(&self, table: Option<String>) {
        *self.row_ids_for.lock().expect("row ids") = table;
    }
}

#[async_trait]
impl SchemaProvider for PinnedSchema {
    fn table_names(&self) -> Vec<String> {
        self.pinned().tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let state = self.pinned();
        if let Some(t) = state.tables.get(name) {
            let table = BlockTable::new(t.def.clone(), Arc::clone(&t.data), state.topology);
            let row_ids = self.row_ids_for.lock().expect("row ids").as_deref() == Some(name);
            let table = if row_ids { table.with_row_ids() } else { table };
            return Ok(Some(Arc::new(table)));
        }
        Ok(system::table(name, &state, &self.log))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.pinned().tables.contains_key(name) || system::NAMES.contains(&name)
    }
}
