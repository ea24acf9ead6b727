"""Every number a `stratus` table prints is the API's own: `stratus usage`, `stratus snapshot
list|describe` and `stratus cache list|describe` are checked field by field against a GET of the
same endpoint, on a cache with real traffic and usage records."""

import json
import os
import re
import subprocess
import urllib.request

import pytest

from conftest import STRATUS_BIN, Stratus

# Numbers that move while nothing happens (a rate, a sample, a forecast) are read from the API
# before and after the CLI runs; the CLI's text must be one of the two.


def api_get(data_dir, path):
    """GET path from the API that `stratus up` on data_dir runs, with its admin token."""
    base = (data_dir / "api").read_text().strip()
    token = (data_dir / "admin-token").read_text().strip()
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200, path
        return json.loads(r.read())


def cli(data_dir, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUS_")}
    r = subprocess.run([STRATUS_BIN, *args, "--data-dir", str(data_dir)], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def human_bytes(b):
    """What the CLI prints for a byte count: 512 B, 6.5 KB (units of 1024)."""
    units = ["B", "KB", "MB", "GB", "TB"]
    i = 0
    while b >= 1024 and i < 4:
        b /= 1024
        i += 1
    return f"{b:.1f} {units[i]}" if i else f"{b:.0f} {units[i]}"


def value_text(v):
    """What the CLI prints for a JSON value: integers as is, reals with 3 decimals, yes/no."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def field(obj, path):
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def assert_shown(printed, what, before, after, show=value_text):
    allowed = {show(before), show(after)}
    assert printed in allowed, f"{what}: printed {printed!r}, the API says {sorted(allowed)}"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A `stratus up` whose cache has had traffic, restarted once so that its usage records
    (written each minute and at a stop) are in, with a snapshot of 300 keys."""
    work = tmp_path_factory.mktemp("cli-numbers")
    first = Stratus(work / "a", data_dir=work / "data", args=("--autoscale", "off"))
    try:
        first.start()
        r = first.client()
        for i in range(300):
            r.set(f"n:{i}", "v" * 500)
        r.close()
    finally:
        first.teardown()
    inst = Stratus(work / "b", data_dir=work / "data", args=("--autoscale", "off"))
    try:
        inst.start()
        r = inst.client()
        assert r.dbsize() == 300
        r.close()
        req = urllib.request.Request(
            (inst.data_dir / "api").read_text().strip() + "/v1/snapshots",
            data=json.dumps({"cache": "default", "name": "numbers"}).encode(), method="POST",
            headers={"Authorization": "Bearer "
                     + (inst.data_dir / "admin-token").read_text().strip()})
        with urllib.request.urlopen(req, timeout=120) as resp:
            assert resp.status == 201
        yield inst
    finally:
        inst.teardown()


USAGE_RE = re.compile(
    r"^cache (?P<name>\S+): (?P<ecpu>\S+) ECPU, (?P<storage_gb_hours>\S+) GB-hours of storage, "
    r"(?P<storage_at_rest_gb_hours>\S+) GB-hours at rest \(hibernated\)\n"
    r"cost so far \$(?P<cost_to_date_usd>\S+), month forecast \$(?P<month_forecast_usd>\S+) "
    r"\((?P<prices>.*)\)\n$")


def test_usage_prints_each_number_of_the_api(srv):
    before = api_get(srv.data_dir, "/v1/caches/default/usage")
    out = cli(srv.data_dir, "usage", "default")
    after = api_get(srv.data_dir, "/v1/caches/default/usage")
    # The traffic cost ECPU and no time at rest: a table that shows one number in every place
    # cannot pass.
    assert before["ecpu"] >= 300 and before["storage_at_rest_gb_hours"] == 0, before
    m = USAGE_RE.match(out)
    assert m, out
    for key, printed in m.groupdict().items():
        assert_shown(printed, key, before[key], after[key])


def test_snapshot_list_and_describe_print_each_number_of_the_api(srv):
    want = api_get(srv.data_dir, "/v1/snapshots/numbers")
    assert want["keys"] == 300 and want["files"] != want["keys"], want
    listed = cli(srv.data_dir, "snapshot", "list").splitlines()
    described = cli(srv.data_dir, "snapshot", "describe", "numbers").splitlines()
    assert listed[0].split() == ["NAME", "CACHE", "KIND", "CREATED", "FILES", "SIZE", "KEYS"]
    assert described[0] == listed[0]
    rows = [ln for ln in listed[1:] if ln.split()[0] == "numbers"]
    assert len(rows) == 1 and len(described) == 2, (listed, described)
    for line in (rows[0], described[1]):
        name, cache, kind, created, files, size, unit, keys = line.split()
        assert (name, cache, kind, created) == (want["name"], want["cache"], want["kind"],
                                                want["created_at"])
        assert files == str(want["files"]), line
        assert f"{size} {unit}" == human_bytes(want["bytes"]), line
        assert keys == str(want["keys"]), line


def test_cache_list_prints_each_number_of_the_api(srv):
    before = api_get(srv.data_dir, "/v1/caches")["caches"]
    lines = cli(srv.data_dir, "cache", "list").splitlines()
    after = api_get(srv.data_dir, "/v1/caches")["caches"]
    assert lines[0].split() == ["NAME", "STATUS", "ENDPOINT", "SHARDS", "ECPU/S", "STORAGE",
                                "COST", "$"]
    assert len(lines) == 1 + len(before) == 1 + len(after), lines
    for line, b, a in zip(lines[1:], before, after):
        name, status, endpoint, shards, ecpu_s, storage, unit, cost = line.split()
        assert (name, status) == (b["name"], b["status"])
        assert endpoint == f"{b['endpoint']['host']}:{b['endpoint']['port']}"
        assert shards == str(b["settings"]["shards"])
        assert_shown(ecpu_s, "ECPU/S", b["usage"]["ecpu_per_second"],
                     a["usage"]["ecpu_per_second"], lambda v: f"{v:.1f}")
        assert_shown(f"{storage} {unit}", "STORAGE", b["usage"]["storage_bytes"],
                     a["usage"]["storage_bytes"], human_bytes)
        assert_shown(cost, "COST $", b["cost"]["to_date_usd"], a["cost"]["to_date_usd"],
                     lambda v: f"{v:.2f}")


DESCRIBED = {
    "name": "name", "status": "status", "description": "description", "created": "created_at",
    "url": "endpoint.url", "ca": "endpoint.ca", "shards": "settings.shards",
    "replicas": "settings.replicas", "durability": "settings.durability",
    "max ECPU/s": "settings.usage_limits.max_ecpu_per_second",
    "max storage": "settings.usage_limits.max_storage", "eviction": "settings.eviction",
    "hibernate": "settings.hibernate_after_seconds", "zones": "settings.zones",
    "daily snap": "settings.daily_snapshot_time", "retention": "settings.snapshot_retention_limit",
    "ECPU/s now": "usage.ecpu_per_second", "storage B": "usage.storage_bytes",
    "p50 ms": "usage.p50_ms", "p99 ms": "usage.p99_ms", "cost $": "cost.to_date_usd",
    "month $": "cost.month_forecast_usd",
}


def test_cache_describe_prints_each_value_of_the_api(srv):
    before = api_get(srv.data_dir, "/v1/caches/default")
    out = cli(srv.data_dir, "cache", "describe", "default")
    after = api_get(srv.data_dir, "/v1/caches/default")
    shown = {}
    for line in out.splitlines():
        label, value = line[:12].rstrip(), line[13:]
        shown[label] = value
    assert set(shown) == set(DESCRIBED), out
    for label, path in DESCRIBED.items():
        assert_shown(shown[label], label, field(before, path), field(after, path))
