//! Redshift's function syntax, rewritten into what DataFusion plans, with the same meaning:
//!
//! - `GETDATE()`: the statement's start, to the second; `SYSDATE`: with microseconds;
//! - `DECODE(x, s1, r1, …, [default])`: a CASE in which a NULL search value matches a NULL
//!   `x` (DataFusion's two-argument `decode` is left alone);
//! - `LEN(s)` is `length`; `CHARINDEX(sub, s)` is `strpos(s, sub)`;
//! - `LISTAGG(x [, delim]) WITHIN GROUP (ORDER BY …)` is `string_agg(x, delim ORDER BY …)`;
//! - a bare date part (`DATEADD(day, …)`, `DATE_PART(dow, …)`) becomes a string;
//! - `TO_CHAR` / `TO_DATE` with a literal PostgreSQL format get DataFusion's (chrono's)
//!   format; a format element with no exact equivalent is refused (0A000) rather than
//!   printed differently.
//!
//! `NVL`, `NVL2`, `MEDIAN`, `DATE_PART`, `DATE_TRUNC` are DataFusion's own;
//! `DATEADD`, `DATEDIFF` and `CONVERT_TIMEZONE` are the `functions` crate's.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{Error, Result};

/// Functions whose rewritten form would name a result column differently: an unaliased
/// call keeps the name Redshift gives it.
const KEEP_NAME: &[&str] = &["getdate", "len", "charindex", "listagg", "datepart"];

/// Rewrites every Redshift function form in `stmt`.
pub fn rewrite(stmt: &mut ast::Statement) -> Result<()> {
    struct Rewrite;
    impl ast::VisitorMut for Rewrite {
        type Break = Error;
        fn pre_visit_select(&mut self, select: &mut ast::Select) -> ControlFlow<Error> {
            for item in &mut select.projection {
                if let ast::SelectItem::UnnamedExpr(Expr::Function(f)) = item
                    && let [ast::ObjectNamePart::Identifier(name)] = f.name.0.as_slice()
                    && name.quote_style.is_none()
                    && KEEP_NAME.contains(&name.value.to_ascii_lowercase().as_str())
                {
                    let alias = ast::Ident::new(name.value.to_ascii_lowercase());
                    *item = ast::SelectItem::ExprWithAlias {
                        expr: Expr::Function(f.clone()),
                        alias,
                    };
                }
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<Error> {
            match rewrite_expr(e) {
                Ok(()) => ControlFlow::Continue(()),
                Err(err) => ControlFlow::Break(err),
            }
        }
    }
    match ast::VisitMut::visit(stmt, &mut Rewrite) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(e) => Err(e),
    }
}

fn parse_expr(sql: &str) -> Result<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| Error::Internal(format!("rewriting a Redshift function: {e}")))
}

fn string(s: &str) -> Expr {
    Expr::Value(ast::Value::SingleQuotedString(s.to_string()).into())
}

fn plain_args(f: &ast::Function) -> Option<Vec<Expr>> {
    let FunctionArguments::List(list) = &f.args else {
        return match &f.args {
            FunctionArguments::None => Some(vec![]),
            _ => None,
        };
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn rewrite_expr(e: &mut Expr) -> Result<()> {
    if let Expr::Identifier(id) = e
        && id.quote_style.is_none()
        && id.value.eq_ignore_ascii_case("sysdate")
    {
        *e = parse_expr("CAST(now() AS TIMESTAMP)")?;
        return Ok(());
    }
    let Expr::Function(f) = e else {
        return Ok(());
    };
    let [ast::ObjectNamePart::Identifier(name)] = f.name.0.as_slice() else {
        return Ok(());
    };
    if name.quote_style.is_some() {
        return Ok(());
    }
    let lower = name.value.to_ascii_lowercase();
    match lower.as_str() {
        "getdate" if plain_args(f).is_some_and(|a| a.is_empty()) => {
            *e = parse_expr("CAST(date_trunc('second', now()) AS TIMESTAMP)")?;
        }
        "len" => f.name = ast::ObjectName::from(vec![ast::Ident::new("length")]),
        "charindex" => {
            if let Some([sub, s]) = plain_args(f).as_deref() {
                let (sub, s) = (sub.clone(), s.clone());
                f.name = ast::ObjectName::from(vec![ast::Ident::new("strpos")]);
                set_args(f, vec![s, sub]);
            }
        }
        "decode" => {
            if let Some(args) = plain_args(f)
                && args.len() >= 3
            {
                *e = decode(args);
            }
        }
        "dateadd" | "datediff" | "date_part" | "date_trunc" | "datepart" => {
            if lower == "datepart" {
                f.name = ast::ObjectName::from(vec![ast::Ident::new("date_part")]);
            }
            if let FunctionArguments::List(list) = &mut f.args
                && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) =
                    list.args.first_mut()
                && let Expr::Identifier(part) = first
                && part.quote_style.is_none()
            {
                *first = string(&part.value.to_ascii_lowercase());
            }
        }
        "listagg" => listagg(f),
        "to_char" | "to_date" => {
            if let FunctionArguments::List(list) = &mut f.args
                && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v)))) =
                    list.args.get_mut(1)
                && let ast::Value::SingleQuotedString(format) = &mut v.value
            {
                *format = chrono_format(format)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn set_args(f: &mut ast::Function, args: Vec<Expr>) {
    if let FunctionArguments::List(list) = &mut f.args {
        list.args = args
            .into_iter()
            .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
            .collect();
    }
}

/// `CASE WHEN x IS NOT DISTINCT FROM s1 THEN r1 … ELSE default END`.
fn decode(args: Vec<Expr>) -> Expr {
    let x = args[0].clone();
    let rest = &args[1..];
    let conditions = rest
        .chunks(2)
        .filter(|pair| pair.len() == 2)
        .map(|pair| ast::CaseWhen {
            condition: Expr::IsNotDistinctFrom(Box::new(x.clone()), Box::new(pair[0].clone())),
            result: pair[1].clone(),
        })
        .collect();
    let default = (rest.len() % 2 == 1).then(|| Box::new(rest[rest.len() - 1].clone()));
    Expr::Case {
        case_token: ast::helpers::attached_token::AttachedToken::empty(),
        end_token: ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions,
        else_result: default,
    }
}

/// `LISTAGG(x [, delim]) WITHIN GROUP (ORDER BY …)` → `string_agg(x, delim ORDER BY …)`.
fn listagg(f: &mut ast::Function) {
    f.name = ast::ObjectName::from(vec![ast::Ident::new("string_agg")]);
    let order = std::mem::take(&mut f.within_group);
    if let FunctionArguments::List(list) = &mut f.args {
        if list.args.len() == 1 {
            list.args
                .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(string(""))));
        }
        if !order.is_empty() {
            list.clauses
                .push(ast::FunctionArgumentClause::OrderBy(order));
        }
    }
}

/// A PostgreSQL date/time format as chrono's. Quoted text is copied; an element with no
/// exact chrono equivalent is refused.
pub fn chrono_format(pg: &str) -> Result<String> {
    // Longest first; (PostgreSQL, chrono, chrono without padding for FM).
    const ELEMENTS: &[(&str, &str, &str)] = &[
        ("HH24", "%H", "%-H"),
        ("HH12", "%I", "%-I"),
        ("YYYY", "%Y", "%Y"),
        ("DDD", "%j", "%-j"),
        ("HH", "%I", "%-I"),
        ("YY", "%y", "%y"),
        ("MM", "%m", "%-m"),
        ("DD", "%d", "%-d"),
        ("MI", "%M", "%-M"),
        ("SS", "%S", "%-S"),
        ("MS", "%3f", "%3f"),
        ("US", "%6f", "%6f"),
        ("AM", "%p", "%p"),
        ("PM", "%p", "%p"),
    ];
    // Case matters for these: chrono prints "Jan" and "Mon" only.
    const EXACT: &[(&str, &str)] = &[("Mon", "%b"), ("Dy", "%a"), ("am", "%P"), ("pm", "%P")];
    const WORDS: &[&str] = &["MONTH", "Month", "month", "DAY", "Day", "day", "IYYY"];
    const UNSUPPORTED: &[&str] = &[
        "MON", "mon", "DY", "dy", "WW", "IW", "TZ", "tz", "CC", "RM", "rm", "TH", "th", "Q", "W",
        "J", "D", "Y",
    ];
    let mut out = String::new();
    let mut rest = pg;
    let mut fill = false;
    'scan: while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            out.push_str(&quoted[..end].replace('%', "%%"));
            rest = quoted.get(end + 1..).unwrap_or("");
            continue;
        }
        if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case("FM") {
            fill = true;
            rest = &rest[2..];
            continue;
        }
        // Words first: "Month" is not "Mon" followed by "th".
        if let Some(p) = WORDS.iter().find(|p| rest.starts_with(**p)) {
            return Err(Error::NotSupported(format!(
                "format element \"{p}\" is not supported (in \"{pg}\")"
            )));
        }
        for (p, c) in EXACT {
            if let Some(r) = rest.strip_prefix(p) {
                out.push_str(c);
                rest = r;
                fill = false;
                continue 'scan;
            }
        }
        for (p, c, unpadded) in ELEMENTS {
            if rest.len() >= p.len() && rest.is_char_boundary(p.len()) && rest[..p.len()] == **p {
                out.push_str(if fill { unpadded } else { c });
                rest = &rest[p.len()..];
                fill = false;
                continue 'scan;
            }
        }
        if let Some(p) = UNSUPPORTED.iter().find(|p| rest.starts_with(**p)) {
            return Err(Error::NotSupported(format!(
                "format element \"{p}\" is not supported (in \"{pg}\")"
            )));
        }
        let ch = rest.chars().next().unwrap_or_default();
        if ch == '%' {
            out.push_str("%%");
        } else {
            out.push(ch);
        }
        rest = &rest[ch.len_utf8()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_translate_or_are_refused() {
        assert_eq!(
            chrono_format("YYYY-MM-DD HH24:MI:SS").unwrap(),
            "%Y-%m-%d %H:%M:%S"
        );
        assert_eq!(
            chrono_format("DD Mon YY, HH12 AM").unwrap(),
            "%d %b %y, %I %p"
        );
        assert_eq!(
            chrono_format("FMDD.FMMM \"at\" HH24%").unwrap(),
            "%-d.%-m at %H%%"
        );
        assert_eq!(
            chrono_format("YYYY-MM-DD\"T\"HH24:MI:SS.US").unwrap(),
            "%Y-%m-%dT%H:%M:%S.%6f"
        );
        let month = chrono_format("Month DD").unwrap_err().to_string();
        assert!(month.contains("\"Month\""), "{month}");
        assert!(chrono_format("YYYY Q").is_err());
    }
}
