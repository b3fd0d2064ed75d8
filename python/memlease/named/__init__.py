"""Named caches: one read-through call over request, in-process and memcached layers."""
