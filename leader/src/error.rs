//! Leader errors. Each maps to a protocol-neutral [`Code`]; `server` alone turns codes into
//! SQLSTATEs.

use blueshift_storage::Code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Syntax {
        message: String,
        position: Option<usize>,
    },
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumn(String),
    #[error("column \"{column}\" does not exist")]
    UndefinedColumn { column: String },
    #[error("{0}")]
    InvalidInput(String),
    #[error("value too long for type character varying({limit})")]
    ValueTooLong { limit: u32 },
    #[error("null value in column \"{0}\" violates not-null constraint")]
    NotNull(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("cluster is not ready: {0}")]
    NotReady(String),
    #[error(transparent)]
    Storage(#[from] blueshift_storage::Error),
    #[error(transparent)]
    Compute(#[from] blueshift_compute::Error),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Internal(String),
    #[error("canceling statement due to user request")]
    Cancelled,
    #[error(transparent)]
    Load(#[from] blueshift_load::Error),
    /// A COPY that rejected more rows than MAXERROR allows.
    #[error("{message}")]
    LoadFailed { message: String, hint: String },
}

impl Error {
    pub fn syntax(message: impl Into<String>) -> Self {
        Error::Syntax {
            message: message.into(),
            position: None,
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Error::Syntax { .. } => Code::Syntax,
            Error::UndefinedTable(_) => Code::UndefinedTable,
            Error::DuplicateTable(_) => Code::DuplicateTable,
            Error::UndefinedColumn { .. } => Code::UndefinedColumn,
            Error::DuplicateColumn(_) => Code::DuplicateColumn,
            Error::InvalidInput(_) => Code::InvalidInput,
            Error::ValueTooLong { .. } => Code::StringTooLong,
            Error::NotNull(_) => Code::NotNull,
            Error::NotSupported(_) => Code::FeatureNotSupported,
            Error::NotReady(_) => Code::NodeUnavailable,
            Error::Storage(e) => e.code(),
            Error::Compute(e) => e.code(),
            Error::DataFusion(e) => Code::of_datafusion(e),
            Error::Arrow(e) => Code::of_message(&e.to_string()),
            Error::Io(_) => Code::Storage,
            Error::Internal(_) => Code::Internal,
            Error::Cancelled => Code::Cancelled,
            Error::Load(e) => e.code(),
            Error::LoadFailed { .. } => Code::BadCopyData,
        }
    }

    /// The text a user sees: the code tag and DataFusion's wrapping removed.
    pub fn user_message(&self) -> String {
        let raw = match self {
            Error::DataFusion(e) => strip_datafusion(e),
            other => other.to_string(),
        };
        let message = Code::extract(&raw).1;
        match self.code() {
            Code::UndefinedTable => postgres_wording(&message, "table '", "' not found", |t| {
                let name = t.rsplit('.').next().unwrap_or(t);
                format!("relation \"{name}\" does not exist")
            }),
            Code::UndefinedColumn => postgres_wording(&message, "No field named ", ".", |c| {
                let name = c.rsplit('.').next().unwrap_or(c).trim_matches('"');
                format!("column \"{name}\" does not exist")
            }),
            _ => message,
        }
    }
}

/// Rewrites DataFusion's wording of an error into PostgreSQL's, when it matches.
fn postgres_wording(
    message: &str,
    before: &str,
    after: &str,
    make: impl Fn(&str) -> String,
) -> String {
    message
        .find(before)
        .and_then(|i| {
            let rest = &message[i + before.len()..];
            rest.find(after).map(|j| make(&rest[..j]))
        })
        .unwrap_or_else(|| message.to_string())
}

fn strip_datafusion(e: &datafusion::error::DataFusionError) -> String {
    use datafusion::error::DataFusionError as D;
    match e {
        D::Context(_, inner) => strip_datafusion(inner),
        D::Shared(inner) => strip_datafusion(inner),
        D::ArrowError(inner, _) => inner.to_string(),
        D::Execution(m) | D::Plan(m) | D::NotImplemented(m) | D::Configuration(m) => m.clone(),
        D::External(inner) => inner.to_string(),
        D::SchemaError(inner, _) => inner.to_string(),
        other => {
            let s = other.to_string();
            s.strip_prefix("Error during planning: ")
                .map(str::to_string)
                .unwrap_or(s)
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
