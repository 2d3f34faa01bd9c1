#!/usr/bin/env bash
# Cold start, idle memory and per-invocation CPU of the runtime loop, against a local Runtime API:
#   bench/cold_start.sh [BIN] [--runs 50] [--turns 2000]      (BIN defaults to build/release/tourniquet)
# Targets: <= 5 ms median from exec to the first GET next, <= 8 MB idle RSS, <= 100 us CPU per loop turn.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=build/release/tourniquet
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then binary=$1; shift; fi
[ -x "$binary" ] || { echo "cold_start.sh: $binary is not built (scripts/build release)" >&2; exit 2; }
exec python3 bench/runtime_bench.py "$binary" "$@"
