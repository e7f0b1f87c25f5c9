//! COPY and UNLOAD statements in Redshift's grammar (options in any order, `AS` optional),
//! plus PostgreSQL's `WITH (FORMAT csv, HEADER)` form that psql's `\copy` passes through.

use blueshift_load::{Compression, CopyOptions, Format, TimeFormat};
use blueshift_storage::Access;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Url(String),
    Stdin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopyStatement {
    pub table: String,
    pub columns: Vec<String>,
    pub source: Source,
    pub options: CopyOptions,
    pub access: Access,
    /// `IAM_ROLE` was given: accepted, and ignored with a NOTICE.
    pub iam_role: bool,
    /// `STATUPDATE ON|OFF`; absent: statistics are taken when the table was empty.
    pub statupdate: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnloadFormat {
    Text,
    Csv,
    Json,
    Parquet,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnloadStatement {
    pub query: String,
    pub target: String,
    pub format: UnloadFormat,
    pub header: bool,
    pub delimiter: Option<u8>,
    pub compression: Compression,
    pub parallel: bool,
    pub max_file_size: Option<u64>,
    pub manifest: Option<bool>,
    pub allow_overwrite: bool,
    pub partition_by: Vec<String>,
    pub partition_include: bool,
    pub null_as: Option<String>,
    pub access: Access,
    pub iam_role: bool,
}

/// Redshift's largest MAXERROR.
const MAX_MAXERROR: u64 = 100_000;

/// Redshift's largest MAXFILESIZE (6.2 GB).
pub const MAX_FILE_SIZE: u64 = 6_200 << 20;

/// Which of the two statements a text is, by its first word.
pub fn kind(sql: &str) -> Option<&'static str> {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .next()?
        .to_ascii_uppercase();
    match first.as_str() {
        "COPY" => Some("COPY"),
        "UNLOAD" => Some("UNLOAD"),
        _ => None,
    }
}

pub(crate) struct Tokens {
    tokens: Vec<Token>,
    pos: usize,
}

impl Tokens {
    pub(crate) fn new(sql: &str) -> Result<Tokens> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql)
            .tokenize()
            .map_err(|e| Error::syntax(e.message))?
            .into_iter()
            .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
            .collect();
        Ok(Tokens { tokens, pos: 0 })
    }

    pub(crate) fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    pub(crate) fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    pub(crate) fn done(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// The next token as an upper-case word, if it is one.
    pub(crate) fn peek_word(&self) -> Option<String> {
        match self.peek()? {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        }
    }

    pub(crate) fn eat_word(&mut self, word: &str) -> bool {
        if self.peek_word().as_deref() == Some(word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect_word(&mut self, word: &str) -> Result<()> {
        if self.eat_word(word) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("expected {word}")))
        }
    }

    pub(crate) fn unexpected(&self, what: &str) -> Error {
        match self.peek() {
            Some(t) => Error::syntax(format!("syntax error at or near \"{t}\": {what}")),
            None => Error::syntax(format!("syntax error at end of input: {what}")),
        }
    }

    pub(crate) fn string(&mut self, after: &str) -> Result<String> {
        self.eat_word("AS");
        match self.next() {
            Some(Token::SingleQuotedString(s)) | Some(Token::EscapedStringLiteral(s)) => Ok(s),
            Some(Token::DollarQuotedString(d)) => Ok(d.value),
            _ => {
                self.pos -= 1;
                Err(self.unexpected(&format!("{after} takes a quoted string")))
            }
        }
    }

    pub(crate) fn number(&mut self, after: &str) -> Result<u64> {
        self.eat_word("AS");
        match self.next() {
            Some(Token::Number(n, _)) => n
                .parse()
                .map_err(|_| Error::syntax(format!("{after} takes a whole number, not {n}"))),
            _ => {
                self.pos -= 1;
                Err(self.unexpected(&format!("{after} takes a number")))
            }
        }
    }

    pub(crate) fn ident(&mut self) -> Result<String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(if w.quote_style.is_some() {
                w.value
            } else {
                w.value.to_lowercase()
            }),
            _ => {
                self.pos -= 1;
                Err(self.unexpected("expected a name"))
            }
        }
    }

    /// `a.b.c` as written, each part folded (`Session::resolve_written` finds what it
    /// names along the search path).
    pub(crate) fn object_name(&mut self) -> Result<String> {
        let mut name = self.ident()?;
        while self.eat(&Token::Period) {
            name.push('.');
            name.push_str(&self.ident()?);
        }
        Ok(name)
    }

    pub(crate) fn ident_list(&mut self) -> Result<Vec<String>> {
        let mut out = vec![self.ident()?];
        while self.eat(&Token::Comma) {
            out.push(self.ident()?);
        }
        if !self.eat(&Token::RParen) {
            return Err(self.unexpected("expected , or )"));
        }
        Ok(out)
    }

    /// ON/OFF/TRUE/FALSE after an option; absent means on.
    fn switch(&mut self) -> bool {
        match self.peek_word().as_deref() {
            Some("ON") | Some("TRUE") => {
                self.pos += 1;
                true
            }
            Some("OFF") | Some("FALSE") => {
                self.pos += 1;
                false
            }
            _ => true,
        }
    }
}

fn single_byte(value: &str, what: &str) -> Result<u8> {
    let value = match value {
        "\\t" => "\t",
        other => other,
    };
    match value.as_bytes() {
        [b] => Ok(*b),
        _ => Err(Error::InvalidInput(format!(
            "{what} must be a single one-byte character, not {value:?}"
        ))),
    }
}

/// Reads access options shared by COPY and UNLOAD; false if the next word is none of them.
fn access_option(t: &mut Tokens, word: &str, access: &mut Access, iam: &mut bool) -> Result<bool> {
    match word {
        "IAM_ROLE" => {
            t.pos += 1;
            if !t.eat_word("DEFAULT") {
                t.string("IAM_ROLE")?;
            }
            *iam = true;
        }
        "ACCESS_KEY_ID" => {
            t.pos += 1;
            access.access_key_id = Some(t.string(word)?);
        }
        "SECRET_ACCESS_KEY" => {
            t.pos += 1;
            access.secret_access_key = Some(t.string(word)?);
        }
        "SESSION_TOKEN" => {
            t.pos += 1;
            access.session_token = Some(t.string(word)?);
        }
        "REGION" => {
            t.pos += 1;
            access.region = Some(t.string(word)?);
        }
        "CREDENTIALS" | "WITH_CREDENTIALS" => {
            t.pos += 1;
            let text = t.string(word)?;
            for part in text.split(';').filter(|p| !p.trim().is_empty()) {
                let (k, v) = part.split_once('=').ok_or_else(|| {
                    Error::InvalidInput(format!("CREDENTIALS part {part:?} is not key=value"))
                })?;
                match k.trim().to_ascii_lowercase().as_str() {
                    "aws_access_key_id" => access.access_key_id = Some(v.trim().to_string()),
                    "aws_secret_access_key" => {
                        access.secret_access_key = Some(v.trim().to_string())
                    }
                    "token" => access.session_token = Some(v.trim().to_string()),
                    "aws_iam_role" => *iam = true,
                    other => {
                        return Err(Error::InvalidInput(format!(
                            "unknown CREDENTIALS key {other:?}"
                        )));
                    }
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

pub fn parse_copy(sql: &str) -> Result<CopyStatement> {
    let mut t = Tokens::new(sql)?;
    t.expect_word("COPY")?;
    let table = t.object_name()?;
    let columns = if t.eat(&Token::LParen) {
        t.ident_list()?
    } else {
        vec![]
    };
    t.expect_word("FROM")?;
    let source = match t.peek() {
        Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("STDIN") => {
            t.pos += 1;
            Source::Stdin
        }
        _ => Source::Url(t.string("FROM")?),
    };
    let mut o = CopyOptions::default();
    let mut statupdate = None;
    let mut access = Access::default();
    let mut iam = false;
    let mut quote: Option<u8> = None;
    let mut csv = false;
    let mut delimiter: Option<u8> = None;
    t.eat_word("WITH");
    if t.eat(&Token::LParen) {
        postgres_options(&mut t, &mut o, &mut csv, &mut quote, &mut delimiter)?;
    }
    while !t.done() {
        let word = t
            .peek_word()
            .ok_or_else(|| t.unexpected("expected a COPY option"))?;
        if access_option(&mut t, &word, &mut access, &mut iam)? {
            continue;
        }
        t.pos += 1;
        match word.as_str() {
            "FORMAT" => {
                t.eat_word("AS");
                let f = t
                    .peek_word()
                    .ok_or_else(|| t.unexpected("FORMAT takes CSV, JSON, PARQUET or TEXT"))?;
                match f.as_str() {
                    "CSV" | "JSON" | "PARQUET" | "TEXT" => {}
                    _ => return Err(t.unexpected("FORMAT takes CSV, JSON, PARQUET or TEXT")),
                }
                continue;
            }
            "CSV" => {
                csv = true;
                if t.eat_word("QUOTE") {
                    quote = Some(single_byte(&t.string("QUOTE")?, "QUOTE")?);
                }
            }
            "QUOTE" => quote = Some(single_byte(&t.string("QUOTE")?, "QUOTE")?),
            "TEXT" => {}
            "JSON" => {
                let arg = t.string("JSON").unwrap_or_else(|_| "auto".into());
                let ignore_case = match arg.to_ascii_lowercase().as_str() {
                    "auto" => false,
                    "auto ignorecase" => true,
                    _ => {
                        return Err(Error::NotSupported(format!(
                            "JSON '{arg}': only 'auto' and 'auto ignorecase' are supported (no JSONPaths files)"
                        )));
                    }
                };
                o.format = Format::Json { ignore_case };
            }
            "PARQUET" => o.format = Format::Parquet,
            "DELIMITER" => delimiter = Some(single_byte(&t.string("DELIMITER")?, "DELIMITER")?),
            "ESCAPE" => o.escape = true,
            "REMOVEQUOTES" => o.remove_quotes = true,
            "IGNOREHEADER" => o.ignore_header = t.number("IGNOREHEADER")?,
            "HEADER" => o.ignore_header = u64::from(t.switch()),
            "NULL" => o.null_as = Some(t.string("NULL AS")?),
            "EMPTYASNULL" => o.empty_as_null = true,
            "BLANKSASNULL" => o.blanks_as_null = true,
            "TRIMBLANKS" => o.trim_blanks = true,
            "TRUNCATECOLUMNS" => o.truncate_columns = true,
            "ACCEPTINVCHARS" => {
                o.accept_inv_chars = Some('?');
                if t.eat_word("AS") || matches!(t.peek(), Some(Token::SingleQuotedString(_))) {
                    let c = t.string("ACCEPTINVCHARS")?;
                    let mut chars = c.chars();
                    match (chars.next(), chars.next()) {
                        (Some(ch), None) if ch.is_ascii() => o.accept_inv_chars = Some(ch),
                        _ => {
                            return Err(Error::InvalidInput(
                                "ACCEPTINVCHARS takes one ASCII character".into(),
                            ));
                        }
                    }
                }
            }
            "DATEFORMAT" => o.date_format = TimeFormat::parse(&t.string("DATEFORMAT")?)?,
            "TIMEFORMAT" => o.time_format = TimeFormat::parse(&t.string("TIMEFORMAT")?)?,
            "FILLRECORD" => o.fill_record = true,
            "IGNOREBLANKLINES" => o.ignore_blank_lines = true,
            "MAXERROR" => {
                o.max_error = t.number("MAXERROR")?;
                if o.max_error > MAX_MAXERROR {
                    return Err(Error::InvalidInput(format!(
                        "MAXERROR must be at most {MAX_MAXERROR}"
                    )));
                }
            }
            "MANIFEST" => o.manifest = true,
            "GZIP" => o.compression = Some(Compression::Gzip),
            "ZSTD" => o.compression = Some(Compression::Zstd),
            "BZIP2" => o.compression = Some(Compression::Bzip2),
            "COMPUPDATE" => {
                t.switch();
                if t.eat_word("PRESET") {}
            }
            "STATUPDATE" => statupdate = Some(t.switch()),
            "ROUNDEC" => o.round_decimals = true,
            "EXPLICIT_IDS" => {}
            _ => {
                t.pos -= 1;
                return Err(t.unexpected("unknown or unsupported COPY option"));
            }
        }
    }
    if csv || quote.is_some() {
        if o.format != Format::Text {
            return Err(Error::InvalidInput(
                "CSV cannot be combined with JSON or PARQUET".into(),
            ));
        }
        o.format = Format::Csv {
            quote: quote.unwrap_or(b'"'),
        };
        o.delimiter = b',';
    }
    if source == Source::Stdin && o.format == Format::Text && !o.escape && !o.remove_quotes {
        // From a PostgreSQL client (psql's \copy, drivers' copy): PostgreSQL's text format,
        // tab-separated with backslash escapes, unless Redshift's ESCAPE or REMOVEQUOTES ask
        // for Redshift's.
        o.postgres_text = true;
        o.delimiter = b'\t';
    }
    if let Some(d) = delimiter {
        o.delimiter = d;
    }
    blueshift_load::CopyOptions::validate(&o).map_err(|e| Error::InvalidInput(e.to_string()))?;
    if source == Source::Stdin && o.manifest {
        return Err(Error::InvalidInput(
            "MANIFEST needs a URL, not STDIN".into(),
        ));
    }
    Ok(CopyStatement {
        table,
        columns,
        source,
        options: o,
        access,
        iam_role: iam,
        statupdate,
    })
}

/// `WITH (FORMAT csv, HEADER [true], DELIMITER 'x', NULL 'x', QUOTE 'x')`.
fn postgres_options(
    t: &mut Tokens,
    o: &mut CopyOptions,
    csv: &mut bool,
    quote: &mut Option<u8>,
    delimiter: &mut Option<u8>,
) -> Result<()> {
    loop {
        let word = t
            .peek_word()
            .ok_or_else(|| t.unexpected("expected a COPY option"))?;
        t.pos += 1;
        match word.as_str() {
            "FORMAT" => {
                let f = t.peek_word().unwrap_or_default();
                t.pos += 1;
                match f.as_str() {
                    "CSV" => *csv = true,
                    "TEXT" => {}
                    "JSON" => o.format = Format::Json { ignore_case: false },
                    "PARQUET" => o.format = Format::Parquet,
                    _ => return Err(Error::syntax(format!("COPY format \"{f}\" not recognized"))),
                }
            }
            "HEADER" => o.ignore_header = u64::from(t.switch()),
            "DELIMITER" => *delimiter = Some(single_byte(&t.string("DELIMITER")?, "DELIMITER")?),
            "NULL" => o.null_as = Some(t.string("NULL")?),
            "QUOTE" => *quote = Some(single_byte(&t.string("QUOTE")?, "QUOTE")?),
            other => {
                return Err(Error::syntax(format!(
                    "option \"{}\" not recognized",
                    other.to_lowercase()
                )));
            }
        }
        if t.eat(&Token::RParen) {
            return Ok(());
        }
        if !t.eat(&Token::Comma) {
            return Err(t.unexpected("expected , or )"));
        }
    }
}

pub fn parse_unload(sql: &str) -> Result<UnloadStatement> {
    let mut t = Tokens::new(sql)?;
    t.expect_word("UNLOAD")?;
    if !t.eat(&Token::LParen) {
        return Err(t.unexpected("UNLOAD takes ('select ...')"));
    }
    let query = t.string("UNLOAD (")?;
    if !t.eat(&Token::RParen) {
        return Err(t.unexpected("expected )"));
    }
    t.expect_word("TO")?;
    let target = t.string("TO")?;
    let mut u = UnloadStatement {
        query,
        target,
        format: UnloadFormat::Text,
        header: false,
        delimiter: None,
        compression: Compression::None,
        parallel: true,
        max_file_size: None,
        manifest: None,
        allow_overwrite: false,
        partition_by: vec![],
        partition_include: false,
        null_as: None,
        access: Access::default(),
        iam_role: false,
    };
    while !t.done() {
        let word = t
            .peek_word()
            .ok_or_else(|| t.unexpected("expected an UNLOAD option"))?;
        if access_option(&mut t, &word, &mut u.access, &mut u.iam_role)? {
            continue;
        }
        t.pos += 1;
        match word.as_str() {
            "FORMAT" => {
                t.eat_word("AS");
                continue;
            }
            "CSV" => u.format = UnloadFormat::Csv,
            "JSON" => u.format = UnloadFormat::Json,
            "PARQUET" => u.format = UnloadFormat::Parquet,
            "TEXT" => u.format = UnloadFormat::Text,
            "HEADER" => u.header = true,
            "DELIMITER" => u.delimiter = Some(single_byte(&t.string("DELIMITER")?, "DELIMITER")?),
            "GZIP" => u.compression = Compression::Gzip,
            "ZSTD" => u.compression = Compression::Zstd,
            "BZIP2" => u.compression = Compression::Bzip2,
            "PARALLEL" => u.parallel = t.switch(),
            "MAXFILESIZE" => {
                let n = t.number("MAXFILESIZE")?;
                let unit = match t.peek_word().as_deref() {
                    Some("MB") => {
                        t.pos += 1;
                        1 << 20
                    }
                    Some("GB") => {
                        t.pos += 1;
                        1 << 30
                    }
                    _ => 1 << 20,
                };
                match n.checked_mul(unit) {
                    Some(bytes) if (1 << 20..=MAX_FILE_SIZE).contains(&bytes) => {
                        u.max_file_size = Some(bytes)
                    }
                    _ => {
                        return Err(Error::InvalidInput(
                            "MAXFILESIZE must be between 1 MB and 6.2 GB".into(),
                        ));
                    }
                }
            }
            "MANIFEST" => u.manifest = Some(t.eat_word("VERBOSE")),
            "ALLOWOVERWRITE" => u.allow_overwrite = true,
            "PARTITION" => {
                t.expect_word("BY")?;
                if !t.eat(&Token::LParen) {
                    return Err(t.unexpected("PARTITION BY takes (columns)"));
                }
                u.partition_by = t.ident_list()?;
                u.partition_include = t.eat_word("INCLUDE");
            }
            "NULL" => u.null_as = Some(t.string("NULL AS")?),
            "ADDQUOTES" | "ESCAPE" | "ENCRYPTED" | "CLEANPATH" => {
                t.pos -= 1;
                return Err(Error::NotSupported(format!(
                    "UNLOAD option {word} is not supported"
                )));
            }
            _ => {
                t.pos -= 1;
                return Err(t.unexpected("unknown or unsupported UNLOAD option"));
            }
        }
    }
    if u.format == UnloadFormat::Parquet
        && (u.compression != Compression::None || u.header || u.delimiter.is_some())
    {
        return Err(Error::InvalidInput(
            "PARQUET cannot be combined with GZIP/ZSTD/BZIP2, HEADER or DELIMITER".into(),
        ));
    }
    if u.header && u.format == UnloadFormat::Json {
        return Err(Error::InvalidInput("HEADER is not valid with JSON".into()));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redshift_copy_options_in_any_order() {
        let c = parse_copy(
            "COPY public.sales (id, name) FROM 's3://b/p/' IAM_ROLE 'arn:aws:iam::1:role/x' \
             CSV QUOTE AS '''' IGNOREHEADER 1 GZIP MAXERROR AS 5 DATEFORMAT 'YYYY-MM-DD' \
             REGION 'us-west-2' NULL AS 'nil' ACCEPTINVCHARS AS '^'",
        )
        .unwrap();
        assert_eq!(c.table, "public.sales");
        assert_eq!(c.columns, vec!["id", "name"]);
        assert_eq!(c.source, Source::Url("s3://b/p/".into()));
        assert_eq!(c.options.format, Format::Csv { quote: b'\'' });
        assert_eq!(c.options.delimiter, b',');
        assert_eq!(c.options.ignore_header, 1);
        assert_eq!(c.options.max_error, 5);
        assert_eq!(c.options.compression, Some(Compression::Gzip));
        assert_eq!(c.options.null_as.as_deref(), Some("nil"));
        assert_eq!(c.options.accept_inv_chars, Some('^'));
        assert_eq!(c.access.region.as_deref(), Some("us-west-2"));
        assert!(c.iam_role);
    }

    #[test]
    fn psql_copy_forms() {
        let c = parse_copy("COPY  t FROM STDIN CSV HEADER").unwrap();
        assert_eq!(c.source, Source::Stdin);
        assert_eq!(c.options.ignore_header, 1);
        let c =
            parse_copy("COPY t FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';')").unwrap();
        assert_eq!(c.options.format, Format::Csv { quote: b'"' });
        assert_eq!(c.options.delimiter, b';');
        let c = parse_copy(
            "copy t from 's3://b/k' credentials 'aws_access_key_id=A;aws_secret_access_key=S' json 'auto ignorecase'",
        )
        .unwrap();
        assert_eq!(c.access.access_key_id.as_deref(), Some("A"));
        assert_eq!(c.options.format, Format::Json { ignore_case: true });
        assert!(parse_copy("COPY t FROM 's3://b/k' BOGUS").is_err());
        assert!(parse_copy("COPY t FROM 's3://b/k' JSON 's3://b/paths.json'").is_err());
        assert!(parse_copy("COPY t FROM 's3://b/k' PARQUET GZIP").is_err());
    }

    #[test]
    fn unload_options() {
        let u = parse_unload(
            "UNLOAD ('select * from t where x = ''a''') TO 's3://b/out/' IAM_ROLE default \
             FORMAT AS PARQUET PARTITION BY (day) INCLUDE MAXFILESIZE 100 MB ALLOWOVERWRITE \
             MANIFEST VERBOSE PARALLEL OFF",
        )
        .unwrap();
        assert_eq!(u.query, "select * from t where x = 'a'");
        assert_eq!(u.format, UnloadFormat::Parquet);
        assert_eq!(u.partition_by, vec!["day"]);
        assert!(u.partition_include && u.allow_overwrite && !u.parallel);
        assert_eq!(u.max_file_size, Some(100 << 20));
        assert_eq!(u.manifest, Some(true));
    }
}
