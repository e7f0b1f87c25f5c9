//! Rewrites of a statement's syntax tree into shapes DataFusion plans, with the same
//! meaning: what PostgreSQL accepts and DataFusion 55 refuses.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{Error, Result};

/// `ORDER BY 2` where output column 2 is an expression over aggregates
/// (`SELECT min(x), count(*) >= 8 … GROUP BY … ORDER BY 2`) fails in DataFusion ("Column
/// in ORDER BY must be in GROUP BY"). When every ORDER BY item is a position, sorting the
/// finished rows means the same: the query becomes
/// `SELECT * FROM (<select>) AS __bs_ordered ORDER BY <positions> LIMIT …`.
pub fn sort_by_position_outside(stmt: &mut ast::Statement) {
    struct Wrap;
    impl ast::VisitorMut for Wrap {
        type Break = ();
        fn post_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
            wrap(q);
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(stmt, &mut Wrap);
}

fn wrap(q: &mut ast::Query) {
    let Some(ast::OrderBy {
        kind: ast::OrderByKind::Expressions(items),
        ..
    }) = &q.order_by
    else {
        return;
    };
    let positions = !items.is_empty()
        && items.iter().all(
            |i| matches!(&i.expr, ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..))),
        );
    let ast::SetExpr::Select(select) = q.body.as_ref() else {
        return;
    };
    let plain_columns = select.projection.iter().all(|p| {
        matches!(
            p,
            ast::SelectItem::UnnamedExpr(
                ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
            )
        )
    });
    let wildcard = select.projection.iter().any(|p| {
        matches!(
            p,
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..)
        )
    });
    if !positions || plain_columns || wildcard {
        return;
    }
    let Ok(mut template) = Parser::parse_sql(
        &PostgreSqlDialect {},
        "SELECT * FROM (SELECT 1) AS __bs_ordered",
    ) else {
        return;
    };
    let Some(ast::Statement::Query(outer)) = template.pop() else {
        return;
    };
    let mut outer = *outer;
    let ast::SetExpr::Select(outer_select) = outer.body.as_mut() else {
        return;
    };
    let Some(ast::TableFactor::Derived { subquery, .. }) =
        outer_select.from.first_mut().map(|f| &mut f.relation)
    else {
        return;
    };
    std::mem::swap(&mut subquery.body, &mut q.body);
    outer.order_by = q.order_by.take();
    outer.limit_clause = q.limit_clause.take();
    outer.fetch = q.fetch.take();
    q.body = outer.body;
    q.order_by = outer.order_by;
    q.limit_clause = outer.limit_clause;
    q.fetch = outer.fetch;
}

/// DataFusion 55 computes `INTERSECT ALL` and `EXCEPT ALL` as semi and anti joins, which
/// keep or drop every duplicate of a row instead of min(m, n) or max(m − n, 0) of them
/// (apache/datafusion#12955, #12956). Numbering the duplicates of each row on both sides
/// makes them distinct rows, for which the plain operators are right:
///
/// ```text
/// SELECT c… FROM (
///   (SELECT s.*, row_number() OVER (PARTITION BY c…) AS __bs_rn FROM (<left>) AS s (c…))
///   EXCEPT | INTERSECT
///   (SELECT s.*, row_number() OVER (PARTITION BY c…) AS __bs_rn FROM (<right>) AS s (c…))
/// ) AS __bs_set
/// ```
pub fn number_set_duplicates(stmt: &mut ast::Statement) -> Result<()> {
    struct Rewrite(Option<Error>);
    impl ast::VisitorMut for Rewrite {
        type Break = ();
        fn post_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
            if let Err(e) = number_in(q.body.as_mut()) {
                self.0 = Some(e);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut r = Rewrite(None);
    let _ = ast::VisitMut::visit(stmt, &mut r);
    r.0.map_or(Ok(()), Err)
}

fn number_in(body: &mut ast::SetExpr) -> Result<()> {
    let ast::SetExpr::SetOperation {
        left,
        op,
        set_quantifier,
        right,
    } = body
    else {
        return Ok(());
    };
    number_in(left)?;
    number_in(right)?;
    let op = match op {
        ast::SetOperator::Intersect => "INTERSECT",
        ast::SetOperator::Except | ast::SetOperator::Minus => "EXCEPT",
        _ => return Ok(()),
    };
    if *set_quantifier != ast::SetQuantifier::All {
        return Ok(());
    }
    let names = super::names::leftmost_select(left)
        .and_then(super::names::select_names)
        .ok_or_else(|| {
            Error::NotSupported(format!(
                "{op} ALL over a select list with * is not supported"
            ))
        })?;
    // The columns keep their names where those are distinct (a derived table's reader
    // may use them); others get positional ones.
    let columns: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let unique = names.iter().filter(|m| *m == n).count() == 1;
            if unique && n != "?column?" {
                format!("\"{}\"", n.replace('"', "\"\""))
            } else {
                format!("__bs_c{i}")
            }
        })
        .collect();
    let cols = columns.join(", ");
    let side = |q: &ast::SetExpr| {
        format!(
            "(SELECT __bs_s.*, row_number() OVER (PARTITION BY {cols}) AS __bs_rn \
             FROM ({q}) AS __bs_s ({cols}))"
        )
    };
    let sql = format!(
        "SELECT {cols} FROM ({} {op} {}) AS __bs_set",
        side(left),
        side(right)
    );
    let parsed = Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(super::dispatch::NESTING_LIMIT * 2)
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| Error::Internal(format!("{op} ALL rewrite: {e}")))?;
    *body = ast::SetExpr::Query(parsed);
    Ok(())
}

/// `information_schema.views` as PostgreSQL has it: DataFusion's lists every relation
/// (tables with a NULL definition) and names the query column `definition`, so a
/// reference to it reads, instead, the views only, with PostgreSQL's columns.
pub fn postgres_information_schema_views(stmt: &mut ast::Statement) {
    const VIEWS: &str = "SELECT table_catalog, table_schema, table_name, \
        definition AS view_definition, 'NONE' AS check_option, 'NO' AS is_updatable, \
        'NO' AS is_insertable_into, 'NO' AS is_trigger_updatable, \
        'NO' AS is_trigger_deletable, 'NO' AS is_trigger_insertable_into \
        FROM information_schema.views WHERE definition IS NOT NULL";
    struct Views;
    impl ast::VisitorMut for Views {
        type Break = ();
        // After the children: the replacement's own reference is not visited again.
        fn post_visit_table_factor(&mut self, t: &mut ast::TableFactor) -> ControlFlow<()> {
            let ast::TableFactor::Table { name, alias, .. } = t else {
                return ControlFlow::Continue(());
            };
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())
                .collect();
            let is_views = matches!(
                parts
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice(),
                ["information_schema", "views"] | [_, "information_schema", "views"]
            );
            if !is_views {
                return ControlFlow::Continue(());
            }
            let Ok(Some(ast::Statement::Query(query))) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(VIEWS)
                .and_then(|mut p| p.parse_statement().map(Some))
            else {
                return ControlFlow::Continue(());
            };
            let alias = alias.clone().unwrap_or_else(|| ast::TableAlias {
                explicit: true,
                name: ast::Ident::new("views"),
                columns: vec![],
                at: None,
            });
            *t = ast::TableFactor::Derived {
                lateral: false,
                subquery: query,
                alias: Some(alias),
                sample: None,
            };
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(stmt, &mut Views);
}

/// Replaces `name` in the WHERE clause of each SELECT whose select list has an alias
/// `name` by the aliased expression (`SELECT a + 1 AS b … WHERE b > 2`, as Redshift
/// accepts). Returns whether anything was replaced.
pub fn where_alias(stmt: &mut ast::Statement, name: &str) -> bool {
    struct Alias<'a> {
        name: &'a str,
        replaced: bool,
    }
    impl ast::VisitorMut for Alias<'_> {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut ast::Select) -> ControlFlow<()> {
            let aliased = select.projection.iter().find_map(|item| match item {
                ast::SelectItem::ExprWithAlias { expr, alias }
                    if alias.value.eq_ignore_ascii_case(self.name) =>
                {
                    Some(expr.clone())
                }
                _ => None,
            });
            let (Some(aliased), Some(selection)) = (aliased, select.selection.as_mut()) else {
                return ControlFlow::Continue(());
            };
            let name = self.name;
            let mut replaced = false;
            let _ = ast::visit_expressions_mut(selection, |e| {
                if let ast::Expr::Identifier(id) = e
                    && id.value.eq_ignore_ascii_case(name)
                {
                    *e = ast::Expr::Nested(Box::new(aliased.clone()));
                    replaced = true;
                }
                ControlFlow::<()>::Continue(())
            });
            self.replaced |= replaced;
            ControlFlow::Continue(())
        }
    }
    let mut v = Alias {
        name,
        replaced: false,
    };
    let _ = ast::VisitMut::visit(stmt, &mut v);
    v.replaced
}

/// Also `generate_subscripts(a, 1)`, as `unnest(range(1, cardinality(a) + 1))` (arrays
/// here have one dimension).
///
/// `ARRAY(SELECT e FROM …)` (psql's `\du` asks for each role's groups so): DataFusion has no
/// array subquery. A plain one-column SELECT becomes the scalar subquery
/// `coalesce((SELECT array_agg(e [ORDER BY …]) FROM …), make_array())`, the same array
/// (empty, not NULL, when no row matches). Any other shape is left for DataFusion to refuse.
pub fn array_subqueries(stmt: &mut ast::Statement) {
    struct Arrays;
    impl ast::VisitorMut for Arrays {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
            if let Some(rewritten) = array_subquery(e) {
                *e = rewritten;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(stmt, &mut Arrays);
}

fn array_subquery(e: &ast::Expr) -> Option<ast::Expr> {
    let ast::Expr::Function(f) = e else {
        return None;
    };
    // `generate_subscripts(a, dim)` (SQLAlchemy numbers index keys so) over the
    // one-dimensional arrays there are: the positions for dimension 1, none for another.
    if let [ast::ObjectNamePart::Identifier(name)] = f.name.0.as_slice()
        && name.value.eq_ignore_ascii_case("generate_subscripts")
        && let ast::FunctionArguments::List(list) = &f.args
        && let [
            array,
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(dim)),
        ] = list.args.as_slice()
    {
        return Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&format!(
                "unnest(range(1, CAST(CASE WHEN ({dim}) = 1 THEN cardinality({array}) + 1 ELSE 1 END AS BIGINT)))"
            ))
            .and_then(|mut p| p.parse_expr())
            .ok();
    }
    let [ast::ObjectNamePart::Identifier(name)] = f.name.0.as_slice() else {
        return None;
    };
    let ast::FunctionArguments::Subquery(query) = &f.args else {
        return None;
    };
    if !name.value.eq_ignore_ascii_case("array")
        || query.with.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
    {
        return None;
    }
    let ast::SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let grouped = match &select.group_by {
        ast::GroupByExpr::All(_) => true,
        ast::GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
    };
    if grouped || select.distinct.is_some() || select.having.is_some() {
        return None;
    }
    let [item] = select.projection.as_slice() else {
        return None;
    };
    let value = match item {
        ast::SelectItem::UnnamedExpr(v) | ast::SelectItem::ExprWithAlias { expr: v, .. } => v,
        _ => return None,
    };
    let order = match &query.order_by {
        None => String::new(),
        Some(o) => match &o.kind {
            ast::OrderByKind::Expressions(items) if !items.is_empty() => format!(
                " ORDER BY {}",
                items
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => return None,
        },
    };
    // `ARRAY(SELECT e FROM unnest(outer.column) x)` (psql's `\d+` lists a table's toast
    // options so) is a correlation through a table function, which DataFusion cannot
    // decorrelate: for a NULL or empty array it is the empty array; for any other the
    // statement fails (0A000) rather than answer wrongly.
    let unnested = match select.from.as_slice() {
        [from] if from.joins.is_empty() && select.selection.is_none() => match &from.relation {
            ast::TableFactor::Table {
                name,
                args: Some(args),
                ..
            } if name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest")) =>
            {
                match args.args.as_slice() {
                    [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(array))] => Some(array),
                    _ => None,
                }
            }
            ast::TableFactor::UNNEST { array_exprs, .. } if array_exprs.len() == 1 => {
                array_exprs.first()
            }
            _ => None,
        },
        _ => None,
    };
    if let Some(array) = unnested
        && matches!(
            array,
            ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
        )
    {
        return Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&format!(
                "CASE WHEN coalesce(cardinality({array}), 0) = 0 THEN make_array() \
                 ELSE pg_unnest_correlated({array}) END"
            ))
            .and_then(|mut p| p.parse_expr())
            .ok();
    }
    let mut inner = (**select).clone();
    let aggregate = Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("array_agg({value}{order})"))
        .and_then(|mut p| p.parse_expr())
        .ok()?;
    inner.projection = vec![ast::SelectItem::UnnamedExpr(aggregate)];
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(&format!("coalesce(({inner}), make_array())"))
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// `x LIKE p ESCAPE 'c'` with an escape character other than backslash (SQLAlchemy lists
/// schemas with `NOT LIKE 'pg/_' || '%' ESCAPE '/'`): DataFusion knows backslash only, so
/// the pattern is rewritten to backslash escapes, with the same matches —
/// `regexp_replace(replace(p, '\', '\\'), 'c(.)', '\\\1', 'g')` (a backslash in the
/// pattern becomes literal; `c` before a character escapes it, as `\` does). `ESCAPE ''`
/// (no escape character) makes every backslash literal.
pub fn like_escapes(stmt: &mut ast::Statement) {
    struct Escapes;
    impl ast::VisitorMut for Escapes {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
            let (ast::Expr::Like {
                pattern,
                escape_char,
                ..
            }
            | ast::Expr::ILike {
                pattern,
                escape_char,
                ..
            }) = e
            else {
                return ControlFlow::Continue(());
            };
            let Some(ast::ValueWithSpan {
                value: ast::Value::SingleQuotedString(escape),
                ..
            }) = escape_char.as_ref()
            else {
                return ControlFlow::Continue(());
            };
            if escape == "\\" || escape.chars().count() > 1 {
                return ControlFlow::Continue(());
            }
            let literal_backslashes = format!("replace({pattern}, '\\', '\\\\')");
            let rewritten = match escape.chars().next() {
                None => literal_backslashes,
                Some(c) => {
                    let c = regex_escape(c).replace('\'', "''");
                    format!("regexp_replace({literal_backslashes}, '{c}(.)', '\\\\\\1', 'g')")
                }
            };
            if let Ok(p) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(&rewritten)
                .and_then(|mut p| p.parse_expr())
            {
                **pattern = p;
                *escape_char = None;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(stmt, &mut Escapes);
}

/// A character as a regular expression that matches it alone.
fn regex_escape(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        format!("\\{c}")
    }
}

/// Table functions in FROM as PostgreSQL names them (psql's `\d+` reads
/// `pg_catalog.unnest(tc.reloptions) x`): `pg_catalog.unnest(a)` is `unnest(a)` (also
/// once the compatibility parser has taken the qualifier off), and a
/// one-column function aliased `x` without column names names its column `x`.
pub fn table_functions(stmt: &mut ast::Statement) {
    struct Functions;
    impl ast::VisitorMut for Functions {
        type Break = ();
        fn post_visit_table_factor(&mut self, t: &mut ast::TableFactor) -> ControlFlow<()> {
            if let ast::TableFactor::Table {
                name,
                args: Some(args),
                alias,
                ..
            } = t
                && let (Some(function), qualifier) = match name.0.as_slice() {
                    [f] => (Some(f), None),
                    [q, f] => (Some(f), Some(q)),
                    _ => (None, None),
                }
                && qualifier.is_none_or(|q| {
                    q.as_ident()
                        .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"))
                })
                && function
                    .as_ident()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest"))
            {
                let array_exprs: Option<Vec<ast::Expr>> = args
                    .args
                    .iter()
                    .map(|a| match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e.clone()),
                        _ => None,
                    })
                    .collect();
                if let Some(array_exprs) = array_exprs {
                    *t = ast::TableFactor::UNNEST {
                        alias: alias.take(),
                        array_exprs,
                        with_offset: false,
                        with_offset_alias: None,
                        with_ordinality: false,
                    };
                }
            }
            if let ast::TableFactor::UNNEST {
                alias: Some(alias),
                array_exprs,
                with_offset: false,
                with_ordinality: false,
                ..
            } = t
                && array_exprs.len() == 1
                && alias.columns.is_empty()
            {
                alias.columns = vec![ast::TableAliasColumnDef {
                    name: alias.name.clone(),
                    data_type: None,
                }];
            }
            ControlFlow::Continue(())
        }
        /// `pg_get_viewdef(oid [, pretty])`: the view's definition, from `pg_views`.
        fn post_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
            if let ast::Expr::Function(f) = e
                && f.name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_get_viewdef"))
                && let ast::FunctionArguments::List(list) = &f.args
                && let Some(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(oid))) =
                    list.args.first()
                && list.args.len() <= 2
                && let Ok(definition) = Parser::new(&PostgreSqlDialect {})
                    .try_with_sql(&format!(
                        "(SELECT __v.definition FROM pg_catalog.pg_views __v \
                         JOIN pg_catalog.pg_class __c ON __c.relname = __v.viewname \
                         WHERE __c.oid = {oid})"
                    ))
                    .and_then(|mut p| p.parse_expr())
            {
                *e = definition;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(stmt, &mut Functions);
}

/// Composite values as pgjdbc's `getPrimaryKeys` reads them:
/// `information_schema._pg_expandarray(a)` is `unnest(pg_expandarray(a))` (a struct per
/// element, PostgreSQL's set of records), and a field of a parenthesized composite value,
/// `(expr).field`, is `get_field(expr, 'field')` (DataFusion plans only a column's fields).
pub fn composite_values(stmt: &mut ast::Statement) {
    fn call(name: &str, args: Vec<ast::Expr>) -> ast::Expr {
        ast::Expr::Function(ast::Function {
            name: ast::ObjectName::from(vec![ast::Ident::new(name)]),
            uses_odbc_syntax: false,
            parameters: ast::FunctionArguments::None,
            args: ast::FunctionArguments::List(ast::FunctionArgumentList {
                duplicate_treatment: None,
                args: args
                    .into_iter()
                    .map(|e| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)))
                    .collect(),
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        })
    }
    struct Composite;
    impl ast::VisitorMut for Composite {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
            if let ast::Expr::Function(f) = e
                && f.name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("_pg_expandarray"))
            {
                let args = match &f.args {
                    ast::FunctionArguments::List(list) => list
                        .args
                        .iter()
                        .filter_map(|a| match a {
                            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => {
                                Some(e.clone())
                            }
                            _ => None,
                        })
                        .collect(),
                    _ => vec![],
                };
                *e = call("unnest", vec![call("pg_expandarray", args)]);
            }
            if let ast::Expr::CompoundFieldAccess { root, access_chain } = e
                && matches!(root.as_ref(), ast::Expr::Nested(_))
                && access_chain
                    .iter()
                    .all(|a| matches!(a, ast::AccessExpr::Dot(ast::Expr::Identifier(_))))
            {
                let mut value = match root.as_ref() {
                    ast::Expr::Nested(inner) => inner.as_ref().clone(),
                    other => other.clone(),
                };
                for access in access_chain.iter() {
                    let ast::AccessExpr::Dot(ast::Expr::Identifier(field)) = access else {
                        continue;
                    };
                    let field = if field.quote_style.is_some() {
                        field.value.clone()
                    } else {
                        field.value.to_lowercase()
                    };
                    value = call(
                        "get_field",
                        vec![
                            value,
                            ast::Expr::value(ast::Value::SingleQuotedString(field)),
                        ],
                    );
                }
                *e = value;
            }
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(stmt, &mut Composite);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .pop()
            .unwrap();
        sort_by_position_outside(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn positions_over_expressions_sort_outside() {
        assert_eq!(
            rewrite("SELECT min(a), count(*) >= 8 FROM t GROUP BY b ORDER BY 2 DESC, 1 LIMIT 3"),
            "SELECT * FROM (SELECT min(a), count(*) >= 8 FROM t GROUP BY b) AS __bs_ordered \
             ORDER BY 2 DESC, 1 LIMIT 3"
        );
        // Plain columns, names and expressions in ORDER BY stay as they are.
        for sql in [
            "SELECT a, b FROM t ORDER BY 2",
            "SELECT min(a) FROM t GROUP BY b ORDER BY b",
            "SELECT *, a + 1 FROM t ORDER BY 1",
        ] {
            assert_eq!(rewrite(sql), sql);
        }
    }

    #[test]
    fn table_functions_are_named_as_postgresql_names_them() {
        let mut stmt = Parser::new(&PostgreSqlDialect {})
            .try_with_sql("SELECT x FROM pg_catalog.unnest(make_array('a', 'b')) x")
            .unwrap()
            .parse_statement()
            .unwrap();
        table_functions(&mut stmt);
        assert_eq!(
            stmt.to_string(),
            "SELECT x FROM UNNEST(make_array('a', 'b')) x (x)"
        );
    }
}
