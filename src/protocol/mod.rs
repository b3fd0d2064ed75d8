//! The meta protocol without I/O: encode requests, parse responses.
//!
//! Nothing here touches a socket, so every part is tested on byte buffers (round trips, every
//! split point of the input) and fuzzed (`fuzz/`).

pub mod flags;
pub mod request;
pub mod response;
pub mod text;

pub use flags::{parse_flags, FlagError};
pub use request::{encode_noop, ArithmeticMode, Command, Flag, Request, SetMode};
pub use response::{parse, Code, Parsed, ProtocolError, Response, ReturnFlags};
