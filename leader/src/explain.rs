//! Redshift's form of EXPLAIN: one `XN …` line per step of a distributed plan, with the
//! planner's row estimate and the width of a row, above the stages as they run.
//!
//! ```text
//!  XN Merge  (rows=10 width=24)
//!    Merge Key: revenue DESC
//!    ->  XN Network  (rows=10 width=24)
//!          Send to leader
//!          ->  XN Hash Join DS_BCAST_INNER  (rows=30000 width=24)
//!                Hash Cond: ("outer".l_orderkey = "inner".o_orderkey)
//!                ->  XN Seq Scan on lineitem  (rows=600000 width=16)
//!                ->  XN Hash  (rows=1500 width=8)
//!                      ->  XN Network  (rows=1500 width=8)
//!                            Broadcast
//!                            ->  XN Seq Scan on orders  (rows=1500 width=8)
//!                                  Filter: o_orderdate < 1995-03-15
//! ```
//!
//! Steps that only reshape rows (projections, coalescing) are left out; a filter shows as
//! a `Filter:` line of the step below it, as Redshift prints it on the scan. Estimates come
//! from DataFusion's statistics: block row counts, narrowed by ANALYZE's figures.

use std::sync::Arc;

use arrow::datatypes::DataType;
use blueshift_compute::{ExchangeExec, GatherExec, KeyFilterExec, KeysExec};
use blueshift_storage::SliceScanExec;
use datafusion::common::JoinType;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, SortMergeJoinExec};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};

use crate::stages::{merge_join_label, sides_label};

/// The `XN` lines of `plan` (the leader's root of a distributed plan).
pub fn xn_lines(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
    let mut out = Vec::new();
    let stats = StatisticsContext::new();
    step(plan, None, 0, false, false, Vec::new(), &stats, &mut out);
    out
}

/// Renders the first step at or below `plan`: its title at `indent` (after `->  ` for a
/// child), its details and `pending` ones (a filter above it) below, then its children.
/// Its estimate is that of `top`, the first of the steps left out above it, if any: the
/// rows a filter keeps, the width a projection leaves.
#[allow(clippy::too_many_arguments)]
fn step<'a>(
    plan: &'a Arc<dyn ExecutionPlan>,
    top: Option<&'a Arc<dyn ExecutionPlan>>,
    indent: usize,
    child: bool,
    on_slices: bool,
    mut pending: Vec<String>,
    stats: &StatisticsContext,
    out: &mut Vec<String>,
) {
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        pending.push(format!("Filter: {}", expr_text(filter.predicate())));
        let top = top.or(Some(plan));
        return step(
            filter.input(),
            top,
            indent,
            child,
            on_slices,
            pending,
            stats,
            out,
        );
    }
    let name = plan.name();
    if matches!(
        name,
        "ProjectionExec"
            | "CoalescePartitionsExec"
            | "CoalesceBatchesExec"
            | "RepartitionExec"
            | "CooperativeExec"
            | "WindowOrderingExec"
    ) && plan.children().len() == 1
    {
        let top = top.or(Some(plan));
        return step(
            plan.children()[0],
            top,
            indent,
            child,
            on_slices,
            pending,
            stats,
            out,
        );
    }
    let (title, mut details, children) = describe(plan, on_slices);
    details.extend(pending);
    let (rows, width) = estimate(top.unwrap_or(plan).as_ref(), stats);
    let arrow = if child { "->  " } else { "" };
    out.push(format!(
        "{}{arrow}XN {title}  (rows={rows} width={width})",
        " ".repeat(indent)
    ));
    let inner = indent + if child { 6 } else { 2 };
    for d in details {
        out.push(format!("{}{d}", " ".repeat(inner)));
    }
    let below = on_slices || plan.is::<GatherExec>();
    for c in children {
        match c {
            Child::Plan(p) => step(p, None, inner, true, below, Vec::new(), stats, out),
            Child::Hash(p) => {
                let (rows, width) = estimate(p.as_ref(), stats);
                out.push(format!(
                    "{}->  XN Hash  (rows={rows} width={width})",
                    " ".repeat(inner)
                ));
                step(p, None, inner + 6, true, below, Vec::new(), stats, out);
            }
        }
    }
}

enum Child<'a> {
    Plan(&'a Arc<dyn ExecutionPlan>),
    /// A hash join's build side, under its `XN Hash` step.
    Hash(&'a Arc<dyn ExecutionPlan>),
}

/// A join step's kind as Redshift names it: `Hash Left Join`, `Merge Semi Join`, ….
fn join_kind(method: &str, join_type: &JoinType) -> String {
    let how = match join_type {
        JoinType::Inner => "",
        JoinType::Left => " Left",
        JoinType::Right => " Right",
        JoinType::Full => " Full",
        JoinType::LeftSemi | JoinType::RightSemi => " Semi",
        JoinType::LeftAnti | JoinType::RightAnti => " Anti",
        JoinType::LeftMark | JoinType::RightMark => " Mark",
    };
    format!("{method}{how} Join")
}

/// A join step's `<method> Cond` line over its (outer, inner) key pairs, and its
/// `Join Filter` line if it has one.
fn join_details<'a>(
    method: &str,
    pairs: impl Iterator<Item = (&'a Arc<dyn PhysicalExpr>, &'a Arc<dyn PhysicalExpr>)>,
    filter: Option<&datafusion::physical_plan::joins::utils::JoinFilter>,
) -> Vec<String> {
    let cond = pairs
        .map(|(outer, inner)| {
            format!(
                "(\"outer\".{} = \"inner\".{})",
                expr_text(outer),
                expr_text(inner)
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut details = vec![format!("{method} Cond: {cond}")];
    if let Some(filter) = filter {
        details.push(format!("Join Filter: {}", expr_text(filter.expression())));
    }
    details
}

/// A hash join step (or a key filter, the semi join it stands for): its title with
/// Redshift's placement label, its details, and its probe side over its build side.
fn hash_step<'a>(
    join_type: &JoinType,
    build: &'a Arc<dyn ExecutionPlan>,
    probe: &'a Arc<dyn ExecutionPlan>,
    mut details: Vec<String>,
    on_slices: bool,
) -> (String, Vec<String>, Vec<Child<'a>>) {
    let kind = join_kind("Hash", join_type);
    let title = if on_slices {
        format!("{kind} {}", sides_label(build, probe, on_slices))
    } else {
        details.push("On the leader".into());
        kind
    };
    (title, details, vec![Child::Plan(probe), Child::Hash(build)])
}

/// A step's title, detail lines and children.
fn describe(
    plan: &Arc<dyn ExecutionPlan>,
    on_slices: bool,
) -> (String, Vec<String>, Vec<Child<'_>>) {
    let all = || plan.children().into_iter().map(Child::Plan).collect();
    if let Some(scan) = plan.downcast_ref::<SliceScanExec>() {
        let table = crate::schema::split_key(&scan.spec().table.name).1;
        return (format!("Seq Scan on {table}"), vec![], vec![]);
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        // A hash join's build side (left) is Redshift's inner side.
        let pairs = join.on().iter().map(|(build, probe)| (probe, build));
        let details = join_details("Hash", pairs, join.filter());
        return hash_step(
            join.join_type(),
            join.left(),
            join.right(),
            details,
            on_slices,
        );
    }
    if let Some(filter) = plan.downcast_ref::<KeyFilterExec>() {
        // The semi join it stands for: the keys are its build (inner) side.
        let key_name = filter.keys().schema().field(0).name().clone();
        let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new(&key_name, 0));
        let details = join_details("Hash", std::iter::once((filter.on(), &key)), None);
        return hash_step(
            &JoinType::RightSemi,
            filter.keys(),
            filter.input(),
            details,
            on_slices,
        );
    }
    if let Some(join) = plan.downcast_ref::<SortMergeJoinExec>() {
        let kind = join_kind("Merge", &join.join_type());
        // A merge join streams its left side (outer) and buffers its right (inner).
        let pairs = join.on().iter().map(|(outer, inner)| (outer, inner));
        return (
            format!("{kind} {}", merge_join_label(join)),
            join_details("Merge", pairs, join.filter().as_ref()),
            vec![Child::Plan(join.left()), Child::Plan(join.right())],
        );
    }
    if let Some(agg) = plan.downcast_ref::<AggregateExec>() {
        let grouped = !agg.group_expr().expr().is_empty();
        let base = if grouped {
            "HashAggregate"
        } else {
            "Aggregate"
        };
        let title = match agg.mode() {
            AggregateMode::Partial => format!("Partial {base}"),
            _ => base.to_string(),
        };
        let details = if grouped {
            let keys: Vec<String> = agg
                .group_expr()
                .expr()
                .iter()
                .map(|(_, name)| name.clone())
                .collect();
            vec![format!("Group Key: {}", keys.join(", "))]
        } else {
            vec![]
        };
        return (title, details, all());
    }
    if let Some(sort) = plan.downcast_ref::<SortExec>() {
        let mut details = vec![format!("Sort Key: {}", sort_keys(sort.expr()))];
        if let Some(n) = sort.fetch() {
            details.push(format!("Top {n}"));
        }
        return ("Sort".into(), details, all());
    }
    if let Some(merge) = plan.downcast_ref::<SortPreservingMergeExec>() {
        let mut details = vec![format!("Merge Key: {}", sort_keys(merge.expr()))];
        if let Some(n) = merge.fetch() {
            details.push(format!("Limit {n}"));
        }
        return ("Merge".into(), details, all());
    }
    if plan.is::<GatherExec>() {
        return ("Network".into(), vec!["Send to leader".into()], all());
    }
    if let Some(x) = plan.downcast_ref::<ExchangeExec>() {
        let how = if x.spec().broadcast {
            "Broadcast".to_string()
        } else if x.spec().single {
            "Distribute to one slice".to_string()
        } else {
            let keys: Vec<String> = x.keys().iter().map(expr_text).collect();
            format!("Distribute by {}", keys.join(", "))
        };
        return ("Network".into(), vec![how], all());
    }
    if plan.is::<KeysExec>() {
        let schema = plan.schema();
        let keys: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return (
            "Network".into(),
            vec![format!(
                "Broadcast keys {} of a redistributed build side",
                keys.join(", ")
            )],
            all(),
        );
    }
    let title = match plan.name() {
        "GlobalLimitExec" | "LocalLimitExec" => "Limit".to_string(),
        "WindowAggExec" | "BoundedWindowAggExec" => "Window".to_string(),
        "UnionExec" | "InterleaveExec" => "Append".to_string(),
        "NestedLoopJoinExec" | "CrossJoinExec" => "Nested Loop".to_string(),
        "EmptyExec" | "PlaceholderRowExec" => "Result".to_string(),
        other => other.trim_end_matches("Exec").to_string(),
    };
    (title, vec![], all())
}

/// DataFusion's estimate of the step's rows, and the bytes of one row: each column's
/// fixed width, or its share of the estimated bytes, or 16 for a value of unknown size.
fn estimate(plan: &dyn ExecutionPlan, stats: &StatisticsContext) -> (String, usize) {
    let computed = stats.compute(plan, &StatisticsArgs::new()).ok();
    let rows = computed
        .as_ref()
        .and_then(|s| s.num_rows.get_value().copied());
    let schema = plan.schema();
    let width = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match f.data_type() {
            DataType::Boolean => 1,
            dt if dt.primitive_width().is_some() => dt.primitive_width().unwrap_or(8),
            _ => computed
                .as_ref()
                .and_then(|s| s.column_statistics.get(i))
                .and_then(|c| c.byte_size.get_value().copied())
                .zip(rows.filter(|r| *r > 0))
                .map_or(16, |(bytes, rows)| bytes.div_ceil(rows)),
        })
        .sum();
    (rows.map_or("?".to_string(), |r| r.to_string()), width)
}

/// An expression as a user wrote it: columns by name, without DataFusion's `@index`.
fn expr_text(e: &Arc<dyn PhysicalExpr>) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '@' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn sort_keys(exprs: &datafusion::physical_expr::LexOrdering) -> String {
    exprs
        .iter()
        .map(|s| {
            let dir = if s.options.descending { " DESC" } else { "" };
            format!("{}{dir}", expr_text(&s.expr))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
