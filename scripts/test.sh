#!/usr/bin/env bash
# Runs the whole test suite. The tests start the real services they need themselves
# (a Kafka broker on free loopback ports, in temporary directories).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || { echo "run scripts/install.sh first" >&2; exit 1; }
exec .venv/bin/python -m pytest "$@"
