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

    /// A list the client sent is longer than the server takes (400).
    #[error("{what} names {got}; at most {limit} are taken")]
    TooMany { what: &'static str, got: usize, limit: usize },

    /// A client behind a proxy with as many requests being answered as it may have (429, with
    /// `Retry-After`).
    #[error(
        "this client has {cap} requests being answered already, as many as one client may; send more once they end"
    )]
    ClientCap { cap: usize },

    /// Every heavy-work permit stayed taken for as long as a request may wait (503, with
    /// `Retry-After`).
    #[error("the server is busy: no worker was free within {waited:?}; try again shortly")]
    Busy { waited: std::time::Duration },

    /// The request's work spent its CPU allowance (503); it was stopped.
    #[error(
        "answering took more than {limit:?} of CPU time and was stopped; ask for less (a smaller limit, fewer fields, a simpler geometry)"
    )]
    TooCostly { limit: std::time::Duration },

    /// Nobody waits for the answer any more (the client hung up, or the server stops): never
    /// sent, only returned by work that stops early.
    #[error("nobody waits for this answer any more")]
    Abandoned,

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
            Error::TooMany { .. } => StatusCode::BAD_REQUEST,
            Error::ClientCap { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Busy { .. } | Error::TooCostly { .. } | Error::Abandoned => StatusCode::SERVICE_UNAVAILABLE,
            Error::Engine(tessera_engine::Error::BadQuery { .. }) => StatusCode::BAD_REQUEST,
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
            Error::TooMany { .. } => "InvalidParameterValue",
            Error::ClientCap { .. } => "TooManyRequests",
            Error::Busy { .. } | Error::TooCostly { .. } | Error::Abandoned => "ServiceUnavailable",
            Error::Engine(tessera_engine::Error::BadQuery { .. }) => "InvalidParameterValue",
            Error::Engine(_) | Error::Io { .. } | Error::Config(_) => "ServerError",
        }
    }
}
