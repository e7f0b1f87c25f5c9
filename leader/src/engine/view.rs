//! CREATE [OR REPLACE] VIEW and DROP VIEW. A view is its query's SQL and column names in
//! the catalog; reading it plans the query against the state the reading statement sees
//! (`schema::PinnedSchema::table`), so it always shows current data. Like every catalog
//! change, in a transaction block it commits with the block.

use datafusion::sql::sqlparser::ast::{self, Statement};

use super::*;
use crate::error::{Error, Result};

impl Engine {
    pub(crate) async fn create_view(
        &self,
        session: &Session,
        cv: ast::CreateView,
    ) -> Result<Output> {
        if cv.materialized || cv.temporary {
            return Err(Error::NotSupported(
                "materialized and temporary views are not supported".into(),
            ));
        }
        let guard = self.catalog.begin_write().await;
        let state = session.read_state(&self.catalog);
        let name = session.resolve(&state, &cv.name, true)?;
        state.require_create_in(&session.user, &name)?;
        // The view keeps the relations its creator's search path found, whoever reads it.
        let mut cv = cv;
        {
            let mut query = Statement::Query(cv.query.clone());
            crate::schema::qualify(&mut query, &state, &session.search_path(&state));
            if let Statement::Query(q) = query {
                cv.query = q;
            }
        }
        if cv
            .query
            .to_string()
            .contains(&format!("\"{}", crate::schema::TEMP_PREFIX))
        {
            return Err(Error::NotSupported(
                "a view over a temporary table is not supported: it would outlive the table".into(),
            ));
        }
        if state.tables.contains_key(&name) {
            return Err(Error::DuplicateTable(name));
        }
        if state.views.contains_key(&name) && !cv.or_replace {
            if cv.if_not_exists {
                return Ok(created());
            }
            return Err(Error::DuplicateTable(name));
        }
        if state.views.contains_key(&name) {
            state.require_owner(&session.user, &name)?;
        }
        // The query must plan now; its result names become the view's columns.
        session.schema.pin(std::sync::Arc::clone(&state));
        let plan = self
            .plan(session, Statement::Query(cv.query.clone()), None)
            .await?;
        let named = postgres_column_names(
            &cv.query,
            &std::sync::Arc::new(plan.schema().as_arrow().clone()),
        );
        let mut columns: Vec<String> = named.fields().iter().map(|f| f.name().clone()).collect();
        if cv.columns.len() > columns.len() {
            return Err(Error::syntax(
                "CREATE VIEW specifies more column names than columns",
            ));
        }
        for (c, given) in columns.iter_mut().zip(&cv.columns) {
            *c = given.name.value.clone();
        }
        if let Some(dup) = columns
            .iter()
            .enumerate()
            .find(|(i, c)| columns[..*i].contains(c))
        {
            return Err(Error::DuplicateColumn(dup.1.clone()));
        }
        if let Some(old) = state.views.get(&name)
            && old.columns.len() > columns.len()
        {
            return Err(Error::InvalidInput(format!(
                "cannot drop columns from view \"{name}\""
            )));
        }
        let mut next = (*state).clone();
        // A replaced view keeps its owner and grants.
        next.acl
            .entry(name.clone())
            .or_insert_with(|| crate::access::Acl::owned_by(&session.user));
        next.views.insert(
            name.clone(),
            blueshift_storage::table::ViewDef {
                sql: cv.query.to_string(),
                columns,
            },
        );
        self.finish_write(session, &guard, next, &[name], false)
            .await?;
        Ok(created())
    }

    pub(crate) async fn drop_views(
        &self,
        session: &Session,
        names: &[ast::ObjectName],
        if_exists: bool,
    ) -> Result<Output> {
        let guard = self.catalog.begin_write().await;
        let mut next = (*session.read_state(&self.catalog)).clone();
        let mut dropped = Vec::new();
        for n in names {
            let name = match session.resolve(&next, n, false) {
                Err(Error::UndefinedSchema(_)) if if_exists => continue,
                name => name?,
            };
            if next.views.contains_key(&name) {
                next.require_owner(&session.user, &name)?;
            }
            if next.views.remove(&name).is_some() {
                next.acl.remove(&name);
                dropped.push(name);
            } else if next.tables.contains_key(&name) {
                return Err(Error::WrongObjectType {
                    name,
                    is: "a table",
                    hint: "Use DROP TABLE to remove a table.",
                });
            } else if !if_exists {
                return Err(Error::UndefinedTable(name));
            }
        }
        self.finish_write(session, &guard, next, &dropped, false)
            .await?;
        Ok(Output::Command {
            tag: "DROP VIEW".into(),
            rows: None,
        })
    }
}

fn created() -> Output {
    Output::Command {
        tag: "CREATE VIEW".into(),
        rows: None,
    }
}
