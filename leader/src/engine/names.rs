//! Result column names as PostgreSQL gives them.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast;

/// Names result columns the way PostgreSQL does: an unaliased function call is named after
/// the function (`count`, `sum`), a CASE `case`, any other unaliased expression `?column?`.
/// DataFusion names them after their whole text (`count(*)`, `sum(t.x)`).
pub fn postgres_column_names(query: &ast::Query, schema: &SchemaRef) -> SchemaRef {
    let mut body = query.body.as_ref();
    let select = loop {
        match body {
            ast::SetExpr::Select(s) => break s,
            ast::SetExpr::SetOperation { left, .. } => body = left,
            ast::SetExpr::Query(q) => body = q.body.as_ref(),
            _ => return Arc::clone(schema),
        }
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
        _ => Some("?column?".into()),
    }
}
