//! CREATE SCHEMA and DROP SCHEMA. A schema other than `public` is an entry of the
//! catalog state with its owner and grants (USAGE, CREATE); its tables and views are keyed
//! `schema.name` (`schema::key`), so they commit, crash, snapshot and restore like any
//! other. Like other DDL, both take part in transaction blocks.
//!
//! A session's temporary tables live in its own schema `pg_temp_<session id>`, which
//! unqualified names look in first; the schema and its tables are dropped (one commit)
//! when the session ends, and at start-up for sessions a crash ended.

use datafusion::sql::sqlparser::ast;

use super::*;
use crate::access::Acl;
use crate::error::{Error, Result};
use crate::schema::PUBLIC;

/// Names PostgreSQL keeps for itself or that name catalogs every database has.
fn reserved(name: &str) -> bool {
    name.starts_with("pg_") || matches!(name, "information_schema" | "pg_catalog" | PUBLIC)
}

fn created(tag: &str) -> Output {
    Output::Command {
        tag: tag.into(),
        rows: None,
    }
}

fn one_part(name: &ast::ObjectName) -> Result<String> {
    match super::ddl::name_parts(name).as_slice() {
        [s] | [_, s] if !s.contains('.') => Ok(s.clone()),
        _ => Err(Error::syntax(format!("not a schema name: {name}"))),
    }
}

/// Drops the temporary tables of each session that ends having made some.
pub async fn reap_temporary(
    engine: std::sync::Arc<Engine>,
    mut ended: tokio::sync::mpsc::UnboundedReceiver<i32>,
) {
    while let Some(pid) = ended.recv().await {
        let schema = format!("{}{pid}", crate::schema::TEMP_PREFIX);
        if let Err(e) = engine.drop_temporary(|s| s == schema).await {
            tracing::warn!("dropping the temporary tables of session {pid}: {e}");
        }
    }
}

impl Engine {
    /// Drops the temporary schemas `which` picks, with their tables, in one commit.
    pub(crate) async fn drop_temporary(&self, which: impl Fn(&str) -> bool) -> Result<()> {
        let guard = self.catalog.begin_write().await;
        let current = self.catalog.pin();
        let doomed: Vec<&String> = current
            .schemas
            .keys()
            .filter(|s| s.starts_with(crate::schema::TEMP_PREFIX) && which(s))
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        let mut next = (*current).clone();
        for schema in doomed {
            let outside = |k: &String| crate::schema::split_key(k).0 != schema;
            next.tables.retain(|k, _| outside(k));
            next.views.retain(|k, _| outside(k));
            next.acl.retain(|k, _| outside(k));
            next.schemas.remove(schema);
        }
        self.catalog.commit(&guard, next)?;
        drop(current);
        self.collect_garbage(&guard).await;
        Ok(())
    }

    pub(crate) async fn create_schema(
        &self,
        session: &Session,
        name: &ast::SchemaName,
        if_not_exists: bool,
    ) -> Result<Output> {
        let (name, owner) = match name {
            ast::SchemaName::Simple(n) => (one_part(n)?, None),
            ast::SchemaName::NamedAuthorization(n, owner) => {
                (one_part(n)?, Some(owner.value.to_lowercase()))
            }
            ast::SchemaName::UnnamedAuthorization(owner) => {
                let owner = owner.value.to_lowercase();
                (owner.clone(), Some(owner))
            }
        };
        let guard = self.catalog.begin_write().await;
        let state = session.read_state(&self.catalog);
        let me = session.user.as_str();
        if state.schemas.contains_key(&name) || reserved(&name) {
            if if_not_exists && !name.starts_with("pg_") {
                session.notice(&format!("schema \"{name}\" already exists, skipping"));
                return Ok(created("CREATE SCHEMA"));
            }
            if state.schemas.contains_key(&name) || name == PUBLIC {
                return Err(Error::DuplicateSchema(format!(
                    "schema \"{name}\" already exists"
                )));
            }
            return Err(Error::ReservedName(format!(
                "unacceptable schema name \"{name}\": the prefix \"pg_\" and the catalog schemas are reserved"
            )));
        }
        let creator_may = state.is_superuser(me) || state.users.get(me).is_some_and(|u| u.createdb);
        if !creator_may {
            return Err(Error::PermissionDenied(
                "permission denied for database dev: CREATE SCHEMA needs a superuser or a user with CREATEDB".into(),
            ));
        }
        let owner = owner.unwrap_or_else(|| me.to_string());
        if !state.users.contains_key(&owner) {
            return Err(Error::UndefinedObject(format!(
                "user \"{owner}\" does not exist"
            )));
        }
        if owner != me && !state.is_superuser(me) {
            return Err(Error::PermissionDenied(format!(
                "must be a superuser to create a schema owned by \"{owner}\""
            )));
        }
        let mut next = (*state).clone();
        next.schemas.insert(name, Acl::owned_by(&owner));
        self.finish_write(session, &guard, next, &[], false).await?;
        Ok(created("CREATE SCHEMA"))
    }

    /// DROP SCHEMA: RESTRICT (the default) refuses a schema that holds relations (2BP01);
    /// CASCADE drops them with it.
    pub(crate) async fn drop_schemas(
        &self,
        session: &Session,
        names: &[ast::ObjectName],
        if_exists: bool,
        cascade: bool,
    ) -> Result<Output> {
        let guard = self.catalog.begin_write().await;
        let mut next = (*session.read_state(&self.catalog)).clone();
        let me = session.user.clone();
        let mut dropped = Vec::new();
        for n in names {
            let name = one_part(n)?;
            if name == PUBLIC {
                return Err(Error::NotSupported(
                    "schema \"public\" cannot be dropped".into(),
                ));
            }
            let Some(acl) = next.schemas.get(&name) else {
                if if_exists {
                    session.notice(&format!("schema \"{name}\" does not exist, skipping"));
                    continue;
                }
                return Err(crate::schema::no_schema(&name));
            };
            if !next.is_superuser(&me) && acl.owner != me {
                return Err(Error::PermissionDenied(format!(
                    "must be owner of schema {name}"
                )));
            }
            let inside: Vec<String> = next
                .tables
                .keys()
                .chain(next.views.keys())
                .filter(|k| crate::schema::split_key(k).0 == name)
                .cloned()
                .collect();
            if !inside.is_empty() && !cascade {
                return Err(Error::DependentObjects(format!(
                    "cannot drop schema {name} because other objects depend on it ({} relations, \"{}\" first); use DROP SCHEMA … CASCADE to drop them too",
                    inside.len(),
                    inside[0]
                )));
            }
            for k in inside {
                next.tables.remove(&k);
                next.views.remove(&k);
                next.acl.remove(&k);
                dropped.push(k);
            }
            next.schemas.remove(&name);
        }
        let garbage = !dropped.is_empty();
        self.finish_write(session, &guard, next, &dropped, garbage)
            .await?;
        Ok(created("DROP SCHEMA"))
    }
}
