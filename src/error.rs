//! The one error type of the core. Callers decide whether a server was unreachable from
//! `is_connection_lost` rather than by matching variants; `py::errors` translates each kind
//! into the Python exception tree.

use std::fmt;
use std::io;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a timeout struck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Opening the TCP / Unix connection.
    Connect,
    /// Waiting for (or writing) a request and its reply.
    Read,
    /// Waiting for a free connection in a full pool.
    Pool,
    /// The call used its whole timeout before its request was sent (converting, serializing,
    /// queueing): nothing was sent, and the server is not to blame.
    BeforeSend,
}

#[derive(Debug)]
pub enum Error {
    /// The key cannot be used (empty, or not `str`/`bytes`).
    InvalidKey(String),
    /// Bad argument: options, flags, server specs, values the serializer refuses.
    InvalidArgument(String),
    /// A value over the server's item size limit.
    ValueTooLarge {
        key: String,
        size: usize,
        limit: Option<usize>,
    },
    /// The server refused the request with `CLIENT_ERROR` (e.g. incr of a non-number).
    ClientErrorReply { server: String, message: String },
    /// The server answered `SERVER_ERROR`.
    ServerErrorReply { server: String, message: String },
    /// The server sent something that is not valid for the request: a protocol violation.
    UnexpectedReply { server: String, detail: String },
    /// Could not connect.
    Connect { server: String, source: io::Error },
    /// The connection broke (reset, EOF, write failure) during a request.
    ConnectionLost { server: String, detail: String },
    /// A timeout in the given phase.
    Timeout {
        server: String,
        phase: TimeoutPhase,
        after: std::time::Duration,
    },
    /// The server is marked down after failing; calls to it fail at once until `retry_in`.
    ServerDown {
        server: String,
        retry_in: std::time::Duration,
    },
    /// The server refused the credentials (`CLIENT_ERROR` to the authentication request).
    /// Holds the username, never the password.
    Authentication {
        server: String,
        username: String,
        reply: String,
    },
    /// The client was closed.
    Closed,
}

impl Error {
    /// A reply that did not come within `after`, the call's timeout: raised as `ReadTimeout`
    /// by both I/O paths.
    /// The call spent its `timeout` before its request was sent: nothing was sent, so the
    /// timeout never leaves a write that may or may not have happened.
    pub fn before_send(server: &str, after: std::time::Duration) -> Self {
        Error::Timeout {
            server: server.to_owned(),
            phase: TimeoutPhase::BeforeSend,
            after,
        }
    }

    pub fn read_timeout(server: &str, after: std::time::Duration) -> Self {
        Error::Timeout {
            server: server.to_owned(),
            phase: TimeoutPhase::Read,
            after,
        }
    }

    /// The server could not be reached or the connection failed: the request may or may not
    /// have been applied, and the connection it used has been discarded.
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Timeout { .. } | Error::ServerDown { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidKey(msg) | Error::InvalidArgument(msg) => f.write_str(msg),
            Error::ValueTooLarge {
                key,
                size,
                limit: Some(limit),
            } => {
                write!(
                    f,
                    "value for key {key} is {size} bytes, over the server's item size limit of {limit} bytes"
                )
            }
            Error::ValueTooLarge { key, size, limit: None } => {
                write!(
                    f,
                    "value for key {key} is {size} bytes, over the server's item size limit"
                )
            }
            Error::ClientErrorReply { server, message } => write!(f, "{server} refused the request: {message}"),
            Error::ServerErrorReply { server, message } => write!(f, "{server} failed: SERVER_ERROR {message}"),
            Error::UnexpectedReply { server, detail } => write!(f, "unexpected reply from {server}: {detail}"),
            Error::Connect { server, source } => write!(f, "cannot connect to {server}: {source}"),
            Error::ConnectionLost { server, detail } => write!(f, "connection to {server} lost: {detail}"),
            Error::Timeout { server, phase, after } => {
                let what = match phase {
                    TimeoutPhase::Connect => "connecting to",
                    TimeoutPhase::Read => "waiting for a reply from",
                    TimeoutPhase::Pool => "waiting for a free connection to",
                    TimeoutPhase::BeforeSend => "preparing (nothing was sent to)",
                };
                write!(f, "timed out after {:.3}s {what} {server}", after.as_secs_f64())
            }
            Error::ServerDown { server, retry_in } => {
                write!(
                    f,
                    "{server} is marked down after failing; retried in {:.1}s",
                    retry_in.as_secs_f64()
                )
            }
            Error::Authentication {
                server,
                username,
                reply,
            } => write!(f, "{server} refused the credentials of user {username:?}: {reply}"),
            Error::Closed => f.write_str("the client is closed"),
        }
    }
}

/// Errors are cloned when one failure ends many batches at once (a multiplexed connection
/// dying). The I/O source of a connect error is reduced to its kind and message.
impl Clone for Error {
    fn clone(&self) -> Self {
        match self {
            Error::InvalidKey(m) => Error::InvalidKey(m.clone()),
            Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
            Error::ValueTooLarge { key, size, limit } => Error::ValueTooLarge {
                key: key.clone(),
                size: *size,
                limit: *limit,
            },
            Error::ClientErrorReply { server, message } => Error::ClientErrorReply {
                server: server.clone(),
                message: message.clone(),
            },
            Error::ServerErrorReply { server, message } => Error::ServerErrorReply {
                server: server.clone(),
                message: message.clone(),
            },
            Error::UnexpectedReply { server, detail } => Error::UnexpectedReply {
                server: server.clone(),
                detail: detail.clone(),
            },
            Error::Connect { server, source } => Error::Connect {
                server: server.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::ConnectionLost { server, detail } => Error::ConnectionLost {
                server: server.clone(),
                detail: detail.clone(),
            },
            Error::Timeout { server, phase, after } => Error::Timeout {
                server: server.clone(),
                phase: *phase,
                after: *after,
            },
            Error::ServerDown { server, retry_in } => Error::ServerDown {
                server: server.clone(),
                retry_in: *retry_in,
            },
            Error::Authentication {
                server,
                username,
                reply,
            } => Error::Authentication {
                server: server.clone(),
                username: username.clone(),
                reply: reply.clone(),
            },
            Error::Closed => Error::Closed,
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } => Some(source),
            _ => None,
        }
    }
}
