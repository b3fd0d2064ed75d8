"""Django set up for its own cache test suite: settings like Django's ``runtests.py`` gives
its cache tests, a memcached of our own as the ``MemleaseCache`` location, and the test
database (``cache.tests`` uses models). Settings are made at import: Django's test module reads
``settings.CACHES`` when it is imported, during collection."""

from __future__ import annotations

import atexit
import sys
from collections.abc import Iterator

import django
import pytest
from django.conf import settings
from django.test.utils import setup_test_environment, teardown_test_environment

from memlease.testing import MemcachedServer
from tests.django_suite.django_sources import django_tests_dir

sys.path.insert(0, str(django_tests_dir()))

SERVER = MemcachedServer().start()
# Stopped by the session fixture below; also at exit, for runs that select none of its tests.
atexit.register(SERVER.stop)

# Timeouts for a loaded CI machine: with a new event loop per call (the async variant of
# Django's suite), every call opens its loop's connection; 0.25 s was seen to run out there.
PATIENT = {"timeout": 2.0, "connect_timeout": 2.0}
MEMLEASE_PARAMS = {
    "BACKEND": "memlease.django.MemleaseCache",
    "LOCATION": SERVER.address,
    "OPTIONS": PATIENT,
}

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="memlease-django-suite",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "cache",
        ],
        CACHES={"default": MEMLEASE_PARAMS},
        MIDDLEWARE=[],
        ROOT_URLCONF=[],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        USE_TZ=False,
        LANGUAGE_CODE="en",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()


@pytest.fixture(scope="session", autouse=True)
def django_test_database() -> Iterator[None]:
    """Django's test environment and database, for the whole session; the memcached stops
    with it."""
    from django.db import connection

    setup_test_environment()
    name = connection.creation.create_test_db(verbosity=0)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
        teardown_test_environment()
        SERVER.stop()
