"""Django's own test classes for its memcached backends (``BaseMemcachedTests`` in Django's
``tests/cache/tests.py``, what it runs against ``PyMemcacheCache`` and ``PyLibMCCache``), run
against ``memlease.django.MemleaseCache`` and a real memcached: once through the sync methods,
once through the native async ones (``AsyncRoutedCache``).

Two of Django's tests patch pymemcache's own method names (``disconnect_all``,
``set_multi``); they are overridden below with the same check written for memlease. The three
culling tests skip themselves for every memcached backend (memcached evicts on its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from unittest import mock, skip

from cache.tests import (
    BaseMemcachedTests,
    caches_setting_for_tests,
    memcached_excluded_caches,
)
from django.core import signals
from django.core.cache import cache, caches
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections
from django.test import TestCase, override_settings

import memlease
from tests.django_suite.conftest import MEMLEASE_PARAMS, SERVER

ASYNC_ROUTED_PARAMS = {
    **MEMLEASE_PARAMS,
    "BACKEND": "tests.django_suite.async_routed.AsyncRoutedCache",
}
if TYPE_CHECKING:  # the checks below run in TestCase subclasses
    from django.test import TestCase as _Checks
else:
    _Checks = object


class MemleaseOwnChecks(_Checks):
    """The checks of Django's test classes that are specific to the client library (the
    memlease version of ``test_pymemcache_options``, ``test_pylibmc_client_servers``), and
    the two tests that patch pymemcache's method names."""

    base_params: dict[str, Any]

    def memlease_class(self) -> type:
        """The memlease class the backend's methods under test run on."""
        return memlease.Client

    def test_close(self) -> None:
        # Django's version asserts that `_class.disconnect_all` is (not) called. memlease has
        # no such method; what it protects is checked directly: the end of a request (which
        # calls close()) leaves the pooled connection open for the next call to reuse.
        cache.set("warm", 1)
        client = cache._cache
        before = (client.pool_stats(), connections_accepted(client))
        signals.request_finished.disconnect(close_old_connections)
        try:
            signals.request_finished.send(self.__class__)
        finally:
            signals.request_finished.connect(close_old_connections)
        self.assertEqual(client.get(cache.make_key("warm")), 1)
        self.assertEqual((client.pool_stats(), connections_accepted(client)), before)

    def test_set_many_returns_failing_keys(self) -> None:
        # Django's version patches pymemcache's `set_multi`; memlease's is `set_many`.
        def fail_set_many(mapping: Any, *args: Any, **kwargs: Any) -> Any:
            return list(mapping.keys())

        async def fail_set_many_async(mapping: Any, *args: Any, **kwargs: Any) -> Any:
            return list(mapping.keys())

        failing = fail_set_many if self.memlease_class() is memlease.Client else fail_set_many_async
        with mock.patch.object(self.memlease_class(), "set_many", side_effect=failing):
            failing_keys = cache.set_many({"key": "value"})
            self.assertEqual(failing_keys, ["key"])

    def test_memlease_options(self) -> None:
        # OPTIONS are the clients' options: modula placement sends keys where a modula client
        # of these servers does.
        options = {"hashing": "modula", "timeout": 1.5}
        params = {"BACKEND": self.base_params["BACKEND"], "OPTIONS": options}
        with self.settings(CACHES={"default": params}):
            self.assertEqual(cache._options, options)
        reference = memlease.Client([SERVER.address, "127.0.0.1:1"], hashing="modula")
        backend = type(caches["default"])(
            [SERVER.address, "127.0.0.1:1"], {"OPTIONS": {"hashing": "modula"}}
        )
        for key in ("a", "b", "c", "d"):
            made = backend.make_key(key)
            self.assertEqual(backend._cache.server_for(made), reference.server_for(made))
        reference.close()

    def test_unknown_option_is_improperly_configured(self) -> None:
        params = {"BACKEND": self.base_params["BACKEND"], "OPTIONS": {"no_delay": True}}
        unknown = "unknown OPTIONS ['no_delay']"
        with (
            self.settings(CACHES={"default": params}),
            self.assertRaisesMessage(ImproperlyConfigured, unknown),
        ):
            cache.get("k")

    def test_memlease_client_servers(self) -> None:
        backend = self.base_params["BACKEND"]
        for location, expected in [
            ("unix:/run/memcached/socket", ["unix:/run/memcached/socket"]),
            ("127.0.0.1", ["127.0.0.1"]),
            ("127.0.0.1:11211;10.0.0.2:11212", ["127.0.0.1:11211", "10.0.0.2:11212"]),
            (["[::1]:11211"], ["[::1]:11211"]),
        ]:
            settings = {"default": {"BACKEND": backend, "LOCATION": location}}
            with self.subTest(location), self.settings(CACHES=settings):
                self.assertEqual(cache.client_servers, expected)


def connections_accepted(client: memlease.Client) -> int:
    """How many connections the memcached has accepted so far (asked on a pooled one)."""
    return int(client.stats()[SERVER.address]["total_connections"])


@override_settings(
    CACHES=caches_setting_for_tests(base=MEMLEASE_PARAMS, exclude=memcached_excluded_caches)
)
class MemleaseCacheTests(MemleaseOwnChecks, BaseMemcachedTests, TestCase):
    base_params = MEMLEASE_PARAMS
    # memlease's pools outlive requests: close() keeps them (test_close above).
    should_disconnect_on_close = False
    # memcached refuses incr of a non-number; memlease raises that as ServerRejected.
    incr_decr_type_error: Any = memlease.ServerRejected

    # Culling (MAX_ENTRIES / CULL_FREQUENCY) is what Django's local-memory, file and database
    # caches do when full; memcached evicts by its own LRU instead, and Django's settings for
    # every memcached backend leave the cull caches out (memcached_excluded_caches), so these
    # tests have no cache to run against: Django's own memcached backends skip them too.
    _NO_CULLING = "memcached evicts by its own LRU: Django runs no cull test on memcached backends"

    @skip(_NO_CULLING)
    def test_cull(self) -> None: ...

    @skip(_NO_CULLING)
    def test_zero_cull(self) -> None: ...

    @skip(_NO_CULLING)
    def test_cull_delete_when_store_empty(self) -> None: ...


@override_settings(
    CACHES=caches_setting_for_tests(base=ASYNC_ROUTED_PARAMS, exclude=memcached_excluded_caches)
)
class MemleaseCacheAsyncMethodsTests(MemleaseCacheTests):
    """The same tests, every call made through the ``a*`` method on a new event loop."""

    base_params = ASYNC_ROUTED_PARAMS

    def memlease_class(self) -> type:
        return memlease.AsyncClient
