"""The wheel installs and works where no Rust toolchain exists, and both distributions carry
the license. `make test-wheel` passes the portable wheel of `make wheel` in MEMLEASE_WHEEL;
without it (plain `make test`) a wheel is built here, for this machine's glibc."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from memlease.testing import MemcachedServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
MATURIN = Path(sys.executable).with_name("maturin")
# Where a Rust toolchain lives; none of it may be reachable from the fresh virtualenv.
RUST_HOMES = [Path.home() / ".cargo", Path.home() / ".rustup"] + [
    Path(os.environ[var]) for var in ("CARGO_HOME", "RUSTUP_HOME") if var in os.environ
]

ROUND_TRIP = """
import asyncio, json, logging, sys
import memlease

address = sys.argv[1]
with memlease.Client(address) as client:
    client.set("wheel:key", {"n": 1})
    got = client.get("wheel:key")

async def main():
    async with memlease.AsyncClient(address) as client:
        await client.set("wheel:async", b"bytes")
        return await client.get("wheel:async")

print(json.dumps({"file": memlease.__file__, "sync": got, "async": asyncio.run(main()).decode()}))
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("MEMLEASE_WHEEL")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([MATURIN, "build", "--release", "--quiet", "--out", out], cwd=ROOT, check=True)
    (built,) = out.glob("memlease-*.whl")
    return built


def without_rust(env: dict[str, str]) -> dict[str, str]:
    """The environment minus every directory of a Rust toolchain and the dev virtualenv."""
    dev_venv = Path(sys.prefix)

    def kept(entry: str) -> bool:
        path = Path(entry).resolve()
        return not any(path.is_relative_to(home) for home in [*RUST_HOMES, dev_venv])

    clean = {k: v for k, v in env.items() if k not in ("CARGO_HOME", "RUSTUP_HOME", "VIRTUAL_ENV")}
    clean["PATH"] = os.pathsep.join(filter(kept, env.get("PATH", "").split(os.pathsep)))
    for tool in ("cargo", "rustc", "rustup"):
        assert shutil.which(tool, path=clean["PATH"]) is None, f"{tool} is still on PATH"
    return clean


def test_wheel_installs_and_round_trips_without_rust(
    wheel: Path, server: MemcachedServer, tmp_path: Path
) -> None:
    assert "abi3" in wheel.name and ("manylinux" in wheel.name or "linux" in wheel.name)
    env = without_rust(dict(os.environ))
    venv = tmp_path / "venv"
    # The base interpreter, not the dev virtualenv's (which holds memlease in editable form).
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", venv], check=True, env=env)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", wheel], check=True, env=env)
    ran = subprocess.run(
        [python, "-c", ROUND_TRIP, server.address],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    result = json.loads(ran.stdout)
    assert Path(result["file"]).is_relative_to(venv), "memlease was not imported from the wheel"
    assert result["sync"] == {"n": 1}
    assert result["async"] == "bytes"


def elf_sections(library: bytes) -> set[str]:
    """Section names of a 64-bit little-endian ELF shared object."""
    (shoff,) = struct.unpack_from("<Q", library, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", library, 0x3A)
    headers = [library[shoff + i * shentsize : shoff + (i + 1) * shentsize] for i in range(shnum)]
    names_offset, names_size = struct.unpack_from("<QQ", headers[shstrndx], 0x18)
    names = library[names_offset : names_offset + names_size]
    return {
        names[start : names.index(b"\0", start)].decode()
        for start in (struct.unpack_from("<I", header, 0)[0] for header in headers)
    }


def test_wheel_is_stripped_and_carries_the_license(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (library,) = [n for n in names if n.endswith(".so")]
        sections = elf_sections(archive.read(library))
        licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert licenses, names
        assert b"MIT License" in archive.read(licenses[0])
    assert ".text" in sections
    assert not {".debug_info", ".symtab"} & sections, sorted(sections)


def test_sdist_builds_with_the_license(tmp_path: Path) -> None:
    subprocess.run([MATURIN, "sdist", "--out", tmp_path], cwd=ROOT, check=True, capture_output=True)
    (sdist,) = tmp_path.glob("memlease-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "pyproject.toml", "Cargo.toml", "Cargo.lock", "src/lib.rs"} <= names
    assert "python/memlease/_logging.py" in names
