#!/usr/bin/env bash
# Builds the images of a Sluice cluster locally, with no registry:
#   sluice:latest        metad, shardd, ingest, sluice, sluice-ctl, and kcat
#                        (for raw-topic writes and a look at the broker)
#   sluice-tansu:latest  the tansu broker
# tansu and kcat are the ones ./scripts/setup.sh installs.
# Both are FROM scratch: the binaries, the shared libraries `ldd` lists
# (libstdc++, libgcc_s, libm, libc, ...) at their paths, and the loader.
#
#   ./docker/build.sh                 build the release binaries (into the same
#                                     target dir as the README's first command,
#                                     so RocksDB is not compiled again) and the images
#   ./docker/build.sh --bin-dir DIR   use binaries already built in DIR (the
#                                     tests use their own debug build this way)
#
# Idempotent: unchanged binaries give unchanged layers, and docker reuses them.
set -euo pipefail
cd "$(dirname "$0")/.."

bin_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin_dir="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

export PATH="$HOME/.cargo/bin:$PATH"
target="${CARGO_TARGET_DIR:-target}"
if [ -z "$bin_dir" ]; then
    # The README's first command builds -p sluice -p metad; sluice depends on
    # shardd and ingest, so naming them too adds their binaries and nothing
    # else to compile.
    cargo build --release --locked -p sluice -p metad -p shardd -p ingest
    bin_dir="$target/release"
fi
tansu_bin="$(command -v tansu || true)"
kcat_bin="$(command -v kcat || true)"
if [ -z "$tansu_bin" ] || [ -z "$kcat_bin" ]; then
    echo "build.sh: tansu or kcat is missing: run ./scripts/setup.sh first" >&2
    exit 1
fi

stage="$target/docker"

# stage ROOTFS BINARY...: copies each binary (without debug info) and every
# library it loads to ROOTFS, at the paths the loader looks them up by.
stage() {
    local rootfs="$1"; shift
    mkdir -p "$rootfs/usr/local/bin" "$rootfs/data" "$rootfs/tmp"
    chmod 1777 "$rootfs/tmp"
    local bin
    for bin in "$@"; do
        local dst="$rootfs/usr/local/bin/$(basename "$bin")"
        if [ ! -e "$dst" ] || [ "$bin" -nt "$dst" ]; then
            objcopy --strip-debug "$bin" "$dst.tmp" && mv "$dst.tmp" "$dst"
        fi
        # `ldd` prints `name => /path (addr)` per library and `/path (addr)`
        # for the loader.
        local lib
        for lib in $(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
            if [ ! -e "$rootfs$lib" ] || [ "$lib" -nt "$rootfs$lib" ]; then
                mkdir -p "$rootfs$(dirname "$lib")"
                cp -L "$lib" "$rootfs$lib"
            fi
        done
    done
}

bins=()
for b in metad shardd ingest sluice sluice-ctl; do
    if [ ! -x "$bin_dir/$b" ]; then
        echo "build.sh: $bin_dir/$b is missing (build the workspace first)" >&2
        exit 1
    fi
    bins+=("$bin_dir/$b")
done
bins+=("$kcat_bin")
stage "$stage/sluice/rootfs" "${bins[@]}"
stage "$stage/tansu/rootfs" "$tansu_bin"

docker build -q -t sluice:latest -f docker/sluice.Dockerfile "$stage/sluice" >/dev/null
docker build -q -t sluice-tansu:latest -f docker/tansu.Dockerfile "$stage/tansu" >/dev/null
# The cluster's shared secret for docker/compose.yml, made once and kept.
if [ ! -e docker/.env ]; then
    (umask 077; echo "SLUICE_SHARED_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > docker/.env)
fi
echo "build.sh: images sluice:latest and sluice-tansu:latest are ready (binaries from $bin_dir)"
