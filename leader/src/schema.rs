//! The schemas a session plans against: user tables and views at the session's pinned
//! catalog version (`public`, plus the schemas made by CREATE SCHEMA), the system views,
//! and how names are looked up along the session's `search_path`.

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
    /// Set while a statement is planned: the relations it names are checked against the
    /// user's privileges then. The catalog's own tables (pg_class, information_schema)
    /// look relations up while they are read, to list them: that needs no privilege, as
    /// in PostgreSQL, where every user sees the catalog.
    checking: std::sync::atomic::AtomicBool,
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
            checking: std::sync::atomic::AtomicBool::new(false),
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

    /// Checks privileges on the relations named until the guard is dropped (while a
    /// statement is planned).
    pub fn checking(&self) -> CheckingGuard<'_> {
        let before = self
            .checking
            .swap(true, std::sync::atomic::Ordering::SeqCst);
        CheckingGuard(self, before)
    }

    /// 42501 unless the principal holds `privilege` on `name` (only while checking).
    fn require(
        &self,
        state: &ClusterState,
        principal: &str,
        name: &str,
        privilege: crate::access::Privilege,
    ) -> crate::error::Result<()> {
        if self.checking.load(std::sync::atomic::Ordering::SeqCst) {
            state.require(principal, name, privilege)?;
        }
        Ok(())
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

/// Puts privilege checking back as it was when dropped.
pub struct CheckingGuard<'a>(&'a PinnedSchema, bool);

impl Drop for CheckingGuard<'_> {
    fn drop(&mut self) {
        self.0
            .checking
            .store(self.1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Clears the write target when dropped.
pub struct WritingGuard<'a>(&'a PinnedSchema);

impl Drop for WritingGuard<'_> {
    fn drop(&mut self) {
        *self.0.write_target.lock().expect("write target") = None;
    }
}

impl PinnedSchema {
    /// The tables and views of `schema` (system views are `public`'s).
    fn names_in(&self, schema: &str) -> Vec<String> {
        let state = self.pinned();
        state
            .tables
            .keys()
            .chain(state.views.keys())
            .filter_map(|k| {
                let (s, name) = split_key(k);
                (s == schema).then(|| name.to_string())
            })
            .collect()
    }

    async fn table_in(&self, schema: &str, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        use crate::access::Privilege;
        let state = self.pinned();
        let principal = self.principal();
        let key = key(schema, name);
        let name = key.as_str();
        if let Some(t) = state.tables.get(name) {
            let table = BlockTable::new(t.def.clone(), Arc::clone(&t.data), state.topology);
            let target = self.write_target.lock().expect("write target").clone();
            let table = match target {
                Some(w) if w.table == name => {
                    self.require(&state, &principal, name, w.privilege)?;
                    if w.reads {
                        self.require(&state, &principal, name, Privilege::Select)?;
                    }
                    if w.row_ids {
                        table.for_writes().with_row_ids()
                    } else {
                        table.for_writes()
                    }
                }
                _ => {
                    self.require(&state, &principal, name, Privilege::Select)?;
                    table
                }
            };
            return Ok(Some(Arc::new(table)));
        }
        if let Some(view) = state.views.get(name) {
            self.require(&state, &principal, name, Privilege::Select)?;
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
        if schema != PUBLIC {
            return Ok(None);
        }
        if name == "svl_query_summary" {
            self.log.refresh_figures().await;
        }
        if name == "stv_exec_state" {
            // What runs now: a node that cannot say makes the view fail, not look idle.
            self.log
                .refresh_running()
                .await
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        }
        system::table(name, &state, &self.log, &principal)
    }

    fn table_type_in(&self, schema: &str, name: &str) -> Option<datafusion::datasource::TableType> {
        use datafusion::datasource::TableType;
        let state = self.pinned();
        let key = key(schema, name);
        if state.views.contains_key(&key) {
            Some(TableType::View)
        } else if state.tables.contains_key(&key) {
            Some(TableType::Base)
        } else if schema == PUBLIC && system::is_view(name) {
            Some(TableType::View)
        } else {
            None
        }
    }
}

#[async_trait]
impl SchemaProvider for PinnedSchema {
    fn table_names(&self) -> Vec<String> {
        self.names_in(PUBLIC)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.table_in(PUBLIC, name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.table_type_in(PUBLIC, name).is_some()
    }

    async fn table_type(&self, name: &str) -> Result<Option<datafusion::datasource::TableType>> {
        Ok(self.table_type_in(PUBLIC, name))
    }
}

/// A schema other than `public`, seen through the session's pinned state.
#[derive(Debug)]
struct SchemaView {
    pinned: Arc<PinnedSchema>,
    schema: String,
}

#[async_trait]
impl SchemaProvider for SchemaView {
    fn table_names(&self) -> Vec<String> {
        self.pinned.names_in(&self.schema)
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.pinned.table_in(&self.schema, name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.pinned.table_type_in(&self.schema, name).is_some()
    }

    async fn table_type(&self, name: &str) -> Result<Option<datafusion::datasource::TableType>> {
        Ok(self.pinned.table_type_in(&self.schema, name))
    }
}

/// The `dev` database's schemas: `public` and pg_catalog's (registered), and the schemas
/// of the pinned state, which come and go with CREATE/DROP SCHEMA.
#[derive(Debug)]
pub struct Schemas {
    registered: datafusion::catalog::MemoryCatalogProvider,
    pinned: Arc<PinnedSchema>,
}

impl Schemas {
    pub fn new(pinned: Arc<PinnedSchema>) -> Self {
        let registered = datafusion::catalog::MemoryCatalogProvider::new();
        let public: Arc<dyn SchemaProvider> = Arc::clone(&pinned) as _;
        datafusion::catalog::CatalogProvider::register_schema(&registered, PUBLIC, public)
            .expect("a new catalog takes public");
        Schemas { registered, pinned }
    }
}

impl datafusion::catalog::CatalogProvider for Schemas {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.registered.schema_names();
        names.extend(self.pinned.pinned().schemas.keys().cloned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if let Some(s) = self.registered.schema(name) {
            return Some(s);
        }
        self.pinned.pinned().schemas.contains_key(name).then(|| {
            Arc::new(SchemaView {
                pinned: Arc::clone(&self.pinned),
                schema: name.to_string(),
            }) as _
        })
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.registered.register_schema(name, schema)
    }

    fn deregister_schema(
        &self,
        name: &str,
        cascade: bool,
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.registered.deregister_schema(name, cascade)
    }
}

/// The schema every database has; its tables are keyed by their bare names.
pub const PUBLIC: &str = "public";

/// 3F000 for a schema that does not exist.
pub fn no_schema(name: &str) -> crate::error::Error {
    crate::error::Error::UndefinedSchema(format!("schema \"{name}\" does not exist"))
}

/// The catalog key of relation `name` in `schema`: `public`'s by bare name (as before
/// schemas existed), any other's as `schema.name`.
pub fn key(schema: &str, name: &str) -> String {
    if schema == PUBLIC {
        name.to_string()
    } else {
        format!("{schema}.{name}")
    }
}

/// The catalog key of a relation DataFusion planned (unqualified is `public`).
pub fn key_of(r: &datafusion::common::TableReference) -> String {
    key(r.schema().unwrap_or(PUBLIC), r.table())
}

/// Qualifies the unqualified relations a statement reads or writes that the search path
/// finds outside `public`, so DataFusion (whose default schema is `public`) plans them
/// from their schema. A name no schema on the path holds, a CTE's name and the name a
/// CREATE makes are left as written.
pub fn qualify(
    stmt: &mut datafusion::sql::sqlparser::ast::Statement,
    state: &ClusterState,
    path: &SearchPath,
) {
    use datafusion::sql::sqlparser::ast::{self, Statement};
    use std::ops::ControlFlow;
    if path.1.is_none() && path.0.iter().all(|s| s == PUBLIC) {
        return;
    }
    struct Ctes(Vec<String>);
    impl ast::Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, q: &ast::Query) -> ControlFlow<()> {
            if let Some(with) = &q.with {
                self.0.extend(
                    with.cte_tables
                        .iter()
                        .map(|c| c.alias.name.value.to_lowercase()),
                );
            }
            ControlFlow::Continue(())
        }
    }
    let mut ctes = Ctes(Vec::new());
    let _ = ast::Visit::visit(&*stmt, &mut ctes);
    let ctes = ctes.0;
    let fix = |name: &mut ast::ObjectName| {
        let [ast::ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return ControlFlow::<()>::Continue(());
        };
        let folded = if ident.quote_style.is_some() {
            ident.value.clone()
        } else {
            ident.value.to_lowercase()
        };
        if ctes.contains(&folded) {
            return ControlFlow::Continue(());
        }
        if let Some(k) = path.find(state, &folded) {
            let (schema, _) = split_key(&k);
            if schema != PUBLIC {
                let ident = ident.clone();
                name.0 = vec![
                    ast::ObjectNamePart::Identifier(ast::Ident::with_quote('"', schema)),
                    ast::ObjectNamePart::Identifier(ident),
                ];
            }
        }
        ControlFlow::Continue(())
    };
    match stmt {
        Statement::Query(_)
        | Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Explain { .. } => {
            let _ = ast::visit_relations_mut(stmt, fix);
        }
        Statement::CreateTable(ct) => {
            if let Some(q) = ct.query.as_mut() {
                let _ = ast::visit_relations_mut(q.as_mut(), fix);
            }
        }
        _ => {}
    }
}

/// A catalog key's schema and name.
pub fn split_key(key: &str) -> (&str, &str) {
    key.split_once('.').unwrap_or((PUBLIC, key))
}

/// Where a session's temporary tables live: `pg_temp_<session id>`, as in PostgreSQL.
pub const TEMP_PREFIX: &str = "pg_temp_";

/// The schemas an unqualified name is looked for in, in order: the session's temporary
/// schema (if it has made one), then its `search_path` (`$user` is the session's user)
/// with the schemas that do not exist left out, as in PostgreSQL.
#[derive(Debug, Clone)]
pub struct SearchPath(pub Vec<String>, pub Option<String>);

impl SearchPath {
    pub fn new(setting: &str, user: &str, temp: &str, state: &ClusterState) -> Self {
        let mut schemas = Vec::new();
        for part in setting.split(',') {
            let part = part.trim();
            let name = if part.eq_ignore_ascii_case("\"$user\"")
                || part.eq_ignore_ascii_case("$user")
            {
                user.to_string()
            } else if let Some(quoted) = part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                quoted.to_string()
            } else {
                part.to_lowercase()
            };
            if (name == PUBLIC || state.schemas.contains_key(&name)) && !schemas.contains(&name) {
                schemas.push(name);
            }
        }
        let temp = state.schemas.contains_key(temp).then(|| temp.to_string());
        SearchPath(schemas, temp)
    }

    /// Where an unqualified CREATE puts its object: the first schema of the path.
    pub fn creation_schema(&self) -> crate::error::Result<&str> {
        self.0.first().map(String::as_str).ok_or_else(|| {
            crate::error::Error::UndefinedSchema("no schema has been selected to create in".into())
        })
    }

    /// The key of an existing table or view `name` found along the path.
    pub fn find(&self, state: &ClusterState, name: &str) -> Option<String> {
        self.1
            .iter()
            .chain(&self.0)
            .map(|s| key(s, name))
            .find(|k| state.tables.contains_key(k) || state.views.contains_key(k))
    }

    /// The catalog key of a relation as written (`t`, `s.t`, `dev.s.t`; parts already
    /// folded): a qualified name's schema must exist; an unqualified one is looked up
    /// along the path, or for `create` (and when nothing is found) placed in the path's
    /// first schema.
    pub fn resolve(
        &self,
        state: &ClusterState,
        parts: &[String],
        create: bool,
    ) -> crate::error::Result<String> {
        let (schema, name) = match parts {
            [t] => {
                if !create && let Some(k) = self.find(state, t) {
                    return Ok(k);
                }
                (self.creation_schema()?.to_string(), t.clone())
            }
            [s, t] => (s.clone(), t.clone()),
            [d, s, t] if d == "dev" => (s.clone(), t.clone()),
            _ => return Err(crate::error::Error::UndefinedTable(parts.join("."))),
        };
        if schema != PUBLIC && !state.schemas.contains_key(&schema) {
            return Err(no_schema(&schema));
        }
        if name.contains('.') {
            return Err(crate::error::Error::InvalidInput(format!(
                "a relation's name may not contain \".\": \"{name}\""
            )));
        }
        Ok(key(&schema, &name))
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

/// `pg_get_userbyid(id)`: the name of the user with that id (relations' owners in
/// pg_class are user ids); the catalog's own owner (10) is `postgres`, as the crate says.
pub fn register_user_names(ctx: &datafusion::prelude::SessionContext, pinned: Arc<PinnedSchema>) {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::DataType;
    use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
    ctx.register_udf(create_udf(
        "pg_get_userbyid",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let ids = args[0].to_array(1)?;
            let ids = arrow::compute::cast(&ids, &DataType::Int64)?;
            let ids = ids
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("cast to bigint");
            let state = pinned.pinned();
            let names: StringArray = ids
                .iter()
                .map(|id| {
                    let id = id?;
                    let user = state
                        .users
                        .iter()
                        .find(|(_, u)| i64::from(u.id) == id)
                        .map(|(n, _)| n.clone());
                    Some(user.unwrap_or_else(|| {
                        if id == 10 {
                            "postgres".into()
                        } else {
                            format!("unknown (OID={id})")
                        }
                    }))
                })
                .collect();
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => ColumnarValue::Scalar(
                    datafusion::common::ScalarValue::try_from_array(&names, 0)?,
                ),
                ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(names)),
            })
        }),
    ));
}

/// `has_table_privilege([user,] table, privilege)` and `has_schema_privilege([user,]
/// schema, privilege)` from the grants of the pinned state (the crate answers true for
/// everything). A table is named by its name (`t`, `s.t`); by oid it is refused (0A000)
/// rather than answered without knowing the table.
pub fn register_privilege_functions(
    ctx: &datafusion::prelude::SessionContext,
    pinned: Arc<PinnedSchema>,
) {
    use datafusion::logical_expr::{
        ColumnarValue, ScalarUDF, Signature, TypeSignature, Volatility,
    };
    #[derive(Debug)]
    struct HasPrivilege {
        name: &'static str,
        schema_level: bool,
        signature: Signature,
        pinned: Arc<PinnedSchema>,
    }
    impl PartialEq for HasPrivilege {
        fn eq(&self, other: &Self) -> bool {
            self.name == other.name
        }
    }
    impl Eq for HasPrivilege {}
    impl std::hash::Hash for HasPrivilege {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.name.hash(state);
        }
    }
    impl HasPrivilege {
        fn answer(
            &self,
            state: &ClusterState,
            user: &str,
            object: &datafusion::common::ScalarValue,
            privileges: &str,
        ) -> Result<Option<bool>> {
            use crate::access::Privilege;
            use datafusion::common::ScalarValue;
            let refuse = |m: String| -> DataFusionError {
                blueshift_storage::CodedError::new(blueshift_storage::Code::InvalidParameter, m)
                    .into()
            };
            if object.is_null() || privileges.is_empty() {
                return Ok(None);
            }
            let name = match object {
                ScalarValue::Utf8(Some(n))
                | ScalarValue::LargeUtf8(Some(n))
                | ScalarValue::Utf8View(Some(n)) => n.clone(),
                _ => {
                    return Err(blueshift_storage::CodedError::new(
                        blueshift_storage::Code::FeatureNotSupported,
                        format!("{} by oid is not supported: pass the name", self.name),
                    )
                    .into());
                }
            };
            let parts: Vec<String> = name
                .split('.')
                .map(
                    |p| match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                        Some(quoted) => quoted.to_string(),
                        None => p.trim().to_lowercase(),
                    },
                )
                .collect();
            let mut any = false;
            for word in privileges.split(',') {
                let word = word.trim().to_uppercase();
                let grant_option = word.ends_with(" WITH GRANT OPTION");
                let word = word.trim_end_matches(" WITH GRANT OPTION").trim();
                let held = if self.schema_level {
                    let [schema] = parts.as_slice() else {
                        return Err(refuse(format!("invalid schema name \"{name}\"")));
                    };
                    if schema != PUBLIC && !state.schemas.contains_key(schema) {
                        return Err(no_schema(schema).into());
                    }
                    let p = Privilege::parse(word)
                        .filter(|p| Privilege::SCHEMA.contains(p))
                        .ok_or_else(|| {
                            refuse(format!("unrecognized privilege type: \"{word}\""))
                        })?;
                    state.schema_allowed(user, schema, p)
                        && (!grant_option
                            || state.is_superuser(user)
                            || state.schemas.get(schema).is_some_and(|a| a.owner == user))
                } else {
                    let key = match parts.as_slice() {
                        [t] => key(PUBLIC, t),
                        [s, t] => key(s, t),
                        _ => return Err(refuse(format!("invalid name \"{name}\""))),
                    };
                    if !state.tables.contains_key(&key) && !state.views.contains_key(&key) {
                        return Err(crate::error::Error::UndefinedTable(name.clone()).into());
                    }
                    let owner = state.is_superuser(user) || state.owner_of(&key) == user;
                    match Privilege::parse(word).filter(|p| Privilege::ALL.contains(p)) {
                        Some(p) => state.allowed(user, &key, p) && (!grant_option || owner),
                        None if matches!(word, "TRUNCATE" | "REFERENCES" | "TRIGGER") => owner,
                        None => {
                            return Err(refuse(format!("unrecognized privilege type: \"{word}\"")));
                        }
                    }
                };
                any |= held;
            }
            Ok(Some(any))
        }
    }
    impl datafusion::logical_expr::ScalarUDFImpl for HasPrivilege {
        fn name(&self) -> &str {
            self.name
        }
        fn signature(&self) -> &Signature {
            &self.signature
        }
        fn return_type(
            &self,
            _: &[arrow::datatypes::DataType],
        ) -> Result<arrow::datatypes::DataType> {
            Ok(arrow::datatypes::DataType::Boolean)
        }
        fn invoke_with_args(
            &self,
            args: datafusion::logical_expr::ScalarFunctionArgs,
        ) -> Result<ColumnarValue> {
            use datafusion::common::ScalarValue;
            let rows = args.number_rows;
            let arrays = args
                .args
                .iter()
                .map(|a| a.to_array(rows))
                .collect::<Result<Vec<_>>>()?;
            let state = self.pinned.pinned();
            let mut out = Vec::with_capacity(rows);
            for i in 0..rows {
                let values = arrays
                    .iter()
                    .map(|a| ScalarValue::try_from_array(a, i))
                    .collect::<Result<Vec<_>>>()?;
                let text = |v: &ScalarValue| match v {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)) => s.clone(),
                    _ => String::new(),
                };
                let (user, object, privilege) = match values.as_slice() {
                    [object, privilege] => (self.pinned.user.clone(), object, text(privilege)),
                    [user, object, privilege] => {
                        (text(user).to_lowercase(), object, text(privilege))
                    }
                    _ => {
                        return Err(DataFusionError::Plan(format!(
                            "{} takes 2 or 3 arguments",
                            self.name
                        )));
                    }
                };
                out.push(self.answer(&state, &user, object, &privilege)?);
            }
            let answers = arrow::array::BooleanArray::from(out);
            Ok(
                if args
                    .args
                    .iter()
                    .all(|a| matches!(a, ColumnarValue::Scalar(_)))
                {
                    ColumnarValue::Scalar(ScalarValue::try_from_array(&answers, 0)?)
                } else {
                    ColumnarValue::Array(Arc::new(answers))
                },
            )
        }
    }
    for (name, schema_level) in [
        ("has_table_privilege", false),
        ("has_schema_privilege", true),
    ] {
        ctx.register_udf(ScalarUDF::new_from_impl(HasPrivilege {
            name,
            schema_level,
            signature: Signature::one_of(
                vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                Volatility::Stable,
            ),
            pinned: Arc::clone(&pinned),
        }));
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
