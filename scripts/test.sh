#!/usr/bin/env bash
# Set up everything (see scripts/setup.sh), then lint, type-check and run the whole test suite.
# Unit tests need no root; the namespace tests (tests/netns) run on the real kernel in throwaway namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== ruff" >&2
.venv/bin/ruff check cnictl tests bench scripts
echo "== mypy" >&2
.venv/bin/mypy
echo "== pytest" >&2
exec .venv/bin/pytest -q "$@"
