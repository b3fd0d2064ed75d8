//! The constructor options of `Client` and `AsyncClient`, declared once: each option's name,
//! Rust type and default appear only in [`constructor_options!`]. From that list come the
//! [`Options`] struct, the `#[new]` method of both classes (its pyo3 signature and
//! parameters), and [`option_defaults`], which the Python package reads to build the public
//! signature and `help()` text. `tests/test_options.py` checks the stubs against it.

use super::convert::{Count, GutterTtl, MaxTtl, RemapTtl, Seconds};
use crate::route::health::{DEFAULT_FAILURES_TO_MARK_DOWN, DEFAULT_MARK_DOWN_PERIOD};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Defaults, in seconds / counts. Low, like production memcache clients: a cache that answers
/// slowly is worse than a miss.
pub const DEFAULT_CONNECT_TIMEOUT: f64 = 0.25;
pub const DEFAULT_TIMEOUT: f64 = 0.25;
pub const DEFAULT_POOL_TIMEOUT: f64 = 0.25;
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
pub const DEFAULT_FAILURES: usize = DEFAULT_FAILURES_TO_MARK_DOWN as usize;
pub const DEFAULT_MARK_DOWN_SECONDS: f64 = DEFAULT_MARK_DOWN_PERIOD.as_secs_f64();
/// TTL cap of everything written to the gutter pool, in seconds.
pub const DEFAULT_GUTTER_TTL: i64 = 10;
pub const DEFAULT_REMAP_TTL: i64 = 10;
/// Hot keys: copies of each split key; the local cache (off by default: it trades
/// read-your-own-writes across processes for load on the hottest keys).
pub const DEFAULT_HOT_KEY_COPIES: usize = 3;
pub const DEFAULT_LOCAL_CACHE_SIZE: usize = 0;
pub const DEFAULT_LOCAL_CACHE_TTL: f64 = 1.0;
pub const DEFAULT_LOCAL_CACHE_ADMISSION: f64 = 0.1;
pub const DEFAULT_LOCAL_CACHE_HOT_WINDOW: usize = 1;

/// The one list of options: `name: type = default`, in signature order (`servers` is the one
/// positional option; the rest are keyword-only). Types borrow from the call's arguments
/// (`'a`, `'py`). `constructor_options!(@what ...)` hands the list to
/// `constructor_options_from_list!`, whose arms build each thing made from it.
macro_rules! constructor_options {
    ($($what:tt)*) => {
        $crate::py::constructor::constructor_options_from_list! { $($what)* ;
            servers: Option<&'a Bound<'py, PyAny>> = None;
            connect_timeout: $crate::py::convert::Seconds = $crate::py::convert::Seconds($crate::py::constructor::DEFAULT_CONNECT_TIMEOUT),
            timeout: $crate::py::convert::Seconds = $crate::py::convert::Seconds($crate::py::constructor::DEFAULT_TIMEOUT),
            max_connections: $crate::py::convert::Count = $crate::py::convert::Count($crate::py::constructor::DEFAULT_MAX_CONNECTIONS),
            pool_timeout: $crate::py::convert::Seconds = $crate::py::convert::Seconds($crate::py::constructor::DEFAULT_POOL_TIMEOUT),
            serde: Option<&'a Bound<'py, PyAny>> = None,
            pickle: bool = true,
            compress_threshold: Option<$crate::py::convert::Count> = Some($crate::py::convert::Count($crate::py::serde::DEFAULT_COMPRESS_THRESHOLD)),
            hashing: &'a str = "ketama",
            failures_to_mark_down: $crate::py::convert::Count = $crate::py::convert::Count($crate::py::constructor::DEFAULT_FAILURES),
            mark_down_period: $crate::py::convert::Seconds = $crate::py::convert::Seconds($crate::py::constructor::DEFAULT_MARK_DOWN_SECONDS),
            remap_on_failure: bool = false,
            remap_ttl: $crate::py::convert::RemapTtl = $crate::py::convert::RemapTtl($crate::py::constructor::DEFAULT_REMAP_TTL),
            on_server_error: &'a str = "raise",
            on_event: Option<&'a Bound<'py, PyAny>> = None,
            gutter: Option<&'a Bound<'py, PyAny>> = None,
            gutter_ttl: $crate::py::convert::GutterTtl = $crate::py::convert::GutterTtl($crate::py::constructor::DEFAULT_GUTTER_TTL),
            mirror: Option<&'a Bound<'py, PyAny>> = None,
            pools: Option<&'a Bound<'py, PyAny>> = None,
            routes: Option<&'a Bound<'py, PyAny>> = None,
            max_ttl: Option<$crate::py::convert::MaxTtl> = None,
            hot_keys: Option<&'a Bound<'py, PyAny>> = None,
            hot_key_copies: $crate::py::convert::Count = $crate::py::convert::Count($crate::py::constructor::DEFAULT_HOT_KEY_COPIES),
            local_cache_size: $crate::py::convert::Count = $crate::py::convert::Count($crate::py::constructor::DEFAULT_LOCAL_CACHE_SIZE),
            local_cache_ttl: $crate::py::convert::Seconds = $crate::py::convert::Seconds($crate::py::constructor::DEFAULT_LOCAL_CACHE_TTL),
            local_cache_admission: f64 = $crate::py::constructor::DEFAULT_LOCAL_CACHE_ADMISSION,
            local_cache_hot_window: $crate::py::convert::Count = $crate::py::convert::Count($crate::py::constructor::DEFAULT_LOCAL_CACHE_HOT_WINDOW),
            io: &'a str = "loop",
            username: Option<&'a str> = None,
            password: Option<&'a str> = None,
        }
    };
}

/// What is built from the option list (see [`constructor_options!`]).
macro_rules! constructor_options_from_list {
    // The struct the `#[new]` method fills, before validation (`py::options` validates it).
    (@struct ; $first:ident : $first_ty:ty = $first_default:expr ; $($name:ident : $ty:ty = $default:expr,)*) => {
        /// Constructor arguments, before validation.
        pub struct Options<'a, 'py> {
            pub $first: $first_ty,
            $(pub $name: $ty,)*
        }
    };
    // `{name: default}` in signature order, for the Python package.
    (@defaults ; $first:ident : $first_ty:ty = $first_default:expr ; $($name:ident : $ty:ty = $default:expr,)*) => {
        /// `{option: default}` in signature order: the Python package builds the classes'
        /// public signature and `help()` text from it.
        #[pyfunction]
        pub fn _option_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
            let defaults = PyDict::new(py);
            fill(&defaults)?;
            return Ok(defaults);

            // Typed as the parameters are, so each default converts as a passed value would.
            fn fill<'a, 'py>(defaults: &'a Bound<'py, PyDict>) -> PyResult<()> {
            let $first: $first_ty = $first_default;
            defaults.set_item(stringify!($first), $first)?;
            $(
                let $name: $ty = $default;
                defaults.set_item(stringify!($name), $name)?;
            )*
            Ok(())
            }
        }
    };
    // The `#[new]` method, then the rest of the class's methods (`py::methods`).
    (@new $class:ident [$($methods:tt)*] ; $first:ident : $first_ty:ty = $first_default:expr ; $($name:ident : $ty:ty = $default:expr,)*) => {
        $crate::py::methods::emit_methods! { $class [
            $($methods)*

            #[new]
            #[pyo3(signature = ($first = $first_default, * $(, $name = $default)*))]
            #[allow(clippy::too_many_arguments)]
            fn new<'a, 'py>($first: $first_ty $(, $name: $ty)*) -> PyResult<Self> {
                <Self as $crate::py::methods::ClientClass>::from_options($crate::py::constructor::Options {
                    $first $(, $name)*
                })
            }
        ] }
    };
}

pub(crate) use constructor_options;
pub(crate) use constructor_options_from_list;

constructor_options!(@struct);
constructor_options!(@defaults);

/// Rust defaults as the Python values a caller would pass.
macro_rules! as_python_number {
    ($($name:ident),*) => {$(
        impl<'py> IntoPyObject<'py> for $name {
            type Target = PyAny;
            type Output = Bound<'py, PyAny>;
            type Error = PyErr;

            fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
                Ok(self.0.into_pyobject(py)?.into_any())
            }
        }
    )*};
}

as_python_number!(Seconds, Count, GutterTtl, RemapTtl, MaxTtl);
