//! Splits a query string into statements and lifts out the Redshift table attributes that
//! the SQL parser does not know (`ENCODE`, column-level `DISTKEY`/`SORTKEY`,
//! `COMPOUND`/`INTERLEAVED SORTKEY`, and `DISTSTYLE`/`DISTKEY`/`SORTKEY` in any order),
//! so that the rest parses as ordinary PostgreSQL.

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::error::{Error, Result};

/// Redshift attributes of one CREATE TABLE.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableAttributes {
    pub diststyle: Option<String>,
    pub distkey: Option<String>,
    pub sortkey: Vec<String>,
    /// `(column, encoding name)` from column `ENCODE x`.
    pub encodings: Vec<(String, String)>,
}

/// One statement of a query string.
#[derive(Debug, Clone)]
pub struct StatementText {
    /// The statement as the parser should see it (Redshift attributes removed).
    pub sql: String,
    /// The statement as the user wrote it.
    pub original: String,
    /// Byte offset of the statement in the whole query (for error positions).
    pub offset: usize,
    pub attributes: Option<TableAttributes>,
}

pub fn split(query: &str) -> Result<Vec<StatementText>> {
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, query)
        .tokenize_with_location()
        .map_err(|e| Error::Syntax {
            message: e.message.clone(),
            position: Some(char_position(query, e.location)),
        })?;
    let lines = line_starts(query);
    let byte_of = |loc: Location| -> usize {
        let Some(&start) = lines.get(loc.line.saturating_sub(1) as usize) else {
            return query.len();
        };
        query[start..]
            .char_indices()
            .nth(loc.column.saturating_sub(1) as usize)
            .map_or(query.len(), |(i, _)| start + i)
    };
    let mut out = Vec::new();
    let mut group: Vec<TokenWithSpan> = Vec::new();
    let mut depth = 0i32;
    let mut flush = |group: &mut Vec<TokenWithSpan>| {
        let meaningful: Vec<&TokenWithSpan> = group
            .iter()
            .filter(|t| !matches!(t.token, Token::Whitespace(_)))
            .collect();
        if let (Some(first), Some(last)) = (meaningful.first(), meaningful.last()) {
            let start = byte_of(first.span.start);
            let end = byte_of(last.span.end).max(start);
            let end = query[end..]
                .chars()
                .next()
                .map_or(query.len(), |c| end + c.len_utf8());
            let original = query[start..end.min(query.len())].to_string();
            let (sql, attributes) = if is_create_table(group) {
                let (tokens, attrs) = lift_table_attributes(std::mem::take(group));
                (
                    tokens
                        .iter()
                        .map(|t| t.token.to_string())
                        .collect::<String>(),
                    Some(attrs),
                )
            } else {
                (
                    approximate_counts(group).unwrap_or_else(|| original.clone()),
                    None,
                )
            };
            out.push(StatementText {
                sql,
                original,
                offset: start,
                attributes,
            });
        }
        group.clear();
    };
    for t in tokens {
        match &t.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::SemiColon if depth <= 0 => {
                flush(&mut group);
                depth = 0;
                continue;
            }
            Token::EOF => continue,
            _ => {}
        }
        group.push(t);
    }
    flush(&mut group);
    Ok(out)
}

fn line_starts(s: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(s.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

/// 1-based character position of a line/column location.
pub fn char_position(query: &str, loc: Location) -> usize {
    let mut pos = 0;
    for (i, line) in query.split('\n').enumerate() {
        if i + 1 == loc.line as usize {
            return pos + loc.column as usize;
        }
        pos += line.chars().count() + 1;
    }
    pos.max(1)
}

fn keyword(t: &Token) -> Option<Keyword> {
    match t {
        Token::Word(w) if w.quote_style.is_none() => Some(w.keyword),
        _ => None,
    }
}

fn word_upper(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn ident(t: &Token) -> Option<String> {
    match t {
        Token::Word(w) if w.quote_style.is_some() => Some(w.value.clone()),
        Token::Word(w) => Some(w.value.to_lowercase()),
        _ => None,
    }
}

/// Redshift's `APPROXIMATE COUNT(DISTINCT x)` as DataFusion's HyperLogLog estimate,
/// `CAST(approx_distinct(x) AS BIGINT)`; `None` when the statement has none.
fn approximate_counts(group: &[TokenWithSpan]) -> Option<String> {
    let sig: Vec<usize> = (0..group.len())
        .filter(|&i| !matches!(group[i].token, Token::Whitespace(_)))
        .collect();
    let word = |k: usize, w: &str| {
        sig.get(k).is_some_and(|&i| {
            matches!(&group[i].token, Token::Word(x) if x.quote_style.is_none())
                && word_upper(&group[i].token).as_deref() == Some(w)
        })
    };
    let token = |k: usize| sig.get(k).map(|&i| &group[i].token);
    // Token index → what to write instead of it.
    let mut replace: std::collections::HashMap<usize, &str> = Default::default();
    for k in 0..sig.len() {
        if !(word(k, "APPROXIMATE")
            && word(k + 1, "COUNT")
            && token(k + 2) == Some(&Token::LParen)
            && word(k + 3, "DISTINCT"))
        {
            continue;
        }
        let mut depth = 0;
        let close = (k + 2..sig.len()).find(|&j| {
            match token(j) {
                Some(Token::LParen) => depth += 1,
                Some(Token::RParen) => depth -= 1,
                _ => {}
            }
            depth == 0
        })?;
        replace.insert(sig[k], "");
        replace.insert(sig[k + 1], "CAST(approx_distinct");
        replace.insert(sig[k + 3], "");
        replace.insert(sig[close], ") AS BIGINT)");
    }
    if replace.is_empty() {
        return None;
    }
    Some(
        group
            .iter()
            .enumerate()
            .map(|(i, t)| match replace.get(&i) {
                Some(with) => with.to_string(),
                None => t.token.to_string(),
            })
            .collect(),
    )
}

fn is_create_table(group: &[TokenWithSpan]) -> bool {
    let words: Vec<Option<Keyword>> = group
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .take(4)
        .map(|t| keyword(&t.token))
        .collect();
    words.first() == Some(&Some(Keyword::CREATE)) && words[1..].contains(&Some(Keyword::TABLE))
}

fn lift_table_attributes(tokens: Vec<TokenWithSpan>) -> (Vec<TokenWithSpan>, TableAttributes) {
    let mut attrs = TableAttributes::default();
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    // Indexes of the non-whitespace tokens, so look-ahead skips whitespace.
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let mut skip = vec![false; tokens.len()];
    let mut depth = 0i32;
    let mut seen_columns = false;
    let mut in_query = false;
    let mut column_start = false;
    let mut current_column: Option<String> = None;
    let mut k = 0;
    while k < sig.len() {
        let i = sig[k];
        let tok = &tokens[i].token;
        let next = |n: usize| sig.get(k + n).map(|&j| &tokens[j].token);
        match tok {
            Token::LParen => {
                depth += 1;
                if depth == 1 && !seen_columns {
                    column_start = true;
                }
                k += 1;
                continue;
            }
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    seen_columns = true;
                }
                k += 1;
                continue;
            }
            Token::Comma if depth == 1 && !seen_columns => {
                column_start = true;
                k += 1;
                continue;
            }
            _ => {}
        }
        if in_query {
            k += 1;
            continue;
        }
        if depth == 1 && !seen_columns {
            if column_start {
                column_start = false;
                current_column = ident(tok);
                k += 1;
                continue;
            }
            match word_upper(tok).as_deref() {
                Some("ENCODE") => {
                    if let (Some(col), Some(enc)) = (&current_column, next(1).and_then(word_upper))
                    {
                        attrs.encodings.push((col.clone(), enc));
                    }
                    skip_word_and_next(&mut skip, &sig, k);
                    k += 2;
                    continue;
                }
                Some("DISTKEY") => {
                    attrs.distkey = current_column.clone();
                    skip[i] = true;
                }
                Some("SORTKEY") => {
                    if let Some(c) = &current_column {
                        attrs.sortkey.push(c.clone());
                    }
                    skip[i] = true;
                }
                _ => {}
            }
            k += 1;
            continue;
        }
        if depth == 0 && seen_columns
            || depth == 0
                && keyword(tok) != Some(Keyword::CREATE)
                && attrs_position(&tokens, &sig, k)
        {
            match word_upper(tok).as_deref() {
                Some("AS") => in_query = true,
                Some("DISTSTYLE") => {
                    attrs.diststyle = next(1).and_then(word_upper);
                    skip_word_and_next(&mut skip, &sig, k);
                    k += 2;
                    continue;
                }
                Some("DISTKEY") | Some("SORTKEY") | Some("COMPOUND") | Some("INTERLEAVED") => {
                    let is_dist = word_upper(tok).as_deref() == Some("DISTKEY");
                    let mut m = k;
                    // COMPOUND/INTERLEAVED precede SORTKEY.
                    if matches!(
                        word_upper(tok).as_deref(),
                        Some("COMPOUND") | Some("INTERLEAVED")
                    ) {
                        skip[sig[m]] = true;
                        m += 1;
                    }
                    if let Some(&j) = sig.get(m) {
                        skip[j] = true;
                    }
                    m += 1;
                    if sig.get(m).map(|&j| &tokens[j].token) == Some(&Token::LParen) {
                        let mut cols = Vec::new();
                        while let Some(&j) = sig.get(m) {
                            skip[j] = true;
                            let t = &tokens[j].token;
                            if let Some(c) = ident(t) {
                                cols.push(c);
                            }
                            m += 1;
                            if *t == Token::RParen {
                                break;
                            }
                        }
                        if is_dist {
                            attrs.distkey = cols.into_iter().next();
                        } else {
                            attrs.sortkey = cols;
                        }
                    } else if let Some(&j) = sig.get(m) {
                        // SORTKEY AUTO / DISTKEY AUTO-like single words.
                        if word_upper(&tokens[j].token).as_deref() == Some("AUTO") {
                            skip[j] = true;
                            m += 1;
                        }
                    }
                    k = m;
                    continue;
                }
                // BACKUP YES|NO and table-level ENCODE AUTO carry nothing we use.
                Some("BACKUP") | Some("ENCODE") => {
                    skip_word_and_next(&mut skip, &sig, k);
                    k += 2;
                    continue;
                }
                _ => {}
            }
        }
        k += 1;
    }
    for (i, t) in tokens.into_iter().enumerate() {
        if !skip[i] {
            out.push(t);
        }
    }
    (out, attrs)
}

/// Marks the significant token at `k` and the one after it as removed.
fn skip_word_and_next(skip: &mut [bool], sig: &[usize], k: usize) {
    for &j in sig.iter().skip(k).take(2) {
        skip[j] = true;
    }
}

/// In `CREATE TABLE t DISTKEY(a) AS SELECT …` the attributes come straight after the name.
fn attrs_position(tokens: &[TokenWithSpan], sig: &[usize], k: usize) -> bool {
    // After "CREATE [TEMP] TABLE [IF NOT EXISTS] name": at least 3 significant tokens in.
    k >= 3
        && sig[..k]
            .iter()
            .any(|&j| keyword(&tokens[j].token) == Some(Keyword::TABLE))
        && word_upper(&tokens[sig[k]].token).is_some_and(|w| {
            matches!(
                w.as_str(),
                "DISTSTYLE"
                    | "DISTKEY"
                    | "SORTKEY"
                    | "COMPOUND"
                    | "INTERLEAVED"
                    | "AS"
                    | "BACKUP"
                    | "ENCODE"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifts_redshift_attributes() {
        let s = split(
            "CREATE TABLE sales (id BIGINT ENCODE az64, region VARCHAR(16) ENCODE zstd, day DATE SORTKEY) \
             COMPOUND SORTKEY(day, id) DISTSTYLE KEY DISTKEY(id); SELECT 1",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        let a = s[0].attributes.clone().unwrap();
        assert_eq!(a.diststyle.as_deref(), Some("KEY"));
        assert_eq!(a.distkey.as_deref(), Some("id"));
        assert_eq!(a.sortkey, vec!["day", "id"]);
        assert_eq!(
            a.encodings,
            vec![
                ("id".into(), "AZ64".into()),
                ("region".into(), "ZSTD".into())
            ]
        );
        assert!(!s[0].sql.to_uppercase().contains("ENCODE"));
        assert!(!s[0].sql.to_uppercase().contains("SORTKEY"));
        assert_eq!(s[1].original, "SELECT 1");
    }

    #[test]
    fn ctas_attributes_before_as() {
        let s = split("CREATE TABLE t2 DISTSTYLE EVEN SORTKEY(a) AS SELECT a FROM t").unwrap();
        let a = s[0].attributes.clone().unwrap();
        assert_eq!(a.diststyle.as_deref(), Some("EVEN"));
        assert_eq!(a.sortkey, vec!["a"]);
        assert!(s[0].sql.contains("AS SELECT a FROM t"));
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn approximate_count_distinct_becomes_a_hyperloglog_estimate() {
        let s = split(
            "select Approximate count ( distinct (a + 1) ), 'approximate count(distinct x)' from t",
        )
        .unwrap();
        assert_eq!(
            s[0].sql,
            "select  CAST(approx_distinct (  (a + 1) ) AS BIGINT), 'approximate count(distinct x)' from t"
        );
        let plain = split("select count(distinct a) from t").unwrap();
        assert_eq!(plain[0].sql, "select count(distinct a) from t");
    }

    #[test]
    fn diststyle_all_in_a_batch() {
        let s = split(
            "CREATE TABLE k (id BIGINT, v INT) DISTSTYLE KEY DISTKEY(id);
             CREATE TABLE one_key (id BIGINT, v INT) DISTKEY(id);
             CREATE TABLE e (id BIGINT, v INT) DISTSTYLE EVEN;
             CREATE TABLE a (id BIGINT, v INT) DISTSTYLE ALL;
             CREATE TABLE auto_t (id BIGINT, v INT);
             INSERT INTO k SELECT value, 1 FROM generate_series(1, 1000);",
        )
        .unwrap();
        let styles: Vec<Option<String>> = s
            .iter()
            .map(|t| t.attributes.clone().and_then(|a| a.diststyle))
            .collect();
        assert_eq!(
            styles,
            vec![
                Some("KEY".into()),
                None,
                Some("EVEN".into()),
                Some("ALL".into()),
                None,
                None
            ]
        );
    }
}
