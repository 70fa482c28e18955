#!/usr/bin/env bash
# Installs what building and testing Sluice needs on a Debian machine with a
# Rust toolchain: C build tools for the vendored RocksDB and librdkafka,
# kcat and InfluxDB 1.6 (reference behaviour and real clients in tests),
# cargo-nextest, the tansu Kafka broker (built once, ~12 minutes, then
# cached in ~/.cargo/bin), and a kcat that can talk to tansu.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

debs=(libclang-dev cmake kcat influxdb influxdb-client curl libssl-dev libsasl2-dev pkg-config)
missing=()
for p in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-nextest >/dev/null; then
    echo "setup: installing cargo-nextest"
    cargo install --locked cargo-nextest
fi
if ! command -v tansu >/dev/null; then
    echo "setup: building the tansu broker (once; ~12 minutes on 2 cores)"
    cargo install --locked tansu --version '^0.6' --features libsql,dynostore
fi
# Debian 12's kcat (librdkafka 2.0.2) cannot talk to tansu: build one
# against librdkafka 2.12 (see build-kcat.sh).
if ! kcat -V 2>/dev/null | grep -q "librdkafka 2\.1[2-9]"; then
    "$(dirname "$0")/build-kcat.sh"
fi
echo "setup: ok (tansu: $(command -v tansu), $(kcat -V | grep -o 'librdkafka [0-9.]*') kcat)"
