//! Protocol-neutral error codes shared by every crate.
//!
//! A code is data, never text to search: inside DataFusion's errors it rides as a
//! [`CodedError`] (found again by walking the error's sources), across Flight/gRPC as the
//! status details (see `blueshift_compute`), and only the leader's pgwire layer turns a
//! code into a SQLSTATE.

use arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Syntax,
    UndefinedTable,
    UndefinedColumn,
    DuplicateTable,
    DuplicateColumn,
    /// A named object other than a relation (a snapshot) that does not exist / already does.
    UndefinedObject,
    DuplicateObject,
    InvalidInput,
    StringTooLong,
    NotNull,
    DivisionByZero,
    NumericOutOfRange,
    CardinalityViolation,
    StatementTooComplex,
    FeatureNotSupported,
    NodeUnavailable,
    Storage,
    Cancelled,
    /// A COPY rejected more rows than MAXERROR allows, or its input is unreadable.
    BadCopyData,
    /// A COPY source (object, prefix, manifest entry) that does not exist.
    UndefinedFile,
    /// An UNLOAD target that already holds files.
    DuplicateFile,
    /// The object store refused the credentials.
    AccessDenied,
    /// A transaction statement outside a transaction block.
    NoActiveTransaction,
    /// A savepoint that does not exist.
    InvalidSavepoint,
    /// A statement in a transaction block that has failed.
    InFailedTransaction,
    /// A statement that cannot run inside a transaction block.
    ActiveTransaction,
    /// A transaction that lost a write conflict (the first committer wins).
    SerializationFailure,
    /// A statement for one kind of object named another kind (DROP TABLE of a view).
    WrongObjectType,
    /// A function that does not exist.
    UndefinedFunction,
    /// An object others depend on (a user who still owns tables).
    DependentObjects,
    /// A value a statement's option cannot take (a password that breaks the rules).
    InvalidParameter,
    /// A schema that does not exist.
    UndefinedSchema,
    /// A schema that already exists.
    DuplicateSchema,
    /// A privilege that the object's kind does not have (USAGE on a table).
    InvalidGrant,
    /// A name the system keeps for itself (a schema named `pg_…`).
    ReservedName,
    /// A query needed more memory than its node's limit and could not spill.
    OutOfMemory,
    Internal,
}

const ALL: &[Code] = &[
    Code::Syntax,
    Code::UndefinedTable,
    Code::UndefinedColumn,
    Code::DuplicateTable,
    Code::DuplicateColumn,
    Code::UndefinedObject,
    Code::DuplicateObject,
    Code::InvalidInput,
    Code::StringTooLong,
    Code::NotNull,
    Code::DivisionByZero,
    Code::NumericOutOfRange,
    Code::CardinalityViolation,
    Code::StatementTooComplex,
    Code::FeatureNotSupported,
    Code::NodeUnavailable,
    Code::Storage,
    Code::Cancelled,
    Code::BadCopyData,
    Code::UndefinedFile,
    Code::DuplicateFile,
    Code::AccessDenied,
    Code::NoActiveTransaction,
    Code::InvalidSavepoint,
    Code::InFailedTransaction,
    Code::ActiveTransaction,
    Code::SerializationFailure,
    Code::WrongObjectType,
    Code::DependentObjects,
    Code::InvalidParameter,
    Code::UndefinedFunction,
    Code::UndefinedSchema,
    Code::DuplicateSchema,
    Code::InvalidGrant,
    Code::ReservedName,
    Code::OutOfMemory,
    Code::Internal,
];

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Code::Syntax => "syntax",
            Code::UndefinedTable => "undefined_table",
            Code::UndefinedColumn => "undefined_column",
            Code::DuplicateTable => "duplicate_table",
            Code::DuplicateColumn => "duplicate_column",
            Code::UndefinedObject => "undefined_object",
            Code::DuplicateObject => "duplicate_object",
            Code::InvalidInput => "invalid_input",
            Code::StringTooLong => "string_too_long",
            Code::NotNull => "not_null",
            Code::DivisionByZero => "division_by_zero",
            Code::NumericOutOfRange => "numeric_out_of_range",
            Code::CardinalityViolation => "cardinality_violation",
            Code::StatementTooComplex => "statement_too_complex",
            Code::FeatureNotSupported => "feature_not_supported",
            Code::NodeUnavailable => "node_unavailable",
            Code::Storage => "storage",
            Code::Cancelled => "cancelled",
            Code::BadCopyData => "bad_copy_data",
            Code::UndefinedFile => "undefined_file",
            Code::DuplicateFile => "duplicate_file",
            Code::AccessDenied => "access_denied",
            Code::NoActiveTransaction => "no_active_transaction",
            Code::InvalidSavepoint => "invalid_savepoint",
            Code::InFailedTransaction => "in_failed_transaction",
            Code::ActiveTransaction => "active_transaction",
            Code::SerializationFailure => "serialization_failure",
            Code::WrongObjectType => "wrong_object_type",
            Code::DependentObjects => "dependent_objects",
            Code::UndefinedFunction => "undefined_function",
            Code::InvalidParameter => "invalid_parameter",
            Code::UndefinedSchema => "undefined_schema",
            Code::DuplicateSchema => "duplicate_schema",
            Code::InvalidGrant => "invalid_grant",
            Code::ReservedName => "reserved_name",
            Code::OutOfMemory => "out_of_memory",
            Code::Internal => "internal",
        }
    }

    /// The code a name stands for (as [`Code::name`] gives it).
    pub fn from_name(name: &str) -> Option<Code> {
        ALL.iter().copied().find(|c| c.name() == name)
    }

    /// The code of a DataFusion error: a [`CodedError`] inside it wins; otherwise the kind of
    /// its root cause.
    pub fn of_datafusion(e: &DataFusionError) -> Code {
        if let Some(coded) = CodedError::find(e) {
            return coded.code;
        }
        match e.find_root() {
            DataFusionError::SQL(_, _) => Code::Syntax,
            DataFusionError::SchemaError(s, _) => match s.as_ref() {
                SchemaError::FieldNotFound { .. } => Code::UndefinedColumn,
                _ => Code::InvalidInput,
            },
            DataFusionError::NotImplemented(_) => Code::FeatureNotSupported,
            DataFusionError::ResourcesExhausted(_) => Code::OutOfMemory,
            DataFusionError::ArrowError(a, _) => Code::of_arrow(a),
            // The planner's only word for a function it does not know.
            DataFusionError::Plan(m) if m.starts_with("Invalid function") => {
                Code::UndefinedFunction
            }
            _ => Code::Internal,
        }
    }

    /// The code of an Arrow kernel's error, by its kind.
    pub fn of_arrow(e: &ArrowError) -> Code {
        if let Some(coded) = CodedError::find(e) {
            return coded.code;
        }
        match e {
            ArrowError::DivideByZero => Code::DivisionByZero,
            ArrowError::ArithmeticOverflow(_) => Code::NumericOutOfRange,
            ArrowError::CastError(_)
            | ArrowError::ParseError(_)
            | ArrowError::InvalidArgumentError(_) => Code::InvalidInput,
            _ => Code::Internal,
        }
    }
}

/// An error message with its code, as it travels inside DataFusion and Arrow errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodedError {
    pub code: Code,
    pub message: String,
}

impl std::fmt::Display for CodedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodedError {}

impl CodedError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        CodedError {
            code,
            message: message.into(),
        }
    }

    /// The first coded error among `e` and its sources.
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a CodedError> {
        let mut next = Some(e);
        while let Some(err) = next {
            if let Some(coded) = err.downcast_ref::<CodedError>() {
                return Some(coded);
            }
            if let Some(df) = err.downcast_ref::<DataFusionError>()
                && let DataFusionError::Shared(inner) = df
            {
                next = Some(inner.as_ref());
                continue;
            }
            next = err.source();
        }
        None
    }
}

impl From<CodedError> for DataFusionError {
    fn from(e: CodedError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// The message of a DataFusion error as a user should read it: a coded error's own
/// message, or the root cause without DataFusion's "Execution error: " style wrapping.
pub fn datafusion_message(e: &DataFusionError) -> String {
    if let Some(coded) = CodedError::find(e) {
        return coded.message.clone();
    }
    match e.find_root() {
        DataFusionError::ArrowError(inner, _) => inner.to_string(),
        DataFusionError::Execution(m)
        | DataFusionError::Plan(m)
        | DataFusionError::NotImplemented(m)
        | DataFusionError::Configuration(m) => m.clone(),
        DataFusionError::External(inner) => inner.to_string(),
        DataFusionError::SchemaError(inner, _) => match inner.as_ref() {
            SchemaError::FieldNotFound { field, .. } => {
                format!("column \"{}\" does not exist", field.name)
            }
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}
