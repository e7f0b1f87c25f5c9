//! Running a statement on one engine, and comparing two engines' answers.

use tokio_postgres::SimpleQueryMessage;

pub type Row = Vec<Option<String>>;

/// What an engine answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Rows(Vec<Row>),
    /// SQLSTATE and message (a lost connection has SQLSTATE `08006`).
    Error(String, String),
}

pub async fn run(client: &tokio_postgres::Client, sql: &str) -> Answer {
    match client.simple_query(sql).await {
        Ok(messages) => Answer::Rows(
            messages
                .into_iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                    }
                    _ => None,
                })
                .collect(),
        ),
        Err(e) => match e.as_db_error() {
            Some(db) => Answer::Error(db.code().code().to_string(), db.message().to_string()),
            None => Answer::Error("08006".into(), e.to_string()),
        },
    }
}

/// A number as text, with its count of digits after the point.
fn number(cell: &str) -> Option<(f64, u32)> {
    let value: f64 = cell.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let scale = match cell.split_once('.') {
        Some((_, frac)) if !cell.contains(['e', 'E']) => frac.len() as u32,
        _ => 0,
    };
    Some((value, scale))
}

/// Two cells hold the same value: the same text, or the same number. Numbers may differ
/// in the last place of the shorter of the two when both have digits after the point:
/// engines pick different scales for decimal division and averages (`0.33333` and
/// `0.3333333333333333`). Whole numbers must be equal.
pub fn same_cell(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if a == b => true,
        (Some(a), Some(b)) => match (number(a), number(b)) {
            (Some((x, sx)), Some((y, sy))) => {
                if x == y {
                    return true;
                }
                let scale = sx.min(sy);
                if scale == 0 {
                    // `3` and `3.00` are equal; `3` and `2.5` are not.
                    return x == y;
                }
                let unit = 10f64.powi(-(scale as i32));
                (x - y).abs() <= unit * (1.0 + 1e-9) + 1e-12 * x.abs().max(y.abs())
            }
            _ => false,
        },
        _ => false,
    }
}

fn same_row(a: &Row, b: &Row) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_cell(x, y))
}

/// A sort key that puts equal values (within the tolerance) next to each other: numbers
/// rounded to a few significant digits, other text as it is, NULL first.
fn sort_key(row: &Row) -> Vec<(u8, String)> {
    row.iter()
        .map(|c| match c {
            None => (0, String::new()),
            Some(s) => match number(s) {
                // Six significant digits, so small values stay apart; `+ 0.0` makes -0
                // (which PostgreSQL prints, and Blueshift as 0) 0. The order of the keys
                // need not be numeric, only the same for equal values.
                Some((v, _)) => (1, format!("{:.5e}", v + 0.0)),
                None => (2, s.clone()),
            },
        })
        .collect()
}

/// The two answers hold the same rows: as multisets, or in order when `ordered`.
pub fn same_rows(a: &[Row], b: &[Row], ordered: bool) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if ordered {
        return a.iter().zip(b).all(|(x, y)| same_row(x, y));
    }
    let mut a: Vec<&Row> = a.iter().collect();
    let mut b: Vec<&Row> = b.iter().collect();
    a.sort_by_cached_key(|r| sort_key(r));
    b.sort_by_cached_key(|r| sort_key(r));
    a.iter().zip(&b).all(|(x, y)| same_row(x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn numbers_match_within_the_shorter_scale_only() {
        assert!(same_cell(&s("0.33333"), &s("0.33333333333333333333")));
        assert!(same_cell(&s("3"), &s("3.00")));
        assert!(!same_cell(&s("3"), &s("2.5")));
        assert!(!same_cell(&s("2"), &s("3")));
        assert!(!same_cell(&s("0.50"), &s("0.70")));
        assert!(!same_cell(&s("1"), &None));
        assert!(same_cell(&None, &None));
        assert!(!same_cell(&s("a"), &s("b")));
    }

    #[test]
    fn multisets_ignore_order_unless_asked() {
        let a = vec![vec![s("1")], vec![s("2")], vec![None]];
        let b = vec![vec![None], vec![s("2.0")], vec![s("1")]];
        assert!(same_rows(&a, &b, false));
        assert!(!same_rows(&a, &b, true));
        assert!(!same_rows(&a, &b[..2], false));
        let zeros = vec![vec![s("-0")], vec![s("45")]];
        let zero = vec![vec![s("45.0")], vec![s("0")]];
        assert!(same_rows(&zeros, &zero, false));
        let small = vec![
            vec![s("0.0004886428707768658")],
            vec![s("0.0004739476880239344")],
        ];
        let small2 = vec![
            vec![s("0.0004739476880239344")],
            vec![s("0.0004886428707768658")],
        ];
        assert!(same_rows(&small, &small2, false));
        let dup = vec![vec![s("1")], vec![s("1")], vec![None]];
        assert!(!same_rows(&a, &dup, false));
    }
}
