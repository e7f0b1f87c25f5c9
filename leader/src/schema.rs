//! The `public` schema a session plans against: user tables at the session's pinned
//! catalog version, plus the system views.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use blueshift_storage::BlockTable;
use datafusion::catalog::SchemaProvider;
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;

use crate::catalog::ClusterState;
use crate::logs::SystemLogs;
use crate::system;

/// The table a DML statement writes: planned with every column nullable (the write checks
/// NOT NULL), and for DELETE/UPDATE with scans that carry row ids.
#[derive(Debug, Clone)]
pub struct WriteTarget {
    pub table: String,
    pub row_ids: bool,
    /// The privilege the write needs on the table.
    pub privilege: crate::access::Privilege,
    /// Whether the write also reads the table's values (a WHERE clause, or SET from
    /// columns), which needs SELECT too, as in PostgreSQL.
    pub reads: bool,
}

/// Gives a copy of the session's planning state (it holds the session's context weakly:
/// the context holds this schema).
pub struct Planner(pub Box<dyn Fn() -> Option<SessionState> + Send + Sync>);

impl std::fmt::Debug for Planner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Planner")
    }
}

#[derive(Debug)]
pub struct PinnedSchema {
    state: Mutex<Arc<ClusterState>>,
    /// The session's planner, which plans a view's query when the view is read.
    planner: std::sync::OnceLock<Planner>,
    /// Pinned between statements, so an idle session holds no version's files alive.
    empty: Arc<ClusterState>,
    /// The table an INSERT, UPDATE or DELETE being planned writes to.
    write_target: Mutex<Option<WriteTarget>>,
    log: Arc<SystemLogs>,
    /// The session's user, whose privileges the statement's tables are checked with.
    user: String,
    /// Owners of the views being planned, innermost last: a view reads its tables with
    /// its owner's privileges.
    view_owners: Mutex<Vec<String>>,
}

impl PinnedSchema {
    pub fn new(state: Arc<ClusterState>, log: Arc<SystemLogs>, user: &str) -> Self {
        let empty = Arc::new(ClusterState {
            tables: Default::default(),
            views: Default::default(),
            ..(*state).clone()
        });
        PinnedSchema {
            state: Mutex::new(Arc::clone(&empty)),
            planner: std::sync::OnceLock::new(),
            empty,
            write_target: Mutex::new(None),
            log,
            user: user.to_string(),
            view_owners: Mutex::new(Vec::new()),
        }
    }

    /// Whose privileges a table named now is read with.
    fn principal(&self) -> String {
        self.view_owners
            .lock()
            .expect("view owners")
            .last()
            .cloned()
            .unwrap_or_else(|| self.user.clone())
    }

    /// Sets the planner views are planned with (once, when the session is made).
    pub fn set_planner(&self, planner: Planner) {
        let _ = self.planner.set(planner);
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

/// The owner of a view being planned, taken off the stack when dropped (also when the
/// planning fails or is cancelled).
struct ViewOwner<'a>(&'a PinnedSchema);

impl<'a> ViewOwner<'a> {
    fn enter(schema: &'a PinnedSchema, owner: &str) -> Self {
        schema
            .view_owners
            .lock()
            .expect("view owners")
            .push(owner.to_string());
        ViewOwner(schema)
    }
}

impl Drop for ViewOwner<'_> {
    fn drop(&mut self) {
        self.0.view_owners.lock().expect("view owners").pop();
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
        let state = self.pinned();
        state
            .tables
            .keys()
            .chain(state.views.keys())
            .cloned()
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        use crate::access::Privilege;
        let state = self.pinned();
        let principal = self.principal();
        if let Some(t) = state.tables.get(name) {
            let table = BlockTable::new(t.def.clone(), Arc::clone(&t.data), state.topology);
            let target = self.write_target.lock().expect("write target").clone();
            let table = match target {
                Some(w) if w.table == name => {
                    state.require(&principal, name, w.privilege)?;
                    if w.reads {
                        state.require(&principal, name, Privilege::Select)?;
                    }
                    if w.row_ids {
                        table.for_writes().with_row_ids()
                    } else {
                        table.for_writes()
                    }
                }
                _ => {
                    state.require(&principal, name, Privilege::Select)?;
                    table
                }
            };
            return Ok(Some(Arc::new(table)));
        }
        if let Some(view) = state.views.get(name) {
            state.require(&principal, name, Privilege::Select)?;
            let planner = self
                .planner
                .get()
                .and_then(|p| (p.0)())
                .ok_or_else(|| DataFusionError::Internal("the session is gone".into()))?;
            let planned = {
                let _owner = ViewOwner::enter(self, state.owner_of(name));
                crate::engine::plan_view(&planner, view).await
            };
            return Ok(Some(match planned {
                Ok(plan) => Arc::new(datafusion::datasource::ViewTable::new(
                    plan,
                    Some(view.sql.clone()),
                )),
                // A view whose query no longer plans (its table was dropped) is still
                // listed by the catalog; only reading it fails, with the reason.
                Err(e) => Arc::new(BrokenView {
                    columns: view.columns.clone(),
                    code: e.code(),
                    message: format!("view \"{name}\" cannot be read: {}", e.user_message()),
                }),
            }));
        }
        system::table(name, &state, &self.log, &principal)
    }

    fn table_exist(&self, name: &str) -> bool {
        let state = self.pinned();
        state.tables.contains_key(name) || state.views.contains_key(name) || system::is_view(name)
    }

    async fn table_type(&self, name: &str) -> Result<Option<datafusion::datasource::TableType>> {
        use datafusion::datasource::TableType;
        let state = self.pinned();
        Ok(if state.views.contains_key(name) {
            Some(TableType::View)
        } else if state.tables.contains_key(name) {
            Some(TableType::Base)
        } else if system::is_view(name) {
            Some(TableType::View)
        } else {
            None
        })
    }
}

/// A view whose query does not plan any more: its columns (as text) for the catalog, and
/// the planning error for whoever reads it.
#[derive(Debug)]
struct BrokenView {
    columns: Vec<String>,
    code: blueshift_storage::Code,
    message: String,
}

#[async_trait]
impl TableProvider for BrokenView {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        Arc::new(arrow::datatypes::Schema::new(
            self.columns
                .iter()
                .map(|c| arrow::datatypes::Field::new(c, arrow::datatypes::DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ))
    }

    fn table_type(&self) -> datafusion::datasource::TableType {
        datafusion::datasource::TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn datafusion::catalog::Session,
        _projection: Option<&Vec<usize>>,
        _filters: &[datafusion::prelude::Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        Err(blueshift_storage::CodedError::new(self.code, self.message.clone()).into())
    }
}

/// pg_catalog's roles (`pg_roles`, psql's `\du`): the users of the pinned state.
#[derive(Debug, Clone)]
pub struct Roles(pub Arc<PinnedSchema>);

#[async_trait]
impl datafusion_pg_catalog::pg_catalog::context::PgCatalogContextProvider for Roles {
    async fn roles(&self) -> Vec<String> {
        self.0.pinned().users.keys().cloned().collect()
    }

    async fn role(&self, name: &str) -> Option<datafusion_pg_catalog::pg_catalog::context::Role> {
        let state = self.0.pinned();
        let user = state.users.get(name)?;
        Some(datafusion_pg_catalog::pg_catalog::context::Role {
            name: name.to_string(),
            is_superuser: user.superuser,
            can_login: true,
            can_create_db: user.createdb,
            can_create_role: user.superuser,
            can_create_user: user.superuser,
            can_replication: false,
            grants: vec![],
            inherited_roles: state
                .groups
                .iter()
                .filter(|(_, g)| g.members.contains(name))
                .map(|(n, _)| n.clone())
                .collect(),
        })
    }
}
