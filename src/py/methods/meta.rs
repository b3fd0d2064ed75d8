//! Raw meta commands (any flags) and the lease / invalidation methods of both client classes.

/// Raw meta commands and the lease / invalidation methods. Appends them to the methods gathered so far and hands all on to the next stage
/// (see [`super::client_methods!`]).
macro_rules! meta_and_lease_methods {
    ($class:ident [$($methods:tt)*]) => {
        $crate::py::methods::admin::admin_methods! { $class [
            $($methods)*

            /// `mg` with any flags (`"v c t N30"`); returns every return flag.
            #[pyo3(signature = (key, flags = $crate::py::convert::Text::default()), text_signature = "($self, key, flags='')")]
            fn meta_get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: $crate::py::convert::Text) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Meta::new($crate::protocol::request::Command::Get, key, &flags.0)?)
            }

            /// `ms` with any flags (`"T60 C123 I"`); the value is serialized and its client flags sent
            /// unless `flags` sets `F` itself.
            #[pyo3(signature = (key, value, flags = $crate::py::convert::Text::default()), text_signature = "($self, key, value, flags='')")]
            fn meta_set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, flags: $crate::py::convert::Text) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Meta::set(self.serde(), key, value, &flags.0)?)
            }

            /// `md` with any flags (`"I T30"` marks stale instead of deleting).
            #[pyo3(signature = (key, flags = $crate::py::convert::Text::default()), text_signature = "($self, key, flags='')")]
            fn meta_delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: $crate::py::convert::Text) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Meta::new($crate::protocol::request::Command::Delete, key, &flags.0)?)
            }

            /// `ma` with any flags (`"N0 J10 D3 MD v"`); with `v` the value is the new number.
            #[pyo3(signature = (key, flags = $crate::py::convert::Text::default()), text_signature = "($self, key, flags='')")]
            fn meta_arithmetic(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: $crate::py::convert::Text) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Meta::new($crate::protocol::request::Command::Arithmetic, key, &flags.0)?)
            }

            /// Read `key` for a lease-managed caller (`mg k v f c t [N<lease_ttl>] [R<recache_ttl>]`):
            /// a `LeaseResult` saying whether a value was found, and whether this caller won
            /// the right to compute it (a miss, a stale item, or one due for an early refresh).
            #[pyo3(signature = (key, *, lease_ttl = None, recache_ttl = None))]
            fn lease_get(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                lease_ttl: Option<$crate::py::convert::LeaseTtl>,
                recache_ttl: Option<$crate::py::convert::RecacheTtl>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::lease::LeaseGet::new(key, lease_ttl.map(|t| t.0), recache_ttl.map(|t| t.0))?;
                self.execute_with(py, started, op, Some("raise"))
            }

            /// `lease_get` of `key` and plain reads of the counter keys `counters`, in one round
            /// trip: `(LeaseResult, client_flags, [counter or None])`, the result's value being
            /// the entry's stored bytes, undecoded. The named caches' tag check.
            #[pyo3(signature = (key, counters, *, lease_ttl = None, recache_ttl = None))]
            fn _lease_get_with_counters(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                counters: &Bound<'_, PyAny>,
                lease_ttl: Option<$crate::py::convert::LeaseTtl>,
                recache_ttl: Option<$crate::py::convert::RecacheTtl>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::lease::LeaseGetWithCounters::new(key, counters, lease_ttl.map(|t| t.0), recache_ttl.map(|t| t.0))?;
                self.execute_with(py, started, op, Some("raise"))
            }

            /// Store `value` only if the item's CAS is still `cas` (the one `lease_get` returned):
            /// a write or invalidation since then wins and this returns False. Without `cas`, a
            /// plain store. `compute_time` (seconds) is kept with the value for early expiry.
            /// `client_flags`: `value` is bytes its caller encoded, stored as is with these flags.
            #[pyo3(
                signature = (key, value, cas = None, ttl = $crate::py::convert::Ttl(0), *, compute_time = None, client_flags = None),
                text_signature = "($self, key, value, cas=None, ttl=0, *, compute_time=None, client_flags=None)"
            )]
            #[allow(clippy::too_many_arguments)]
            fn fill(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                cas: Option<$crate::py::convert::Cas>,
                ttl: $crate::py::convert::Ttl,
                compute_time: Option<f64>,
                client_flags: Option<u32>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let compute_time = $crate::py::convert::compute_time(compute_time)?;
                let op = $crate::py::lease::fill(self.serde(), key, value, cas.map(|c| c.0), ttl.0, compute_time, client_flags)?;
                self.execute_with(py, started, op, Some("raise"))
            }

            /// Delete `key`, or with `stale_ttl` mark it stale for that long (readers get the old
            /// value flagged stale while one of them refreshes it); with `cas`, only if the CAS
            /// still matches. True if the key existed. Always raises when the server cannot be
            /// reached: a lost invalidation must not look like a done one.
            #[pyo3(signature = (key, *, stale_ttl = None, cas = None))]
            fn invalidate(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                stale_ttl: Option<$crate::py::convert::StaleTtl>,
                cas: Option<$crate::py::convert::Cas>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::lease::Invalidate::new(key, stale_ttl.map(|t| t.0), cas.map(|c| c.0))?;
                self.execute_with(py, started, op, Some("raise"))
            }
        ] }
    };
}

pub(crate) use meta_and_lease_methods;
