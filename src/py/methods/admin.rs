//! Server-wide commands and introspection methods of both client classes.

/// Server-wide commands and introspection: flush_all, stats, version, placement, pool and health reports. Appends them to the methods gathered so far and hands all on to the next stage
/// (see [`super::client_methods!`]).
macro_rules! admin_methods {
    ($class:ident [$($methods:tt)*]) => {
        $crate::py::constructor::constructor_options! { @new $class [
            $($methods)*

            /// Invalidate every item on every server (after `delay` seconds).
            #[pyo3(signature = (delay = $crate::py::convert::Delay(0)), text_signature = "($self, delay=0)")]
            fn flush_all(&self, py: Python<'_>, delay: $crate::py::convert::Delay) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::FlushAll(delay.0))
            }

            /// `{server: {stat: value}}`; numbers are converted to int / float. Arguments are the
            /// command's words: `stats("settings")`, `stats("slabs")`, `stats("cachedump", "1", "1")`
            /// (whose `ITEM key [size b; expiry s]` lines come back as `{key: "[size b; expiry s]"}`).
            #[pyo3(signature = (*args))]
            fn stats(&self, py: Python<'_>, args: Vec<$crate::py::convert::Text>) -> PyResult<Py<PyAny>> {
                let args = args.into_iter().map(|word| word.0).collect();
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Stats::new(args)?)
            }

            /// Send a classic command (e.g. `"cache_memlimit 64"`) to every server: `{server: reply
            /// bytes}`, its one line, or with `end` everything before `end`. For the pymemcache
            /// compatibility layer; error replies raise.
            #[pyo3(signature = (line, end = None))]
            fn _text_command(&self, py: Python<'_>, line: String, end: Option<Vec<u8>>) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::TextCommand::new(line, end)?)
            }

            /// `{server: version string}`.
            fn version(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Version)
            }

            /// The server (`"host:port"`) that holds `key`.
            fn server_for(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
                $crate::py::options::server_for(self.cluster(), key)
            }

            /// The name of the pool `key` is routed to (by the `routes=` prefixes): a named
            /// cache checks its `pool=` with it.
            fn _pool_of(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
                $crate::py::options::pool_of(self.cluster(), key)
            }

            /// What decides which servers keys go to, canonically: equal for two clients that send
            /// every key to the same servers (for the write-failure tracker).
            #[getter]
            fn _placement_identity(&self) -> String {
                $crate::py::options::placement_identity(self.cluster(), self.split_keys())
            }

            /// Where `key`'s requests go: `(server, wire key, base64 flag)`. Every spelling of
            /// one item (str or bytes, a tuple routed by the key itself) gives the same.
            fn _wire_location<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
                $crate::py::options::wire_location(py, self.cluster(), key)
            }

            /// The configured servers, in order.
            #[getter]
            fn servers(&self) -> Vec<String> {
                $crate::py::options::server_names(self.cluster())
            }

            /// `{server: {"open": n, "idle": n, "multiplexed": n, "queued": n}}`: this process's
            /// connections: blocking ones (open, idle), pipelined ones (`AsyncClient`'s, on its
            /// event loops or its runtime), and batches queued for the runtime's.
            fn pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                $crate::py::options::pool_stats(py, self.cluster(), &self.loop_connections())
            }

            /// `{server: {"down": bool, "failures": n, "consecutive_failures": n, "mark_downs": n,
            /// "rejoins": n, "refused": n, "last_error": str | None, "owed_deletes": n,
            /// "owes_flush": bool}}`: the last two are the deletes the server owes this process
            /// for writes it missed (paid before it is read again; see README, stand-ins).
            fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                $crate::py::options::health(py, self.cluster())
            }

            /// What this process's clients know servers owe (process-wide, see README,
            /// stand-ins): `{"owed": n, "paid": n, "flushes_owed": n, "windows": n,
            /// "pending": n}`: deletes recorded as owed and delivered so far, `flush_all`s owed
            /// instead of too many deletes, stand-in windows opened, deletes owed now.
            fn ledger_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                $crate::py::options::ledger_stats(py, self.cluster())
            }

            /// `{"hits": n, "misses": n, "admissions": n, "evictions": n, "refreshes": n,
            /// "size": n}` of the local hot-key cache, or None when `local_cache_size` is 0.
            fn local_cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, pyo3::types::PyDict>>> {
                $crate::py::options::local_cache_stats(py, self.local_cache())
            }
        ] }
    };
}

pub(crate) use admin_methods;
