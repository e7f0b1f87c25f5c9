//! A connection's session: its DataFusion context (user tables at a pinned version, system
//! views, pg_catalog), settings, user, cancel signal, NOTICE channel and COPY state.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::DataType;
use datafusion::prelude::{SessionConfig, SessionContext};

use tokio::sync::mpsc;

use super::*;
use crate::error::{Error, Result};
use crate::schema::{PinnedSchema, SearchPath};
use datafusion::sql::sqlparser::ast;

/// A connection's state: its DataFusion context (with pg_catalog), settings, user.
pub struct Session {
    pub ctx: SessionContext,
    pub(crate) schema: Arc<PinnedSchema>,
    pub user: String,
    pub pid: i32,
    /// Shared with `current_setting`, which reads it while a statement runs.
    pub settings: Arc<std::sync::Mutex<BTreeMap<String, String>>>,
    /// Bumped by a cancel request; a running statement watches it.
    pub cancel: tokio::sync::watch::Sender<u64>,
    /// Where NOTICEs of the running statement go (set by the server while it runs one).
    pub notices: std::sync::Mutex<Option<mpsc::UnboundedSender<String>>>,
    /// `pg_last_copy_id()` and `pg_last_copy_count()`.
    pub last_copy: Arc<std::sync::Mutex<(i64, i64)>>,
    /// A COPY FROM STDIN whose data is arriving.
    pub pending_copy: std::sync::Mutex<Option<crate::engine::copy::PendingCopy>>,
    /// The session's transaction block, if one is open.
    /// Shared with the session's result streams, which fail the block on an error.
    pub(crate) tx: Arc<std::sync::Mutex<super::txn::Tx>>,
    /// Set when the session makes a temporary table: its schema is dropped when the
    /// session ends (the engine's reaper hears of it through `ended`).
    pub(crate) made_temp: std::sync::atomic::AtomicBool,
    ended: mpsc::UnboundedSender<i32>,
}

impl Session {
    /// The schemas unqualified names are looked up in, by the session's `search_path`.
    pub(crate) fn search_path(&self, state: &crate::catalog::ClusterState) -> SearchPath {
        SearchPath::new(
            &super::settings::setting(&self.settings, "search_path"),
            &self.user,
            &self.temp_schema(),
            state,
        )
    }

    /// The schema of the session's temporary tables (made with the first of them).
    pub(crate) fn temp_schema(&self) -> String {
        format!("{}{}", crate::schema::TEMP_PREFIX, self.pid)
    }

    /// The catalog key of a relation named in a statement (`create`: where a new one goes).
    pub(crate) fn resolve(
        &self,
        state: &crate::catalog::ClusterState,
        name: &ast::ObjectName,
        create: bool,
    ) -> Result<String> {
        self.search_path(state)
            .resolve(state, &super::ddl::name_parts(name), create)
    }

    /// The same for a name parsed by our own statement parsers (`Tokens::object_name`).
    pub(crate) fn resolve_written(
        &self,
        state: &crate::catalog::ClusterState,
        written: &str,
        create: bool,
    ) -> Result<String> {
        let parts: Vec<String> = written.split('.').map(str::to_string).collect();
        self.search_path(state).resolve(state, &parts, create)
    }

    /// Sends a NOTICE to the client, if it is listening.
    pub fn notice(&self, message: &str) {
        if let Some(tx) = self.notices.lock().expect("notices").as_ref() {
            let _ = tx.send(message.to_string());
        }
    }
}

impl Engine {
    pub fn new_session(&self, user: &str, pid: i32) -> Result<Session> {
        let total = self.cluster.topology.total_slices() as usize;
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema("dev", "public")
            .with_information_schema(true)
            .with_target_partitions(total.max(1));
        if let datafusion::execution::memory_pool::MemoryLimit::Finite(limit) =
            self.runtime.memory_pool.memory_limit()
        {
            config =
                config.with_sort_spill_reservation_bytes(blueshift_compute::memory::merge_reserve(
                    limit,
                    blueshift_compute::memory::LEADER_SLICES,
                ));
        }
        let opts = config.options_mut();
        // Parallelism comes from slices. The hash repartitions DataFusion plans for joins
        // and aggregates become redistribute exchanges between nodes (`stages`); no
        // round-robin ones.
        opts.optimizer.enable_round_robin_repartition = false;
        opts.optimizer.repartition_aggregations = true;
        opts.optimizer.repartition_joins = true;
        opts.optimizer.repartition_windows = false;
        opts.optimizer.repartition_file_scans = false;
        opts.optimizer.enable_dynamic_filter_pushdown = false;
        opts.optimizer.enable_topk_dynamic_filter_pushdown = false;
        opts.optimizer.enable_join_dynamic_filter_pushdown = false;
        opts.optimizer.enable_aggregate_dynamic_filter_pushdown = false;
        opts.sql_parser.parse_float_as_decimal = true;
        // As on the compute nodes, for the aggregates the leader runs itself.
        opts.execution
            .skip_partial_aggregation_probe_ratio_threshold =
            blueshift_compute::memory::SKIP_PARTIAL_AGGREGATION_RATIO;
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(Arc::clone(&self.runtime))
            .with_default_features()
            .with_query_planner(Arc::new(crate::subquery::Planner {
                cluster: Arc::clone(&self.cluster),
            }))
            .with_optimizer_rules(
                datafusion::optimizer::Optimizer::new()
                    .rules
                    .into_iter()
                    .map(|rule| match rule.name() {
                        // DataFusion's takes rows away that the filter keeps.
                        "eliminate_outer_join" => {
                            Arc::new(crate::outer_joins::EliminateOuterJoin) as _
                        }
                        // DataFusion's moves predicates over outer joins wrongly.
                        "push_down_filter" => Arc::new(crate::push_down::PushDownFilter(rule)) as _,
                        _ => rule,
                    })
                    .chain([
                        Arc::new(crate::reduce_groups::ReduceGroups) as _,
                        Arc::new(crate::casts::DecimalLiteralScale) as _,
                    ])
                    .collect(),
            )
            .with_physical_optimizer_rules({
                // Ours first: before any rule places or removes a sort.
                let mut rules: Vec<
                    Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>,
                > = vec![Arc::new(crate::windows::HideWindowOrderings)];
                for rule in
                    datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules
                {
                    let after = rule.name() == "join_selection";
                    rules.push(rule);
                    // Before the exchanges are placed: a join it changes gets its own.
                    if after {
                        let nodes = self.cluster.topology.nodes as usize;
                        rules.push(Arc::new(crate::broadcast_joins::BroadcastSmallSides {
                            nodes,
                        }));
                        rules.push(Arc::new(crate::semi_join_reduction::ReduceProbeSides {
                            nodes,
                        }));
                    }
                }
                rules
            })
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.add_analyzer_rule(Arc::new(crate::subquery::IsolateSubqueries));
        ctx.add_analyzer_rule(Arc::new(crate::casts::RoundingCasts));
        ctx.add_analyzer_rule(Arc::new(crate::casts::PositiveZero));
        let schema = Arc::new(PinnedSchema::new(
            self.catalog.pin(),
            Arc::clone(&self.log),
            user,
        ));
        let planner = ctx.state_weak_ref();
        schema.set_planner(crate::schema::Planner(Box::new(move || {
            planner.upgrade().map(|s| s.read().clone())
        })));
        ctx.register_catalog(
            "dev",
            Arc::new(crate::schema::Schemas::new(Arc::clone(&schema))),
        );
        datafusion_pg_catalog::setup_pg_catalog(
            &ctx,
            "dev",
            crate::schema::Roles(Arc::clone(&schema)),
        )
        .map_err(|e| Error::DataFusion(*e))?;
        // Our corrections in front of the crate's pg_catalog (`pg_overrides`).
        if let Some(dev) = ctx.catalog("dev")
            && let Some(inner) = dev.schema("pg_catalog")
        {
            dev.register_schema(
                "pg_catalog",
                Arc::new(crate::pg_overrides::PgCatalog {
                    inner,
                    schema: Arc::clone(&schema),
                }),
            )?;
        }
        crate::identity::register(&ctx, user);
        crate::pg_functions::register(&ctx);
        crate::schema::register_user_names(&ctx, Arc::clone(&schema));
        crate::schema::register_privilege_functions(&ctx, Arc::clone(&schema));
        blueshift_functions::register(&ctx);
        let settings: Arc<std::sync::Mutex<BTreeMap<String, String>>> = Arc::default();
        let read = Arc::clone(&settings);
        ctx.register_udf(datafusion::logical_expr::create_udf(
            "current_setting",
            vec![DataType::Utf8],
            DataType::Utf8,
            datafusion::logical_expr::Volatility::Stable,
            Arc::new(move |args: &[datafusion::logical_expr::ColumnarValue]| {
                use datafusion::common::ScalarValue;
                use datafusion::logical_expr::ColumnarValue;
                let value = |v: ScalarValue| {
                    (!v.is_null())
                        .then(|| super::settings::setting(&read, &v.to_string().to_lowercase()))
                };
                Ok(match &args[0] {
                    ColumnarValue::Scalar(v) => {
                        ColumnarValue::Scalar(ScalarValue::Utf8(value(v.clone())))
                    }
                    ColumnarValue::Array(a) => {
                        let values = (0..a.len())
                            .map(|i| ScalarValue::try_from_array(a, i).map(&value))
                            .collect::<datafusion::error::Result<Vec<_>>>()?;
                        ColumnarValue::Array(Arc::new(arrow::array::StringArray::from(values)))
                    }
                })
            }),
        ));
        // set_config(name, value, is_local): SET as a function (for the session; a setting
        // for the transaction only is refused rather than kept past it).
        let write = Arc::clone(&settings);
        ctx.register_udf(datafusion::logical_expr::create_udf(
            "set_config",
            vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
            DataType::Utf8,
            datafusion::logical_expr::Volatility::Volatile,
            Arc::new(move |args: &[datafusion::logical_expr::ColumnarValue]| {
                use datafusion::common::ScalarValue;
                use datafusion::logical_expr::ColumnarValue;
                let rows = args
                    .iter()
                    .find_map(|a| match a {
                        ColumnarValue::Array(a) => Some(a.len()),
                        ColumnarValue::Scalar(_) => None,
                    })
                    .unwrap_or(1);
                let arrays = args
                    .iter()
                    .map(|a| a.to_array(rows))
                    .collect::<datafusion::error::Result<Vec<_>>>()?;
                let mut out = Vec::with_capacity(rows);
                for i in 0..rows {
                    let [name, value, local] = [0, 1, 2]
                        .map(|k| ScalarValue::try_from_array(&arrays[k], i));
                    let (name, value, local) = (name?, value?, local?);
                    if name.is_null() {
                        return Err(blueshift_storage::CodedError::new(
                            blueshift_storage::Code::InvalidParameter,
                            "SET requires parameter name",
                        )
                        .into());
                    }
                    if local == ScalarValue::Boolean(Some(true)) {
                        return Err(blueshift_storage::CodedError::new(
                            blueshift_storage::Code::FeatureNotSupported,
                            "set_config(…, true) (for the current transaction only) is not supported: use false, or SET",
                        )
                        .into());
                    }
                    let value = if value.is_null() {
                        String::new()
                    } else {
                        value.to_string()
                    };
                    write
                        .lock()
                        .expect("settings")
                        .insert(name.to_string().to_lowercase(), value.clone());
                    out.push(value);
                }
                Ok(match args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
                    true => ColumnarValue::Scalar(ScalarValue::Utf8(out.pop())),
                    false => ColumnarValue::Array(Arc::new(arrow::array::StringArray::from(out))),
                })
            }),
        ));
        let last_copy = Arc::new(std::sync::Mutex::new((-1i64, 0i64)));
        for (name, pick) in [("pg_last_copy_id", 0usize), ("pg_last_copy_count", 1)] {
            let last = Arc::clone(&last_copy);
            ctx.register_udf(datafusion::logical_expr::create_udf(
                name,
                vec![],
                DataType::Int64,
                datafusion::logical_expr::Volatility::Volatile,
                Arc::new(move |_args: &[datafusion::logical_expr::ColumnarValue]| {
                    let (id, count) = *last.lock().expect("last copy");
                    let v = if pick == 0 { id } else { count };
                    Ok(datafusion::logical_expr::ColumnarValue::Scalar(
                        datafusion::common::ScalarValue::Int64(Some(v)),
                    ))
                }),
            ));
        }
        Ok(Session {
            notices: std::sync::Mutex::new(None),
            last_copy,
            pending_copy: std::sync::Mutex::new(None),
            tx: Arc::new(std::sync::Mutex::new(super::txn::Tx::Idle)),
            ctx,
            schema,
            user: user.to_string(),
            pid,
            settings,
            cancel: tokio::sync::watch::Sender::new(0),
            made_temp: std::sync::atomic::AtomicBool::new(false),
            ended: self.ended_sessions.clone(),
        })
    }
}

impl Drop for Session {
    /// pg_catalog's tables refer back to the session's catalog list, which holds them: the
    /// cycle is cut here so a closed connection frees its context.
    fn drop(&mut self) {
        if self.made_temp.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = self.ended.send(self.pid);
        }
        if let Some(catalog) = self.ctx.catalog("dev") {
            for name in catalog.schema_names() {
                let _ = catalog.deregister_schema(&name, true);
            }
        }
    }
}
