#!/usr/bin/env bash
# The Python package: build its wheel from this checkout (maturin, release), install it into a
# venv of its own, and run its tests (python/tests, pytest) against the `tessera` binary given.
#   scripts/python-check.sh target/debug/tessera
set -euo pipefail
cd "$(dirname "$0")/.."
binary="$(realpath "${1:?usage: python-check.sh TESSERA_BINARY}")"

venv="$PWD/target/py-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Pinned: the build tool, the test runner, and what the package hands its results to.
"$venv/bin/pip" install -q 'maturin==1.16.0' 'pytest==8.4.2' 'numpy==2.3.5' 'pyarrow==22.0.0' 'pyroaring==1.0.3'

rm -rf target/wheels
"$venv/bin/maturin" build --release --quiet -m python/Cargo.toml -o target/wheels
wheel=$(ls target/wheels/tessera-*.whl)
"$venv/bin/pip" install -q --force-reinstall --no-deps "$wheel"
echo "built and installed $(basename "$wheel")"

# From outside the source tree, so that `import tessera` is the installed wheel.
(cd /tmp && "$venv/bin/python" -c 'import tessera, sys; assert "site-packages" in tessera._engine.__file__, tessera._engine.__file__')
TESSERA_BIN="$binary" "$venv/bin/python" -m pytest -q -p no:cacheprovider python/tests
