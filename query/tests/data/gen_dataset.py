#!/usr/bin/env python3
"""Writes the differential test's dataset, `dataset.lp`, deterministically.

Modelled on the InfluxQL documentation's NOAA sample data (database
`NOAA_water_database`): `h2o_feet`, `h2o_quality`, `h2o_temperature`,
`h2o_pH`, `average_temperature` with tags `location` / `randtag` and float,
integer, string and boolean fields, 30-minute steps over 16 days from
2015-08-18 (so the autogen RP's 7-day shard groups split it in three), some
fields missing on some points, plus a `weird` measurement whose names need
escaping and a TSBS-shaped `cpu` slice (5 hosts, 10 integer fields, 5-minute
steps over one day from 2016-01-01).

Run `python3 gen_dataset.py > dataset.lp`; the output is committed. Only the
random generator's seed decides the values, so re-running gives the same
bytes.
"""

import random

rng = random.Random(20150818)
START = 1439856000  # 2015-08-18T00:00:00Z
STEP = 30 * 60
STEPS = 16 * 48
NS = 1_000_000_000
lines = []


def level_description(level):
    if level < 3:
        return "below 3 feet"
    if level < 6:
        return "between 3 and 6 feet"
    if level < 9:
        return "between 6 and 9 feet"
    return "at or greater than 9 feet"


for i in range(STEPS):
    t = (START + i * STEP) * NS
    for loc, base in (("coyote_creek", 5.0), ("santa_monica", 3.5)):
        # Water levels: a slow tide plus noise, 3 decimals as in NOAA data.
        lvl = round(base + 3.0 * ((i % 25) / 12.5 - 1.0) * (1 if loc == "coyote_creek" else -1)
                    + rng.uniform(-0.5, 0.5), 3)
        fields = [f'level\\ description="{level_description(lvl)}"', f"water_level={lvl}"]
        if i % 97 == 13 and loc == "santa_monica":
            fields = fields[1:]  # a point without the string field
        lines.append(f"h2o_feet,location={loc} {','.join(fields)} {t}")

        randtag = rng.choice(["1", "2", "3"])
        idx = rng.randint(0, 100)
        lines.append(f"h2o_quality,location={loc},randtag={randtag} index={idx}i {t}")

        deg = rng.randint(60, 80)
        lines.append(f"h2o_temperature,location={loc} degrees={deg} {t}")

        if i % 2 == 0:
            ph = rng.randint(6, 9)
            lines.append(f"h2o_pH,location={loc} pH={ph}i {t}")

        if i % 3 == 0:
            avg = rng.randint(70, 90)
            lines.append(f"average_temperature,location={loc} degrees={avg} {t}")

    # Boolean and mixed fields, with gaps: a pump station that reports
    # `running` (bool), `flow` (float) and `state` (string) irregularly.
    if i % 5 != 4:
        running = rng.random() < 0.7
        parts = [f"running={'true' if running else 'false'}"]
        if i % 7 != 0:
            parts.append(f"flow={round(rng.uniform(0, 100), 2)}")
        if i % 11 == 0:
            parts.append(f'state="{rng.choice(["ok", "maintenance", "alarm"])}"')
        station = "north" if i % 2 == 0 else "south"
        lines.append(f"pump,station={station} {','.join(parts)} {t}")

# Names that need escaping in line protocol and quoting in InfluxQL.
weird_tags = ["a b", "c,d", "e=f", 'g"h', "ünï"]
for i in range(40):
    t = (START + i * 3600) * NS
    tv = weird_tags[i % len(weird_tags)].replace(" ", "\\ ").replace(",", "\\,").replace("=", "\\=")
    lines.append(f"weird\\ meas,tag\\ key={tv},plain=x{i % 3} field\\ one={i}i,f2=\"s{i} \\\"q\\\"\" {t}")

# TSBS cpu-only shape, a small slice.
TSBS_START = 1451606400  # 2016-01-01T00:00:00Z
regions = ["us-east-1", "eu-west-1", "ap-south-1"]
cpu_fields = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
              "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
hosts = []
for h in range(5):
    region = regions[h % len(regions)]
    hosts.append(
        f"cpu,hostname=host_{h},region={region},datacenter={region}a,rack={rng.randint(0, 99)},"
        f"os=Ubuntu16.04LTS,arch=x64,team=SF,service={rng.randint(1, 19)},service_version=1,"
        f"service_environment=production"
    )
state = [[rng.randint(0, 100) for _ in cpu_fields] for _ in hosts]
for i in range(24 * 12):
    t = (TSBS_START + i * 300) * NS
    for h, key in enumerate(hosts):
        vals = state[h]
        for k in range(len(vals)):
            vals[k] = max(0, min(100, vals[k] + rng.randint(-5, 5)))
        fs = ",".join(f"{n}={v}i" for n, v in zip(cpu_fields, vals))
        lines.append(f"{key} {fs} {t}")

print("\n".join(lines))
