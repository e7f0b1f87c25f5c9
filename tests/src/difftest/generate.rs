//! Random, type-correct SQL over three small tables, from a seed.
//!
//! The generator keeps to SQL whose meaning PostgreSQL and Redshift share: every column
//! reference is qualified by a unique alias (so correlation is explicit), a scalar subquery
//! is an aggregate without GROUP BY or a lookup by the unique key `k` (at most one row),
//! ORDER BY lists every output column (so the order, and a LIMIT's rows, are fixed), and a
//! window's frame is the default RANGE frame (peers included, so ties cannot reorder it).

use std::fmt::Write as _;

/// A small, fixed pseudo-random generator (SplitMix64): the same seed gives the same
/// tables and queries on every machine and with every version of every crate.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_B00C)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The SQL types the generator works with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Int,
    Dec,
    Text,
    Date,
    Bool,
    /// DOUBLE PRECISION; table values are multiples of 1/4, so sums are exact in any order.
    Float,
}

const TYPES: [Ty; 6] = [Ty::Int, Ty::Dec, Ty::Text, Ty::Date, Ty::Bool, Ty::Float];

/// Every table has these columns; `k` is unique and never NULL.
pub const COLUMNS: [(&str, Ty, &str); 8] = [
    ("k", Ty::Int, "INT NOT NULL"),
    ("a", Ty::Int, "INT"),
    ("b", Ty::Int, "INT"),
    ("s", Ty::Text, "VARCHAR(10)"),
    ("d", Ty::Dec, "DECIMAL(8,2)"),
    ("dt", Ty::Date, "DATE"),
    ("f", Ty::Bool, "BOOLEAN"),
    ("x", Ty::Float, "DOUBLE PRECISION"),
];

/// Redshift's distribution styles, as table attributes.
pub const DISTSTYLES: [&str; 4] = [
    "DISTSTYLE EVEN",
    "DISTSTYLE KEY DISTKEY(a) SORTKEY(k)",
    "DISTSTYLE ALL",
    "DISTSTYLE AUTO",
];

/// One table: its name, rows (as SQL literals) and distribution style.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: String,
    pub rows: Vec<Vec<String>>,
    pub diststyle: &'static str,
}

impl Table {
    /// CREATE TABLE for the reference (no distribution) or for Blueshift.
    pub fn create(&self, blueshift: bool) -> String {
        let mut sql = format!("CREATE TABLE {} (", self.name);
        for (i, (name, _, decl)) in COLUMNS.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{name} {decl}");
        }
        sql.push(')');
        if blueshift {
            sql.push(' ');
            sql.push_str(self.diststyle);
        }
        sql
    }
    /// INSERT of the rows whose key `k` is kept (all rows: `None`).
    pub fn insert(&self) -> Option<String> {
        if self.rows.is_empty() {
            return None;
        }
        let values: Vec<String> = self
            .rows
            .iter()
            .map(|r| format!("({})", r.join(", ")))
            .collect();
        Some(format!(
            "INSERT INTO {} VALUES {}",
            self.name,
            values.join(", ")
        ))
    }
}

/// The data of one seed: three tables of different sizes, with NULLs, duplicates and skew.
/// `styles` rotates the distribution styles so each table meets every style over four seeds.
pub fn tables(seed: u64) -> Vec<Table> {
    let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(7));
    let sizes = [rng.range(10, 24), rng.range(6, 16), rng.range(0, 8)];
    sizes
        .iter()
        .enumerate()
        .map(|(t, &n)| Table {
            name: format!("t{}", t + 1),
            rows: (0..n).map(|k| row(&mut rng, k)).collect(),
            diststyle: DISTSTYLES[(seed as usize + t) % DISTSTYLES.len()],
        })
        .collect()
}

fn row(rng: &mut Rng, k: i64) -> Vec<String> {
    let mut cells = vec![k.to_string()];
    // a: skewed towards 0 and 1 (duplicates, and a skewed DISTKEY), with NULLs.
    cells.push(if rng.chance(18) {
        "NULL".into()
    } else if rng.chance(50) {
        rng.range(0, 1).to_string()
    } else {
        rng.range(-5, 15).to_string()
    });
    cells.push(if rng.chance(10) {
        "NULL".into()
    } else {
        rng.range(1, 6).to_string()
    });
    cells.push(if rng.chance(15) {
        "NULL".into()
    } else {
        format!(
            "'{}'",
            rng.pick(&["a", "b", "ab", "abc", "B", "z", "", "a b"])
        )
    });
    cells.push(if rng.chance(15) {
        "NULL".into()
    } else {
        let cents = if rng.chance(40) {
            rng.range(-3, 3) * 50
        } else {
            rng.range(-2000, 2000)
        };
        decimal_literal(cents)
    });
    cells.push(if rng.chance(10) {
        "NULL".into()
    } else {
        date_literal(rng.range(0, 60))
    });
    cells.push(if rng.chance(20) {
        "NULL".into()
    } else {
        rng.pick(&["true", "false"]).to_string()
    });
    cells.push(if rng.chance(12) {
        "NULL".into()
    } else {
        (rng.range(-80, 80) as f64 / 4.0).to_string()
    });
    cells
}

fn decimal_literal(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// `DATE '2024-01-01'` plus `days` (0..=60: January, February, into March; 2024 is leap).
fn date_literal(days: i64) -> String {
    let (month, day) = match days {
        0..=30 => (1, days + 1),
        31..=59 => (2, days - 30),
        _ => (3, days - 59),
    };
    format!("DATE '2024-{month:02}-{day:02}'")
}

/// A relation visible to an expression: its alias and its columns' names and types.
#[derive(Clone, Debug)]
struct Rel {
    alias: String,
    columns: Vec<(String, Ty)>,
}

/// What an expression may contain where it is generated.
#[derive(Clone, Copy)]
struct Ctx {
    depth: u32,
    /// Subquery nesting so far.
    nesting: u32,
}

/// A generated query: its text, and whether its ORDER BY fixes the order of its rows.
pub struct Query {
    pub sql: String,
    pub ordered: bool,
}

/// Generates queries over the tables `t1`, `t2`, `t3` (all with [`COLUMNS`]).
pub struct Generator {
    rng: Rng,
    aliases: u32,
    /// CTEs visible to the query being generated: name and column types.
    ctes: Vec<(String, Vec<Ty>)>,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed),
            aliases: 0,
            ctes: Vec::new(),
        }
    }

    /// One top-level query.
    pub fn query(&mut self) -> Query {
        self.aliases = 0;
        self.ctes.clear();
        let mut sql = String::new();
        if self.rng.chance(15) {
            let n = 1 + self.rng.below(2);
            sql.push_str("WITH ");
            for i in 0..n {
                let types = {
                    let n = 1 + self.rng.below(3);
                    self.types(n)
                };
                let body = self.select(Some(&types), &[], 0);
                let name = format!("c{}", i + 1);
                let cols: Vec<String> = (0..types.len()).map(|j| format!("v{j}")).collect();
                if i > 0 {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "{name} ({}) AS ({body})", cols.join(", "));
                self.ctes.push((name, types));
            }
            sql.push(' ');
        }
        let width = 1 + self.rng.below(3);
        let types = self.types(width);
        let body = if self.rng.chance(15) {
            let op = self.rng.pick(&[
                "UNION",
                "UNION ALL",
                "INTERSECT",
                "EXCEPT",
                "INTERSECT ALL",
                "EXCEPT ALL",
            ]);
            let left = self.select(Some(&types), &[], 0);
            let right = self.select(Some(&types), &[], 0);
            format!("({left}) {op} ({right})")
        } else {
            self.select(Some(&types), &[], 0)
        };
        sql.push_str(&body);
        let ordered = self.rng.chance(30);
        if ordered {
            let keys: Vec<String> = (1..=width)
                .map(|i| {
                    let dir = self.rng.pick(&["", " DESC", " ASC"]);
                    let nulls = if self.rng.chance(25) {
                        *self.rng.pick(&[" NULLS FIRST", " NULLS LAST"])
                    } else {
                        ""
                    };
                    format!("{i}{dir}{nulls}")
                })
                .collect();
            let _ = write!(sql, " ORDER BY {}", keys.join(", "));
            if self.rng.chance(60) {
                let _ = write!(sql, " LIMIT {}", self.rng.range(0, 8));
                if self.rng.chance(30) {
                    let _ = write!(sql, " OFFSET {}", self.rng.range(0, 4));
                }
            }
        }
        Query { sql, ordered }
    }

    fn types(&mut self, n: usize) -> Vec<Ty> {
        (0..n).map(|_| *self.rng.pick(&TYPES)).collect()
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("x{}", self.aliases)
    }

    /// A base table, CTE or derived table in FROM, with a fresh alias.
    fn relation(&mut self, nesting: u32) -> (String, Rel) {
        let alias = self.alias();
        if !self.ctes.is_empty() && self.rng.chance(30) {
            let (name, types) = self.ctes[self.rng.below(self.ctes.len())].clone();
            let columns = types
                .iter()
                .enumerate()
                .map(|(j, t)| (format!("v{j}"), *t))
                .collect();
            return (format!("{name} AS {alias}"), Rel { alias, columns });
        }
        if nesting < 2 && self.rng.chance(10) {
            let types = {
                let n = 1 + self.rng.below(3);
                self.types(n)
            };
            let body = self.select(Some(&types), &[], nesting + 1);
            let cols: Vec<String> = (0..types.len()).map(|j| format!("v{j}")).collect();
            let columns = types
                .iter()
                .enumerate()
                .map(|(j, t)| (format!("v{j}"), *t))
                .collect();
            return (
                format!("({body}) AS {alias} ({})", cols.join(", ")),
                Rel { alias, columns },
            );
        }
        let table = format!("t{}", 1 + self.rng.below(3));
        let columns = COLUMNS
            .iter()
            .map(|(n, t, _)| (n.to_string(), *t))
            .collect();
        (format!("{table} AS {alias}"), Rel { alias, columns })
    }

    /// A SELECT producing `want` types (any when `None`), seeing `outer` for correlation.
    fn select(&mut self, want: Option<&[Ty]>, outer: &[Rel], nesting: u32) -> String {
        let (from, locals) = self.tables_clause(nesting);
        let mut scope: Vec<Rel> = locals.clone();
        scope.extend(outer.iter().cloned());
        let want: Vec<Ty> = match want {
            Some(w) => w.to_vec(),
            None => {
                let n = 1 + self.rng.below(3);
                self.types(n)
            }
        };
        let grouped = self.rng.chance(30);
        let mut sql = String::from("SELECT ");
        if self.rng.chance(15) {
            sql.push_str("DISTINCT ");
        }
        let ctx = Ctx { depth: 0, nesting };
        let mut group_keys: Vec<(String, Ty)> = Vec::new();
        if grouped {
            for _ in 0..self.rng.below(3) {
                let rel = &locals[self.rng.below(locals.len())];
                let (name, ty) = &rel.columns[self.rng.below(rel.columns.len())];
                let mut key = format!("{}.{name}", rel.alias);
                // Sometimes an expression: the select list repeats it as written.
                if self.rng.chance(25) {
                    key = match ty {
                        Ty::Int => format!("({key} % 3)"),
                        Ty::Text => format!("UPPER({key})"),
                        _ => key,
                    };
                }
                if !group_keys.iter().any(|(k, _)| *k == key) {
                    group_keys.push((key, *ty));
                }
            }
        }
        let items: Vec<String> = want
            .iter()
            .map(|&ty| {
                if grouped {
                    let keys: Vec<&(String, Ty)> =
                        group_keys.iter().filter(|(_, t)| *t == ty).collect();
                    if !keys.is_empty() && self.rng.chance(50) {
                        keys[self.rng.below(keys.len())].0.clone()
                    } else {
                        self.aggregate(ty, &locals, ctx)
                    }
                } else if self.rng.chance(12) {
                    self.window(ty, &locals, ctx)
                } else {
                    self.expr(ty, &scope, ctx)
                }
            })
            .collect();
        sql.push_str(&items.join(", "));
        let _ = write!(sql, " FROM {from}");
        if self.rng.chance(65) {
            let cond = self.expr(Ty::Bool, &scope, ctx);
            let _ = write!(sql, " WHERE {cond}");
        }
        if grouped {
            if !group_keys.is_empty() {
                let keys: Vec<&str> = group_keys.iter().map(|(k, _)| k.as_str()).collect();
                let _ = write!(sql, " GROUP BY {}", keys.join(", "));
            }
            if self.rng.chance(35) {
                let cond = self.having(&locals, &scope, &group_keys, ctx);
                let _ = write!(sql, " HAVING {cond}");
            }
        }
        sql
    }

    /// FROM: one to three items, joined with every kind of join.
    fn tables_clause(&mut self, nesting: u32) -> (String, Vec<Rel>) {
        let (mut sql, first) = self.relation(nesting);
        let mut rels = vec![first];
        let joins = match self.rng.below(10) {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        for _ in 0..joins {
            let (item, rel) = self.relation(nesting);
            let kind = *self.rng.pick(&[
                "JOIN",
                "JOIN",
                "LEFT JOIN",
                "LEFT JOIN",
                "RIGHT JOIN",
                "FULL JOIN",
                "CROSS JOIN",
            ]);
            if kind == "CROSS JOIN" {
                let _ = write!(sql, " CROSS JOIN {item}");
            } else {
                let on = self.join_condition(&rels, &rel, kind == "FULL JOIN");
                let _ = write!(sql, " {kind} {item} ON {on}");
            }
            rels.push(rel);
        }
        (sql, rels)
    }

    /// An equality between same-typed columns of the new relation and an earlier one, and
    /// sometimes one more condition (not for FULL JOIN, which PostgreSQL limits to
    /// equalities).
    fn join_condition(&mut self, left: &[Rel], right: &Rel, full: bool) -> String {
        let l = &left[self.rng.below(left.len())];
        let mut pairs = Vec::new();
        for (ln, lt) in &l.columns {
            for (rn, rt) in &right.columns {
                if lt == rt && *lt != Ty::Bool {
                    pairs.push((ln.clone(), rn.clone()));
                }
            }
        }
        let mut on = match pairs.is_empty() {
            true => "true".to_string(),
            false => {
                let (ln, rn) = pairs[self.rng.below(pairs.len())].clone();
                format!("{}.{ln} = {}.{rn}", l.alias, right.alias)
            }
        };
        if !full && self.rng.chance(30) {
            let mut scope = left.to_vec();
            scope.push(right.clone());
            let ctx = Ctx {
                depth: 1,
                nesting: 2,
            };
            let extra = self.compare(&scope, ctx);
            let _ = write!(on, " AND {extra}");
        }
        on
    }

    fn column(&mut self, ty: Ty, scope: &[Rel]) -> Option<String> {
        let mut found = Vec::new();
        for rel in scope {
            for (name, t) in &rel.columns {
                if *t == ty {
                    found.push(format!("{}.{name}", rel.alias));
                }
            }
        }
        (!found.is_empty()).then(|| found[self.rng.below(found.len())].clone())
    }

    fn literal(&mut self, ty: Ty) -> String {
        match ty {
            Ty::Int => self.rng.range(-2, 8).to_string(),
            Ty::Dec => decimal_literal(self.rng.range(-1000, 1000) / 25 * 25),
            Ty::Float => format!(
                "CAST({} AS DOUBLE PRECISION)",
                self.rng.range(-40, 40) as f64 / 4.0
            ),
            Ty::Text => format!("'{}'", self.rng.pick(&["a", "b", "ab", "B", "", "zz"])),
            Ty::Date => date_literal(self.rng.range(0, 60)),
            Ty::Bool => self.rng.pick(&["true", "false"]).to_string(),
        }
    }

    /// A leaf: a column of the scope (mostly) or a literal.
    fn leaf(&mut self, ty: Ty, scope: &[Rel]) -> String {
        if self.rng.chance(75)
            && let Some(c) = self.column(ty, scope)
        {
            return c;
        }
        if self.rng.chance(5) {
            let name = match ty {
                Ty::Int => "INT",
                Ty::Dec => "DECIMAL(8,2)",
                Ty::Float => "DOUBLE PRECISION",
                Ty::Text => "VARCHAR(10)",
                Ty::Date => "DATE",
                Ty::Bool => "BOOLEAN",
            };
            return format!("CAST(NULL AS {name})");
        }
        self.literal(ty)
    }

    /// An expression of type `ty`.
    fn expr(&mut self, ty: Ty, scope: &[Rel], ctx: Ctx) -> String {
        if ctx.depth >= 3 || self.rng.chance(35) {
            return self.leaf(ty, scope);
        }
        let deeper = Ctx {
            depth: ctx.depth + 1,
            ..ctx
        };
        // Shapes every type has.
        match self.rng.below(12) {
            0 => {
                let c = self.expr(Ty::Bool, scope, deeper);
                let t = self.expr(ty, scope, deeper);
                let e = self.expr(ty, scope, deeper);
                return format!("CASE WHEN {c} THEN {t} ELSE {e} END");
            }
            1 => {
                let a = self.expr(ty, scope, deeper);
                let b = self.expr(ty, scope, deeper);
                return format!("COALESCE({a}, {b})");
            }
            2 if ty != Ty::Bool => {
                let a = self.expr(ty, scope, deeper);
                let b = self.expr(ty, scope, deeper);
                return format!("NULLIF({a}, {b})");
            }
            3 if ctx.nesting < 2 && ty != Ty::Bool => return self.scalar_subquery(ty, scope, ctx),
            _ => {}
        }
        match ty {
            Ty::Int => match self.rng.below(10) {
                0 | 1 => {
                    let op = self.rng.pick(&["+", "-", "*"]);
                    let a = self.expr(Ty::Int, scope, deeper);
                    let b = self.expr(Ty::Int, scope, deeper);
                    format!("({a} {op} {b})")
                }
                2 => {
                    let op = self.rng.pick(&["/", "%"]);
                    let a = self.expr(Ty::Int, scope, deeper);
                    let b = self.expr(Ty::Int, scope, deeper);
                    format!("({a} {op} NULLIF({b}, 0))")
                }
                3 => {
                    let s = self.expr(Ty::Text, scope, deeper);
                    format!("LENGTH({s})")
                }
                9 => {
                    let a = self.expr(Ty::Int, scope, deeper);
                    let w1 = self.literal(Ty::Int);
                    let w2 = self.literal(Ty::Int);
                    let t1 = self.expr(Ty::Int, scope, deeper);
                    let t2 = self.expr(Ty::Int, scope, deeper);
                    let e = self.expr(Ty::Int, scope, deeper);
                    format!("CASE {a} WHEN {w1} THEN {t1} WHEN {w2} THEN {t2} ELSE {e} END")
                }
                4 => {
                    let a = self.expr(Ty::Int, scope, deeper);
                    format!("ABS({a})")
                }
                5 => {
                    let d = self.expr(Ty::Date, scope, deeper);
                    let part = self.rng.pick(&["DAY", "MONTH"]);
                    format!("CAST(EXTRACT({part} FROM {d}) AS INT)")
                }
                6 => {
                    let from = *self.rng.pick(&[Ty::Dec, Ty::Float]);
                    let d = self.expr(from, scope, deeper);
                    format!("CAST({d} AS INT)")
                }
                _ => {
                    let a = self.expr(Ty::Int, scope, deeper);
                    format!("(-{a})")
                }
            },
            Ty::Dec => match self.rng.below(5) {
                0 | 1 => {
                    let op = self.rng.pick(&["+", "-"]);
                    let a = self.expr(Ty::Dec, scope, deeper);
                    let b = self.expr(Ty::Dec, scope, deeper);
                    format!("({a} {op} {b})")
                }
                2 => {
                    let a = self.expr(Ty::Dec, scope, deeper);
                    let b = self.expr(Ty::Int, scope, deeper);
                    format!("({a} * {b})")
                }
                3 => {
                    let a = self.expr(Ty::Int, scope, deeper);
                    format!("CAST({a} AS DECIMAL(8,2))")
                }
                _ => {
                    let a = self.expr(Ty::Dec, scope, deeper);
                    format!("ABS({a})")
                }
            },
            Ty::Float => match self.rng.below(5) {
                0 | 1 => {
                    let op = self.rng.pick(&["+", "-", "*"]);
                    let a = self.expr(Ty::Float, scope, deeper);
                    let b = self.expr(Ty::Float, scope, deeper);
                    format!("({a} {op} {b})")
                }
                2 => {
                    let a = self.expr(Ty::Float, scope, deeper);
                    let b = self.expr(Ty::Float, scope, deeper);
                    format!("({a} / NULLIF({b}, 0))")
                }
                3 => {
                    let a = self.expr(Ty::Int, scope, deeper);
                    format!("CAST({a} AS DOUBLE PRECISION)")
                }
                _ => {
                    let a = self.expr(Ty::Float, scope, deeper);
                    format!("ABS({a})")
                }
            },
            Ty::Text => match self.rng.below(4) {
                0 => {
                    let a = self.expr(Ty::Text, scope, deeper);
                    let b = self.expr(Ty::Text, scope, deeper);
                    format!("({a} || {b})")
                }
                1 => {
                    let f = self.rng.pick(&["UPPER", "LOWER", "TRIM"]);
                    let a = self.expr(Ty::Text, scope, deeper);
                    format!("{f}({a})")
                }
                2 => {
                    let a = self.expr(Ty::Text, scope, deeper);
                    let n = self.rng.range(1, 3);
                    format!("SUBSTRING({a} FROM {n} FOR 2)")
                }
                _ => self.leaf(Ty::Text, scope),
            },
            Ty::Date => self.leaf(Ty::Date, scope),
            Ty::Bool => self.predicate(scope, deeper),
        }
    }

    /// A comparison between two same-typed expressions.
    fn compare(&mut self, scope: &[Rel], ctx: Ctx) -> String {
        let ty = *self
            .rng
            .pick(&[Ty::Int, Ty::Int, Ty::Dec, Ty::Text, Ty::Date, Ty::Float]);
        let op = self.rng.pick(&["=", "<>", "<", "<=", ">", ">="]);
        let a = self.expr(ty, scope, ctx);
        let b = self.expr(ty, scope, ctx);
        format!("{a} {op} {b}")
    }

    /// A boolean expression: comparisons, logic, NULL tests, IN / NOT IN / EXISTS.
    fn predicate(&mut self, scope: &[Rel], ctx: Ctx) -> String {
        let deeper = Ctx {
            depth: ctx.depth + 1,
            ..ctx
        };
        let sub = ctx.nesting < 2;
        match self.rng.below(17) {
            0..=3 => self.compare(scope, deeper),
            4 => {
                let op = self.rng.pick(&["AND", "OR"]);
                let a = self.expr(Ty::Bool, scope, deeper);
                let b = self.expr(Ty::Bool, scope, deeper);
                format!("({a} {op} {b})")
            }
            5 => {
                let a = self.expr(Ty::Bool, scope, deeper);
                format!("(NOT {a})")
            }
            6 => {
                let ty = *self.rng.pick(&TYPES);
                let a = self.expr(ty, scope, deeper);
                let not = if self.rng.chance(50) { " NOT" } else { "" };
                format!("({a} IS{not} NULL)")
            }
            7 => {
                let ty = *self.rng.pick(&[Ty::Int, Ty::Text, Ty::Dec]);
                let a = self.expr(ty, scope, deeper);
                let n = 1 + self.rng.below(3);
                let mut list: Vec<String> = (0..n).map(|_| self.literal(ty)).collect();
                if self.rng.chance(30) {
                    list.push("NULL".into());
                }
                let not = if self.rng.chance(40) { " NOT" } else { "" };
                format!("({a}{not} IN ({}))", list.join(", "))
            }
            8 => {
                let a = self.expr(Ty::Int, scope, deeper);
                let lo = self.literal(Ty::Int);
                let hi = self.literal(Ty::Int);
                format!("({a} BETWEEN {lo} AND {hi})")
            }
            9 => {
                let a = self.expr(Ty::Text, scope, deeper);
                let p = self.rng.pick(&["'a%'", "'%b'", "'_'", "'%'"]);
                format!("({a} LIKE {p})")
            }
            10 | 11 if sub => {
                let ty = *self.rng.pick(&[Ty::Int, Ty::Int, Ty::Text, Ty::Dec]);
                let a = self.expr(ty, scope, deeper);
                let q = self.select(Some(&[ty]), scope, ctx.nesting + 1);
                let not = if self.rng.chance(50) { "NOT " } else { "" };
                if self.rng.chance(50) {
                    format!("({a} {not}IN ({q}))")
                } else {
                    format!("({not}{a} IN ({q}))")
                }
            }
            12 if sub => {
                let q = self.select(None, scope, ctx.nesting + 1);
                let not = if self.rng.chance(40) { "NOT " } else { "" };
                format!("({not}EXISTS ({q}))")
            }
            13 if sub => {
                let ty = *self.rng.pick(&[Ty::Int, Ty::Int, Ty::Text, Ty::Dec]);
                let a = self.expr(ty, scope, deeper);
                let q = self.select(Some(&[ty]), scope, ctx.nesting + 1);
                let op = self.rng.pick(&["=", "<>", "<", ">="]);
                let quantifier = self.rng.pick(&["ANY", "ALL"]);
                format!("({a} {op} {quantifier} ({q}))")
            }
            14 => {
                let ty = *self.rng.pick(&[Ty::Int, Ty::Text, Ty::Date]);
                let a = self.expr(ty, scope, deeper);
                let b = self.expr(ty, scope, deeper);
                let not = if self.rng.chance(50) { " NOT" } else { "" };
                format!("({a} IS{not} DISTINCT FROM {b})")
            }
            15 if sub => {
                let ty = *self.rng.pick(&[Ty::Int, Ty::Text]);
                let a = self.expr(ty, scope, deeper);
                let q1 = self.select(Some(&[ty]), scope, ctx.nesting + 1);
                let q2 = self.select(Some(&[ty]), scope, ctx.nesting + 1);
                let op = self
                    .rng
                    .pick(&["UNION", "UNION ALL", "EXCEPT", "INTERSECT"]);
                let not = if self.rng.chance(50) { " NOT" } else { "" };
                format!("({a}{not} IN (({q1}) {op} ({q2})))")
            }
            _ => self.leaf(Ty::Bool, scope),
        }
    }

    /// A subquery yielding at most one row: an aggregate without GROUP BY, or a lookup by
    /// the unique key.
    fn scalar_subquery(&mut self, ty: Ty, scope: &[Rel], ctx: Ctx) -> String {
        let nesting = ctx.nesting + 1;
        if self.rng.chance(25) {
            let alias = self.alias();
            let table = format!("t{}", 1 + self.rng.below(3));
            let column = COLUMNS
                .iter()
                .filter(|(_, t, _)| *t == ty)
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>();
            let column = column[self.rng.below(column.len())];
            let key = self.expr(Ty::Int, scope, Ctx { depth: 2, nesting });
            return format!(
                "(SELECT {alias}.{column} FROM {table} AS {alias} WHERE {alias}.k = {key})"
            );
        }
        let (from, locals) = self.tables_clause(nesting);
        let mut inner = locals.clone();
        inner.extend(scope.iter().cloned());
        let ctx = Ctx { depth: 1, nesting };
        let item = self.aggregate(ty, &inner, ctx);
        let mut sql = format!("(SELECT {item} FROM {from}");
        if self.rng.chance(85) {
            let cond = self.expr(Ty::Bool, &inner, ctx);
            let _ = write!(sql, " WHERE {cond}");
        }
        sql.push(')');
        sql
    }

    /// An aggregate of type `ty` over the scope.
    fn aggregate(&mut self, ty: Ty, scope: &[Rel], ctx: Ctx) -> String {
        let arg_ctx = Ctx {
            depth: ctx.depth.max(1) + 1,
            ..ctx
        };
        let distinct = if self.rng.chance(15) { "DISTINCT " } else { "" };
        match ty {
            Ty::Int => match self.rng.below(6) {
                0 => "COUNT(*)".into(),
                5 => {
                    let cond = self.expr(
                        Ty::Bool,
                        scope,
                        Ctx {
                            depth: 2,
                            nesting: 2,
                        },
                    );
                    let f = self.rng.pick(&["COUNT(*)", "COUNT(DISTINCT "]);
                    if *f == "COUNT(*)" {
                        format!("COUNT(*) FILTER (WHERE {cond})")
                    } else {
                        let a = self.expr(Ty::Int, scope, arg_ctx);
                        format!("COUNT(DISTINCT {a}) FILTER (WHERE {cond})")
                    }
                }
                1 => {
                    let t = *self.rng.pick(&TYPES);
                    let a = self.expr(t, scope, arg_ctx);
                    format!("COUNT({distinct}{a})")
                }
                2 => {
                    let a = self.expr(Ty::Int, scope, arg_ctx);
                    format!("SUM({distinct}{a})")
                }
                3 => {
                    let a = self.expr(Ty::Int, scope, arg_ctx);
                    format!("CAST(AVG({a}) * 100 AS BIGINT) / 100")
                }
                _ => {
                    let f = self.rng.pick(&["MIN", "MAX"]);
                    let a = self.expr(Ty::Int, scope, arg_ctx);
                    format!("{f}({a})")
                }
            },
            Ty::Dec | Ty::Float => {
                let f = self.rng.pick(&["SUM", "MIN", "MAX", "AVG"]);
                let a = self.expr(ty, scope, arg_ctx);
                format!("{f}({distinct}{a})")
            }
            Ty::Text | Ty::Date => {
                let f = self.rng.pick(&["MIN", "MAX"]);
                let a = self.expr(ty, scope, arg_ctx);
                format!("{f}({a})")
            }
            Ty::Bool => {
                if self.rng.chance(50) {
                    let f = self.rng.pick(&["BOOL_AND", "BOOL_OR"]);
                    let a = self.expr(Ty::Bool, scope, arg_ctx);
                    format!("{f}({a})")
                } else {
                    let a = self.aggregate(Ty::Int, scope, ctx);
                    let op = self.rng.pick(&["=", "<", ">="]);
                    let b = self.literal(Ty::Int);
                    format!("({a} {op} {b})")
                }
            }
        }
    }

    /// HAVING: a comparison of an aggregate, sometimes with a subquery. Aggregates take
    /// their arguments from the query's own FROM (an aggregate of outer columns only would
    /// belong to the outer query, a rule the generator keeps out of).
    fn having(&mut self, locals: &[Rel], scope: &[Rel], keys: &[(String, Ty)], ctx: Ctx) -> String {
        if ctx.nesting < 2 && self.rng.chance(30) {
            let ty = Ty::Int;
            let a = self.aggregate(ty, locals, ctx);
            let q = self.select(Some(&[ty]), scope, ctx.nesting + 1);
            let not = if self.rng.chance(50) { "NOT " } else { "" };
            return format!("({a} {not}IN ({q}))");
        }
        let a = self.aggregate(Ty::Int, locals, ctx);
        let b = match keys.iter().find(|(_, t)| *t == Ty::Int) {
            Some((k, _)) if self.rng.chance(40) => k.clone(),
            _ => self.literal(Ty::Int),
        };
        let op = self.rng.pick(&["=", "<>", "<", ">="]);
        format!("{a} {op} {b}")
    }

    /// A window function of type `ty` over the FROM's relations (default frame).
    fn window(&mut self, ty: Ty, locals: &[Rel], ctx: Ctx) -> String {
        let mut over = String::new();
        let by = *self.rng.pick(&TYPES);
        if self.rng.chance(70)
            && let Some(p) = self.column(by, locals)
        {
            let _ = write!(over, "PARTITION BY {p}");
        }
        let ordered = self.rng.chance(70);
        let by = *self.rng.pick(&[Ty::Int, Ty::Text, Ty::Date]);
        if ordered && let Some(o) = self.column(by, locals) {
            let dir = self.rng.pick(&["", " DESC"]);
            let _ = write!(
                over,
                "{}ORDER BY {o}{dir}",
                if over.is_empty() { "" } else { " " }
            );
        }
        let arg_ctx = Ctx { depth: 2, ..ctx };
        let f = match ty {
            Ty::Int => match self.rng.below(4) {
                0 if over.contains("ORDER BY") => "RANK()".to_string(),
                1 if over.contains("ORDER BY") => "DENSE_RANK()".to_string(),
                2 => "COUNT(*)".to_string(),
                _ => {
                    let a = self.expr(Ty::Int, locals, arg_ctx);
                    let f = self.rng.pick(&["SUM", "MIN", "MAX", "COUNT"]);
                    format!("{f}({a})")
                }
            },
            Ty::Dec | Ty::Float => {
                let a = self.expr(ty, locals, arg_ctx);
                let f = self.rng.pick(&["SUM", "MIN", "MAX"]);
                format!("{f}({a})")
            }
            Ty::Text | Ty::Date => {
                let a = self.expr(ty, locals, arg_ctx);
                let f = self.rng.pick(&["MIN", "MAX"]);
                format!("{f}({a})")
            }
            Ty::Bool => return self.expr(Ty::Bool, locals, ctx),
        };
        format!("{f} OVER ({over})")
    }
}
