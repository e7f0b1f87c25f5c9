//! `COPY table [(columns)] | (query) TO STDOUT [WITH] (FORMAT text|csv, HEADER, DELIMITER,
//! NULL)`, as PostgreSQL has it (psql's `\copy … to`, drivers' copy-out): the rows stream
//! to the client, one CopyData message per row, in PostgreSQL's text format (tab between
//! fields, `\N` for NULL, backslash escapes) or CSV (quoted where needed, empty for NULL).

use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget, Statement,
};
use futures::StreamExt;

use super::super::*;
use crate::error::{Error, Result};

/// How the rows are written.
#[derive(Debug, Clone)]
struct Format {
    csv: bool,
    header: bool,
    delimiter: char,
    null: String,
}

/// `sql` as a COPY … TO STDOUT, if it is one (PostgreSQL's grammar; Redshift's COPY
/// FROM does not parse as one).
pub fn parse_copy_to_stdout(sql: &str) -> Option<Statement> {
    let upper = sql.to_ascii_uppercase();
    if !upper.trim_start().starts_with("COPY") || !upper.contains("STDOUT") {
        return None;
    }
    let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
    match datafusion::sql::sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statement())
    {
        Ok(
            stmt @ Statement::Copy {
                to: true,
                target: CopyTarget::Stdout,
                ..
            },
        ) => Some(stmt),
        _ => None,
    }
}

fn format(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Format> {
    let mut f = Format {
        csv: false,
        header: false,
        delimiter: '\t',
        null: "\\N".into(),
    };
    let mut delimiter = None;
    let mut null = None;
    for o in options {
        match o {
            CopyOption::Format(name) => match name.value.to_ascii_lowercase().as_str() {
                "csv" => f.csv = true,
                "text" => f.csv = false,
                other => {
                    return Err(Error::NotSupported(format!(
                        "COPY TO STDOUT format {other} is not supported (text or csv)"
                    )));
                }
            },
            CopyOption::Header(h) => f.header = *h,
            CopyOption::Delimiter(d) => delimiter = Some(*d),
            CopyOption::Null(n) => null = Some(n.clone()),
            other => {
                return Err(Error::NotSupported(format!(
                    "COPY TO STDOUT option {other} is not supported"
                )));
            }
        }
    }
    for o in legacy {
        match o {
            CopyLegacyOption::Csv(csv) => {
                f.csv = true;
                for c in csv {
                    match c {
                        CopyLegacyCsvOption::Header => f.header = true,
                        other => {
                            return Err(Error::NotSupported(format!(
                                "COPY TO STDOUT option {other} is not supported"
                            )));
                        }
                    }
                }
            }
            CopyLegacyOption::Header => f.header = true,
            CopyLegacyOption::Delimiter(d) => delimiter = Some(*d),
            CopyLegacyOption::Null(n) => null = Some(n.clone()),
            other => {
                return Err(Error::NotSupported(format!(
                    "COPY TO STDOUT option {other} is not supported"
                )));
            }
        }
    }
    if f.csv {
        f.delimiter = ',';
        f.null = String::new();
    }
    if let Some(d) = delimiter {
        f.delimiter = d;
    }
    if let Some(n) = null {
        f.null = n;
    }
    if f.header && !f.csv {
        return Err(Error::InvalidInput(
            "COPY HEADER is available only in CSV mode".into(),
        ));
    }
    Ok(f)
}

impl Format {
    fn field(&self, out: &mut String, value: Option<&str>) {
        let Some(v) = value else {
            out.push_str(&self.null);
            return;
        };
        if self.csv {
            let quote = v.is_empty()
                || v.contains(self.delimiter)
                || v.contains(['"', '\n', '\r'])
                || v == self.null;
            if quote {
                out.push('"');
                out.push_str(&v.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(v);
            }
            return;
        }
        for ch in v.chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c == self.delimiter => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }

    /// One message per row.
    fn rows(&self, batch: &RecordBatch) -> Result<Vec<Bytes>> {
        let options = FormatOptions::default()
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
            .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f%:z"));
        let columns: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<_, _>>()?;
        let mut out = Vec::with_capacity(batch.num_rows());
        for row in 0..batch.num_rows() {
            let mut line = String::new();
            for (i, c) in columns.iter().enumerate() {
                if i > 0 {
                    line.push(self.delimiter);
                }
                let value = (!batch.column(i).is_null(row)).then(|| c.value(row).to_string());
                self.field(&mut line, value.as_deref());
            }
            line.push('\n');
            out.push(Bytes::from(line));
        }
        Ok(out)
    }
}

impl Engine {
    /// Runs a COPY … TO STDOUT: its rows as a stream of CopyData payloads.
    pub(crate) async fn copy_to_stdout(
        &self,
        session: &Session,
        stmt: Statement,
        qid: &str,
    ) -> Result<Output> {
        let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
        let Statement::Copy {
            source,
            to: true,
            target: CopyTarget::Stdout,
            options,
            legacy_options,
            ..
        } = stmt
        else {
            return Err(Error::syntax("expected COPY … TO STDOUT"));
        };
        let format = format(&options, &legacy_options)?;
        let query = match source {
            CopySource::Query(q) => *q,
            CopySource::Table {
                table_name,
                columns,
            } => {
                let cols = match columns.is_empty() {
                    true => "*".to_string(),
                    false => columns
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                let text = format!("SELECT {cols} FROM {table_name}");
                match datafusion::sql::sqlparser::parser::Parser::new(&dialect)
                    .try_with_sql(&text)
                    .and_then(|mut p| p.parse_statement())
                    .map_err(|e| Error::syntax(e.to_string()))?
                {
                    Statement::Query(q) => *q,
                    _ => return Err(Error::Internal("a table's query".into())),
                }
            }
        };
        let plan = self
            .plan(session, Statement::Query(Box::new(query.clone())), None)
            .await?;
        let stream = self.stream(session, &plan, qid).await?;
        let schema = postgres_column_names(&query, &stream.schema());
        let columns = schema.fields().len();
        let header = format.header.then(|| {
            let mut line = String::new();
            for (i, f) in schema.fields().iter().enumerate() {
                if i > 0 {
                    line.push(format.delimiter);
                }
                format.field(&mut line, Some(f.name()));
            }
            line
        });
        // The header travels with the first row, so it is not counted as one; without
        // rows it comes alone at the end.
        let header = Arc::new(std::sync::Mutex::new(header));
        let last = Arc::clone(&header);
        let rows = stream
            .flat_map(move |batch| {
                let lines = batch.map_err(Error::from).and_then(|b| format.rows(&b));
                let lines: Vec<Result<Bytes>> = match lines {
                    Ok(mut lines) => {
                        if let Some(first) = lines.first_mut()
                            && let Some(h) = header.lock().expect("header").take()
                        {
                            *first = Bytes::from([h.as_bytes(), b"\n", first].concat());
                        }
                        lines.into_iter().map(Ok).collect()
                    }
                    Err(e) => vec![Err(e)],
                };
                futures::stream::iter(lines)
            })
            .chain(futures::stream::iter(std::iter::once(()).filter_map(
                move |_| {
                    last.lock()
                        .expect("header")
                        .take()
                        .map(|h| Ok(Bytes::from(h + "\n")))
                },
            )));
        Ok(Output::CopyOut {
            columns,
            rows: Box::pin(rows),
        })
    }
}
