//! The `public` schema a session plans against: user tables at the session's pinned
//! catalog version, plus the system views.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use blueshift_storage::BlockTable;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::Result;

use crate::catalog::ClusterState;
use crate::logs::SystemLogs;
use crate::system;

/// The table a DML statement writes: planned with every column nullable (the write checks
/// NOT NULL), and for DELETE/UPDATE with scans that carry row ids.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    pub table: String,
    pub row_ids: bool,
}

#[derive(Debug)]
pub struct PinnedSchema {
    state: Mutex<Arc<ClusterState>>,
    /// Pinned between statements, so an idle session holds no version's files alive.
    empty: Arc<ClusterState>,
    /// The table an INSERT, UPDATE or DELETE being planned writes to.
    write_target: Mutex<Option<WriteTarget>>,
    log: Arc<SystemLogs>,
}

impl PinnedSchema {
    pub fn new(state: Arc<ClusterState>, log: Arc<SystemLogs>) -> Self {
        let empty = Arc::new(ClusterState {
            tables: Default::default(),
            ..(*state).clone()
        });
        PinnedSchema {
            state: Mutex::new(Arc::clone(&empty)),
            empty,
            write_target: Mutex::new(None),
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

    /// Plans with `target` as the table written until the guard is dropped, also when the
    /// planning is cancelled or panics, so no later statement sees the write target's
    /// nullable columns or row ids.
    pub fn writing(&self, target: Option<WriteTarget>) -> WritingGuard<'_> {
        *self.write_target.lock().expect("write target") = target;
        WritingGuard(self)
    }
}

/// Clears the write target when dropped.
pub struct WritingGuard<'a>(&'a PinnedSchema);

impl Drop for WritingGuard<'_> {
    fn drop(&mut self) {
        *self.0.write_target.lock().expect("write target") = None;
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
            let table = match &*self.write_target.lock().expect("write target") {
                Some(w) if w.table == name && w.row_ids => table.for_writes().with_row_ids(),
                Some(w) if w.table == name => table.for_writes(),
                _ => table,
            };
            return Ok(Some(Arc::new(table)));
        }
        system::table(name, &state, &self.log)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.pinned().tables.contains_key(name) || system::is_view(name)
    }
}
