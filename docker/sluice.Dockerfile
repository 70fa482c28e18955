# Every Sluice binary (metad, shardd, ingest, sluice, sluice-ctl) and kcat on an
# empty image: ./docker/build.sh stages them, with the shared libraries
# `ldd` lists at their paths and the loader, in rootfs/. Nothing is pulled.
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin
WORKDIR /data
# metad 8091, data node HTTP 8086 and internal 8088, ingest HTTP 8087.
EXPOSE 8086 8087 8088 8091
# No ENTRYPOINT: a container names its daemon (`metad ...`, `shardd ...`);
# every daemon stops cleanly on SIGTERM.
CMD ["sluice", "--help"]
