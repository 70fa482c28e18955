#!/usr/bin/env bash
# Runs the container tests (itests/): each test starts its own Sluice
# cluster as containers on its own Docker network and breaks it (kill,
# pause, disconnect, wipe, replace, metad leader, broker), printing how long
# each fault took to heal.
#
# The images are built from the debug binaries the workspace tests use
# (the profile scripts/test.sh builds), so this adds no RocksDB build.
set -euo pipefail
cd "$(dirname "$0")/.."

"$(dirname "$0")/setup.sh"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The Docker daemon (the machine's init normally starts it).
if ! docker info >/dev/null 2>&1; then
    echo "itests: starting the Docker daemon"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO service docker start >/dev/null 2>&1 || ($SUDO dockerd >/tmp/dockerd.log 2>&1 &)
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null
fi

# The Python InfluxDB 1.x client the clients test drives.
python3 -c 'import influxdb' 2>/dev/null || pip install -q 'influxdb==5.3.*'

# Builds every test and the daemons' binaries in target/debug.
cargo nextest run --workspace --locked --no-run
./docker/build.sh --bin-dir "$CARGO_TARGET_DIR/debug"
cargo nextest run --workspace --locked --no-fail-fast -E 'package(itests)' "$@"
