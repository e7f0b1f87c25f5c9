//! Protocol-neutral error codes shared by every crate.
//!
//! A code travels inside error text as a `[bs:NAME]` tag so that it survives DataFusion's
//! error wrapping and the gRPC/Flight hop from a compute node to the leader; only the
//! leader's pgwire layer turns a code into a SQLSTATE.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Syntax,
    UndefinedTable,
    UndefinedColumn,
    DuplicateTable,
    DuplicateColumn,
    InvalidInput,
    StringTooLong,
    NotNull,
    DivisionByZero,
    NumericOutOfRange,
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
    Internal,
}

const ALL: &[Code] = &[
    Code::Syntax,
    Code::UndefinedTable,
    Code::UndefinedColumn,
    Code::DuplicateTable,
    Code::DuplicateColumn,
    Code::InvalidInput,
    Code::StringTooLong,
    Code::NotNull,
    Code::DivisionByZero,
    Code::NumericOutOfRange,
    Code::FeatureNotSupported,
    Code::NodeUnavailable,
    Code::Storage,
    Code::Cancelled,
    Code::BadCopyData,
    Code::UndefinedFile,
    Code::DuplicateFile,
    Code::AccessDenied,
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
            Code::InvalidInput => "invalid_input",
            Code::StringTooLong => "string_too_long",
            Code::NotNull => "not_null",
            Code::DivisionByZero => "division_by_zero",
            Code::NumericOutOfRange => "numeric_out_of_range",
            Code::FeatureNotSupported => "feature_not_supported",
            Code::NodeUnavailable => "node_unavailable",
            Code::Storage => "storage",
            Code::Cancelled => "cancelled",
            Code::BadCopyData => "bad_copy_data",
            Code::UndefinedFile => "undefined_file",
            Code::DuplicateFile => "duplicate_file",
            Code::AccessDenied => "access_denied",
            Code::Internal => "internal",
        }
    }

    /// The tag embedded in error text, e.g. `[bs:string_too_long] `.
    pub fn tag(self) -> String {
        format!("[bs:{}] ", self.name())
    }

    /// Finds the first code tag in an error message and returns it with the message
    /// stripped of tags and of DataFusion's wrapping prefixes.
    pub fn extract(message: &str) -> (Option<Code>, String) {
        let mut found = None;
        let mut text = message.to_string();
        for code in ALL {
            let tag = code.tag();
            if let Some(pos) = text.find(&tag) {
                if found.is_none() {
                    found = Some(*code);
                    // Keep only what follows the tag: prefixes before it are wrapping.
                    text = text[pos + tag.len()..].to_string();
                } else {
                    text = text.replace(&tag, "");
                }
            }
        }
        (found, text)
    }
}

impl Code {
    /// The code of a DataFusion error: a tag inside it wins; otherwise its kind and text.
    pub fn of_datafusion(e: &datafusion::error::DataFusionError) -> Code {
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
            _ => Code::of_message(&text),
        }
    }

    /// The code of an error known only by its text (Arrow kernels and the like).
    pub fn of_message(text: &str) -> Code {
        let t = text.to_ascii_lowercase();
        if t.contains("divide by zero") || t.contains("division by zero") {
            Code::DivisionByZero
        } else if t.contains("table '") && t.contains("not found") {
            Code::UndefinedTable
        } else if t.contains("no field named") {
            Code::UndefinedColumn
        } else if t.contains("non-nullable but contains null") {
            Code::NotNull
        } else if t.contains("overflow") || t.contains("out of range") {
            Code::NumericOutOfRange
        } else if t.contains("cast") || t.contains("parse") || t.contains("invalid") {
            Code::InvalidInput
        } else {
            Code::Internal
        }
    }
}
