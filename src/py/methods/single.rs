//! Single-key data methods of both client classes.

/// The single-key data methods: get, gets, the stores, cas, delete, touch, incr and decr.
/// Appends them to the methods gathered so far and hands all on to the next stage (see
/// [`super::client_methods!`]). Methods that differ only in their mode (set / add / replace,
/// append / prepend, incr / decr) are written once, by the `@stores`, `@concatenations` and
/// `@counters` arms.
macro_rules! single_key_methods {
    ($class:ident [$($methods:tt)*]) => {
        $crate::py::methods::single::single_key_methods! { @stores $class [
            $($methods)*

            /// The value stored under `key`, or `default` on a miss.
            #[pyo3(signature = (key, default = None, *, on_server_error = None))]
            fn get(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                default: Option<Py<PyAny>>,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Get::new(key, default)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// `(value, cas)` for `key`, or `(default, cas_default)` on a miss.
            #[pyo3(signature = (key, default = None, cas_default = None, *, on_server_error = None))]
            fn gets(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                default: Option<Py<PyAny>>,
                cas_default: Option<Py<PyAny>>,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Get::with_cas(key, default, cas_default)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Store only if the item's CAS is still `cas`: True if stored, False if the item
            /// changed since, None if it is gone.
            #[pyo3(
                signature = (key, value, cas, ttl = $crate::py::convert::Ttl(0), *, on_server_error = None),
                text_signature = "($self, key, value, cas, ttl=0, *, on_server_error=None)"
            )]
            fn cas(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                cas: $crate::py::convert::Cas,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Set, key, value, ttl.0, Some(cas.0))?
                    .missing_is_none();
                self.execute_with(py, started, op, on_server_error)
            }

            /// Delete `key`. True if it existed.
            #[pyo3(signature = (key, *, on_server_error = None))]
            fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, on_server_error: Option<&str>) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::Delete::new(key)?, on_server_error)
            }

            /// Set a new TTL. True if the key existed.
            #[pyo3(signature = (key, ttl, *, on_server_error = None))]
            fn touch(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::Touch::new(key, ttl.0)?, on_server_error)
            }
        ]
            (set, Set, "Store unconditionally. True when stored.")
            (add, Add, "Store only if `key` is absent.")
            (replace, Replace, "Store only if `key` exists.")
        }
    };
    (@stores $class:ident [$($methods:tt)*] $(($name:ident, $mode:ident, $doc:literal))*) => {
        $crate::py::methods::single::single_key_methods! { @concatenations $class [
            $($methods)*
            $(
            #[doc = $doc]
            #[pyo3(
                signature = (key, value, ttl = $crate::py::convert::Ttl(0), *, on_server_error = None),
                text_signature = "($self, key, value, ttl=0, *, on_server_error=None)"
            )]
            fn $name(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let mode = $crate::protocol::request::SetMode::$mode;
                let op = $crate::py::ops::Store::new(self.serde(), mode, key, value, ttl.0, None)?;
                self.execute_with(py, started, op, on_server_error)
            }
            )*
        ]
            (append, Append, "Append to an existing value (the serialized forms are concatenated; the TTL is kept).")
            (prepend, Prepend, "Prepend to an existing value.")
        }
    };
    (@concatenations $class:ident [$($methods:tt)*] $(($name:ident, $mode:ident, $doc:literal))*) => {
        $crate::py::methods::single::single_key_methods! { @counters $class [
            $($methods)*
            $(
            #[doc = $doc]
            #[pyo3(signature = (key, value, *, on_server_error = None))]
            fn $name(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let mode = $crate::protocol::request::SetMode::$mode;
                let op = $crate::py::ops::Store::new(self.serde(), mode, key, value, 0, None)?;
                self.execute_with(py, started, op, on_server_error)
            }
            )*
        ]
            (incr, Increment, "Add `delta`; returns the new value, or None if the key is missing and `initial` is None.\nWith `initial`, a missing key is created holding `initial` with `ttl`.")
            (decr, Decrement, "Subtract `delta` (never below 0); same contract as `incr`.")
        }
    };
    (@counters $class:ident [$($methods:tt)*] $(($name:ident, $mode:ident, $doc:literal))*) => {
        $crate::py::methods::multi::multi_key_methods! { $class [
            $($methods)*
            $(
            #[doc = $doc]
            #[pyo3(
                signature = (key, delta = $crate::py::convert::Delta(1), *, initial = None, ttl = $crate::py::convert::Ttl(0), on_server_error = None),
                text_signature = "($self, key, delta=1, *, initial=None, ttl=0, on_server_error=None)"
            )]
            fn $name(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                delta: $crate::py::convert::Delta,
                initial: Option<$crate::py::convert::Initial>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let mode = $crate::protocol::request::ArithmeticMode::$mode;
                let op = $crate::py::ops::Arithmetic::new(key, mode, delta.0, initial.map(|i| i.0), ttl.0)?;
                self.execute_with(py, started, op, on_server_error)
            }
            )*
        ] }
    };
}

pub(crate) use single_key_methods;
