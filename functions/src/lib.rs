//! Redshift's date functions that DataFusion lacks, as DataFusion scalar functions. Both the
//! leader and every compute node register them ([`register`]), so plans that use them are
//! cut into stages like any other and decoded on the nodes by name.
//!
//! - `dateadd(part, n, timestamp)`: `n` parts later; months and years keep the day, or
//!   the month's last day when it has fewer days (`dateadd(month, 1, '2008-01-31')` is
//!   2008-02-29).
//! - `datediff(part, a, b)`: how many `part` boundaries lie between `a` and `b` (weeks
//!   start on Monday, as `date_trunc('week')` does); negative when `b` is earlier.
//! - `convert_timezone([from,] to, timestamp)`: a timestamp read in zone `from` (default
//!   UTC) as the wall-clock time in zone `to`.
//!
//! The part names are Redshift's, with its abbreviations (`yr`, `qtr`, `mon`, `w`, `d`,
//! `h`, `m`, `s`, `ms`, `us`, …). The leader turns a bare part name (`dateadd(day, …)`)
//! into a string before planning.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// Registers every function of this crate in `ctx`.
pub fn register(ctx: &SessionContext) {
    for f in all() {
        ctx.register_udf(f);
    }
}

/// Every function of this crate.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(DateAdd::new()),
        ScalarUDF::from(DateDiff::new()),
        ScalarUDF::from(ConvertTimezone::new()),
    ]
}

const TS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// A date part, as Redshift names it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
}

fn part(name: &str) -> Result<Part> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "year" | "years" | "y" | "yr" | "yrs" => Part::Year,
        "quarter" | "quarters" | "qtr" | "qtrs" => Part::Quarter,
        "month" | "months" | "mon" | "mons" => Part::Month,
        "week" | "weeks" | "w" => Part::Week,
        "day" | "days" | "d" => Part::Day,
        "hour" | "hours" | "h" | "hr" | "hrs" => Part::Hour,
        "minute" | "minutes" | "m" | "min" | "mins" => Part::Minute,
        "second" | "seconds" | "s" | "sec" | "secs" => Part::Second,
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "msecond" | "mseconds"
        | "millisec" | "millisecs" | "millisecon" => Part::Millisecond,
        "microsecond" | "microseconds" | "microsec" | "microsecs" | "microsecond_" | "us"
        | "usec" | "usecs" | "usecond" | "useconds" => Part::Microsecond,
        other => return plan_err!("\"{other}\" is not a date part this function knows"),
    })
}

fn to_time(micros: i64) -> Result<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .ok_or_else(|| DataFusionError::Execution(format!("timestamp out of range: {micros}")))
}

fn to_micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn out_of_range() -> DataFusionError {
    DataFusionError::Execution("date out of range".into())
}

/// `t` plus `months` months, the day kept or clamped to the month's last day.
fn add_months(t: NaiveDateTime, months: i64) -> Result<NaiveDateTime> {
    let total = t.year() as i64 * 12 + t.month0() as i64 + months;
    let year = i32::try_from(total.div_euclid(12)).map_err(|_| out_of_range())?;
    let month = total.rem_euclid(12) as u32 + 1;
    let last = (28..=31)
        .rev()
        .find(|d| NaiveDate::from_ymd_opt(year, month, *d).is_some())
        .ok_or_else(out_of_range)?;
    let date = NaiveDate::from_ymd_opt(year, month, t.day().min(last)).ok_or_else(out_of_range)?;
    Ok(date.and_time(t.time()))
}

fn add(p: Part, n: i64, t: NaiveDateTime) -> Result<NaiveDateTime> {
    let span = |d: Option<Duration>| -> Result<NaiveDateTime> {
        d.and_then(|d| t.checked_add_signed(d))
            .ok_or_else(out_of_range)
    };
    match p {
        Part::Year => add_months(t, n.checked_mul(12).ok_or_else(out_of_range)?),
        Part::Quarter => add_months(t, n.checked_mul(3).ok_or_else(out_of_range)?),
        Part::Month => add_months(t, n),
        Part::Week => span(Duration::try_weeks(n)),
        Part::Day => span(Duration::try_days(n)),
        Part::Hour => span(Duration::try_hours(n)),
        Part::Minute => span(Duration::try_minutes(n)),
        Part::Second => span(Duration::try_seconds(n)),
        Part::Millisecond => span(Duration::try_milliseconds(n)),
        Part::Microsecond => span(Some(Duration::microseconds(n))),
    }
}

/// The number of `p` boundaries between `a` and `b`.
fn diff(p: Part, a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let months = |t: NaiveDateTime| t.year() as i64 * 12 + t.month0() as i64;
    let days = |t: NaiveDateTime| t.date().num_days_from_ce() as i64;
    // Days since a Monday, so a week is counted from Monday to Monday.
    let weeks = |t: NaiveDateTime| (days(t) - t.weekday().num_days_from_monday() as i64) / 7;
    let micros = |t: NaiveDateTime| to_micros(t);
    match p {
        Part::Year => b.year() as i64 - a.year() as i64,
        Part::Quarter => months(b).div_euclid(3) - months(a).div_euclid(3),
        Part::Month => months(b) - months(a),
        Part::Week => weeks(b) - weeks(a),
        Part::Day => days(b) - days(a),
        Part::Hour => (days(b) * 24 + b.hour() as i64) - (days(a) * 24 + a.hour() as i64),
        Part::Minute => micros(b).div_euclid(60_000_000) - micros(a).div_euclid(60_000_000),
        Part::Second => micros(b).div_euclid(1_000_000) - micros(a).div_euclid(1_000_000),
        Part::Millisecond => micros(b).div_euclid(1_000) - micros(a).div_euclid(1_000),
        // Beyond i64 only for dates hundreds of thousands of years apart.
        Part::Microsecond => micros(b).checked_sub(micros(a)).unwrap_or(i64::MIN),
    }
}

fn strings(a: &ArrayRef) -> Result<&StringArray> {
    a.as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Internal("expected text".into()))
}

fn times(a: &ArrayRef) -> Result<&TimestampMicrosecondArray> {
    a.as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| DataFusionError::Internal("expected a timestamp".into()))
}

fn arrays(args: &ScalarFunctionArgs) -> Result<Vec<ArrayRef>> {
    ColumnarValue::values_to_arrays(&args.args)
}

/// The same result shape as the input: one value when every input was one.
fn shaped(args: &ScalarFunctionArgs, out: ArrayRef) -> Result<ColumnarValue> {
    if args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)))
    {
        return Ok(ColumnarValue::Scalar(
            datafusion::common::ScalarValue::try_from_array(&out, 0)?,
        ));
    }
    Ok(ColumnarValue::Array(out))
}

fn timestamp_like(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Utf8
            | DataType::Utf8View
            | DataType::LargeUtf8
            | DataType::Null
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateAdd {
    signature: Signature,
}

impl DateAdd {
    fn new() -> Self {
        DateAdd {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateAdd {
    fn name(&self) -> &str {
        "dateadd"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(TS)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [_, n, t] if n.is_integer() || n.is_null() => {
                if !timestamp_like(t) {
                    return plan_err!("dateadd needs a date or timestamp, not {t}");
                }
                Ok(vec![DataType::Utf8, DataType::Int64, TS])
            }
            _ => plan_err!("dateadd takes (datepart, integer, date or timestamp)"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args)?;
        let (parts, ns, ts) = (
            strings(&a[0])?,
            a[1].as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| DataFusionError::Internal("expected an integer".into()))?,
            times(&a[2])?,
        );
        let mut out = Vec::with_capacity(ts.len());
        for i in 0..ts.len() {
            if parts.is_null(i) || ns.is_null(i) || ts.is_null(i) {
                out.push(None);
                continue;
            }
            let t = add(part(parts.value(i))?, ns.value(i), to_time(ts.value(i))?)?;
            out.push(Some(to_micros(t)));
        }
        shaped(&args, Arc::new(TimestampMicrosecondArray::from(out)))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateDiff {
    signature: Signature,
}

impl DateDiff {
    fn new() -> Self {
        DateDiff {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for DateDiff {
    fn name(&self) -> &str {
        "datediff"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [_, a, b] if timestamp_like(a) && timestamp_like(b) => Ok(vec![DataType::Utf8, TS, TS]),
            _ => plan_err!("datediff takes (datepart, date or timestamp, date or timestamp)"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args)?;
        let (parts, from, to) = (strings(&a[0])?, times(&a[1])?, times(&a[2])?);
        let mut out = Vec::with_capacity(from.len());
        for i in 0..from.len() {
            if parts.is_null(i) || from.is_null(i) || to.is_null(i) {
                out.push(None);
                continue;
            }
            let p = part(parts.value(i))?;
            let n = diff(p, to_time(from.value(i))?, to_time(to.value(i))?);
            if n == i64::MIN {
                return exec_err!("datediff out of range");
            }
            out.push(Some(n));
        }
        shaped(&args, Arc::new(Int64Array::from(out)))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ConvertTimezone {
    signature: Signature,
}

impl ConvertTimezone {
    fn new() -> Self {
        ConvertTimezone {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

fn zone(name: &str) -> Result<chrono_tz::Tz> {
    name.trim()
        .parse::<chrono_tz::Tz>()
        .or_else(|_| match name.trim().to_ascii_uppercase().as_str() {
            "UTC" | "GMT" | "Z" => Ok(chrono_tz::UTC),
            _ => Err(()),
        })
        .map_err(|_| DataFusionError::Execution(format!("time zone \"{name}\" not recognized")))
}

/// `t` read as wall-clock time in `from`, as the wall-clock time in `to`.
fn convert(from: chrono_tz::Tz, to: chrono_tz::Tz, t: NaiveDateTime) -> Result<NaiveDateTime> {
    // A wall-clock time that does not exist or is ambiguous (a DST change) takes the
    // earlier reading.
    let local = from
        .from_local_datetime(&t)
        .earliest()
        .or_else(|| {
            let later = t.checked_add_signed(Duration::hours(1))?;
            from.from_local_datetime(&later).earliest()
        })
        .ok_or_else(|| DataFusionError::Execution(format!("{t} does not exist in {from}")))?;
    Ok(local.with_timezone(&to).naive_local())
}

impl ScalarUDFImpl for ConvertTimezone {
    fn name(&self) -> &str {
        "convert_timezone"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(TS)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [_, t] if timestamp_like(t) => Ok(vec![DataType::Utf8, TS]),
            [_, _, t] if timestamp_like(t) => Ok(vec![DataType::Utf8, DataType::Utf8, TS]),
            _ => plan_err!("convert_timezone takes ([source zone,] target zone, timestamp)"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = arrays(&args)?;
        let (from, to, ts) = match a.as_slice() {
            [to, ts] => (None, strings(to)?, times(ts)?),
            [from, to, ts] => (Some(strings(from)?), strings(to)?, times(ts)?),
            _ => return exec_err!("convert_timezone takes 2 or 3 arguments"),
        };
        let mut out = Vec::with_capacity(ts.len());
        for i in 0..ts.len() {
            if to.is_null(i) || ts.is_null(i) || from.is_some_and(|f| f.is_null(i)) {
                out.push(None);
                continue;
            }
            let source = match from {
                Some(f) => zone(f.value(i))?,
                None => chrono_tz::UTC,
            };
            let t = convert(source, zone(to.value(i))?, to_time(ts.value(i))?)?;
            out.push(Some(to_micros(t)));
        }
        shaped(&args, Arc::new(TimestampMicrosecondArray::from(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn months_keep_the_day_or_the_last_one() {
        assert_eq!(
            add(Part::Month, 1, t("2008-01-31 00:00:00")).unwrap(),
            t("2008-02-29 00:00:00")
        );
        assert_eq!(
            add(Part::Year, -1, t("2008-02-29 10:00:00")).unwrap(),
            t("2007-02-28 10:00:00")
        );
        assert_eq!(
            add(Part::Quarter, 3, t("2024-11-15 00:00:00")).unwrap(),
            t("2025-08-15 00:00:00")
        );
        assert_eq!(
            add(Part::Day, 30, t("2008-02-28 00:00:00")).unwrap(),
            t("2008-03-29 00:00:00")
        );
    }

    #[test]
    fn diffs_count_boundaries() {
        assert_eq!(
            diff(
                Part::Week,
                t("2009-01-01 00:00:00"),
                t("2009-12-31 00:00:00")
            ),
            52
        );
        assert_eq!(
            diff(
                Part::Quarter,
                t("1998-07-01 00:00:00"),
                t("2002-01-01 00:00:00")
            ),
            14
        );
        assert_eq!(
            diff(
                Part::Day,
                t("2024-01-01 23:00:00"),
                t("2024-01-02 01:00:00")
            ),
            1
        );
        assert_eq!(
            diff(
                Part::Year,
                t("2024-12-31 23:59:59"),
                t("2025-01-01 00:00:00")
            ),
            1
        );
        assert_eq!(
            diff(
                Part::Hour,
                t("2024-01-02 01:00:00"),
                t("2024-01-01 23:59:00")
            ),
            -2
        );
        // Sunday to Monday crosses a week boundary; Monday to Sunday does not.
        assert_eq!(
            diff(
                Part::Week,
                t("2024-01-07 00:00:00"),
                t("2024-01-08 00:00:00")
            ),
            1
        );
        assert_eq!(
            diff(
                Part::Week,
                t("2024-01-08 00:00:00"),
                t("2024-01-14 00:00:00")
            ),
            0
        );
    }

    #[test]
    fn time_zones_convert_wall_clock_times() {
        let ny = zone("America/New_York").unwrap();
        assert_eq!(
            convert(chrono_tz::UTC, ny, t("2024-01-15 12:00:00")).unwrap(),
            t("2024-01-15 07:00:00")
        );
        assert_eq!(
            convert(chrono_tz::UTC, ny, t("2024-07-15 12:00:00")).unwrap(),
            t("2024-07-15 08:00:00")
        );
        assert!(zone("Mars/Olympus").is_err());
        assert!(part("fortnight").is_err());
    }
}
