#!/usr/bin/env bash
# Creates the venv of the DuckDB rival (bench/duckdb/load.py) at .services/duckdb with the pinned
# packages. Idempotent: does nothing when they already import there. Needs python3 (with venv) and
# access to PyPI (or a pip configured for a mirror); no other download: duckdb-ext ships the
# postgres extension inside its wheel, so DuckDB never fetches it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.services/duckdb"
PINS=(
  duckdb==1.4.4
  duckdb-ext==0.1.2
  duckdb-ext-postgres==1.4.4.20260205
)
PROBE='
import duckdb, duckdb_ext, os
assert duckdb.__version__ == "1.4.4", duckdb.__version__
d = os.path.join(duckdb_ext.get_extension_dir(), "v1.4.4")
for ext in ("postgres_scanner",):
    assert any(os.path.exists(os.path.join(d, p, ext + ".duckdb_extension")) for p in os.listdir(d)), ext
'

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$PROBE" 2>/dev/null; then
  echo "DuckDB venv ready: $VENV"
  exit 0
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "${PINS[@]}"
"$VENV/bin/python" -c "$PROBE"
echo "DuckDB venv ready: $VENV"
