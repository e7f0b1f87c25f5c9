//! The differential SQL tester: random, type-correct queries run on a Blueshift cluster and
//! on PostgreSQL over the same data, their answers compared as multisets (in order where
//! ORDER BY fixes it, numbers within the shorter answer's last digit).
//!
//! - A query PostgreSQL rejects is not counted: the generator strayed outside the SQL both
//!   share.
//! - A query only Blueshift rejects is counted under its error message, so unsupported SQL
//!   stays visible.
//! - A query both answer differently is a mismatch: it is shrunk (query, then rows) to a
//!   small reproduction and written out as a sqllogictest record with PostgreSQL's rows.
//!
//! `cargo run -p blueshift-tests --bin difftest -- --queries N --seed S` runs a long soak;
//! the `difftest` integration test runs the seeds CI checks.

pub mod compare;
pub mod generate;
pub mod postgres;
pub mod shrink;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use compare::{Answer, Row, run, same_rows};
use generate::{Generator, Table};

/// One engine: a connection string and its open client (opened again if it is lost).
pub struct Engine {
    pub name: &'static str,
    conn: String,
    client: tokio_postgres::Client,
}

impl Engine {
    pub async fn connect(name: &'static str, conn: String) -> Engine {
        let client = connect(&conn).await;
        Engine { name, conn, client }
    }
    async fn run(&mut self, sql: &str) -> Answer {
        if self.client.is_closed() {
            self.client = connect(&self.conn).await;
        }
        run(&self.client, sql).await
    }
    async fn must(&mut self, sql: &str) {
        if let Answer::Error(code, message) = self.run(sql).await {
            panic!("{}: {sql}: {code}: {message}", self.name);
        }
    }
}

async fn connect(conn: &str) -> tokio_postgres::Client {
    let (client, c) = tokio_postgres::connect(conn, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect {conn}: {e}"));
    tokio::spawn(c);
    client
}

/// A query the two engines answered differently, shrunk.
#[derive(Debug)]
pub struct Mismatch {
    pub sql: String,
    pub shrunk: String,
    pub record: String,
    pub file: Option<PathBuf>,
}

/// What one seed on one cluster gave.
#[derive(Debug, Default)]
pub struct Report {
    pub label: String,
    pub generated: usize,
    pub reference_rejected: usize,
    pub matched: usize,
    pub mismatches: Vec<Mismatch>,
    /// Blueshift's errors for queries PostgreSQL answered, by message.
    pub errors: BTreeMap<String, usize>,
}

impl Report {
    pub fn counted(&self) -> usize {
        self.generated - self.reference_rejected
    }
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
    pub fn merge(&mut self, other: Report) {
        self.generated += other.generated;
        self.reference_rejected += other.reference_rejected;
        self.matched += other.matched;
        self.mismatches.extend(other.mismatches);
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} generated, {} rejected by PostgreSQL (not counted), {} counted: \
             {} match, {} mismatch, {} Blueshift-only errors\n",
            self.label,
            self.generated,
            self.reference_rejected,
            self.counted(),
            self.matched,
            self.mismatches.len(),
            self.error_count()
        );
        let mut errors: Vec<(&String, &usize)> = self.errors.iter().collect();
        errors.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (message, n) in errors {
            let _ = writeln!(s, "  {n:>5} × {message}");
        }
        for m in &self.mismatches {
            let _ = writeln!(s, "  MISMATCH: {}\n  shrunk:   {}", m.sql, m.shrunk);
            if let Some(f) = &m.file {
                let _ = writeln!(s, "  record:   {}", f.display());
            }
        }
        s
    }
}

/// How a run goes.
#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    pub queries: usize,
    /// Where shrunk failures are written as `.slt` files (none: only reported).
    pub out: Option<PathBuf>,
    /// Print every query and its outcome.
    pub verbose: bool,
    /// SQL run on the reference only, after loading: a planted difference, so a test can
    /// show the tester finds and shrinks one.
    pub plant: Option<String>,
}

/// An error message with its numbers and quoted names blurred, so one cause counts once.
fn error_key(code: &str, message: &str) -> String {
    let mut key = String::new();
    let mut quoted = false;
    let mut last_digit = false;
    for c in message.chars() {
        if c == '"' || c == '\'' {
            if !quoted {
                key.push_str("\"…\"");
            }
            quoted = !quoted;
            continue;
        }
        if quoted {
            continue;
        }
        if c.is_ascii_digit() {
            if !last_digit {
                key.push('N');
            }
            last_digit = true;
            continue;
        }
        last_digit = false;
        key.push(c);
    }
    let key: String = key.chars().take(140).collect();
    format!("{code}: {key}")
}

/// Creates the seed's tables on both engines (dropping earlier ones).
async fn load(bs: &mut Engine, pg: &mut Engine, tables: &[Table]) {
    for t in tables {
        for (engine, blueshift) in [(&mut *bs, true), (&mut *pg, false)] {
            engine
                .must(&format!("DROP TABLE IF EXISTS {}", t.name))
                .await;
            engine.must(&t.create(blueshift)).await;
            if let Some(insert) = t.insert() {
                engine.must(&insert).await;
            }
        }
    }
}

/// Runs `opts.queries` generated queries for one seed; `label` names the cluster.
pub async fn run_seed(bs: &mut Engine, pg: &mut Engine, opts: &Options, label: &str) -> Report {
    let tables = generate::tables(opts.seed);
    load(bs, pg, &tables).await;
    if let Some(plant) = &opts.plant {
        pg.must(plant).await;
    }
    let mut report = Report {
        label: format!("{label} seed {}", opts.seed),
        ..Default::default()
    };
    let mut generator = Generator::new(opts.seed);
    for n in 0..opts.queries {
        let q = generator.query();
        report.generated += 1;
        let expected = pg.run(&q.sql).await;
        let Answer::Rows(expected) = expected else {
            report.reference_rejected += 1;
            if opts.verbose {
                eprintln!("[{n}] reference rejects: {}", q.sql);
            }
            continue;
        };
        match bs.run(&q.sql).await {
            Answer::Error(code, message) => {
                if opts.verbose {
                    eprintln!("[{n}] blueshift error {code}: {message}\n    {}", q.sql);
                }
                *report.errors.entry(error_key(&code, &message)).or_default() += 1;
            }
            Answer::Rows(got) if same_rows(&expected, &got, q.ordered) => {
                if opts.verbose {
                    eprintln!("[{n}] match ({} rows)", got.len());
                }
                report.matched += 1;
            }
            Answer::Rows(_) => {
                eprintln!("[{n}] MISMATCH: {}", q.sql);
                let m = shrink_failure(bs, pg, &tables, &q.sql, q.ordered, opts, label, n).await;
                report.mismatches.push(m);
                load(bs, pg, &tables).await;
            }
        }
    }
    report
}

/// The two engines still disagree on `sql` (both answer, differently).
async fn fails(bs: &mut Engine, pg: &mut Engine, sql: &str) -> Option<(Vec<Row>, Vec<Row>)> {
    let Answer::Rows(expected) = pg.run(sql).await else {
        return None;
    };
    let Answer::Rows(got) = bs.run(sql).await else {
        return None;
    };
    let ordered = shrink::parse(sql).is_some_and(|s| match s {
        sqlparser::ast::Statement::Query(q) => q.order_by.is_some(),
        _ => false,
    });
    (!same_rows(&expected, &got, ordered)).then_some((expected, got))
}

/// Shrinks a failing query, then the tables' rows, and writes the result as a record.
#[allow(clippy::too_many_arguments)]
async fn shrink_failure(
    bs: &mut Engine,
    pg: &mut Engine,
    tables: &[Table],
    sql: &str,
    ordered: bool,
    opts: &Options,
    label: &str,
    n: usize,
) -> Mismatch {
    let mut best = sql.to_string();
    // Bounded, so a shrink that wanders cannot stall a run.
    let mut budget = 3000usize;
    'outer: while budget > 0 {
        let Some(stmt) = shrink::parse(&best) else {
            break;
        };
        for v in shrink::variants(&stmt) {
            let text = v.to_string();
            if text.len() >= best.len() {
                continue;
            }
            budget = budget.saturating_sub(1);
            if budget == 0 {
                break 'outer;
            }
            if fails(bs, pg, &text).await.is_some() {
                best = text;
                continue 'outer;
            }
        }
        break;
    }
    // Then the rows: each one goes if the failure stays without it.
    let mut kept: Vec<Vec<bool>> = tables.iter().map(|t| vec![true; t.rows.len()]).collect();
    if fails(bs, pg, &best).await.is_some() {
        for (ti, t) in tables.iter().enumerate() {
            for (k, row) in t.rows.iter().enumerate() {
                let delete = format!("DELETE FROM {} WHERE k = {k}", t.name);
                bs.must(&delete).await;
                pg.must(&delete).await;
                if fails(bs, pg, &best).await.is_some() {
                    kept[ti][k] = false;
                } else {
                    let insert = format!("INSERT INTO {} VALUES ({})", t.name, row.join(", "));
                    bs.must(&insert).await;
                    pg.must(&insert).await;
                }
            }
        }
    }
    let small: Vec<Table> = tables
        .iter()
        .zip(&kept)
        .map(|(t, keep)| Table {
            rows: t
                .rows
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .map(|(r, _)| r.clone())
                .collect(),
            ..t.clone()
        })
        .collect();
    let outcome = fails(bs, pg, &best).await;
    let types = column_types(pg, &best).await;
    let record = record(&small, &best, ordered, &types, outcome, opts.seed, n);
    let file = opts.out.as_ref().and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        let path = dir.join(format!("{label}-seed{}-q{n}.slt", opts.seed));
        std::fs::write(&path, &record).ok()?;
        Some(path)
    });
    Mismatch {
        sql: sql.to_string(),
        shrunk: best,
        record,
        file,
    }
}

/// The sqllogictest letters of a query's columns, from PostgreSQL's description.
async fn column_types(pg: &mut Engine, sql: &str) -> String {
    use tokio_postgres::types::Type;
    match pg.client.prepare(sql).await {
        Ok(stmt) => stmt
            .columns()
            .iter()
            .map(|c| match *c.type_() {
                Type::INT2 | Type::INT4 | Type::INT8 => 'I',
                Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => 'R',
                _ => 'T',
            })
            .collect(),
        Err(_) => "?".into(),
    }
}

fn cell(c: &Option<String>) -> String {
    match c.as_deref() {
        None => "NULL".into(),
        Some("") => "(empty)".into(),
        Some(s) => s.into(),
    }
}

/// A sqllogictest file reproducing a mismatch: the tables, then the query with
/// PostgreSQL's rows as the expected output.
fn record(
    tables: &[Table],
    sql: &str,
    ordered: bool,
    types: &str,
    outcome: Option<(Vec<Row>, Vec<Row>)>,
    seed: u64,
    n: usize,
) -> String {
    let mut out = format!(
        "# Found by the differential tester (seed {seed}, query {n}), shrunk.\n\
         # Expected rows are PostgreSQL's.\n\n"
    );
    // The tables the query names.
    let words: Vec<&str> = sql
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .collect();
    for t in tables.iter().filter(|t| words.contains(&t.name.as_str())) {
        let _ = writeln!(
            out,
            "statement ok\nDROP TABLE IF EXISTS {}\n\nstatement ok\n{}\n",
            t.name,
            t.create(true)
        );
        if let Some(insert) = t.insert() {
            let _ = writeln!(out, "statement ok\n{insert}\n");
        }
    }
    let (expected, got) = outcome.unwrap_or_default();
    let _ = writeln!(out, "# Blueshift answered:");
    for r in &got {
        let _ = writeln!(
            out,
            "# {}",
            r.iter().map(cell).collect::<Vec<_>>().join(" | ")
        );
    }
    let sort = if ordered { "" } else { " rowsort" };
    let _ = writeln!(out, "query {types}{sort}\n{sql}\n----");
    let mut rows: Vec<String> = expected
        .iter()
        .map(|r| r.iter().map(cell).collect::<Vec<_>>().join(" | "))
        .collect();
    if !ordered {
        rows.sort();
    }
    for r in rows {
        let _ = writeln!(out, "{r}");
    }
    out
}

/// The folder records go to by default: `difftest/` in the build's target folder.
pub fn default_out() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir)
        .join("difftest")
}
