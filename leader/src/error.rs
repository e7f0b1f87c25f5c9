//! Leader errors. Each maps to a protocol-neutral [`Code`]; `server` alone turns codes into
//! SQLSTATEs.

use blueshift_storage::Code;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{message}")]
    Syntax { message: String, position: Option<usize> },
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
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
            Error::InvalidInput(_) => Code::InvalidInput,
            Error::ValueTooLong { .. } => Code::StringTooLong,
            Error::NotNull(_) => Code::NotNull,
            Error::NotSupported(_) => Code::FeatureNotSupported,
            Error::NotReady(_) => Code::NodeUnavailable,
            Error::Storage(e) => e.code(),
            Error::Compute(e) => e.code(),
            Error::DataFusion(e) => classify_datafusion(e),
            Error::Arrow(e) => classify_message(&e.to_string()),
            Error::Io(_) => Code::Storage,
        }
    }

    /// The text a user sees: the code tag and DataFusion's wrapping removed.
    pub fn user_message(&self) -> String {
        let raw = match self {
            Error::DataFusion(e) => strip_datafusion(e),
            other => other.to_string(),
        };
        Code::extract(&raw).1
    }
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
            s.strip_prefix("Error during planning: ").map(str::to_string).unwrap_or(s)
        }
    }
}

fn classify_datafusion(e: &datafusion::error::DataFusionError) -> Code {
    use datafusion::error::DataFusionError as D;
    let text = e.to_string();
    if let (Some(code), _) = Code::extract(&text) {
        return code;
    }
    match e.find_root() {
        D::SQL(_, _) => Code::Syntax,
        D::SchemaError(s, _) => match s.as_ref() {
            datafusion::common::SchemaError::FieldNotFound { .. } => Code::UndefinedColumn,
            _ => Code::InvalidInput,
        },
        D::NotImplemented(_) => Code::FeatureNotSupported,
        _ => classify_message(&text),
    }
}

fn classify_message(text: &str) -> Code {
    let t = text.to_ascii_lowercase();
    if t.contains("divide by zero") || t.contains("division by zero") {
        Code::DivisionByZero
    } else if t.contains("table '") && t.contains("not found") {
        Code::UndefinedTable
    } else if t.contains("no field named") {
        Code::UndefinedColumn
    } else if t.contains("overflow") || t.contains("out of range") {
        Code::NumericOutOfRange
    } else if t.contains("cast") || t.contains("parse") || t.contains("invalid") {
        Code::InvalidInput
    } else {
        Code::Internal
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
