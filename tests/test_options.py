"""The constructor options are declared once (the core's option list) and every other spelling
agrees with it: the stubs of both classes, the meanings table, the public signature and
``help()``."""

from __future__ import annotations

import ast
import inspect
import pathlib
from typing import Any

import memlease
from memlease import _core, _options

STUB = pathlib.Path(_core.__file__).with_name("_core.pyi")


def stub_defaults(class_name: str) -> dict[str, Any]:
    """The `__new__` parameters of `class_name` in the stub, with their default values."""
    tree = ast.parse(STUB.read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    new = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__new__")
    args = new.args
    positional = args.args[1:]  # without cls
    names = [a.arg for a in positional][len(positional) - len(args.defaults) :]
    defaults = dict(zip(names, args.defaults, strict=True))
    defaults.update(
        {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    )
    return {name: ast.literal_eval(node) for name, node in defaults.items()}


def core_defaults() -> dict[str, Any]:
    return {n: p.default for n, p in _options.core_signature().parameters.items()}


def test_the_core_declares_each_option_once_for_both_classes() -> None:
    declared = _core._option_defaults()
    for cls in (_core.Client, _core.AsyncClient):
        assert list(inspect.signature(cls).parameters) == list(declared)
    assert core_defaults() == declared
    assert declared["timeout"] == 0.25 and declared["hashing"] == "ketama"


def test_both_stubs_declare_the_cores_options_with_its_defaults() -> None:
    for name in ("Client", "AsyncClient"):
        assert stub_defaults(name) == core_defaults(), f"_core.pyi's {name} drifted"


def test_every_option_has_a_meaning_and_help_lists_it() -> None:
    public = inspect.signature(memlease.Client).parameters
    assert list(public) == [*core_defaults(), "write_failures"]
    assert set(_options.MEANINGS) == set(public), "an option without a meaning, or a stale one"
    for cls in (memlease.Client, memlease.AsyncClient):
        assert inspect.signature(cls) == inspect.signature(memlease.Client)
        doc = cls.__doc__ or ""
        for name, parameter in public.items():
            assert f"``{name}={parameter.default!r}``" in doc, f"{cls.__name__} help lacks {name}"
