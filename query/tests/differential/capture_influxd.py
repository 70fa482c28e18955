#!/usr/bin/env python3
"""Records InfluxDB 1.6's answers to the differential corpus as golden files.

Starts Debian's `influxd` on free loopback ports in a temp dir, loads
`../data/dataset.lp` into NOAA_water_database, runs `corpus.iql` then
`stateful.iql` (format described at the top of corpus.iql) and writes
`golden/corpus.jsonl` and `golden/stateful.jsonl`: one JSON object per query
with the request (query, db, epoch, params, method) and InfluxDB's HTTP status
and body.

The Rust harness (`tests/differential.rs`) runs the same files against a live
influxd and Sluice; these golden files document what 1.6 answers and let the
corpus be reviewed without running anything. Regenerate after editing the
corpus: `python3 capture_influxd.py`.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import urllib.error

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "dataset.lp")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_corpus(path):
    """Yields ("query", opts) / ("load", db) / ("sleep", ms) items."""
    db, epoch, method = None, None, "GET"
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if line.startswith("@"):
                word, _, arg = line[1:].partition(" ")
                arg = arg.strip()
                if word == "db":
                    db = None if arg == "-" else arg
                elif word == "epoch":
                    epoch = None if arg == "-" else arg
                elif word == "method":
                    method = arg
                elif word == "load":
                    yield ("load", arg)
                elif word == "sleep":
                    yield ("sleep", int(arg))
                else:
                    raise SystemExit(f"{path}:{lineno}: unknown directive @{word}")
                continue
            flags = {}
            if line.startswith("["):
                head, _, line = line[1:].partition("] ")
                for flag in head.split(";"):
                    k, _, v = flag.partition("=")
                    flags[k] = v
            yield ("query", {
                "line": lineno,
                "query": line,
                "db": db,
                "epoch": flags.get("epoch", epoch),
                "params": flags.get("params"),
                "method": "POST" if "post" in flags else method,
                "flags": sorted(k for k in flags if k in ("unordered", "rows_unordered", "columns", "error_any")),
            })


def request(base, q):
    params = {"q": q["query"]}
    if q["db"]:
        params["db"] = q["db"]
    if q["epoch"]:
        params["epoch"] = q["epoch"]
    if q["params"]:
        params["params"] = q["params"]
    body = urllib.parse.urlencode(params)
    if q["method"] == "POST":
        req = urllib.request.Request(base + "/query", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        req = urllib.request.Request(base + "/query?" + body)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post(base, path, data):
    req = urllib.request.Request(base + path, data=data, method="POST")
    with urllib.request.urlopen(req) as r:
        return r.status


def main():
    tmp = tempfile.mkdtemp(prefix="influxd-golden-")
    http_port, bind_port = free_port(), free_port()
    conf = subprocess.run(["influxd", "config"], capture_output=True, text=True, check=True).stdout
    conf = (conf.replace('bind-address = "127.0.0.1:8088"', f'bind-address = "127.0.0.1:{bind_port}"')
            .replace('bind-address = ":8086"', f'bind-address = "127.0.0.1:{http_port}"')
            .replace("/var/lib/influxdb", tmp)
            .replace("store-enabled = true", "store-enabled = false")
            .replace("query-log-enabled = true", "query-log-enabled = false")
            .replace("log-enabled = true", "log-enabled = false"))
    with open(os.path.join(tmp, "influxd.conf"), "w") as f:
        f.write(conf)
    log = open(os.path.join(tmp, "influxd.log"), "w")
    proc = subprocess.Popen(["influxd", "run", "-config", os.path.join(tmp, "influxd.conf")],
                            stdout=log, stderr=log)
    base = f"http://127.0.0.1:{http_port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/ping")
                break
            except Exception:
                time.sleep(0.05)
        with open(DATA, "rb") as f:
            dataset = f.read()
        request(base, {"query": "CREATE DATABASE NOAA_water_database", "db": None, "epoch": None,
                       "params": None, "method": "POST"})
        post(base, "/write?db=NOAA_water_database", dataset)
        os.makedirs(os.path.join(HERE, "golden"), exist_ok=True)
        total = 0
        for name in ("corpus", "stateful"):
            out = []
            for kind, item in parse_corpus(os.path.join(HERE, name + ".iql")):
                if kind == "load":
                    request(base, {"query": f'CREATE DATABASE "{item}"', "db": None, "epoch": None,
                                   "params": None, "method": "POST"})
                    post(base, "/write?db=" + urllib.parse.quote(item), dataset)
                elif kind == "sleep":
                    time.sleep(item / 1000)
                else:
                    status, body = request(base, item)
                    rec = dict(item)
                    rec["status"] = status
                    rec["body"] = body
                    out.append(rec)
            with open(os.path.join(HERE, "golden", name + ".jsonl"), "w", encoding="utf-8") as f:
                for rec in out:
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            total += len(out)
            print(f"{name}: {len(out)} queries", file=sys.stderr)
        print(f"total: {total}", file=sys.stderr)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
