//! Multi-key data methods of both client classes: one pipelined batch per server.

/// The multi-key methods: get_many, set_many, delete_many. Appends them to the methods gathered so far and hands all on to the next stage
/// (see [`super::client_methods!`]).
macro_rules! multi_key_methods {
    ($class:ident [$($methods:tt)*]) => {
        $crate::py::methods::meta::meta_and_lease_methods! { $class [
            $($methods)*

            /// `{key: value}` for the keys found; one pipelined batch per server, all in parallel.
            /// With `on_server_error="miss"`, keys of unreachable servers are simply not found.
            #[pyo3(signature = (keys, *, on_server_error = None))]
            fn get_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, on_server_error: Option<&str>) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::GetMany::new(keys)?, on_server_error)
            }

            /// Store every item of `mapping`; returns the keys that were not stored.
            #[pyo3(
                signature = (mapping, ttl = $crate::py::convert::Ttl(0), *, on_server_error = None),
                text_signature = "($self, mapping, ttl=0, *, on_server_error=None)"
            )]
            fn set_many(
                &self,
                py: Python<'_>,
                mapping: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::SetMany::new(self.serde(), mapping, ttl.0)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Delete many keys in one batch per server; returns how many existed.
            #[pyo3(signature = (keys, *, on_server_error = None))]
            fn delete_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, on_server_error: Option<&str>) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::DeleteMany::new(keys)?, on_server_error)
            }

            /// `delete_many` that carries on past unreachable servers and says which keys it
            /// could not delete: `(deleted, [keys])`. For the write-failure tracking wrapper.
            fn _delete_many_reporting(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::DeleteMany::reporting(keys)?, Some("miss"))
            }
        ] }
    };
}

pub(crate) use multi_key_methods;
