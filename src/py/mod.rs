//! All pyo3 glue: argument conversion, serialization, the exception mapping and the classes.

pub mod async_client;
pub mod behaviour;
pub mod client;
pub mod codec;
pub mod constructor;
pub mod convert;
pub mod delivery;
pub mod errors;
pub mod lease;
pub mod local_layer;
pub mod logging;
pub mod methods;
pub mod ops;
pub mod options;
pub mod result;
pub mod serde;
