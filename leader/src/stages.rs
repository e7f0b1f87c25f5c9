//! Distribution as plan nodes. DataFusion plans a query as if on one machine with one
//! partition per slice: [`SliceScanExec`] leaves (a DISTKEY table declares itself hash
//! partitioned on its key), hash repartitions before partitioned joins and final
//! aggregates, merges below single-partition operators. [`distribute`] places that plan
//! bottom-up:
//!
//! - a hash repartition over rows on the slices becomes a redistribute [`ExchangeExec`]
//!   (the placement hash, so it lines up with DISTKEY tables);
//! - a hash join runs on the slices when its sides meet there: partitioned (co-located or
//!   redistributed), or with its small side broadcast to every node, or read from every
//!   node's copy of a DISTSTYLE ALL table; a join that must emit each build row once
//!   (outer, semi, anti on the build side) is made partitioned instead;
//! - partial and partitioned final aggregates, filters, projections, per-partition sorts
//!   and limits run where their input runs;
//! - everything else runs on the leader, over a [`GatherExec`] of its slice-side input.
//!
//! Each subtree between boundaries is a *stage*, serialized with datafusion-proto, run on
//! the node owning each partition's slice, and streamed over Arrow Flight: to the leader
//! (gather) or to the consuming nodes (exchanges).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use blueshift_compute::telemetry::StreamFigures;
use blueshift_compute::{
    ExchangeExec, ExchangeSpec, GatherExec, KeyFilterExec, KeysExec, Peers, home_node,
};
use blueshift_storage::SliceScanExec;
use datafusion::common::JoinType;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode, SortMergeJoinExec};
use datafusion::physical_plan::limit::LocalLimitExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::union::InterleaveExec;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, Partitioning, ReplaceChildrenOptions,
};

/// Functions every compute node knows: DataFusion's built-ins and Redshift's (the
/// `functions` crate, registered on the nodes too). Functions registered only in the
/// leader's session (pg_catalog helpers) keep their expressions on the leader.
fn builtin_functions() -> &'static std::collections::HashSet<String> {
    static NAMES: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let ctx = datafusion::prelude::SessionContext::new();
        blueshift_functions::register(&ctx);
        ctx.state().scalar_functions().keys().cloned().collect()
    })
}

/// Whether an expression needs something that lives only on the leader: a scalar
/// subquery (its value is computed by a `ScalarSubqueryExec` there) or a leader-only
/// function.
fn expr_needs_leader(e: &Arc<dyn datafusion::physical_expr::PhysicalExpr>) -> bool {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::physical_expr::ScalarFunctionExpr;
    use datafusion::physical_expr::scalar_subquery::ScalarSubqueryExpr;
    let mut found = false;
    let _ = e.apply(|sub| {
        let leader_only = sub.is::<ScalarSubqueryExpr>()
            || sub
                .downcast_ref::<ScalarFunctionExpr>()
                .is_some_and(|f| !builtin_functions().contains(f.name()));
        if leader_only {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether a node's expressions need something that lives only on the leader.
fn needs_leader(plan: &dyn ExecutionPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_expressions(&mut |e| {
        if expr_needs_leader(e) {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

/// Whether a plan node runs slice-locally: partition i of its output depends only on
/// partition i of its input (for a final aggregate: its input is already partitioned by
/// the group keys, by an exchange or by the table's distribution).
fn slice_local(plan: &dyn ExecutionPlan) -> bool {
    if needs_leader(plan) {
        return false;
    }
    if let Some(agg) = plan.downcast_ref::<AggregateExec>() {
        return matches!(
            agg.mode(),
            AggregateMode::Partial
                | AggregateMode::FinalPartitioned
                | AggregateMode::SinglePartitioned
        );
    }
    if let Some(sort) = plan.downcast_ref::<SortExec>() {
        return sort.preserve_partitioning();
    }
    plan.is::<FilterExec>()
        || plan.is::<ProjectionExec>()
        || plan.is::<CooperativeExec>()
        || plan.is::<LocalLimitExec>()
}

/// Where a placed subtree runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// On the leader (or nowhere in particular: values, empty relations).
    Leader,
    /// On the slices: partition `p` on `home_node(p)`.
    Slices,
}

/// A distributed plan's run: names its stages and exchanges uniquely, so nodes can tell
/// the streams of one run from another's.
struct Cutter<'a> {
    cluster: &'a Arc<Peers>,
    run: String,
    timeout_secs: u64,
    /// Numbers gathers and exchanges alike, so each boundary of a run has its own
    /// (`svl_query_summary.seg`).
    next_stage: usize,
    /// Key taps placed on the run's exchanges (`key_taps`).
    taps: crate::key_taps::Taps,
}

/// Cuts a single-node physical plan into stages: [`GatherExec`] where rows go to the
/// leader, [`ExchangeExec`] where they move between nodes (a redistribute for each hash
/// repartition DataFusion planned, a broadcast or a local copy for the small side of a
/// join).
pub fn distribute(
    plan: Arc<dyn ExecutionPlan>,
    cluster: &Arc<Peers>,
    query_id: &str,
) -> Result<Arc<dyn ExecutionPlan>> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let mut cutter = Cutter {
        cluster,
        run: format!(
            "{query_id}.{started:x}.{}",
            RUNS.fetch_add(1, Ordering::Relaxed)
        ),
        timeout_secs: cluster.timeout().as_secs().max(1),
        next_stage: 1,
        taps: Default::default(),
    };
    let (plan, place) = cutter.place(plan)?;
    let plan = cutter.gather(plan, place)?;
    // Key filters first: a tapped exchange's producers (rebuilt by `attach`) then carry
    // them, as every reader of its taps does.
    let plan = crate::key_filters::rewrite(plan)?;
    crate::key_taps::attach(plan, &cutter.taps)
}

impl Cutter<'_> {
    fn total(&self) -> usize {
        self.cluster.topology.total_slices() as usize
    }

    fn spec(&mut self) -> ExchangeSpec {
        let n = self.next_stage;
        self.next_stage += 1;
        ExchangeSpec {
            id: format!("{}/x{n}", self.run),
            broadcast: false,
            single: false,
            topology: self.cluster.topology,
            nodes: self.cluster.addrs(),
            timeout_secs: self.timeout_secs,
            taps: Vec::new(),
        }
    }

    /// A subtree placed on the slices, gathered to the leader.
    fn gather(
        &mut self,
        plan: Arc<dyn ExecutionPlan>,
        place: Place,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if place == Place::Leader {
            return Ok(plan);
        }
        let n = plan.output_partitioning().partition_count();
        let topology = self.cluster.topology;
        let slices = (0..n)
            .map(|p| {
                if n == self.total() {
                    p as u32
                } else {
                    home_node(&topology, n, p) * topology.slices_per_node
                }
            })
            .collect();
        let id = self.next_stage;
        self.next_stage += 1;
        Ok(Arc::new(GatherExec::new(
            plan,
            id,
            slices,
            Arc::clone(self.cluster),
            self.run.clone(),
        )))
    }

    fn on_slices(&self, plan: &Arc<dyn ExecutionPlan>) -> bool {
        plan.output_partitioning().partition_count() == self.total()
    }

    fn place(&mut self, plan: Arc<dyn ExecutionPlan>) -> Result<(Arc<dyn ExecutionPlan>, Place)> {
        if plan.is::<SliceScanExec>() {
            return Ok((plan, Place::Slices));
        }
        if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
            return self.place_join(join, &plan);
        }
        if let Some(join) = plan.downcast_ref::<SortMergeJoinExec>() {
            return self.place_merge_join(join, &plan);
        }
        let children = plan.children();
        if children.is_empty() {
            return Ok((plan, Place::Leader));
        }
        let placed = children
            .into_iter()
            .map(|c| self.place(Arc::clone(c)))
            .collect::<Result<Vec<_>>>()?;
        let all_slices = placed.iter().all(|(_, p)| *p == Place::Slices);
        if let Some(repartition) = plan.downcast_ref::<RepartitionExec>()
            && all_slices
            && let Partitioning::Hash(keys, n) = repartition.partitioning()
            && *n == self.total()
            && self.can_hash(&placed[0].0, keys)
        {
            let input = Arc::clone(&placed[0].0);
            let spec = self.spec();
            return Ok((
                Arc::new(ExchangeExec::redistribute(input, keys.clone(), spec)),
                Place::Slices,
            ));
        }
        if all_slices && slice_local(plan.as_ref()) {
            let children = placed.into_iter().map(|(c, _)| c).collect();
            return Ok((rebuild(plan, children)?, Place::Slices));
        }
        let mut children = placed
            .into_iter()
            .map(|(c, p)| self.gather(c, p))
            .collect::<Result<Vec<_>>>()?;
        if plan.is::<InterleaveExec>() {
            children = children
                .into_iter()
                .map(|c| match c.output_partitioning().clone() {
                    Partitioning::Hash(keys, _) => local_hash(c, keys),
                    _ => Ok(c),
                })
                .collect::<Result<_>>()?;
        }
        Ok((rebuild(plan, children)?, Place::Leader))
    }

    /// Whether `plan` lies on the slices hashed by exactly these keys.
    fn hashed_on(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        keys: &[Arc<dyn datafusion::physical_expr::PhysicalExpr>],
    ) -> bool {
        matches!(plan.output_partitioning(), Partitioning::Hash(exprs, n)
            if *n == self.total() && datafusion::physical_expr::physical_exprs_equal(exprs, keys))
    }

    /// Whether rows of `input` can be redistributed by these keys on the nodes.
    fn can_hash(
        &self,
        input: &Arc<dyn ExecutionPlan>,
        keys: &[Arc<dyn datafusion::physical_expr::PhysicalExpr>],
    ) -> bool {
        let schema = input.schema();
        !keys.is_empty()
            && keys.iter().all(|k| {
                !expr_needs_leader(k)
                    && k.data_type(&schema)
                        .is_ok_and(|t| blueshift_storage::placement::hashable(&t))
            })
    }

    /// Places a merge join (planned instead of hash joins for a query whose hash join ran
    /// out of memory): on the slices, where DataFusion's repartitions (now redistributes)
    /// or the tables' distribution put both sides by the join key, each slice sorting its
    /// share (spilling as it must). Nowhere else: on the leader its sorted sides would
    /// have to be hashed again by one function, so such a plan is refused.
    fn place_merge_join(
        &mut self,
        join: &SortMergeJoinExec,
        plan: &Arc<dyn ExecutionPlan>,
    ) -> Result<(Arc<dyn ExecutionPlan>, Place)> {
        let (left, lp) = self.place(Arc::clone(join.left()))?;
        let (right, rp) = self.place(Arc::clone(join.right()))?;
        let left_keys: Vec<_> = join.on().iter().map(|(l, _)| Arc::clone(l)).collect();
        let right_keys: Vec<_> = join.on().iter().map(|(_, r)| Arc::clone(r)).collect();
        if !needs_leader(plan.as_ref())
            && lp == Place::Slices
            && rp == Place::Slices
            && self.hashed_on(&left, &left_keys)
            && self.hashed_on(&right, &right_keys)
        {
            return Ok((rebuild(Arc::clone(plan), vec![left, right])?, Place::Slices));
        }
        Err(datafusion::error::DataFusionError::NotImplemented(
            "a merge join whose sides do not both lie on the slices by the join key".into(),
        ))
    }

    /// Places a hash join: on the slices when its sides can meet there (co-located,
    /// one side redistributed onto the other's key, both redistributed, the small side
    /// broadcast or read from a DISTSTYLE ALL copy on every node), else on the leader.
    fn place_join(
        &mut self,
        join: &HashJoinExec,
        plan: &Arc<dyn ExecutionPlan>,
    ) -> Result<(Arc<dyn ExecutionPlan>, Place)> {
        // A collect-left build side sits under the merge DataFusion put over it; the merge
        // stays only if the join ends up on the leader.
        let merge = join
            .left()
            .downcast_ref::<CoalescePartitionsExec>()
            .map(|_| Arc::clone(join.left()));
        let build_input = match join.left().downcast_ref::<CoalescePartitionsExec>() {
            Some(c) => Arc::clone(c.input()),
            None => Arc::clone(join.left()),
        };
        let (left, lp) = self.place(build_input)?;
        let (right, rp) = self.place(Arc::clone(join.right()))?;
        let join_type = *join.join_type();
        let movable = !join.null_aware && !needs_leader(plan.as_ref());
        if movable
            && *join.partition_mode() == PartitionMode::CollectLeft
            && lp == Place::Slices
            && rp == Place::Slices
        {
            let left_copies = merge.is_none() && reads_local_copies(&left);
            let right_copies = reads_local_copies(&right);
            let left_keys: Vec<_> = join.on().iter().map(|(l, _)| Arc::clone(l)).collect();
            let right_keys: Vec<_> = join.on().iter().map(|(_, r)| Arc::clone(r)).collect();
            if left_copies && right_copies {
                // Two DISTSTYLE ALL sides: every node can join its own copies.
                let join = join.builder().with_new_children(vec![left, right])?;
                return Ok((join.reset_state().build_exec()?, Place::Slices));
            }
            if right_copies
                && self.on_slices(&left)
                && matches!(
                    join_type,
                    JoinType::Inner
                        | JoinType::Left
                        | JoinType::LeftSemi
                        | JoinType::LeftAnti
                        | JoinType::LeftMark
                )
            {
                // The probe side is a DISTSTYLE ALL table: make it the build side, read
                // from every node's copy, and probe with the rows where they are. The
                // join had one output partition and its parent counts on that: the rows
                // are merged on the leader.
                let join = join
                    .builder()
                    .with_new_children(vec![left, right])?
                    .reset_state()
                    .build()?;
                let swapped = join.swap_inputs(PartitionMode::CollectLeft)?;
                let gathered = self.gather(swapped, Place::Slices)?;
                return Ok((
                    Arc::new(CoalescePartitionsExec::new(gathered)),
                    Place::Leader,
                ));
            }
            if right_copies && !left_copies {
                // The outer side is a DISTSTYLE ALL table whose rows the join emits or
                // tests once: it is read once, from node 0's copy, and the whole inner
                // side is sent to slice 0 to meet it there (DS_DIST_ALL_INNER).
                let spec = self.spec();
                let build: Arc<dyn ExecutionPlan> = Arc::new(ExchangeExec::single(left, spec));
                let join = join.builder().with_new_children(vec![build, right])?;
                return Ok((join.reset_state().build_exec()?, Place::Slices));
            }
            if self.hashed_on(&left, &left_keys) && self.hashed_on(&right, &right_keys) {
                // Both sides already lie by the join key: join where they are.
                let join = join
                    .builder()
                    .with_partition_mode(PartitionMode::Partitioned)
                    .with_new_children(vec![left, right])?;
                return Ok((join.reset_state().build_exec()?, Place::Slices));
            }
        }
        // NOT IN must see whether the whole subquery side holds a NULL; it stays whole.
        let on_slices =
            movable && lp == Place::Slices && rp == Place::Slices && self.on_slices(&right);
        if on_slices {
            match join.partition_mode() {
                PartitionMode::Partitioned if merge.is_none() && self.on_slices(&left) => {
                    let right = crate::key_taps::tap_probe(
                        join,
                        &left,
                        right,
                        self.cluster.topology.nodes as usize,
                        &mut self.taps,
                    )?;
                    let join = join.builder().with_new_children(vec![left, right])?;
                    return Ok((join.reset_state().build_exec()?, Place::Slices));
                }
                PartitionMode::CollectLeft => {
                    let emits_build_rows = !matches!(
                        join_type,
                        JoinType::Inner
                            | JoinType::Right
                            | JoinType::RightSemi
                            | JoinType::RightAnti
                            | JoinType::RightMark
                    );
                    if !emits_build_rows {
                        let build = if merge.is_none() && reads_local_copies(&left) {
                            left
                        } else {
                            let spec = self.spec();
                            Arc::new(ExchangeExec::broadcast(left, spec)) as Arc<dyn ExecutionPlan>
                        };
                        let join = join.builder().with_new_children(vec![build, right])?;
                        return Ok((join.reset_state().build_exec()?, Place::Slices));
                    }
                    // An outer, semi or anti join that keeps build rows must see each
                    // build row once: both sides by the join key.
                    let left_keys: Vec<_> = join.on().iter().map(|(l, _)| Arc::clone(l)).collect();
                    let right_keys: Vec<_> = join.on().iter().map(|(_, r)| Arc::clone(r)).collect();
                    if self.can_hash(&left, &left_keys) && self.can_hash(&right, &right_keys) {
                        let spec = self.spec();
                        let build: Arc<dyn ExecutionPlan> =
                            Arc::new(ExchangeExec::redistribute(left, left_keys, spec));
                        let spec = self.spec();
                        let right: Arc<dyn ExecutionPlan> =
                            Arc::new(ExchangeExec::redistribute(right, right_keys, spec));
                        let right = crate::key_taps::tap_probe(
                            join,
                            &build,
                            right,
                            self.cluster.topology.nodes as usize,
                            &mut self.taps,
                        )?;
                        let join = join
                            .builder()
                            .with_partition_mode(PartitionMode::Partitioned)
                            .with_new_children(vec![build, right])?;
                        return Ok((join.reset_state().build_exec()?, Place::Slices));
                    }
                }
                _ => {}
            }
        }
        let mut left = self.gather(left, lp)?;
        if let Some(merge) = merge {
            left = rebuild(merge, vec![left])?;
        }
        let mut right = self.gather(right, rp)?;
        if *join.partition_mode() == PartitionMode::Partitioned {
            let left_keys: Vec<_> = join.on().iter().map(|(l, _)| Arc::clone(l)).collect();
            let right_keys: Vec<_> = join.on().iter().map(|(_, r)| Arc::clone(r)).collect();
            left = local_hash(left, left_keys)?;
            right = local_hash(right, right_keys)?;
        }
        Ok((rebuild(Arc::clone(plan), vec![left, right])?, Place::Leader))
    }
}

/// Rows that meet others partition by partition on the leader (a partitioned join, an
/// interleave) must all be hashed by one function. A DISTKEY scan or an exchange hashes
/// by the placement hash, DataFusion's own repartition (left on the leader over rows
/// already there) by its own: a side that is not such a repartition is hashed again here
/// by DataFusion's, so the two sides line up.
fn local_hash(
    plan: Arc<dyn ExecutionPlan>,
    keys: Vec<Arc<dyn datafusion::physical_expr::PhysicalExpr>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.is::<RepartitionExec>() {
        return Ok(plan);
    }
    let n = plan.output_partitioning().partition_count();
    Ok(Arc::new(RepartitionExec::try_new(
        plan,
        Partitioning::Hash(keys, n),
    )?))
}

/// Whether a single-partition subtree reads only DISTSTYLE ALL tables through slice-local
/// operators: every node can run it against its own copy.
pub(crate) fn reads_local_copies(plan: &Arc<dyn ExecutionPlan>) -> bool {
    fn walk(plan: &Arc<dyn ExecutionPlan>) -> bool {
        if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
            return scan.reads_local_copy();
        }
        let children = plan.children();
        let local = slice_local(plan.as_ref())
            || plan
                .downcast_ref::<HashJoinExec>()
                .is_some_and(|j| *j.partition_mode() == PartitionMode::CollectLeft)
            || plan.is::<KeyFilterExec>();
        !children.is_empty() && local && children.into_iter().all(walk)
    }
    plan.output_partitioning().partition_count() == 1 && walk(plan)
}

fn rebuild(
    plan: Arc<dyn ExecutionPlan>,
    children: Vec<Arc<dyn ExecutionPlan>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    if children.is_empty() {
        return Ok(plan);
    }
    plan.replace_children(
        children,
        ReplaceChildrenOptions::new(datafusion::physical_plan::ChildrenPropertiesMode::Recompute),
    )
}

/// Redshift's label for where a join runs and what moved to get it there.
pub fn join_label(join: &HashJoinExec, on_slices: bool) -> &'static str {
    sides_label(join.left(), join.right(), on_slices)
}

/// [`join_label`] of a join whose build (inner) side is `left` and probe side `right`.
pub fn sides_label(
    left: &Arc<dyn ExecutionPlan>,
    right: &Arc<dyn ExecutionPlan>,
    on_slices: bool,
) -> &'static str {
    if !on_slices {
        return "on leader";
    }
    let kind = |p| exchange_below(p).map(|s| (s.broadcast, s.single));
    if left.is::<KeysExec>() {
        return "DS_BCAST_INNER";
    }
    match (kind(left), kind(right)) {
        (Some((true, _)), _) => "DS_BCAST_INNER",
        (Some((_, true)), _) => "DS_DIST_ALL_INNER",
        (Some(_), Some(_)) => "DS_DIST_BOTH",
        (Some(_), None) => "DS_DIST_INNER",
        (None, Some(_)) => "DS_DIST_OUTER",
        _ if reads_local_copies(left) => "DS_DIST_ALL_NONE",
        _ => "DS_DIST_NONE",
    }
}

/// A merge join's label (it runs only on the slices, its sides by the join key).
pub fn merge_join_label(join: &SortMergeJoinExec) -> &'static str {
    match (exchange_below(join.right()), exchange_below(join.left())) {
        (Some(_), Some(_)) => "DS_DIST_BOTH",
        (Some(_), None) => "DS_DIST_INNER",
        (None, Some(_)) => "DS_DIST_OUTER",
        (None, None) => "DS_DIST_NONE",
    }
}

/// The exchange feeding a join's side (through per-slice sorts).
fn exchange_below(plan: &Arc<dyn ExecutionPlan>) -> Option<&ExchangeSpec> {
    if let Some(x) = plan.downcast_ref::<ExchangeExec>() {
        return Some(x.spec());
    }
    match plan.downcast_ref::<SortExec>() {
        Some(sort) => exchange_below(sort.input()),
        None => None,
    }
}

/// Renders a distributed plan as its stages, leader first, for EXPLAIN: each boundary
/// (gather, redistribute, broadcast) starts a stage run on the compute nodes, and each
/// join on the slices carries Redshift's label for what moved to bring its sides together.
/// With `analyze`, each operator shows its metrics, and each stage what its streams
/// carried as the nodes measured them (`figures`): per slice for a gather, per sending node
/// for an exchange.
/// The run of a distributed plan (the prefix of its boundaries' names), if it has one.
pub fn run_of(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    if let Some(g) = plan.downcast_ref::<GatherExec>() {
        return Some(g.query_id().to_string());
    }
    plan.children().into_iter().find_map(run_of)
}

pub fn explain(
    plan: &Arc<dyn ExecutionPlan>,
    cluster: &Peers,
    analyze: bool,
    figures: &[StreamFigures],
) -> Vec<String> {
    let mut out = crate::explain::xn_lines(plan);
    out.push(String::new());
    out.push("Stage 0 (leader)".to_string());
    let mut stages: Vec<(&dyn ExecutionPlan, usize)> = Vec::new();
    render(
        plan.as_ref(),
        1,
        analyze,
        false,
        0,
        &mut out,
        &mut stages,
        None,
        &mut 0,
    );
    let mut i = 0;
    while i < stages.len() {
        let (boundary, parent) = stages[i];
        let stage = i + 1;
        out.push(String::new());
        if let Some(g) = boundary.downcast_ref::<GatherExec>() {
            let mut by_node: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
            for s in g.slices() {
                by_node
                    .entry(cluster.topology.node_of(*s))
                    .or_default()
                    .push(*s);
            }
            let placement = by_node
                .iter()
                .map(|(n, s)| format!("node {n}: slices {s:?}"))
                .collect::<Vec<_>>()
                .join("; ");
            out.push(format!(
                "Stage {stage} (compute; {placement}) -> GatherExec to stage {parent}"
            ));
            if analyze {
                let boundary = format!("{}/s{}", g.query_id(), g.stage_id());
                for (p, slice) in g.slices().iter().enumerate() {
                    let f = figures
                        .iter()
                        .filter(|f| f.boundary == boundary && f.partition as usize == p);
                    out.push(format!("  slice {slice}: {}", measured(f)));
                }
            }
        } else if let Some(x) = boundary.downcast_ref::<ExchangeExec>() {
            let kind = if x.spec().broadcast {
                "BroadcastExec"
            } else if x.spec().single {
                "RedistributeExec to slice 0"
            } else {
                "RedistributeExec"
            };
            out.push(format!(
                "Stage {stage} (compute; every node) -> {kind} to stage {parent}"
            ));
            if analyze {
                for node in 0..cluster.topology.nodes {
                    let f = figures
                        .iter()
                        .filter(|f| f.boundary == x.spec().id && f.node == node);
                    out.push(format!("  node {node} sent: {}", measured(f)));
                }
                if !x.spec().taps.is_empty() {
                    let keys = format!("{}k", x.spec().id);
                    for node in 0..cluster.topology.nodes {
                        let f = figures
                            .iter()
                            .filter(|f| f.boundary == keys && f.node == node);
                        out.push(format!("  node {node} sent keys: {}", measured(f)));
                    }
                }
            }
        }
        let operators = operator_figures(boundary, figures);
        let mut index = 0;
        for child in boundary.children() {
            render(
                child.as_ref(),
                1,
                analyze,
                true,
                stage,
                &mut out,
                &mut stages,
                operators.as_deref(),
                &mut index,
            );
        }
        i += 1;
    }
    out
}

/// Streams' figures summed: rows, bytes over the network, the longest stream's time.
fn measured<'a>(figures: impl Iterator<Item = &'a StreamFigures>) -> String {
    let (mut rows, mut bytes, mut micros, mut spilled, mut streams) = (0, 0, 0, false, 0);
    for f in figures {
        rows += f.rows;
        bytes += f.bytes;
        micros = micros.max(f.micros);
        spilled |= f.spilled;
        streams += 1;
    }
    let spill = if spilled { ", spilled to disk" } else { "" };
    format!(
        "rows={rows} bytes={bytes} time={:.1} ms streams={streams}{spill}",
        micros as f64 / 1000.0
    )
}

/// What the nodes measured for each operator of the stage below `boundary`, in pre-order:
/// a gather's partitions summed; for an exchange, each node's most complete figures (the
/// stream that ended last read them) summed over the nodes.
fn operator_figures(
    boundary: &dyn ExecutionPlan,
    figures: &[StreamFigures],
) -> Option<Vec<(u64, u64)>> {
    let (id, per_node_max) = if let Some(g) = boundary.downcast_ref::<GatherExec>() {
        (format!("{}/s{}", g.query_id(), g.stage_id()), false)
    } else {
        (
            boundary.downcast_ref::<ExchangeExec>()?.spec().id.clone(),
            true,
        )
    };
    let mut by_node: std::collections::BTreeMap<u32, Vec<(u64, u64)>> = Default::default();
    let mut summed: Vec<(u64, u64)> = Vec::new();
    for f in figures.iter().filter(|f| f.boundary == id) {
        let target = if per_node_max {
            by_node.entry(f.node).or_default()
        } else {
            &mut summed
        };
        target.resize(target.len().max(f.operators.len()), (0, 0));
        for (t, o) in target.iter_mut().zip(&f.operators) {
            *t = if per_node_max {
                (t.0.max(o.0), t.1.max(o.1))
            } else {
                (t.0 + o.0, t.1 + o.1)
            };
        }
    }
    for node in by_node.into_values() {
        summed.resize(summed.len().max(node.len()), (0, 0));
        for (t, o) in summed.iter_mut().zip(node) {
            *t = (t.0 + o.0, t.1 + o.1);
        }
    }
    (!summed.is_empty()).then_some(summed)
}

#[allow(clippy::too_many_arguments)]
fn render<'a>(
    plan: &'a dyn ExecutionPlan,
    depth: usize,
    analyze: bool,
    on_slices: bool,
    stage: usize,
    out: &mut Vec<String>,
    stages: &mut Vec<(&'a dyn ExecutionPlan, usize)>,
    operators: Option<&[(u64, u64)]>,
    index: &mut usize,
) {
    let measured = operators.and_then(|o| o.get(*index)).copied();
    *index += 1;
    let line = if let Some((rows, nanos)) = measured {
        format!(
            "{}, rows={rows} time={:.1} ms",
            datafusion::physical_plan::display::DisplayableExecutionPlan::new(plan)
                .one_line()
                .to_string()
                .trim_end(),
            nanos as f64 / 1e6
        )
    } else if analyze && !on_slices {
        datafusion::physical_plan::display::DisplayableExecutionPlan::with_metrics(plan)
            .one_line()
            .to_string()
    } else {
        datafusion::physical_plan::display::DisplayableExecutionPlan::new(plan)
            .one_line()
            .to_string()
    };
    let mut line = line.trim_end().to_string();
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        line.push_str(&format!(" [{}]", join_label(join, on_slices)));
    }
    if let Some(join) = plan.downcast_ref::<SortMergeJoinExec>() {
        line.push_str(&format!(" [{}]", merge_join_label(join)));
    }
    if let Some(filter) = plan.downcast_ref::<KeyFilterExec>() {
        let label = sides_label(filter.keys(), filter.input(), on_slices);
        line.push_str(&format!(" [{label}]"));
    }
    let boundary = plan.is::<GatherExec>() || plan.is::<ExchangeExec>();
    if boundary {
        line.push_str(&format!(" <- stage {}", stages.len() + 1));
    }
    out.push(format!("{}{line}", "  ".repeat(depth)));
    if boundary {
        stages.push((plan, stage));
        return;
    }
    for child in plan.children() {
        render(
            child.as_ref(),
            depth + 1,
            analyze,
            on_slices,
            stage,
            out,
            stages,
            operators,
            index,
        );
    }
}
