//! The server's one error type. Each variant knows its HTTP status and its OGC API error
//! code, and its message names the offending parameter or value.

use hyper::StatusCode;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a request or the server itself can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter or body the client must fix (400).
    #[error("{0}")]
    BadRequest(String),

    /// No such collection, item, store or path (404).
    #[error("{0}")]
    NotFound(String),

    /// A method the path does not serve (405).
    #[error("method {method} is not allowed on {path}; allowed: {allow}")]
    MethodNotAllowed { method: String, path: String, allow: &'static str },

    /// A request body over the limit (413).
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },

    /// A client too slow to send what it must (408).
    #[error("{what} took longer than {limit:?}")]
    Timeout { what: &'static str, limit: std::time::Duration },

    /// The inventory could not be opened or read.
    #[error(transparent)]
    Engine(#[from] tessera_engine::Error),

    /// A socket or file operation failed.
    #[error("{action}: {source}")]
    Io { action: String, source: std::io::Error },

    /// A setting the server cannot start with.
    #[error("{0}")]
    Config(String),
}

impl Error {
    pub fn bad(message: impl Into<String>) -> Error {
        Error::BadRequest(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::Engine(_) | Error::Io { .. } | Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `code` of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "InvalidParameterValue",
            Error::NotFound(_) => "NotFound",
            Error::MethodNotAllowed { .. } => "MethodNotAllowed",
            Error::BodyTooLarge { .. } => "PayloadTooLarge",
            Error::Timeout { .. } => "RequestTimeout",
            Error::Engine(_) | Error::Io { .. } | Error::Config(_) => "ServerError",
        }
    }
}
