"""Fixtures: a demo inventory made by the real `tessera` binary, which the tests also ask for
the figures the package must agree with. The binary comes from $TESSERA_BIN (scripts/test.sh
passes the one it built)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest


def _binary() -> str:
    binary = os.environ.get("TESSERA_BIN") or shutil.which("tessera")
    if not binary:
        pytest.exit("set TESSERA_BIN to a built `tessera` binary", returncode=2)
    return binary


class Cli:
    """The `tessera` command over one inventory."""

    def __init__(self, inventory: Path) -> None:
        self.inventory = inventory
        self.binary = _binary()

    def run(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [self.binary, "--inventory", str(self.inventory), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"tessera {' '.join(args)} failed: {done.stderr}"
        return done.stdout

    def json(self, *args: str):
        return json.loads(self.run(*args))


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """The small demo inventory (5,127 registry tiles, 3 stores), shared and never written."""
    path = tmp_path_factory.mktemp("demo") / "demo"
    subprocess.run([_binary(), "init", "--small", "--demo", str(path)], check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture()
def fresh(tmp_path) -> Path:
    """A small demo inventory of the test's own, to write to."""
    path = tmp_path / "demo"
    subprocess.run([_binary(), "init", "--small", "--demo", str(path)], check=True, capture_output=True, timeout=120)
    return path


@pytest.fixture(scope="session")
def cli(demo) -> Cli:
    return Cli(demo)
