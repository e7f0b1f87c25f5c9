//! CREATE TABLE (with Redshift's DISTSTYLE/DISTKEY/SORTKEY/ENCODE, and AS query), DROP,
//! TRUNCATE; declared types and table definitions.

use std::sync::Arc;

use blueshift_storage::TableData;
use blueshift_storage::table::{ColumnDef, ColumnEncoding, DistStyle, SqlType, TableDef};
use datafusion::sql::sqlparser::ast::{self, Statement};

use super::write::WriteShape;
use super::*;
use crate::catalog::TableState;
use crate::error::{Error, Result};
use crate::sql_split::TableAttributes;

impl Engine {
    pub(crate) async fn create_table(
        &self,
        session: &Session,
        ct: ast::CreateTable,
        attrs: TableAttributes,
        qid: &str,
    ) -> Result<Output> {
        if matches!(
            ct.on_commit,
            Some(ast::OnCommit::Drop | ast::OnCommit::DeleteRows)
        ) {
            return Err(Error::NotSupported(
                "ON COMMIT DROP and ON COMMIT DELETE ROWS are not supported: a temporary table lasts as long as its session".into(),
            ));
        }
        let guard = self.catalog.begin_write().await;
        let state = session.read_state(&self.catalog);
        // A temporary table goes into the session's own schema, made with its first one.
        let (state, name) = if ct.temporary {
            let [table] = name_parts(&ct.name).try_into().map_err(|_| {
                Error::InvalidInput(
                    "a temporary table takes a name without a schema: it lives in the session's own".into(),
                )
            })?;
            let schema = session.temp_schema();
            let mut with_schema = (*state).clone();
            with_schema
                .schemas
                .entry(schema.clone())
                .or_insert_with(|| crate::access::Acl::owned_by(&session.user));
            session
                .made_temp
                .store(true, std::sync::atomic::Ordering::Relaxed);
            (Arc::new(with_schema), crate::schema::key(&schema, &table))
        } else {
            let name = session.resolve(&state, &ct.name, true)?;
            (state, name)
        };
        state.require_create_in(&session.user, &name)?;
        if state.tables.contains_key(&name) || state.views.contains_key(&name) {
            if ct.if_not_exists {
                return Ok(Output::Command {
                    tag: "CREATE TABLE".into(),
                    rows: None,
                });
            }
            return Err(Error::DuplicateTable(name));
        }
        let primary_key = primary_key_of(&ct)?;
        let mut next = (*state).clone();
        let id = next.next_table_id;
        next.next_table_id += 1;
        let (columns, source) = match &ct.query {
            None => {
                if ct.columns.is_empty() {
                    return Err(Error::syntax("CREATE TABLE needs columns or AS query"));
                }
                let mut columns = ct
                    .columns
                    .iter()
                    .map(column_def)
                    .collect::<Result<Vec<_>>>()?;
                for c in &mut columns {
                    if primary_key.contains(&c.name) {
                        c.nullable = false;
                    }
                }
                (columns, None)
            }
            Some(query) => {
                session.schema.pin(Arc::clone(&state));
                let plan = self
                    .plan(session, Statement::Query(query.clone()), None)
                    .await?;
                // Columns are named as a query result would be (`count`, not `count(*)`).
                let named =
                    postgres_column_names(query, &Arc::new(plan.schema().as_arrow().clone()));
                let columns = named
                    .fields()
                    .iter()
                    .map(|f| {
                        let sql_type = SqlType::from_arrow(f.data_type()).ok_or_else(|| {
                            Error::NotSupported(format!(
                                "column \"{}\" has unsupported type {}",
                                f.name(),
                                f.data_type()
                            ))
                        })?;
                        Ok(ColumnDef {
                            name: f.name().clone(),
                            sql_type,
                            nullable: true,
                            encoding: None,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                (columns, Some(plan))
            }
        };
        let def = table_def(id, name.clone(), columns, &attrs, &primary_key)?;
        let mut table = TableState {
            def,
            data: Arc::new(TableData::default()),
        };
        let mut rows = None;
        if let Some(plan) = source {
            let physical = self.physical(session, &plan, qid).await?;
            let shape = WriteShape {
                values: (0..table.def.columns.len()).collect(),
                row_ids: None,
            };
            let written = self
                .write_plan(session.ctx.task_ctx(), &next, &table, physical, shape, qid)
                .await?;
            let n = written.rows;
            table.data = Arc::new(written.data);
            table = self.maybe_leave_auto_all(&next, table, qid).await?;
            rows = Some(n);
        }
        next.tables.insert(name.clone(), table);
        next.acl
            .insert(name.clone(), crate::access::Acl::owned_by(&session.user));
        self.finish_write(session, &guard, next, &[name], false)
            .await?;
        Ok(match rows {
            Some(n) => Output::Command {
                tag: "SELECT".into(),
                rows: Some(n),
            },
            None => Output::Command {
                tag: "CREATE TABLE".into(),
                rows: None,
            },
        })
    }
    pub(crate) async fn drop_tables(
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
                return Err(Error::WrongObjectType {
                    name,
                    is: "a view",
                    hint: "Use DROP VIEW to remove a view.",
                });
            }
            if next.tables.contains_key(&name) {
                next.require_owner(&session.user, &name)?;
            }
            if next.tables.remove(&name).is_none() && !if_exists {
                return Err(Error::UndefinedTable(name));
            }
            next.acl.remove(&name);
            dropped.push(name);
        }
        self.finish_write(session, &guard, next, &dropped, true)
            .await?;
        Ok(Output::Command {
            tag: "DROP TABLE".into(),
            rows: None,
        })
    }
    pub(crate) async fn truncate(
        &self,
        session: &Session,
        names: &[ast::ObjectName],
    ) -> Result<Output> {
        let guard = self.catalog.begin_write().await;
        let mut next = (*session.read_state(&self.catalog)).clone();
        let mut truncated = Vec::new();
        for n in names {
            let name = session.resolve(&next, n, false)?;
            truncated.push(name.clone());
            if next.tables.contains_key(&name) {
                next.require_owner(&session.user, &name)?;
            }
            let t = next
                .tables
                .get_mut(&name)
                .ok_or_else(|| Error::UndefinedTable(name.clone()))?;
            if t.def.dist_style == DistStyle::AutoEven {
                t.def.dist_style = DistStyle::AutoAll;
            }
            t.data = Arc::new(TableData::default());
        }
        self.finish_write(session, &guard, next, &truncated, true)
            .await?;
        Ok(Output::Command {
            tag: "TRUNCATE TABLE".into(),
            rows: None,
        })
    }
    /// Removes files no version in use names (dropped or truncated tables), while the write
    /// lock keeps any new write from staging files meanwhile. The statement has committed,
    /// so a failure here is only logged; start-up collection catches what is left.
    pub(crate) async fn collect_garbage(&self, _guard: &tokio::sync::MutexGuard<'_, ()>) {
        match self.cluster.gc(&self.catalog.files_in_use()).await {
            Ok(n) => tracing::debug!(removed = n, "collected garbage"),
            Err(e) => tracing::warn!("garbage collection: {e}"),
        }
    }
}

/// The PRIMARY KEY's columns, from a column's option or the table's constraint.
fn primary_key_of(ct: &ast::CreateTable) -> Result<Vec<String>> {
    let mut key: Vec<String> = ct
        .columns
        .iter()
        .filter(|c| {
            c.options
                .iter()
                .any(|o| matches!(o.option, ast::ColumnOption::PrimaryKey(_)))
        })
        .map(|c| fold(&c.name))
        .collect();
    for constraint in &ct.constraints {
        if let ast::TableConstraint::PrimaryKey(pk) = constraint {
            if !key.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "multiple primary keys for table \"{}\" are not allowed",
                    ct.name
                )));
            }
            key = pk
                .columns
                .iter()
                .map(|c| match &c.column.expr {
                    ast::Expr::Identifier(i) => Ok(fold(i)),
                    other => Err(Error::NotSupported(format!(
                        "a primary key on an expression ({other}) is not supported"
                    ))),
                })
                .collect::<Result<_>>()?;
        }
    }
    Ok(key)
}

/// An identifier as PostgreSQL folds it: unquoted in lower case.
fn fold(i: &ast::Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

/// A name's parts as PostgreSQL folds them: unquoted parts in lower case.
pub fn name_parts(name: &ast::ObjectName) -> Vec<String> {
    name.0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(|i| {
            if i.quote_style.is_some() {
                i.value.clone()
            } else {
                i.value.to_lowercase()
            }
        })
        .collect()
}
pub(crate) fn column_def(c: &ast::ColumnDef) -> Result<ColumnDef> {
    let mut nullable = true;
    for opt in &c.options {
        match &opt.option {
            ast::ColumnOption::NotNull => nullable = false,
            ast::ColumnOption::Null => nullable = true,
            ast::ColumnOption::PrimaryKey(_) => nullable = false,
            ast::ColumnOption::Unique(_) => {}
            other => {
                return Err(Error::NotSupported(format!(
                    "column option {other} is not supported (column \"{}\")",
                    c.name.value
                )));
            }
        }
    }
    Ok(ColumnDef {
        name: if c.name.quote_style.is_some() {
            c.name.value.clone()
        } else {
            c.name.value.to_lowercase()
        },
        sql_type: sql_type(&c.data_type.to_string())?,
        nullable,
        encoding: None,
    })
}
/// Reads a declared type the way Redshift does (VARCHAR = VARCHAR(256), TEXT = VARCHAR(256),
/// CHAR = CHAR(1), DECIMAL = DECIMAL(18,0)).
pub fn sql_type(declared: &str) -> Result<SqlType> {
    let t = declared.trim().to_uppercase();
    let (base, args) = match t.find('(') {
        Some(i) => (
            t[..i].trim().to_string(),
            Some(t[i + 1..].trim_end_matches(')').to_string()),
        ),
        None => (t.clone(), None),
    };
    let nums: Vec<u32> = args
        .as_deref()
        .map(|a| a.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_default();
    let len = |default: u32| -> Result<u32> {
        let n = match args.as_deref().map(str::trim) {
            None => default,
            // Redshift's VARCHAR(MAX) is its longest VARCHAR.
            Some(a) if a.eq_ignore_ascii_case("MAX") => 65535,
            Some(a) => a.parse().map_err(|_| {
                Error::InvalidInput(format!("invalid length {a:?} for type {base}"))
            })?,
        };
        if n == 0 || n > 65535 {
            return Err(Error::InvalidInput(format!(
                "length for type {base} must be between 1 and 65535"
            )));
        }
        Ok(n)
    };
    Ok(match base.as_str() {
        "SMALLINT" | "INT2" => SqlType::SmallInt,
        "INTEGER" | "INT" | "INT4" => SqlType::Integer,
        "BIGINT" | "INT8" => SqlType::BigInt,
        "DECIMAL" | "NUMERIC" | "DEC" => {
            let precision = nums.first().copied().unwrap_or(18);
            let scale = nums.get(1).copied().unwrap_or(0);
            if !(1..=38).contains(&precision) || scale > precision {
                return Err(Error::InvalidInput(format!(
                    "invalid DECIMAL({precision},{scale})"
                )));
            }
            SqlType::Decimal {
                precision: precision as u8,
                scale: scale as i8,
            }
        }
        "REAL" | "FLOAT4" => SqlType::Real,
        "DOUBLE PRECISION" | "DOUBLE" | "FLOAT8" | "FLOAT" => SqlType::Double,
        "BOOLEAN" | "BOOL" => SqlType::Boolean,
        "CHAR" | "CHARACTER" | "NCHAR" | "BPCHAR" => SqlType::Char(len(1)?),
        "VARCHAR" | "CHARACTER VARYING" | "NVARCHAR" => SqlType::Varchar(len(256)?),
        "TEXT" => SqlType::Varchar(256),
        "DATE" => SqlType::Date,
        "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => SqlType::Timestamp,
        "TIMESTAMPTZ" | "TIMESTAMP WITH TIME ZONE" => SqlType::TimestampTz,
        _ => {
            return Err(Error::NotSupported(format!(
                "type {declared} is not supported"
            )));
        }
    })
}
pub(crate) fn table_def(
    id: u64,
    name: String,
    mut columns: Vec<ColumnDef>,
    attrs: &TableAttributes,
    primary_key: &[String],
) -> Result<TableDef> {
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].iter().any(|other| other.name == c.name) {
            return Err(Error::DuplicateColumn(c.name.clone()));
        }
    }
    let find = |columns: &[ColumnDef], c: &str| {
        columns
            .iter()
            .position(|col| col.name == c)
            .ok_or_else(|| Error::UndefinedColumn {
                column: c.to_string(),
            })
    };
    for (col, enc) in &attrs.encodings {
        let i = find(&columns, col)?;
        columns[i].encoding = Some(ColumnEncoding::parse(enc).ok_or_else(|| {
            Error::InvalidInput(format!("unknown ENCODE {enc} for column \"{col}\""))
        })?);
    }
    let dist_key = attrs
        .distkey
        .as_deref()
        .map(|c| find(&columns, c))
        .transpose()?;
    let dist_style = match (attrs.diststyle.as_deref(), dist_key) {
        (Some("KEY"), Some(_)) | (None, Some(_)) => DistStyle::Key,
        (Some("KEY"), None) => {
            return Err(Error::InvalidInput("DISTSTYLE KEY needs a DISTKEY".into()));
        }
        (Some(other), Some(_)) => {
            return Err(Error::InvalidInput(format!(
                "DISTKEY cannot be used with DISTSTYLE {other}"
            )));
        }
        (Some("EVEN"), None) => DistStyle::Even,
        (Some("ALL"), None) => DistStyle::All,
        (Some("AUTO"), None) | (None, None) => DistStyle::AutoAll,
        (Some(other), None) => {
            return Err(Error::InvalidInput(format!("unknown DISTSTYLE {other}")));
        }
    };
    let sort_key = attrs
        .sortkey
        .iter()
        .map(|c| find(&columns, c))
        .collect::<Result<Vec<_>>>()?;
    let primary_key = primary_key
        .iter()
        .map(|c| find(&columns, c))
        .collect::<Result<Vec<_>>>()?;
    Ok(TableDef {
        id,
        name,
        columns,
        dist_style,
        dist_key,
        sort_key,
        primary_key,
    })
}

/// `ALTER TABLE | VIEW name RENAME TO new` (PostgreSQL lets ALTER TABLE rename a view,
/// and dbt does so): (name, new name), when `sql` is that statement.
pub(crate) fn parse_rename(sql: &str) -> Option<Result<(String, String)>> {
    let upper = sql.to_ascii_uppercase();
    let mut words = upper.split_whitespace();
    if words.next()? != "ALTER" || !matches!(words.next()?, "TABLE" | "VIEW") {
        return None;
    }
    let rest: Vec<&str> = words.collect();
    let renames_relation = rest.windows(2).any(|w| w[0] == "RENAME" && w[1] == "TO");
    if !renames_relation {
        return None;
    }
    let parse = || -> Result<(String, String)> {
        let mut t = super::copy::sql::Tokens::new(sql)?;
        t.expect_word("ALTER")?;
        if !t.eat_word("TABLE") {
            t.expect_word("VIEW")?;
        }
        if t.eat_word("IF") {
            t.expect_word("EXISTS")?;
        }
        let name = t.object_name()?;
        t.expect_word("RENAME")?;
        t.expect_word("TO")?;
        let to = t.object_name()?;
        if !t.done() {
            return Err(t.unexpected("expected end of statement"));
        }
        Ok((name, to))
    };
    Some(parse())
}

impl Engine {
    /// Renames a table or view: one commit, its data, owner and grants kept.
    pub(crate) async fn rename_relation(
        &self,
        session: &Session,
        name: &str,
        to: &str,
    ) -> Result<Output> {
        let guard = self.catalog.begin_write().await;
        let mut next = (*session.read_state(&self.catalog)).clone();
        let name = session.resolve_written(&next, name, false)?;
        let name = name.as_str();
        if !next.tables.contains_key(name) && !next.views.contains_key(name) {
            return Err(Error::UndefinedTable(name.to_string()));
        }
        next.require_owner(&session.user, name)?;
        // The new name stays in the relation's schema, as in PostgreSQL.
        let (schema, _) = crate::schema::split_key(name);
        let to = match to.rsplit_once('.') {
            Some((given, _)) if given.rsplit('.').next() != Some(schema) => {
                return Err(Error::syntax(
                    "RENAME TO takes the new name without a schema: a relation stays in its schema",
                ));
            }
            Some((_, bare)) => crate::schema::key(schema, bare),
            None => crate::schema::key(schema, to),
        };
        let to = to.as_str();
        if next.tables.contains_key(to) || next.views.contains_key(to) {
            return Err(Error::DuplicateTable(to.to_string()));
        }
        if let Some(mut table) = next.tables.remove(name) {
            table.def.name = to.to_string();
            next.tables.insert(to.to_string(), table);
        }
        if let Some(view) = next.views.remove(name) {
            next.views.insert(to.to_string(), view);
        }
        if let Some(acl) = next.acl.remove(name) {
            next.acl.insert(to.to_string(), acl);
        }
        self.finish_write(
            session,
            &guard,
            next,
            &[name.to_string(), to.to_string()],
            false,
        )
        .await?;
        Ok(Output::Command {
            tag: "ALTER TABLE".into(),
            rows: None,
        })
    }
}
