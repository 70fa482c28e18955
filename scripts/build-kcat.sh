#!/usr/bin/env bash
# Builds kcat 1.7.1 (Debian's source) against librdkafka 2.12, the version
# the rdkafka crate vendors, and installs it as /usr/local/bin/kcat (ahead of
# Debian's /usr/bin/kcat on PATH).
#
# Why: Debian 12's kcat links librdkafka 2.0.2, which cannot parse the
# ApiVersions v3 answer of the tansu broker ("ApiVersionRequest failed: Read
# underflow"); librdkafka >= 2.12 can. kcat itself is unchanged. With a real
# Kafka or Redpanda, Debian's kcat works as is.
set -euo pipefail

PREFIX="${KCAT_PREFIX:-$HOME/.cache/sluice/kcat}"
DEST="${KCAT_DEST:-/usr/local/bin}"
if [ -x "$PREFIX/bin/kcat" ] && "$PREFIX/bin/kcat" -V | grep -q "librdkafka 2.1[2-9]"; then
    ln -sf "$PREFIX/bin/kcat" "$DEST/kcat"
    exit 0
fi
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo fetch --locked -q
rdk=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rdkafka-sys-*/librdkafka | sort -V | tail -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "setup: building kcat against $(basename "$(dirname "$rdk")")"
cp -r "$rdk" "$work/rdk"
(cd "$work/rdk" &&
    ./configure --prefix="$work/lib" --disable-ssl --disable-gssapi --disable-sasl \
        --disable-curl --disable-zstd --disable-lz4-ext --enable-static >"$work/rdk.log" 2>&1 &&
    make -j"$(nproc)" libs >>"$work/rdk.log" 2>&1 &&
    make install-subdirs >>"$work/rdk.log" 2>&1) || { tail -30 "$work/rdk.log"; exit 1; }

curl -sSfL -o "$work/kcat.tar.gz" \
    http://deb.debian.org/debian/pool/main/k/kafkacat/kafkacat_1.7.1.orig.tar.gz
echo "4b957b7ffc728a88e163bc4e581aa371e56c7e74c8b84b1fe0583d0302ef8d58  $work/kcat.tar.gz" | sha256sum -c --quiet
tar xzf "$work/kcat.tar.gz" -C "$work"
(cd "$work/kafkacat-1.7.1" &&
    PKG_CONFIG_PATH="$work/lib/lib/pkgconfig" ./configure --disable-avro --disable-json >"$work/kcat.log" 2>&1 &&
    make CFLAGS="-O2 -I$work/lib/include" kcat.o format.o tools.o input.o >>"$work/kcat.log" 2>&1 &&
    gcc -O2 kcat.o format.o tools.o input.o -o kcat "$work/lib/lib/librdkafka.a" \
        -lz -lm -ldl -lpthread -lrt) || { tail -30 "$work/kcat.log"; exit 1; }
mkdir -p "$PREFIX/bin"
install -m 755 "$work/kafkacat-1.7.1/kcat" "$PREFIX/bin/kcat"
ln -sf "$PREFIX/bin/kcat" "$DEST/kcat"
echo "setup: $("$DEST/kcat" -V | grep Version)"
