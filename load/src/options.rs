//! COPY's data-format options, as the leader parsed them and every node applies them.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Format {
    /// Redshift's default: one record per line, fields split by DELIMITER (default `|`),
    /// optional backslash ESCAPE and REMOVEQUOTES.
    Text,
    /// RFC 4180 CSV with QUOTE AS (default `"`).
    Csv { quote: u8 },
    /// Newline-delimited JSON objects, keys matched to column names.
    Json { ignore_case: bool },
    /// Parquet, columns matched by name.
    Parquet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Bzip2,
}

impl Compression {
    /// The compression a file's suffix implies.
    pub fn from_suffix(name: &str) -> Compression {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".gz") || n.ends_with(".gzip") {
            Compression::Gzip
        } else if n.ends_with(".zst") || n.ends_with(".zstd") {
            Compression::Zstd
        } else if n.ends_with(".bz2") {
            Compression::Bzip2
        } else {
            Compression::None
        }
    }

    /// The compression's name as errors say it; `None` when the input is plain.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
            Compression::Bzip2 => Some("bzip2"),
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
            Compression::Bzip2 => ".bz2",
        }
    }
}

/// How DATEFORMAT / TIMEFORMAT read values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TimeFormat {
    /// ISO 8601 and the other common spellings Redshift's 'auto' recognises.
    Auto,
    /// A chrono pattern translated from Redshift's (`YYYY-MM-DD HH24:MI:SS`).
    Pattern(String),
    EpochSecs,
    EpochMillis,
}

impl TimeFormat {
    /// Parses a DATEFORMAT/TIMEFORMAT argument.
    pub fn parse(text: &str) -> Result<TimeFormat> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => return Ok(TimeFormat::Auto),
            "epochsecs" => return Ok(TimeFormat::EpochSecs),
            "epochmillisecs" => return Ok(TimeFormat::EpochMillis),
            _ => {}
        }
        Ok(TimeFormat::Pattern(redshift_pattern_to_chrono(text)?))
    }
}

/// Translates Redshift datetime format elements to chrono's.
fn redshift_pattern_to_chrono(text: &str) -> Result<String> {
    // Longest elements first so `HH24` is not read as `HH` + `24`.
    const ELEMENTS: &[(&str, &str)] = &[
        ("YYYY", "%Y"),
        ("HH24", "%H"),
        ("HH12", "%I"),
        ("MONTH", "%B"),
        ("MON", "%b"),
        ("YY", "%y"),
        ("MM", "%m"),
        ("DD", "%d"),
        ("HH", "%H"),
        ("MI", "%M"),
        ("SS", "%S"),
        ("US", "%6f"),
        ("MS", "%3f"),
        ("AM", "%p"),
        ("PM", "%p"),
    ];
    let mut out = String::new();
    let mut rest = text;
    'outer: while !rest.is_empty() {
        let upper = rest.to_ascii_uppercase();
        for (element, chrono) in ELEMENTS {
            if upper.starts_with(element) {
                out.push_str(chrono);
                rest = &rest[element.len()..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("not empty");
        if c.is_ascii_alphabetic() {
            return Err(Error::InvalidOption(format!(
                "unknown element at {rest:?} in date/time format {text:?}"
            )));
        }
        if c == '%' {
            out.push_str("%%");
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// Everything about how input bytes become rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyOptions {
    pub format: Format,
    /// GZIP/ZSTD/BZIP2 as given; `None` means "from each file's suffix".
    pub compression: Option<Compression>,
    pub delimiter: u8,
    pub escape: bool,
    pub remove_quotes: bool,
    pub ignore_header: u64,
    /// NULL AS (text format default `\N`).
    pub null_as: Option<String>,
    pub empty_as_null: bool,
    pub blanks_as_null: bool,
    pub trim_blanks: bool,
    pub truncate_columns: bool,
    /// ACCEPTINVCHARS [AS 'c']: invalid UTF-8 becomes this character instead of a reject.
    pub accept_inv_chars: Option<char>,
    pub date_format: TimeFormat,
    pub time_format: TimeFormat,
    pub fill_record: bool,
    pub ignore_blank_lines: bool,
    pub max_error: u64,
    pub manifest: bool,
    /// ROUNDEC: round decimals with more fraction digits than the scale (default: truncate).
    #[serde(default)]
    pub round_decimals: bool,
    /// PostgreSQL's text format (COPY FROM STDIN, as psql's `\copy` and drivers send it):
    /// backslash escapes (`\t`, `\n`, `\\`, octal, `\x`), and a field that is exactly the
    /// NULL string (`\N`) before unescaping is NULL.
    #[serde(default)]
    pub postgres_text: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            format: Format::Text,
            compression: None,
            delimiter: b'|',
            escape: false,
            remove_quotes: false,
            ignore_header: 0,
            null_as: None,
            empty_as_null: false,
            blanks_as_null: false,
            trim_blanks: false,
            truncate_columns: false,
            accept_inv_chars: None,
            date_format: TimeFormat::Auto,
            time_format: TimeFormat::Auto,
            fill_record: false,
            ignore_blank_lines: false,
            max_error: 0,
            manifest: false,
            round_decimals: false,
            postgres_text: false,
        }
    }
}

impl CopyOptions {
    /// The string that reads as NULL: NULL AS, or `\N` for the text format.
    pub fn null_string(&self) -> Option<&str> {
        if self.postgres_text {
            // Decided on the raw field, before unescaping (`split_postgres_text`).
            return None;
        }
        match (&self.null_as, &self.format) {
            (Some(s), _) => Some(s.as_str()),
            (None, Format::Text) => Some("\\N"),
            _ => None,
        }
    }

    /// Checks combinations Redshift rejects.
    pub fn validate(&self) -> Result<()> {
        let text_only = |what: &str, set: bool| -> Result<()> {
            if set && self.format != Format::Text {
                return Err(Error::InvalidOption(format!(
                    "{what} is only valid with the default text format"
                )));
            }
            Ok(())
        };
        text_only("ESCAPE", self.escape)?;
        text_only("PostgreSQL's text format", self.postgres_text)?;
        text_only("REMOVEQUOTES", self.remove_quotes)?;
        if matches!(self.format, Format::Json { .. } | Format::Parquet) {
            if self.ignore_header > 0 {
                return Err(Error::InvalidOption(
                    "IGNOREHEADER is only valid with CSV or text input".into(),
                ));
            }
            if self.fill_record {
                return Err(Error::InvalidOption(
                    "FILLRECORD is only valid with CSV or text input".into(),
                ));
            }
        }
        if self.format == Format::Parquet && self.compression.is_some() {
            return Err(Error::InvalidOption(
                "PARQUET files carry their own compression: drop GZIP/ZSTD/BZIP2".into(),
            ));
        }
        if let Format::Csv { quote } = self.format
            && quote == self.delimiter
        {
            return Err(Error::InvalidOption(
                "QUOTE and DELIMITER must differ".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redshift_patterns_become_chrono_patterns() {
        assert_eq!(
            redshift_pattern_to_chrono("YYYY-MM-DD HH24:MI:SS").unwrap(),
            "%Y-%m-%d %H:%M:%S"
        );
        assert_eq!(
            redshift_pattern_to_chrono("DD-MON-YYYY").unwrap(),
            "%d-%b-%Y"
        );
        assert_eq!(redshift_pattern_to_chrono("MM/DD/YY").unwrap(), "%m/%d/%y");
        assert!(redshift_pattern_to_chrono("YYYY-QQ").is_err());
    }
}
