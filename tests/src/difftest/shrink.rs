//! Shrinking a failing query: smaller variants of its syntax tree, tried greedily while
//! the failure still shows.
//!
//! The variants drop clauses (WHERE, HAVING, ORDER BY, LIMIT, DISTINCT, GROUP BY, a WITH,
//! a select item, a join, one side of a set operation) and replace an expression by one of
//! the expressions inside it or by a literal. Many variants are ill-typed or otherwise
//! invalid; the reference rejects those and the caller does not count them as failing.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, GroupByExpr, Query, SetExpr, Statement, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

pub fn parse(sql: &str) -> Option<Statement> {
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    (stmts.len() == 1).then(|| stmts.remove(0))
}

/// Clause removals, by number, applied to one query of the statement.
fn drop_clause(q: &mut Query, which: usize) -> bool {
    match which {
        0 => q.order_by.take().is_some(),
        1 => q.limit_clause.take().is_some(),
        2 => q.with.take().is_some(),
        3 | 4 => {
            let SetExpr::SetOperation { left, right, .. } = q.body.as_mut() else {
                return false;
            };
            let side = if which == 3 { left } else { right };
            q.body = side.clone();
            true
        }
        _ => {
            let SetExpr::Select(s) = q.body.as_mut() else {
                return false;
            };
            match which {
                5 => s.selection.take().is_some(),
                6 => s.having.take().is_some(),
                7 => s.distinct.take().is_some(),
                8 => match &mut s.group_by {
                    GroupByExpr::Expressions(keys, _) if !keys.is_empty() => {
                        keys.clear();
                        true
                    }
                    _ => false,
                },
                9..=14 => {
                    let i = which - 9;
                    if s.projection.len() > 1 && i < s.projection.len() {
                        s.projection.remove(i);
                        true
                    } else {
                        false
                    }
                }
                15..=17 => {
                    let j = which - 15;
                    match s.from.first_mut() {
                        Some(from) if j < from.joins.len() => {
                            from.joins.remove(j);
                            true
                        }
                        _ => false,
                    }
                }
                _ => false,
            }
        }
    }
}
const CLAUSES: usize = 18;

/// Applies `f` to the `n`th query (pre-order) of the statement.
struct NthQuery<F> {
    n: usize,
    seen: usize,
    f: F,
    applied: bool,
}

impl<F: FnMut(&mut Query) -> bool> VisitorMut for NthQuery<F> {
    type Break = ();
    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        if self.seen == self.n {
            self.applied = (self.f)(q);
            return ControlFlow::Break(());
        }
        self.seen += 1;
        ControlFlow::Continue(())
    }
}

/// Replaces the `n`th expression (pre-order) of the statement.
struct NthExpr {
    n: usize,
    seen: usize,
    with: Option<Expr>,
}

impl VisitorMut for NthExpr {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if self.seen == self.n {
            if let Some(with) = self.with.take() {
                *e = with;
            }
            return ControlFlow::Break(());
        }
        self.seen += 1;
        ControlFlow::Continue(())
    }
}

/// Collects every query and expression, in the pre-order the mutators count in.
#[derive(Default)]
struct Collect {
    queries: usize,
    exprs: Vec<Expr>,
}

impl Visitor for Collect {
    type Break = ();
    fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.queries += 1;
        ControlFlow::Continue(())
    }
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        self.exprs.push(e.clone());
        ControlFlow::Continue(())
    }
}

/// The expressions inside `e`, nearest first (its own subtree in pre-order, without it).
fn inner_exprs(e: &Expr) -> Vec<Expr> {
    let mut c = Collect::default();
    let _ = e.visit(&mut c);
    c.exprs.into_iter().skip(1).collect()
}

/// Smaller variants of a statement, most promising first: clause removals, then
/// expression replacements.
pub fn variants(stmt: &Statement) -> Vec<Statement> {
    let mut all = Collect::default();
    let _ = stmt.visit(&mut all);
    let mut out = Vec::new();
    for n in 0..all.queries {
        for which in 0..CLAUSES {
            let mut s = stmt.clone();
            let mut v = NthQuery {
                n,
                seen: 0,
                f: |q: &mut Query| drop_clause(q, which),
                applied: false,
            };
            let _ = VisitMut::visit(&mut s, &mut v);
            if v.applied {
                out.push(s);
            }
        }
    }
    let literals = [
        Expr::Value(Value::Null.into()),
        Expr::Value(Value::Number("1".into(), false).into()),
        Expr::Value(Value::Boolean(true).into()),
        Expr::Value(Value::SingleQuotedString("a".into()).into()),
    ];
    for (n, e) in all.exprs.iter().enumerate() {
        let mut replacements: Vec<Expr> = inner_exprs(e).into_iter().take(6).collect();
        if !matches!(e, Expr::Value(_)) {
            replacements.extend(literals.iter().cloned());
        }
        for with in replacements {
            let mut s = stmt.clone();
            let mut v = NthExpr {
                n,
                seen: 0,
                with: Some(with),
            };
            let _ = VisitMut::visit(&mut s, &mut v);
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_smaller_and_parse_back() {
        let sql = "SELECT x1.a, x1.b + 1 FROM t1 AS x1 JOIN t2 AS x2 ON x1.a = x2.a \
                   WHERE x1.b IN (SELECT x3.b FROM t3 AS x3) ORDER BY 1 LIMIT 3";
        let stmt = parse(sql).unwrap();
        let vs = variants(&stmt);
        assert!(vs.len() > 20, "{}", vs.len());
        let texts: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
        assert!(
            texts.contains(
                &"SELECT x1.a, x1.b + 1 FROM t1 AS x1 JOIN t2 AS x2 ON x1.a = x2.a \
              WHERE x1.b IN (SELECT x3.b FROM t3 AS x3) ORDER BY 1"
                    .to_string()
            )
        );
        assert!(texts.contains(
            &"SELECT x1.a, x1.b + 1 FROM t1 AS x1 ORDER BY 1 LIMIT 3".replace(
                "t1 AS x1 ORDER",
                "t1 AS x1 WHERE x1.b IN (SELECT x3.b FROM t3 AS x3) ORDER"
            )
        ));
        for t in &texts {
            assert!(parse(t).is_some(), "{t}");
        }
    }
}
