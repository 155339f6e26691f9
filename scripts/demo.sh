#!/usr/bin/env bash
# The main job: the whole system on this machine (README).
set -euo pipefail
cd "$(dirname "$0")/.."
VIGIL_SKIP_BROWSER=1 bash scripts/setup.sh
exec .venv/bin/vigil demo "$@"
