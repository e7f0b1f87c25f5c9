//! Result column names as PostgreSQL gives them.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast;

/// Names result columns the way PostgreSQL does: an unaliased function call is named after
/// the function (`count`, `sum`), a CASE `case`, any other unaliased expression `?column?`.
/// DataFusion names them after their whole text (`count(*)`, `sum(t.x)`).
pub fn postgres_column_names(query: &ast::Query, schema: &SchemaRef) -> SchemaRef {
    let named = pg_names(query, schema);
    if !named.fields().iter().any(|f| f.name().contains(DUPLICATE)) {
        return named;
    }
    // A duplicate renamed by [`distinct_output_names`] gets its own name back.
    let fields: Vec<Field> = named
        .fields()
        .iter()
        .map(|f| {
            let name = f
                .name()
                .split(DUPLICATE)
                .next()
                .unwrap_or_default()
                .to_string();
            f.as_ref().clone().with_name(name)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, named.metadata().clone()))
}

/// What separates a duplicate output name from the number that makes it unique while
/// DataFusion plans (a character no SQL name holds).
const DUPLICATE: char = '\u{1}';

/// PostgreSQL allows one name for several output columns (`SELECT a, a`, `count(*),
/// count(*)`, `x AS c, y AS c`); DataFusion requires distinct names. Before planning,
/// every select list's second and later uses of a name are aliased to that name plus
/// [`DUPLICATE`] and their position; [`postgres_column_names`] takes the suffix off again.
pub fn distinct_output_names(stmt: &mut ast::Statement) {
    use std::ops::ControlFlow;
    struct Renamer;
    impl ast::VisitorMut for Renamer {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
            rename_in(q.body.as_mut());
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(stmt, &mut Renamer);
}

fn rename_in(body: &mut ast::SetExpr) {
    match body {
        ast::SetExpr::SetOperation { left, right, .. } => {
            rename_in(left);
            rename_in(right);
            // A set operation's result is named by its left side. DataFusion renames the
            // right side's columns to those names, which can clash with a qualified column
            // of the same name there: the right side's columns get names no one uses.
            rename_right(right);
        }
        ast::SetExpr::Select(select) => rename_select(select),
        _ => {}
    }
}

fn rename_right(body: &mut ast::SetExpr) {
    match body {
        ast::SetExpr::SetOperation { left, right, .. } => {
            rename_right(left);
            rename_right(right);
        }
        // A parenthesized side whose ORDER BY could name its columns keeps them.
        ast::SetExpr::Query(q) if q.order_by.is_none() => rename_right(q.body.as_mut()),
        ast::SetExpr::Select(select) => {
            let wildcard = select.projection.iter().any(|p| {
                matches!(
                    p,
                    ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..)
                )
            });
            if wildcard {
                return;
            }
            for (pos, item) in select.projection.iter_mut().enumerate() {
                realias(item, format!("?column?{DUPLICATE}r{pos}"));
            }
        }
        _ => {}
    }
}

fn rename_select(select: &mut ast::Select) {
    let mut seen: Vec<String> = Vec::new();
    for (pos, item) in select.projection.iter_mut().enumerate() {
        // A wildcard's names are not known before planning.
        let Some(name) = item_name(item) else {
            return;
        };
        if !seen.contains(&name) {
            seen.push(name);
            continue;
        }
        realias(item, format!("{name}{DUPLICATE}{pos}"));
    }
}

/// Gives a select item the alias `name` (quoted, as written).
fn realias(item: &mut ast::SelectItem, name: String) {
    let alias = ast::Ident::with_quote('"', name);
    *item = match std::mem::replace(item, ast::SelectItem::Wildcard(Default::default())) {
        ast::SelectItem::ExprWithAlias { expr, .. } | ast::SelectItem::UnnamedExpr(expr) => {
            ast::SelectItem::ExprWithAlias { expr, alias }
        }
        other => other,
    };
}

/// The name PostgreSQL gives a select item's column; `None` for a wildcard.
fn item_name(item: &ast::SelectItem) -> Option<String> {
    match item {
        ast::SelectItem::ExprWithAlias { alias, .. } => Some(normal_name(alias)),
        ast::SelectItem::UnnamedExpr(ast::Expr::Identifier(i)) => Some(normal_name(i)),
        ast::SelectItem::UnnamedExpr(ast::Expr::CompoundIdentifier(parts)) => {
            parts.last().map(normal_name)
        }
        ast::SelectItem::UnnamedExpr(e) => postgres_name(e),
        _ => None,
    }
}

fn pg_names(query: &ast::Query, schema: &SchemaRef) -> SchemaRef {
    let Some(select) = leftmost_select(&query.body) else {
        return Arc::clone(schema);
    };
    if select.projection.len() != schema.fields().len() {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&select.projection)
        .map(|(f, item)| match item {
            ast::SelectItem::UnnamedExpr(e) => match postgres_name(e) {
                Some(name) => f.as_ref().clone().with_name(name),
                None => f.as_ref().clone(),
            },
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}
/// PostgreSQL's name for an unaliased expression; `None` keeps DataFusion's (plain columns).
pub(crate) fn postgres_name(e: &ast::Expr) -> Option<String> {
    use ast::Expr as E;
    match e {
        E::Identifier(_) | E::CompoundIdentifier(_) => None,
        E::Nested(inner) => postgres_name(inner),
        E::Cast { expr, .. } => match expr.as_ref() {
            E::Identifier(i) => Some(i.value.to_lowercase()),
            E::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_lowercase()),
            other => postgres_name(other),
        },
        E::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.to_lowercase()),
        E::Case { .. } => Some("case".into()),
        E::Extract { .. } => Some("extract".into()),
        // A scalar subquery is named after its one column.
        E::Subquery(q) => Some(first_column_name(q).unwrap_or_else(|| "?column?".into())),
        _ => Some("?column?".into()),
    }
}

/// The name PostgreSQL gives the first result column of a query.
fn first_column_name(query: &ast::Query) -> Option<String> {
    item_name(leftmost_select(&query.body)?.projection.first()?)
}

/// The SELECT that names a query's columns: the leftmost of its set operations.
pub(crate) fn leftmost_select(body: &ast::SetExpr) -> Option<&ast::Select> {
    match body {
        ast::SetExpr::Select(s) => Some(s),
        ast::SetExpr::SetOperation { left, .. } => leftmost_select(left),
        ast::SetExpr::Query(q) => leftmost_select(&q.body),
        _ => None,
    }
}

/// The names PostgreSQL gives a select list's columns; `None` with a wildcard.
pub(crate) fn select_names(select: &ast::Select) -> Option<Vec<String>> {
    select.projection.iter().map(item_name).collect()
}

/// An identifier as the parser resolves it: unquoted is lower case.
fn normal_name(i: &ast::Ident) -> String {
    match i.quote_style {
        Some(_) => i.value.clone(),
        None => i.value.to_lowercase(),
    }
}
