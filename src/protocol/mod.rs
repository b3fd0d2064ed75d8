//! The meta protocol without I/O: encode requests, parse responses, map keys to the wire.
//!
//! Nothing here touches a socket, so every part is tested on byte buffers (round trips, every
//! split point of the input) and fuzzed (`fuzz/`).
//!
//! - [`request`]: encode `mg ms md ma mn me` with every flag; [`flags`]: parse user flag strings.
//! - [`response`]: parse every reply code and return flag; [`text`]: `stats`, `version`,
//!   `flush_all`.
//! - [`reply`]: cut one batch's replies off a byte stream and pin each on its request.
//! - [`keys`]: user key -> wire key (plain, base64 with `b`, digest, routed alias).

pub mod flags;
pub mod keys;
pub mod reply;
pub mod request;
pub mod response;
pub mod text;

pub use flags::{parse_flags, FlagError};
pub use request::{encode_noop, ArithmeticMode, Command, Flag, Request, SetMode};
pub use response::{parse, Code, Parsed, ProtocolError, Response, ReturnFlags};
