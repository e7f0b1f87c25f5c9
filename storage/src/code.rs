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
    InvalidInput,
    StringTooLong,
    NotNull,
    DivisionByZero,
    NumericOutOfRange,
    FeatureNotSupported,
    NodeUnavailable,
    Storage,
    Cancelled,
    Internal,
}

const ALL: &[Code] = &[
    Code::Syntax,
    Code::UndefinedTable,
    Code::UndefinedColumn,
    Code::DuplicateTable,
    Code::InvalidInput,
    Code::StringTooLong,
    Code::NotNull,
    Code::DivisionByZero,
    Code::NumericOutOfRange,
    Code::FeatureNotSupported,
    Code::NodeUnavailable,
    Code::Storage,
    Code::Cancelled,
    Code::Internal,
];

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Code::Syntax => "syntax",
            Code::UndefinedTable => "undefined_table",
            Code::UndefinedColumn => "undefined_column",
            Code::DuplicateTable => "duplicate_table",
            Code::InvalidInput => "invalid_input",
            Code::StringTooLong => "string_too_long",
            Code::NotNull => "not_null",
            Code::DivisionByZero => "division_by_zero",
            Code::NumericOutOfRange => "numeric_out_of_range",
            Code::FeatureNotSupported => "feature_not_supported",
            Code::NodeUnavailable => "node_unavailable",
            Code::Storage => "storage",
            Code::Cancelled => "cancelled",
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
