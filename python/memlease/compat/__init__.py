"""Drop-in layers for code written against other memcached clients.

:mod:`memlease.compat.pymemcache` has pymemcache 4's ``Client``, ``PooledClient`` and
``HashClient`` and its exception names, built on :class:`memlease.Client`.
"""
