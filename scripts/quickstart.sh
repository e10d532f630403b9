#!/usr/bin/env bash
# Quick start: install everything, then run the main job on the embedded default
# (local Kafka broker, no API key).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/cmo demo
