//! Subqueries DataFusion does not answer correctly, answered by running them.
//!
//! DataFusion 55 decorrelates subqueries into joins, and several of its shapes give wrong
//! answers without an error or fail to plan:
//! - `NOT x IN (…)` anywhere but as a whole WHERE conjunct becomes a mark join that is not
//!   null-aware, so NULL reads as false (apache/datafusion#25336, #25347, #25473, #25474,
//!   #8241); the null-aware anti join it uses for a WHERE conjunct ignores correlation
//!   filters and nullable expressions (#25336, #25474).
//! - EXISTS or IN over a correlated aggregate without GROUP BY drops rows (#24960).
//! - a correlated scalar subquery whose correlation is not an equality under the aggregate
//!   (in the aggregate's arguments, `x.b < t.b`, in HAVING) gives NULLs or wrong counts.
//! - IN and EXISTS in a select list cannot be planned at all (#23022).
//!
//! [`IsolateSubqueries`] (an analyzer rule) keeps for DataFusion only the shapes its
//! decorrelation gets right, which are the fast ones analytical queries use (EXISTS and IN
//! as WHERE conjuncts over filters and inner joins; scalar aggregates correlated by
//! equality). Every other subquery moves into an [`ApplyNode`] under the node that used it,
//! which adds its value as a column; [`ApplyExec`] computes that column by running the
//! subquery once per distinct set of outer values, with those values in place of the outer
//! references (an uncorrelated subquery runs once). That is slower for a correlated
//! subquery over many outer rows, and right. Remove a case here when upstream fixes it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, SchemaRef};
use async_trait::async_trait;
use blueshift_compute::Peers;
use blueshift_storage::{Code, CodedError};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, DFSchemaRef, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr::{Exists, InSubquery, SetQuantifier};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    Aggregate, Extension, Filter, LogicalPlan, LogicalPlanBuilder, Operator, Projection, Subquery,
    UserDefinedLogicalNode, UserDefinedLogicalNodeCore, Window,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties, collect,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::Expr;
use futures::StreamExt;

/// Which value of a subquery an [`ApplyNode`] computes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd)]
pub enum Kind {
    /// Its one value (NULL for no rows; more than one row is an error).
    Scalar,
    /// Whether it has rows.
    Exists { negated: bool },
    /// `probe op ANY (…)` or `probe op ALL (…)` with SQL's three-valued logic (`IN` is
    /// `= ANY`), negated for `NOT IN`.
    Quantified {
        probe: Expr,
        op: Operator,
        all: bool,
        negated: bool,
    },
}

/// Adds one column to its input: the value of a subquery for each input row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApplyNode {
    input: LogicalPlan,
    subquery: Arc<LogicalPlan>,
    kind: Kind,
    /// The input columns the subquery refers to, in the order bindings are made.
    outer: Vec<Column>,
    schema: DFSchemaRef,
}

impl ApplyNode {
    fn new(input: LogicalPlan, sub: &Subquery, kind: Kind, name: &str) -> Result<Option<Self>> {
        // The outer references of the subquery and of subqueries nested in it that name
        // this input's columns (a nested one may also refer to the subquery's own).
        let mut outer: Vec<Column> = Vec::new();
        sub.subquery.apply_with_subqueries(|node| {
            node.apply_expressions(|e| {
                e.apply(|x| {
                    if let Expr::OuterReferenceColumn(_, c) = x
                        && !outer.contains(c)
                        && input.schema().index_of_column(c).is_ok()
                    {
                        outer.push(c.clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        })?;
        // Every direct outer reference must be a column of this input; one that reaches
        // further out is left to DataFusion.
        for e in &sub.outer_ref_columns {
            if let Expr::OuterReferenceColumn(_, c) = e
                && !outer.contains(c)
            {
                return Ok(None);
            }
        }
        let data_type = match &kind {
            Kind::Scalar => sub.subquery.schema().field(0).data_type().clone(),
            _ => DataType::Boolean,
        };
        let mut fields: Vec<(Option<datafusion::common::TableReference>, Arc<Field>)> = input
            .schema()
            .iter()
            .map(|(q, f)| (q.cloned(), Arc::clone(f)))
            .collect();
        fields.push((None, Arc::new(Field::new(name, data_type, true))));
        let schema = DFSchema::new_with_metadata(fields, input.schema().metadata().clone())?;
        Ok(Some(ApplyNode {
            input,
            subquery: Arc::clone(&sub.subquery),
            kind,
            outer,
            schema: Arc::new(schema),
        }))
    }
}

impl PartialOrd for ApplyNode {
    /// Plans are not ordered; two nodes are only equal or not.
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self == other).then_some(std::cmp::Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for ApplyNode {
    fn name(&self) -> &str {
        "Apply"
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        let mut exprs: Vec<Expr> = self.outer.iter().cloned().map(Expr::Column).collect();
        if let Kind::Quantified { probe, .. } = &self.kind {
            exprs.push(probe.clone());
        }
        exprs
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let outer: Vec<String> = self.outer.iter().map(|c| c.flat_name()).collect();
        write!(f, "Apply: {:?} outer=[{}]", self.kind, outer.join(", "))
    }
    fn with_exprs_and_inputs(
        &self,
        exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let mut node = self.clone();
        node.input = inputs.swap_remove(0);
        if let Kind::Quantified { probe, .. } = &mut node.kind
            && let Some(p) = exprs.get(self.outer.len())
        {
            *probe = p.clone();
        }
        Ok(node)
    }
}

/// The subquery expressions of one plan node that DataFusion is not trusted with.
fn untrusted(plan: &LogicalPlan) -> Vec<Expr> {
    // EXISTS and IN (not NOT IN) are trusted only as a whole conjunct of a filter.
    let conjuncts: Vec<&Expr> = match plan {
        LogicalPlan::Filter(f) => split_conjunction(&f.predicate)
            .into_iter()
            .filter(|c| match c {
                Expr::Exists(Exists { subquery, .. }) => trusted_semi(subquery),
                Expr::InSubquery(InSubquery {
                    subquery,
                    negated: false,
                    ..
                }) => trusted_semi(subquery),
                _ => false,
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut found = Vec::new();
    for e in plan.expressions() {
        let _ = e.apply(|x| match x {
            Expr::ScalarSubquery(s) => {
                if !trusted_scalar(s) {
                    found.push(x.clone());
                }
                Ok(TreeNodeRecursion::Jump)
            }
            // ANY / ALL: DataFusion's rewrite into EXISTS cannot be planned in a select list.
            Expr::SetComparison(_) => {
                found.push(x.clone());
                Ok(TreeNodeRecursion::Jump)
            }
            Expr::Exists(_) | Expr::InSubquery(_) => {
                if !conjuncts.contains(&x) {
                    found.push(x.clone());
                }
                Ok(TreeNodeRecursion::Jump)
            }
            _ => Ok(TreeNodeRecursion::Continue),
        });
    }
    found
}

/// Whether a plan holds only subqueries DataFusion is trusted with.
fn all_trusted(plan: &LogicalPlan) -> bool {
    let mut ok = true;
    let _ = plan.apply(|node| {
        if !untrusted(node).is_empty() {
            ok = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    ok
}

/// The input of a projection without outer references.
fn plain_projection(node: &LogicalPlan) -> Option<&LogicalPlan> {
    match node {
        LogicalPlan::Projection(p) if !p.expr.iter().any(has_outer_refs) => Some(p.input.as_ref()),
        _ => None,
    }
}

/// The subquery of a subquery expression.
fn subquery_of(e: &Expr) -> Option<&Subquery> {
    match e {
        Expr::ScalarSubquery(s) => Some(s),
        Expr::Exists(e) => Some(&e.subquery),
        Expr::InSubquery(i) => Some(&i.subquery),
        Expr::SetComparison(c) => Some(&c.subquery),
        _ => None,
    }
}

fn subquery_of_mut(e: &mut Expr) -> Option<&mut Subquery> {
    match e {
        Expr::ScalarSubquery(s) => Some(s),
        Expr::Exists(e) => Some(&mut e.subquery),
        Expr::InSubquery(i) => Some(&mut i.subquery),
        Expr::SetComparison(c) => Some(&mut c.subquery),
        _ => None,
    }
}

/// Whether a plan refers to an outer query anywhere, nested subqueries included. (A
/// subquery's `outer_ref_columns` is not always filled in.)
fn correlated(plan: &LogicalPlan) -> bool {
    refers_outside(plan, true)
}

/// Whether a node of the plan (and of its subqueries, with `subqueries`) has an outer
/// reference.
fn refers_outside(plan: &LogicalPlan, subqueries: bool) -> bool {
    let mut found = false;
    let mut visit = |node: &LogicalPlan| {
        if node.expressions().iter().any(has_outer_refs) {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    };
    let _ = match subqueries {
        true => plan.apply_with_subqueries(&mut visit),
        false => plan.apply(&mut visit),
    };
    found
}

fn has_outer_refs(e: &Expr) -> bool {
    e.exists(|x| Ok(matches!(x, Expr::OuterReferenceColumn(..))))
        .unwrap_or(true)
}

/// EXISTS / IN as a WHERE conjunct: a semi or anti join is right when the subquery is
/// filters, projections and inner joins over scans, correlated only in its filters.
fn trusted_semi(sub: &Subquery) -> bool {
    let mut ok = true;
    let _ = sub.subquery.apply(|node| {
        let fine = match node {
            LogicalPlan::Filter(_) => true,
            LogicalPlan::Projection(p) => !p.expr.iter().any(has_outer_refs),
            LogicalPlan::Join(j) => {
                j.join_type == datafusion::logical_expr::JoinType::Inner
                    && !j.filter.as_ref().is_some_and(has_outer_refs)
            }
            LogicalPlan::SubqueryAlias(_) | LogicalPlan::TableScan(_) | LogicalPlan::Values(_) => {
                true
            }
            _ => false,
        };
        if !fine {
            ok = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    ok && all_trusted(&sub.subquery)
}

/// A correlated scalar subquery: right when it is an aggregate without GROUP BY or HAVING
/// whose correlation is equalities in the filter right under it.
fn trusted_scalar(sub: &Subquery) -> bool {
    if !all_trusted(&sub.subquery) {
        return false;
    }
    // An uncorrelated one runs once either way; ours tells a second row apart (21000),
    // where DataFusion's error carries no code.
    if !correlated(&sub.subquery) {
        return false;
    }
    // Above the aggregate: projections without outer references.
    let mut node = sub.subquery.as_ref();
    while let Some(input) = plain_projection(node).or(match node {
        LogicalPlan::SubqueryAlias(a) => Some(a.input.as_ref()),
        _ => None,
    }) {
        node = input;
    }
    let LogicalPlan::Aggregate(agg) = node else {
        return false;
    };
    if !agg.group_expr.is_empty() || agg.aggr_expr.iter().any(has_outer_refs) {
        return false;
    }
    // Under it: filters whose outer references are in `inner = outer` conjuncts only, over
    // a subtree without outer references.
    let mut node = agg.input.as_ref();
    loop {
        if let Some(input) = plain_projection(node) {
            node = input;
            continue;
        }
        match node {
            LogicalPlan::Filter(f) => {
                for c in split_conjunction(&f.predicate) {
                    if !has_outer_refs(c) {
                        continue;
                    }
                    let Expr::BinaryExpr(b) = c else {
                        return false;
                    };
                    let outer_col = |e: &Expr| matches!(e, Expr::OuterReferenceColumn(..));
                    let equality = b.op == datafusion::logical_expr::Operator::Eq
                        && ((outer_col(&b.left) && !has_outer_refs(&b.right))
                            || (outer_col(&b.right) && !has_outer_refs(&b.left)));
                    if !equality {
                        return false;
                    }
                }
                node = f.input.as_ref();
            }
            _ => break,
        }
    }
    !refers_outside(node, false)
}

/// The analyzer rule: moves every untrusted subquery into an [`ApplyNode`].
#[derive(Debug, Default)]
pub struct IsolateSubqueries;

impl AnalyzerRule for IsolateSubqueries {
    fn name(&self) -> &str {
        "blueshift_isolate_subqueries"
    }
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        refuse_outer_aggregates(&plan)?;
        let counter = Mutex::new(0usize);
        // Not into subqueries: a trusted one holds only trusted ones, and an untrusted one
        // is analyzed again when it runs, with its outer references bound.
        plan.transform_up(|node| isolate(node, &counter))
            .map(|t| t.data)
    }
}

/// In SQL an aggregate whose arguments name only outer columns belongs to the outer query
/// (`SELECT (SELECT sum(t.x) FROM u) FROM t` is one row); DataFusion computes it in the
/// subquery, once per outer row. Refused rather than answered wrongly.
fn refuse_outer_aggregates(plan: &LogicalPlan) -> Result<()> {
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Aggregate(agg) = node {
            for e in &agg.aggr_expr {
                let mut outer = false;
                let mut local = false;
                e.apply(|x| {
                    match x {
                        Expr::OuterReferenceColumn(..) => outer = true,
                        Expr::Column(_) => local = true,
                        // A subquery in the argument: its references to this query's
                        // columns are local, to further-out ones outer.
                        _ if subquery_of(x).is_some() => {
                            let Some(sub) = subquery_of(x) else {
                                return Ok(TreeNodeRecursion::Continue);
                            };
                            sub.subquery.apply_with_subqueries(|n| {
                                n.apply_expressions(|ne| {
                                    ne.apply(|y| {
                                        if let Expr::OuterReferenceColumn(_, c) = y {
                                            if agg.input.schema().has_column(c) {
                                                local = true;
                                            } else {
                                                outer = true;
                                            }
                                        }
                                        Ok(TreeNodeRecursion::Continue)
                                    })
                                })
                            })?;
                        }
                        _ => {}
                    }
                    Ok(TreeNodeRecursion::Continue)
                })?;
                if outer && !local {
                    return Err(DataFusionError::External(Box::new(CodedError::new(
                        Code::FeatureNotSupported,
                        format!(
                            "an aggregate of outer columns only in a subquery is not supported: {}",
                            e.schema_name()
                        ),
                    ))));
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}

/// Puts an [`ApplyNode`] for subquery expression `e` on `input`; the column that holds its
/// value, or `None` when it stays with DataFusion.
fn apply_one(e: &Expr, input: &mut LogicalPlan, counter: &Mutex<usize>) -> Result<Option<Expr>> {
    let (sub, kind) = match e {
        Expr::ScalarSubquery(s) => (s, Kind::Scalar),
        Expr::Exists(x) => (&x.subquery, Kind::Exists { negated: x.negated }),
        Expr::InSubquery(x) => {
            // The probe is evaluated by the apply node, where DataFusion cannot plan a
            // subquery: subqueries in it get apply nodes of their own first.
            let probe = lift_all(x.expr.as_ref().clone(), input, counter)?;
            (
                &x.subquery,
                Kind::Quantified {
                    probe,
                    op: Operator::Eq,
                    all: false,
                    negated: x.negated,
                },
            )
        }
        Expr::SetComparison(x) => {
            let probe = lift_all(x.expr.as_ref().clone(), input, counter)?;
            (
                &x.subquery,
                Kind::Quantified {
                    probe,
                    op: x.op,
                    all: x.quantifier == SetQuantifier::All,
                    negated: false,
                },
            )
        }
        _ => return Ok(None),
    };
    let name = {
        let mut n = counter.lock().expect("counter");
        *n += 1;
        format!("__bs_subquery_{}", *n)
    };
    let Some(apply) = ApplyNode::new(input.clone(), sub, kind, &name)? else {
        return Ok(None);
    };
    *input = LogicalPlan::Extension(Extension {
        node: Arc::new(apply),
    });
    Ok(Some(Expr::Column(Column::from_name(name))))
}

/// `e` with every subquery in it replaced by an apply node's column.
fn lift_all(e: Expr, input: &mut LogicalPlan, counter: &Mutex<usize>) -> Result<Expr> {
    e.transform_down(|x| {
        if subquery_of(&x).is_none() {
            return Ok(Transformed::no(x));
        }
        match apply_one(&x, input, counter)? {
            Some(column) => Ok(Transformed::new(column, true, TreeNodeRecursion::Jump)),
            None => Ok(Transformed::no(x)),
        }
    })
    .map(|t| t.data)
}

fn isolate(node: LogicalPlan, counter: &Mutex<usize>) -> Result<Transformed<LogicalPlan>> {
    if !matches!(
        node,
        LogicalPlan::Filter(_)
            | LogicalPlan::Projection(_)
            | LogicalPlan::Aggregate(_)
            | LogicalPlan::Window(_)
    ) {
        return Ok(Transformed::no(node));
    }
    let found = untrusted(&node);
    if found.is_empty() {
        return Ok(Transformed::no(node));
    }
    let mut input = node.inputs()[0].clone();
    let mut replaced: Vec<(Expr, Expr)> = Vec::new();
    for e in found {
        if let Some(column) = apply_one(&e, &mut input, counter)? {
            replaced.push((e, column));
        }
    }
    if replaced.is_empty() {
        return Ok(Transformed::no(node));
    }
    let swap = |e: Expr| -> Result<Expr> {
        e.transform_down(|x| match replaced.iter().find(|(from, _)| *from == x) {
            Some((_, to)) => Ok(Transformed::new(to.clone(), true, TreeNodeRecursion::Jump)),
            None => Ok(Transformed::no(x)),
        })
        .map(|t| t.data)
    };
    let input = Arc::new(input);
    let plan = match node {
        LogicalPlan::Filter(f) => {
            let columns: Vec<Expr> = f
                .input
                .schema()
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect();
            let filter = Filter::try_new(swap(f.predicate)?, input)?;
            LogicalPlanBuilder::from(LogicalPlan::Filter(filter))
                .project(columns)?
                .build()?
        }
        LogicalPlan::Projection(p) => {
            // Each changed expression keeps its output column's qualifier and name.
            let exprs = p
                .expr
                .into_iter()
                .enumerate()
                .map(|(i, e)| keep_name(swap(e.clone())?, &e, &p.schema, i))
                .collect::<Result<Vec<_>>>()?;
            LogicalPlan::Projection(Projection::try_new(exprs, input)?)
        }
        LogicalPlan::Aggregate(a) => {
            let groups = a.group_expr.len();
            let group = a
                .group_expr
                .into_iter()
                .enumerate()
                .map(|(i, e)| keep_name(swap(e.clone())?, &e, &a.schema, i))
                .collect::<Result<_>>()?;
            let aggr = a
                .aggr_expr
                .into_iter()
                .enumerate()
                .map(|(i, e)| keep_name(swap(e.clone())?, &e, &a.schema, groups + i))
                .collect::<Result<_>>()?;
            LogicalPlan::Aggregate(Aggregate::try_new(input, group, aggr)?)
        }
        LogicalPlan::Window(w) => {
            // A window's output is its input's columns and its own: the added column is
            // projected away again.
            let inputs = w.input.schema().fields().len();
            let exprs = w
                .window_expr
                .into_iter()
                .enumerate()
                .map(|(i, e)| keep_name(swap(e.clone())?, &e, &w.schema, inputs + i))
                .collect::<Result<Vec<_>>>()?;
            let columns: Vec<Expr> = w.schema.columns().into_iter().map(Expr::Column).collect();
            LogicalPlanBuilder::from(LogicalPlan::Window(Window::try_new(exprs, input)?))
                .project(columns)?
                .build()?
        }
        other => other,
    };
    Ok(Transformed::yes(plan))
}

/// `new` under the name and qualifier the node's output column `i` had (when it changed).
fn keep_name(new: Expr, old: &Expr, schema: &DFSchema, i: usize) -> Result<Expr> {
    if new == *old || i >= schema.fields().len() {
        return Ok(new);
    }
    let (qualifier, field) = schema.qualified_field(i);
    let new = match new {
        Expr::Alias(a) => *a.expr,
        other => other,
    };
    Ok(new.alias_qualified(qualifier.cloned(), field.name()))
}

/// Plans [`ApplyNode`]s as [`ApplyExec`]s; everything else as DataFusion does.
#[derive(Debug)]
pub struct Planner {
    pub cluster: Arc<Peers>,
}

#[async_trait]
impl QueryPlanner for Planner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let planner =
            DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(ApplyPlanner {
                cluster: Arc::clone(&self.cluster),
            })]);
        // Joins in the order the statistics favour (see `join_order`), then DataFusion's.
        // Planning runs nothing: should the reordered plan fail to plan, the written one
        // is planned instead.
        if let Some(reordered) =
            crate::join_order::reorder(logical_plan, &planner, session_state).await
            && let Ok(plan) = planner
                .create_physical_plan(&reordered, session_state)
                .await
        {
            return Ok(plan);
        }
        planner
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}

#[derive(Debug)]
struct ApplyPlanner {
    cluster: Arc<Peers>,
}

#[async_trait]
impl ExtensionPlanner for ApplyPlanner {
    async fn plan_extension(
        &self,
        planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn datafusion::catalog::Session,
        planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(apply) = node.as_any().downcast_ref::<ApplyNode>() else {
            return Ok(None);
        };
        let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
            return Err(DataFusionError::Internal(
                "a subquery runs only in a full session".into(),
            ));
        };
        let input = Arc::clone(&physical_inputs[0]);
        let input_schema = logical_inputs[0].schema();
        let outer = apply
            .outer
            .iter()
            .map(|c| input_schema.index_of_column(c))
            .collect::<Result<Vec<_>>>()?;
        let (probe, negated, kind) = match &apply.kind {
            Kind::Scalar => (None, false, ExecKind::Scalar),
            Kind::Exists { negated } => (None, *negated, ExecKind::Exists),
            Kind::Quantified {
                probe,
                op,
                all,
                negated,
            } => (
                Some(planner.create_physical_expr(probe, input_schema, session, planning_ctx)?),
                *negated,
                ExecKind::Quantified(*op, *all),
            ),
        };
        // The input's columns as its physical plan types them (which can differ from the
        // logical plan's, as for some decimal aggregates), then the subquery's value.
        let mut fields: Vec<Arc<Field>> = input.schema().fields().iter().cloned().collect();
        let logical = apply.schema.as_arrow();
        fields.push(Arc::new(logical.field(logical.fields().len() - 1).clone()));
        let schema: SchemaRef = Arc::new(arrow::datatypes::Schema::new_with_metadata(
            fields,
            logical.metadata().clone(),
        ));
        let properties = properties_of(&input, &schema);
        Ok(Some(Arc::new(ApplyExec {
            input,
            shared: Arc::new(Shared {
                subquery: apply.subquery.as_ref().clone(),
                outer_columns: apply.outer.clone(),
                state: state.clone(),
                cluster: Arc::clone(&self.cluster),
                cache: Mutex::new(HashMap::new()),
                kind,
                negated,
            }),
            outer,
            probe,
            schema,
            properties,
        })))
    }
}

/// An [`ApplyExec`]'s properties: its input's partitions, its own schema.
fn properties_of(input: &Arc<dyn ExecutionPlan>, schema: &SchemaRef) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(Arc::clone(schema)),
        input.output_partitioning().clone(),
        input.pipeline_behavior(),
        input.boundedness(),
    ))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ExecKind {
    Scalar,
    Exists,
    /// The comparison and whether it is ALL.
    Quantified(Operator, bool),
}

/// What a subquery gave for one binding of its outer references.
#[derive(Clone, Debug)]
enum Answer {
    Scalar(ScalarValue),
    Exists(bool),
    Set {
        values: HashSet<ScalarValue>,
        /// The least and greatest of `values`.
        range: Option<(ScalarValue, ScalarValue)>,
        has_null: bool,
    },
}

/// A binding of outer references, usable as a map key (NULLs compare equal here).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Binding(Vec<ScalarValue>);

impl Hash for Binding {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

struct Shared {
    subquery: LogicalPlan,
    outer_columns: Vec<Column>,
    state: SessionState,
    cluster: Arc<Peers>,
    cache: Mutex<HashMap<Binding, Arc<Answer>>>,
    kind: ExecKind,
    negated: bool,
}

impl Shared {
    /// The subquery with this binding's values in place of its outer references.
    fn bind(&self, binding: &Binding) -> Result<LogicalPlan> {
        let values: HashMap<&Column, &ScalarValue> =
            self.outer_columns.iter().zip(&binding.0).collect();
        self.subquery
            .clone()
            .transform_up_with_subqueries(|node| {
                // Nodes above refer to an aggregate or projection by its name, which names
                // the outer reference: the bound expression keeps the old name.
                let names = NamePreserver::new(&node);
                node.map_expressions(|e| {
                    let saved = names.save(&e);
                    e.transform_up(|x| match &x {
                        Expr::OuterReferenceColumn(field, c) => match values.get(c) {
                            Some(v) => {
                                let v = v.cast_to(field.data_type())?;
                                Ok(Transformed::yes(Expr::Literal(v, None)))
                            }
                            None => Ok(Transformed::no(x)),
                        },
                        // A nested subquery no longer refers to what is now bound.
                        _ if subquery_of(&x).is_some() => {
                            let mut x = x;
                            if let Some(sub) = subquery_of_mut(&mut x) {
                                sub.outer_ref_columns.retain(|e| {
                                    !matches!(e, Expr::OuterReferenceColumn(_, c) if values.contains_key(c))
                                });
                            }
                            Ok(Transformed::yes(x))
                        }
                        _ => Ok(Transformed::no(x)),
                    })
                    .map(|t| t.update_data(|e| saved.restore(e)))
                })
            })
            .map(|t| t.data)
    }

    async fn answer(&self, binding: Binding) -> Result<Arc<Answer>> {
        if let Some(a) = self.cache.lock().expect("cache").get(&binding) {
            return Ok(Arc::clone(a));
        }
        let mut plan = self.bind(&binding)?;
        // EXISTS needs one row; a scalar two (a second is the error), not all of them.
        match self.kind {
            ExecKind::Exists => plan = LogicalPlanBuilder::from(plan).limit(0, Some(1))?.build()?,
            ExecKind::Scalar => plan = LogicalPlanBuilder::from(plan).limit(0, Some(2))?.build()?,
            ExecKind::Quantified(..) => {}
        }
        // Recompute every node's schema: a literal where an outer column was may change
        // what DataFusion derives (nullability).
        let plan = plan.recompute_schema()?;
        let physical = self.state.create_physical_plan(&plan).await?;
        let physical = crate::stages::distribute(physical, &self.cluster, "subquery")?;
        let batches = collect(physical, self.state.task_ctx()).await?;
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        let answer = match self.kind {
            ExecKind::Exists => Answer::Exists(rows > 0),
            ExecKind::Scalar => {
                if rows > 1 {
                    return Err(DataFusionError::External(Box::new(CodedError::new(
                        Code::CardinalityViolation,
                        "more than one row returned by a subquery used as an expression",
                    ))));
                }
                let data_type = self.subquery.schema().field(0).data_type().clone();
                match batches.iter().find(|b| b.num_rows() > 0) {
                    Some(b) => Answer::Scalar(ScalarValue::try_from_array(b.column(0), 0)?),
                    None => Answer::Scalar(ScalarValue::try_from(&data_type)?),
                }
            }
            ExecKind::Quantified(..) => {
                let mut values = HashSet::new();
                let mut has_null = false;
                let mut range: Option<(ScalarValue, ScalarValue)> = None;
                for b in &batches {
                    let col = b.column(0);
                    for i in 0..b.num_rows() {
                        if col.is_null(i) {
                            has_null = true;
                            continue;
                        }
                        let v = ScalarValue::try_from_array(col, i)?;
                        range = Some(match range {
                            None => (v.clone(), v.clone()),
                            Some((lo, hi)) => (
                                if v < lo { v.clone() } else { lo },
                                if v > hi { v.clone() } else { hi },
                            ),
                        });
                        values.insert(v);
                    }
                }
                Answer::Set {
                    values,
                    range,
                    has_null,
                }
            }
        };
        let answer = Arc::new(answer);
        let mut cache = self.cache.lock().expect("cache");
        // Bounded: an outer side with millions of distinct bindings must not keep all the
        // answers (a cleared entry is only computed again).
        if cache.len() >= CACHE_BINDINGS {
            cache.clear();
        }
        cache.insert(binding, Arc::clone(&answer));
        Ok(answer)
    }
}

/// Runs a subquery for each distinct binding of its outer references in the input, and
/// adds its value as the last column. Runs on the leader; the subquery's own scans run as
/// stages on the slices like any query's.
///
/// ```text
///   input rows ──► ApplyExec ──► input rows + value
///                     │  per distinct (outer values): bind, plan, run, cache
///                     ▼
///                 subquery (stages on the slices)
/// ```
pub struct ApplyExec {
    input: Arc<dyn ExecutionPlan>,
    shared: Arc<Shared>,
    outer: Vec<usize>,
    probe: Option<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl fmt::Debug for ApplyExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplyExec")
            .field("kind", &self.shared.kind)
            .finish()
    }
}

impl DisplayAs for ApplyExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let kind = match (self.shared.kind, self.shared.negated) {
            (ExecKind::Scalar, _) => "scalar",
            (ExecKind::Exists, false) => "exists",
            (ExecKind::Exists, true) => "not exists",
            (ExecKind::Quantified(_, false), false) => "any",
            (ExecKind::Quantified(_, true), false) => "all",
            (ExecKind::Quantified(..), true) => "not in",
        };
        let outer: Vec<String> = self
            .shared
            .outer_columns
            .iter()
            .map(|c| c.flat_name())
            .collect();
        write!(
            f,
            "ApplyExec: {kind} subquery, outer=[{}]",
            outer.join(", ")
        )
    }
}

impl ExecutionPlan for ApplyExec {
    fn name(&self) -> &str {
        "ApplyExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        match &self.probe {
            Some(p) => f(p),
            None => Ok(TreeNodeRecursion::Continue),
        }
    }
    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.swap_remove(0);
        Ok(Arc::new(ApplyExec {
            properties: properties_of(&input, &self.schema),
            input,
            shared: Arc::clone(&self.shared),
            outer: self.outer.clone(),
            probe: self.probe.clone(),
            schema: Arc::clone(&self.schema),
        }))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let shared = Arc::clone(&self.shared);
        let outer = self.outer.clone();
        let probe = self.probe.clone();
        let schema = Arc::clone(&self.schema);
        let out_schema = Arc::clone(&schema);
        let stream = input.then(move |batch| {
            let shared = Arc::clone(&shared);
            let outer = outer.clone();
            let probe = probe.clone();
            let schema = Arc::clone(&schema);
            async move {
                let batch = batch?;
                let column = apply(&shared, &outer, probe.as_ref(), &batch).await?;
                let mut columns = batch.columns().to_vec();
                columns.push(column);
                Ok(RecordBatch::try_new_with_options(
                    schema,
                    columns,
                    &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
                )?)
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, stream)))
    }
}

/// The subquery's value for every row of a batch.
async fn apply(
    shared: &Shared,
    outer: &[usize],
    probe: Option<&Arc<dyn PhysicalExpr>>,
    batch: &RecordBatch,
) -> Result<ArrayRef> {
    let probe = match probe {
        Some(p) => Some(p.evaluate(batch)?.into_array(batch.num_rows())?),
        None => None,
    };
    let mut values: Vec<ScalarValue> = Vec::with_capacity(batch.num_rows());
    let mut flags: Vec<Option<bool>> = Vec::with_capacity(batch.num_rows());
    let element = shared.subquery.schema().field(0).data_type().clone();
    // Neighbouring rows often share a binding (an uncorrelated subquery has one binding).
    let mut last: Option<(Binding, Arc<Answer>)> = None;
    for row in 0..batch.num_rows() {
        let binding = Binding(
            outer
                .iter()
                .map(|&i| ScalarValue::try_from_array(batch.column(i), row))
                .collect::<Result<_>>()?,
        );
        let answer = match &last {
            Some((b, a)) if *b == binding => Arc::clone(a),
            _ => {
                let a = shared.answer(binding.clone()).await?;
                last = Some((binding, Arc::clone(&a)));
                a
            }
        };
        match answer.as_ref() {
            Answer::Scalar(v) => values.push(v.clone()),
            Answer::Exists(found) => flags.push(Some(*found != shared.negated)),
            Answer::Set {
                values: set,
                range,
                has_null,
            } => {
                let Some(probe) = &probe else {
                    return Err(DataFusionError::Internal(
                        "a comparison without a probe".into(),
                    ));
                };
                let ExecKind::Quantified(op, all) = shared.kind else {
                    return Err(DataFusionError::Internal(
                        "a set for a non-comparison".into(),
                    ));
                };
                let x = match probe.is_null(row) {
                    true => None,
                    false => Some(ScalarValue::try_from_array(probe, row)?.cast_to(&element)?),
                };
                let verdict = quantified(x.as_ref(), op, all, set, range.as_ref(), *has_null);
                flags.push(verdict.map(|b| b != shared.negated));
            }
        }
    }
    if shared.kind == ExecKind::Scalar {
        if values.is_empty() {
            return Ok(arrow::array::new_empty_array(&element));
        }
        // A bound subquery may type its column more widely than the planned one did.
        let array = ScalarValue::iter_to_array(values)?;
        return Ok(arrow::compute::cast(&array, &element)?);
    }
    Ok(Arc::new(BooleanArray::from(flags)))
}

/// `x op ANY (set)` (or `ALL` when `all`) in SQL's three-valued logic: NULL when the answer
/// depends on a NULL, of `x` or of the set.
fn quantified(
    x: Option<&ScalarValue>,
    op: Operator,
    all: bool,
    values: &HashSet<ScalarValue>,
    range: Option<&(ScalarValue, ScalarValue)>,
    has_null: bool,
) -> Option<bool> {
    if values.is_empty() && !has_null {
        // Nothing to compare with: ANY is false, ALL is true, whatever x is.
        return Some(all);
    }
    let x = x?;
    // Over the set's non-NULL values only.
    let (any_true, all_true) = match range {
        None => (false, true),
        Some((lo, hi)) => {
            let only_x = lo == x && hi == x;
            match op {
                Operator::Eq => (values.contains(x), only_x),
                Operator::NotEq => (!only_x, !values.contains(x)),
                Operator::Lt => (x < hi, x < lo),
                Operator::LtEq => (x <= hi, x <= lo),
                Operator::Gt => (x > lo, x > hi),
                Operator::GtEq => (x >= lo, x >= hi),
                _ => return None,
            }
        }
    };
    if all {
        if !all_true {
            Some(false)
        } else if has_null {
            None
        } else {
            Some(true)
        }
    } else if any_true {
        Some(true)
    } else if has_null {
        None
    } else {
        Some(false)
    }
}

/// How many bindings' answers an [`ApplyExec`] keeps.
const CACHE_BINDINGS: usize = 65_536;

/// An uncorrelated IN / NOT IN / ANY / ALL set larger than this stays a subquery (run by [`ApplyExec`]
/// or a join) instead of becoming a list in the plan.
const INLINE_SET_LIMIT: usize = 100_000;

/// Runs every uncorrelated subquery of a plan (not those inside other subqueries, which
/// their own planning handles) and puts its answer in as values: a scalar as a literal,
/// EXISTS as true or false, IN as an IN list (with NULL when the set holds one, so SQL's
/// three-valued logic is the list's), ANY / ALL as comparisons with the set's least or
/// greatest value. The query then runs vectorized and, where its operators allow, on the
/// slices. `run` plans and runs a subquery to its rows.
pub async fn inline_uncorrelated<F, Fut>(plan: LogicalPlan, run: F) -> Result<LogicalPlan>
where
    F: Fn(LogicalPlan) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<RecordBatch>>>,
{
    let mut found: Vec<Expr> = Vec::new();
    plan.apply(|node| {
        node.apply_expressions(|e| {
            e.apply(|x| {
                let Some(sub) = subquery_of(x) else {
                    return Ok(TreeNodeRecursion::Continue);
                };
                if sub.outer_ref_columns.is_empty()
                    && !correlated(&sub.subquery)
                    && !found.contains(x)
                {
                    found.push(x.clone());
                }
                Ok(TreeNodeRecursion::Jump)
            })
        })
    })?;
    if found.is_empty() {
        return Ok(plan);
    }
    let mut replaced: Vec<(Expr, Expr)> = Vec::new();
    for e in found {
        if let Some(with) = inline_one(&e, &run).await? {
            replaced.push((e, with));
        }
    }
    plan.transform_up(|node| {
        let names = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = names.save(&e);
            e.transform_down(|x| match replaced.iter().find(|(from, _)| *from == x) {
                Some((_, to)) => Ok(Transformed::new(to.clone(), true, TreeNodeRecursion::Jump)),
                None => Ok(Transformed::no(x)),
            })
            .map(|t| t.update_data(|e| saved.restore(e)))
        })
    })
    .map(|t| t.data)
}

/// The values of an uncorrelated subquery's one column: the non-NULL ones (at most
/// `limit`; `None` past it) and whether a NULL was among them.
fn column_values(
    batches: &[RecordBatch],
    limit: usize,
) -> Result<Option<(Vec<ScalarValue>, bool)>> {
    let mut values = Vec::new();
    let mut seen = HashSet::new();
    let mut has_null = false;
    for b in batches {
        let col = b.column(0);
        for i in 0..b.num_rows() {
            if col.is_null(i) {
                has_null = true;
                continue;
            }
            let v = ScalarValue::try_from_array(col, i)?;
            if seen.insert(v.clone()) {
                values.push(v);
                if values.len() > limit {
                    return Ok(None);
                }
            }
        }
    }
    // Rows arrive from the slices in no set order; sorted, the same data gives the same
    // plan (EXPLAIN, plan snapshots).
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Ok(Some((values, has_null)))
}

async fn inline_one<F, Fut>(e: &Expr, run: &F) -> Result<Option<Expr>>
where
    F: Fn(LogicalPlan) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<RecordBatch>>>,
{
    let lit = |v: ScalarValue| Expr::Literal(v, None);
    let null_bool = || lit(ScalarValue::Boolean(None));
    match e {
        Expr::ScalarSubquery(s) => {
            // Two rows tell a scalar from an error; more are not read.
            let plan = LogicalPlanBuilder::from(s.subquery.as_ref().clone())
                .limit(0, Some(2))?
                .build()?;
            let batches = run(plan).await?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            if rows > 1 {
                return Err(DataFusionError::External(Box::new(CodedError::new(
                    Code::CardinalityViolation,
                    "more than one row returned by a subquery used as an expression",
                ))));
            }
            let data_type = s.subquery.schema().field(0).data_type().clone();
            let value = match batches.iter().find(|b| b.num_rows() > 0) {
                Some(b) => ScalarValue::try_from_array(b.column(0), 0)?,
                None => ScalarValue::try_from(&data_type)?,
            };
            Ok(Some(lit(value)))
        }
        Expr::Exists(x) => {
            let plan = LogicalPlanBuilder::from(x.subquery.subquery.as_ref().clone())
                .limit(0, Some(1))?
                .build()?;
            let rows: usize = run(plan).await?.iter().map(|b| b.num_rows()).sum();
            Ok(Some(lit(ScalarValue::Boolean(Some(
                (rows > 0) != x.negated,
            )))))
        }
        Expr::InSubquery(x) => {
            let batches = run(x.subquery.subquery.as_ref().clone()).await?;
            let Some((values, has_null)) = column_values(&batches, INLINE_SET_LIMIT)? else {
                return Ok(None);
            };
            if values.is_empty() && !has_null {
                // Nothing to be in: IN is false and NOT IN true, whatever the probe is.
                return Ok(Some(lit(ScalarValue::Boolean(Some(x.negated)))));
            }
            let data_type = x.subquery.subquery.schema().field(0).data_type().clone();
            let mut list: Vec<Expr> = values.into_iter().map(lit).collect();
            if has_null {
                list.push(lit(ScalarValue::try_from(&data_type)?));
            }
            Ok(Some(Expr::InList(
                datafusion::logical_expr::expr::InList::new(x.expr.clone(), list, x.negated),
            )))
        }
        Expr::SetComparison(c) => {
            let batches = run(c.subquery.subquery.as_ref().clone()).await?;
            let all = c.quantifier == SetQuantifier::All;
            let Some((values, has_null)) = column_values(&batches, INLINE_SET_LIMIT)? else {
                return Ok(None);
            };
            if values.is_empty() {
                // No values: ANY is false and ALL true, unless a NULL makes it unknown.
                return Ok(Some(if has_null {
                    null_bool()
                } else {
                    lit(ScalarValue::Boolean(Some(all)))
                }));
            }
            let mut lo = values[0].clone();
            let mut hi = values[0].clone();
            for v in &values[1..] {
                if *v < lo {
                    lo = v.clone();
                }
                if *v > hi {
                    hi = v.clone();
                }
            }
            let x = c.expr.as_ref().clone();
            let cmp = |op: Operator, bound: &ScalarValue| {
                Expr::BinaryExpr(datafusion::logical_expr::BinaryExpr::new(
                    Box::new(x.clone()),
                    op,
                    Box::new(lit(bound.clone())),
                ))
            };
            let only_x = || cmp(Operator::Eq, &lo).and(cmp(Operator::Eq, &hi));
            // Over the non-NULL values: whether x op v for some v (ANY) or for all (ALL).
            let over_values =
                match (c.op, all) {
                    (Operator::Eq, false) | (Operator::NotEq, true) => {
                        let list = values.into_iter().map(lit).collect();
                        Expr::InList(datafusion::logical_expr::expr::InList::new(
                            Box::new(x.clone()),
                            list,
                            c.op == Operator::NotEq,
                        ))
                    }
                    (Operator::Eq, true) => only_x(),
                    (Operator::NotEq, false) => Expr::Not(Box::new(only_x())),
                    (Operator::Lt | Operator::LtEq, false)
                    | (Operator::Gt | Operator::GtEq, true) => cmp(c.op, &hi),
                    (Operator::Gt | Operator::GtEq, false)
                    | (Operator::Lt | Operator::LtEq, true) => cmp(c.op, &lo),
                    _ => return Ok(None),
                };
            if !has_null {
                return Ok(Some(over_values));
            }
            // A NULL in the set: ANY is true where some value says so, else unknown; ALL
            // is false where some value says so, else unknown.
            let case = |when: Expr, then: Expr| {
                Expr::Case(datafusion::logical_expr::expr::Case::new(
                    None,
                    vec![(Box::new(when), Box::new(then))],
                    Some(Box::new(null_bool())),
                ))
            };
            Ok(Some(if all {
                case(
                    Expr::Not(Box::new(over_values)),
                    lit(ScalarValue::Boolean(Some(false))),
                )
            } else {
                case(over_values, lit(ScalarValue::Boolean(Some(true))))
            }))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(xs: &[i64]) -> (HashSet<ScalarValue>, Option<(ScalarValue, ScalarValue)>) {
        let values: HashSet<ScalarValue> = xs.iter().map(|x| ScalarValue::from(*x)).collect();
        let range = xs.iter().min().map(|lo| {
            (
                ScalarValue::from(*lo),
                ScalarValue::from(*xs.iter().max().unwrap_or(lo)),
            )
        });
        (values, range)
    }

    fn q(x: Option<i64>, op: Operator, all: bool, xs: &[i64], has_null: bool) -> Option<bool> {
        let (values, range) = set(xs);
        let x = x.map(ScalarValue::from);
        quantified(x.as_ref(), op, all, &values, range.as_ref(), has_null)
    }

    #[test]
    fn three_valued_any_and_all() {
        use Operator::*;
        // IN is = ANY.
        assert_eq!(q(Some(1), Eq, false, &[1, 2], false), Some(true));
        assert_eq!(q(Some(3), Eq, false, &[1, 2], false), Some(false));
        assert_eq!(q(Some(3), Eq, false, &[1, 2], true), None);
        assert_eq!(q(None, Eq, false, &[1], false), None);
        assert_eq!(q(None, Eq, false, &[], false), Some(false));
        // NOT IN is <> ALL.
        assert_eq!(q(Some(3), NotEq, true, &[1, 2], false), Some(true));
        assert_eq!(q(Some(3), NotEq, true, &[1, 2], true), None);
        assert_eq!(q(Some(1), NotEq, true, &[1, 2], true), Some(false));
        assert_eq!(q(None, NotEq, true, &[], false), Some(true));
        // Orderings.
        assert_eq!(q(Some(2), Lt, false, &[1, 3], false), Some(true));
        assert_eq!(q(Some(2), Lt, true, &[1, 3], false), Some(false));
        assert_eq!(q(Some(0), Lt, true, &[1, 3], true), None);
        assert_eq!(q(Some(5), GtEq, true, &[1, 5], false), Some(true));
        assert_eq!(q(Some(5), Eq, true, &[5, 5], false), Some(true));
        assert_eq!(q(Some(5), NotEq, false, &[5], false), Some(false));
        // Only NULLs in the set.
        assert_eq!(q(Some(1), Gt, true, &[], true), None);
        assert_eq!(q(Some(1), Gt, false, &[], true), None);
    }
}
