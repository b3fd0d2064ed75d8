//! The one place core errors become Python exceptions (the tree is drawn in
//! `python/memlease/_errors.py`).

use crate::error::{Error, TimeoutPhase};
use pyo3::prelude::*;

pyo3::import_exception!(memlease._errors, MemcacheError);
pyo3::import_exception!(memlease._errors, InvalidKey);
pyo3::import_exception!(memlease._errors, InvalidArgument);
pyo3::import_exception!(memlease._errors, ValueTooLarge);
pyo3::import_exception!(memlease._errors, SerializationError);
pyo3::import_exception!(memlease._errors, ServerRejected);
pyo3::import_exception!(memlease._errors, ServerError);
pyo3::import_exception!(memlease._errors, UnexpectedReply);
pyo3::import_exception!(memlease._errors, MemcacheConnectionError);
pyo3::import_exception!(memlease._errors, ServerDown);
pyo3::import_exception!(memlease._errors, ConnectTimeout);
pyo3::import_exception!(memlease._errors, ReadTimeout);
pyo3::import_exception!(memlease._errors, PoolTimeout);
pyo3::import_exception!(memlease._errors, AuthenticationError);

impl From<Error> for PyErr {
    fn from(error: Error) -> PyErr {
        let message = error.to_string();
        match error {
            Error::InvalidKey(_) => InvalidKey::new_err(message),
            Error::InvalidArgument(_) => InvalidArgument::new_err(message),
            Error::ValueTooLarge { size, limit, .. } => ValueTooLarge::new_err((message, size, limit)),
            Error::ClientErrorReply { .. } => ServerRejected::new_err(message),
            Error::ServerErrorReply { .. } => ServerError::new_err(message),
            Error::UnexpectedReply { .. } => UnexpectedReply::new_err(message),
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Closed => {
                MemcacheConnectionError::new_err(message)
            }
            Error::Authentication { .. } => AuthenticationError::new_err(message),
            Error::ServerDown { retry_in, .. } => ServerDown::new_err((message, retry_in.as_secs_f64())),
            Error::Timeout {
                phase: TimeoutPhase::Connect,
                ..
            } => ConnectTimeout::new_err(message),
            Error::Timeout {
                phase: TimeoutPhase::Read | TimeoutPhase::BeforeSend,
                ..
            } => ReadTimeout::new_err(message),
            Error::Timeout {
                phase: TimeoutPhase::Pool,
                ..
            } => PoolTimeout::new_err(message),
        }
    }
}

/// Shorthand for argument errors raised by the glue itself.
pub fn invalid_argument(message: impl Into<String>) -> PyErr {
    InvalidArgument::new_err(message.into())
}

pub fn serialization_error(message: impl Into<String>) -> PyErr {
    SerializationError::new_err(message.into())
}

/// A `SerializationError` saying `message`, with the exception that caused it (a pickle or a
/// custom serde failure) as its `__cause__`, so the original type and traceback stay visible.
/// Errors that are already memlease's, and non-`Exception`s such as `KeyboardInterrupt`, pass
/// through unchanged.
pub fn serialization_error_from(py: Python<'_>, message: impl Into<String>, cause: PyErr) -> PyErr {
    if cause.is_instance_of::<MemcacheError>(py) || !cause.is_instance_of::<pyo3::exceptions::PyException>(py) {
        return cause;
    }
    let error = serialization_error(message);
    error.set_cause(py, Some(cause));
    error
}
