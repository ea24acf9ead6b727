"""The control plane (`stratus serve`): many caches behind an HTTP JSON API and the CLI,
isolation between caches, hibernation and wake, snapshots (restore into another shard count,
export to plain Redis, import)."""
import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis

from conftest import STRATUS_BIN, child_pids, engine_clients, processes_under

READY = 30.0


class Plane:
    """One running `stratus serve` in its own data dir."""

    def __init__(self, workdir, args=()):
        self.dir = Path(workdir)
        self.data = self.dir / "data"
        self.log = open(self.dir / "serve.err", "w")
        self.proc = subprocess.Popen(
            [STRATUS_BIN, "serve", "--data-dir", str(self.data), "--api-port", "0",
             "--hibernate-after", "0", *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True, env=os.environ.copy())
        self.lines = []
        self.port = None
        cond = threading.Condition()

        def read():
            for line in self.proc.stdout:
                with cond:
                    self.lines.append(line)
                    cond.notify_all()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.time() + READY
        with cond:
            while "Press Ctrl-C" not in "".join(self.lines):
                assert self.proc.poll() is None, "serve exited: " + self.errors()
                assert time.time() < deadline, "serve did not start: " + "".join(self.lines)
                cond.wait(0.1)
        m = re.search(r"api\s+http://127\.0\.0\.1:(\d+)/v1", "".join(self.lines))
        self.port = int(m.group(1))
        self.token = (self.data / "admin-token").read_text().strip()

    def errors(self):
        if not self.log.closed:
            self.log.flush()
        return (self.dir / "serve.err").read_text()[-3000:]

    def api(self, method, path, body=None, token=True):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method)
        if token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def create(self, name, **fields):
        status, c = self.api("POST", "/v1/caches", {"name": name, **fields})
        assert status == 201, c
        return c

    def client(self, name, **kw):
        status, c = self.api("GET", f"/v1/caches/{name}")
        assert status == 200, c
        return redis.Redis.from_url(c["endpoint"]["url"], ssl_ca_certs=c["endpoint"]["ca"],
                                    socket_timeout=60, **kw)

    def cli(self, *args, expect=0):
        r = subprocess.run([STRATUS_BIN, *args, "--data-dir", str(self.data)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == expect, (args, r.returncode, r.stdout, r.stderr)
        return r

    def cache_pid(self, name):
        return self.api("GET", f"/v1/caches/{name}")[1]["pid"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in processes_under(self.data):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def plane(tmp_path):
    p = Plane(tmp_path)
    yield p
    rc = p.stop()
    assert rc == 0, p.errors()
    assert "AddressSanitizer" not in p.errors() and "runtime error" not in p.errors()
    for log in p.data.glob("caches/*/stratus.log"):
        text = log.read_text()
        assert "AddressSanitizer" not in text and "runtime error" not in text, text[-2000:]


def all_data(r):
    """Every key with its type, value and whether it has a TTL."""
    out = {}
    for k in r.scan_iter(count=500):
        t = r.type(k).decode()
        if t == "string":
            v = r.get(k)
        elif t == "hash":
            v = r.hgetall(k)
        elif t == "list":
            v = r.lrange(k, 0, -1)
        elif t == "set":
            v = sorted(r.smembers(k))
        elif t == "zset":
            v = r.zrange(k, 0, -1, withscores=True)
        elif t == "stream":
            v = [(i, f) for i, f in r.xrange(k)]
        else:
            v = None
        out[k] = (t, v, r.ttl(k) > 0)
    return out


def fill(r, n=500):
    p = r.pipeline(transaction=False)
    for i in range(n):
        p.set(f"user:{i}", f"v{i}" * 10)
    p.hset("h:1", mapping={"a": 1, "b": 2})
    p.rpush("l:1", *range(50))
    p.sadd("s:1", *range(30))
    p.zadd("z:1", {f"m{i}": i for i in range(40)})
    p.xadd("st:1", {"f": "v"})
    p.set("ttl:1", "x", ex=3600)
    p.execute()


# ---- API ---------------------------------------------------------------------------------

def test_api_round_trip_and_errors(plane):
    # No token, wrong token.
    assert plane.api("GET", "/v1/caches", token=False)[0] == 401
    plane.token, good = "0" * 64, plane.token
    assert plane.api("GET", "/v1/caches")[0] == 401
    plane.token = good
    assert plane.api("GET", "/v1/caches") == (200, {"caches": []})

    t0 = time.monotonic()
    c = plane.create("orders", description="order sessions",
                     usage_limits={"max_ecpu_per_second": 5000, "max_storage": "0"})
    assert time.monotonic() - t0 < 10
    assert c["status"] == "available" and c["description"] == "order sessions"
    assert c["settings"]["usage_limits"]["max_ecpu_per_second"] == 5000
    assert plane.client("orders").ping()

    # Error paths, each with a JSON error naming the fix.
    cases = [
        ({"name": "orders"}, 409, "AlreadyExists"),
        ({"name": "Bad_Name"}, 400, "InvalidParameterValue"),
        ({"name": "a--b"}, 400, "InvalidParameterValue"),
        ({"name": "x" * 41}, 400, "InvalidParameterValue"),
        ({}, 400, "InvalidParameterValue"),
        ({"name": "c1", "shards": 0}, 400, "InvalidParameterValue"),
        ({"name": "c1", "durability": "maybe"}, 400, "InvalidParameterValue"),
        ({"name": "c1", "durability": "sync", "replicas": 0}, 400, "InvalidParameterValue"),
        ({"name": "c1", "usage_limits": {"max_ecpu_per_second": -1}}, 400,
         "InvalidParameterValue"),
        ({"name": "c1", "usage_limits": {"max_storage": "lots"}}, 400, "InvalidParameterValue"),
        ({"name": "c1", "usage_limits": {"bogus": 1}}, 400, "InvalidParameterValue"),
        ({"name": "c1", "eviction": "allkeys-newest"}, 400, "InvalidParameterValue"),
        ({"name": "c1", "hibernate_after_seconds": "soon"}, 400, "InvalidParameterValue"),
        ({"name": "c1", "daily_snapshot_time": "25:00"}, 400, "InvalidParameterValue"),
        ({"name": "c1", "color": "red"}, 400, "InvalidParameterValue"),
        ({"name": "c1", "user_group_id": "g"}, 400, "InvalidParameterValue"),
        ({"name": "c1", "snapshot": "nope"}, 404, "SnapshotNotFound"),
    ]
    for body, status, code in cases:
        got, reply = plane.api("POST", "/v1/caches", body)
        assert (got, reply["error"]["code"]) == (status, code), (body, reply)
        assert len(reply["error"]["message"]) > 10
    # Not JSON.
    req = urllib.request.Request(f"http://127.0.0.1:{plane.port}/v1/caches", data=b"{nope",
                                 method="POST", headers={"Authorization": "Bearer " + good})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    # None of the failed creations left a cache behind.
    assert [c["name"] for c in plane.api("GET", "/v1/caches")[1]["caches"]] == ["orders"]
    # Unknown caches and calls.
    for method, path in [("GET", "/v1/caches/ghost"), ("PATCH", "/v1/caches/ghost"),
                         ("DELETE", "/v1/caches/ghost"), ("POST", "/v1/caches/ghost/hibernate"),
                         ("GET", "/v1/caches/ghost/series"), ("GET", "/v1/snapshots/ghost"),
                         ("DELETE", "/v1/snapshots/ghost")]:
        got, reply = plane.api(method, path, {} if method == "PATCH" else None)
        assert got == 404, (method, path, reply)
    assert plane.api("GET", "/v1/nothing")[0] == 404

    # Modify: description at once; a limit restarts the cache's process with it.
    got, c = plane.api("PATCH", "/v1/caches/orders", {"description": "carts"})
    assert got == 200 and c["description"] == "carts" and c["restarted"] is False
    got, c = plane.api("PATCH", "/v1/caches/orders", {"usage_limits": {"max_ecpu_per_second": 0}})
    assert got == 200 and c["restarted"] is True
    assert c["settings"]["usage_limits"]["max_ecpu_per_second"] == 0
    assert plane.client("orders").ping()
    assert c["settings"]["eviction"] == "volatile-lru"  # the default
    # Eviction: what goes at the storage limit; a change restarts the process with it. A
    # policy a client set while the cache had no limit gives way to it while the limit holds.
    assert plane.client("orders").config_set("maxmemory-policy", "allkeys-random")
    got, c = plane.api("PATCH", "/v1/caches/orders",
                       {"usage_limits": {"max_storage": "64mb"}, "eviction": "allkeys-lfu"})
    assert got == 200 and c["restarted"] is True, c
    assert c["settings"]["eviction"] == "allkeys-lfu"
    r = plane.client("orders")
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lfu"}
    with pytest.raises(redis.ResponseError, match=r"eviction setting \(allkeys-lfu\)"):
        r.config_set("maxmemory-policy", "noeviction")
    got, reply = plane.api("PATCH", "/v1/caches/orders", {"eviction": "sometimes"})
    assert got == 400 and "volatile-lru, volatile-lfu" in reply["error"]["message"], reply
    assert plane.api("GET", "/v1/caches/orders")[1]["settings"]["eviction"] == "allkeys-lfu"
    got, c = plane.api("PATCH", "/v1/caches/orders",
                       {"usage_limits": {"max_storage": "0"}, "eviction": "volatile-lru"})
    assert got == 200 and c["restarted"] is True
    # Without a limit the client's own CONFIG SET is back.
    assert plane.client("orders").config_get("maxmemory-policy") == \
        {"maxmemory-policy": "allkeys-random"}
    got, reply = plane.api("PATCH", "/v1/caches/orders", {"name": "other"})
    assert got == 400
    got, reply = plane.api("PATCH", "/v1/caches/orders", {"replicas": 2})
    assert got == 400
    got, reply = plane.api("PATCH", "/v1/caches/orders", {"shards": 99})
    assert got == 400

    # Events record what happened.
    got, ev = plane.api("GET", "/v1/events?cache=orders")
    kinds = [e["kind"] for e in ev["events"]]
    assert "create" in kinds and "modify" in kinds

    # Delete removes the cache, its process and its data.
    pid = plane.cache_pid("orders")
    got, reply = plane.api("DELETE", "/v1/caches/orders")
    assert got == 200 and reply["status"] == "deleted"
    assert not (plane.data / "caches" / "orders").exists()
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert plane.api("GET", "/v1/caches/orders")[0] == 404
    # Data the plane does not know is never overwritten by a create.
    (plane.data / "caches" / "stray").mkdir(parents=True)
    (plane.data / "caches" / "stray" / "keep").write_text("x")
    got, reply = plane.api("POST", "/v1/caches", {"name": "stray"})
    assert got == 409 and "earlier cache" in reply["error"]["message"], reply
    assert (plane.data / "caches" / "stray" / "keep").read_text() == "x"
    # The name is free again, and the new cache starts empty.
    plane.create("orders")
    assert plane.client("orders").dbsize() == 0


def test_api_bill_prices_the_records_like_stratus_bill(plane):
    plane.create("billed", hibernate_after_seconds=0)
    # One recorded hour on a past day (records are written a minute at a time; a test cannot
    # wait for an hour of them): 1 M ECPU a minute, 75% GET on "user:" keys, 2 GiB stored.
    day = int(datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp()) // 60
    rows = []
    for m in range(day, day + 60):
        rows.append(("billed", m, "get", 1000, 750_000_000, 0, 0, 0, 0, 0, 0))
        rows.append(("billed", m, "set", 500, 250_000_000, 0, 0, 0, 0, 0, 0))
        rows.append(("billed", m, "key:user", 1000, 750_000_000, 0, 0, 0, 0, 0, 0))
        rows.append(("billed", m, "", 0, 0, 0, 0, 2 * 2**30 * 60, 3, 0, 0))
    db = sqlite3.connect(plane.data / "stratus.db", timeout=10)
    db.executemany("INSERT INTO usage (cache, minute, cmd, calls, mecpu, bytes_in, bytes_out, "
                   "storage_byte_s, connections, throttled, rejected) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()
    got, b = plane.api("GET", "/v1/caches/billed/bill?since=2026-11-02&until=2026-11-03")
    assert got == 200, b
    assert b["period"] == {"from": "2026-11-02T00:00:00.000Z", "to": "2026-11-03T00:00:00.000Z"}
    assert b["recorded_minutes"] == 60
    assert b["lines"]["requests"]["ecpu"] == 60_000_000
    assert round(b["lines"]["requests"]["usd"], 6) == round(60 * 0.0034, 6)
    assert round(b["lines"]["storage"]["gb_hours"], 6) == 2.0
    assert round(b["total_usd"], 6) == round(60 * 0.0034 + 2 * 0.125, 6)
    assert [c["command"] for c in b["top_commands"]] == ["get", "set"]
    assert b["top_commands"][0]["share"] == 0.75
    assert b["top_prefixes"][0]["prefix"] == "user"
    assert b["fixed_nodes"]["node_type"] and b["fixed_nodes"]["cheaper"] in ("serverless",
                                                                           "fixed nodes")
    # The CLI prints the same figures from the same records.
    out = subprocess.run([STRATUS_BIN, "bill", "billed", "--data-dir", str(plane.data),
                          "--since", "2026-11-02", "--until", "2026-11-03"],
                         capture_output=True, text=True, timeout=30).stdout
    assert "$%10.2f" % b["total_usd"] in out and b["fixed_nodes"]["node_type"] in out, out
    got, v = plane.api("GET", "/v1/caches/billed/bill?since=2026-11-02&until=2026-11-03"
                              "&prices=valkey")
    assert got == 200 and v["lines"]["requests"]["usd"] < b["lines"]["requests"]["usd"]
    # This month so far (no records yet): an empty bill, not an error.
    got, now = plane.api("GET", "/v1/caches/billed/bill")
    assert got == 200 and now["total_usd"] >= 0
    for q, code in [("?since=yesterday", "InvalidParameterValue"),
                    ("?since=2026-11-03&until=2026-11-02", "InvalidParameterValue"),
                    ("?prices=cheap", "InvalidParameterValue")]:
        got, e = plane.api("GET", "/v1/caches/billed/bill" + q)
        assert (got, e["error"]["code"]) == (400, code), (q, e)
    assert plane.api("GET", "/v1/caches/ghost/bill")[0] == 404


def test_cli_round_trip(plane):
    r = plane.cli("cache", "create", "web", "--shards", "2", "--max-ecpu-per-second", "1000",
                  "--description", "sessions")
    assert "available" in r.stdout
    plane.cli("cache", "create", "web", expect=4)  # exists already
    plane.cli("cache", "create", "Web", expect=1)  # bad name: refused
    plane.cli("cache", "create", "x", "--shards", "many", expect=2)  # bad flag value
    plane.cli("cache", "create", "x", "--colour", "red", expect=2)
    plane.cli("cache", "describe", "ghost", expect=3)
    r = plane.cli("cache", "list")
    assert re.search(r"^web\s+available\s+127\.0\.0\.1:\d+\s+2\s", r.stdout, re.M), r.stdout
    listed = json.loads(plane.cli("cache", "list", "--json").stdout)
    assert [c["name"] for c in listed["caches"]] == ["web"]
    r = plane.cli("cache", "describe", "web")
    assert re.search(r"^max ECPU/s\s+1000$", r.stdout, re.M) and "sessions" in r.stdout
    assert re.search(r"^eviction\s+volatile-lru$", r.stdout, re.M), r.stdout
    plane.cli("cache", "modify", "web", "--eviction", "bogus", expect=1)  # refused by the API
    plane.cli("cache", "modify", "web", "--description", "carts")
    assert json.loads(plane.cli("cache", "describe", "web", "--json").stdout)["description"] == \
        "carts"
    r = plane.client("web")
    r.set("k", "v")
    r2 = plane.cli("snapshot", "create", "web", "snap1")
    assert "snap1" in r2.stdout
    plane.cli("snapshot", "create", "web", "snap1", expect=4)
    assert "snap1" in plane.cli("snapshot", "list").stdout
    plane.cli("snapshot", "describe", "nope", expect=3)
    plane.cli("snapshot", "restore", "snap1", "web2", "--shards", "1")
    assert plane.client("web2").get("k") == b"v"
    plane.cli("usage", "web")
    plane.cli("cache", "hibernate", "web")
    assert json.loads(plane.cli("cache", "describe", "web", "--json").stdout)["status"] in (
        "hibernating", "available")  # the sampler may not have seen it yet
    plane.cli("cache", "wake", "web")
    assert r.get("k") == b"v"
    plane.cli("snapshot", "delete", "snap1")
    plane.cli("snapshot", "delete", "snap1", expect=3)
    plane.cli("cache", "delete", "web2")
    plane.cli("cache", "delete", "web2", expect=3)
    # Without a running control plane the CLI says so.
    r = subprocess.run([STRATUS_BIN, "cache", "list", "--data-dir", str(plane.dir / "none")],
                       capture_output=True, text=True)
    assert r.returncode == 5 and "stratus serve" in r.stderr


# ---- isolation ---------------------------------------------------------------------------

def test_two_caches_are_isolated(plane):
    plane.create("alpha", usage_limits={"max_ecpu_per_second": 200})
    plane.create("beta")
    a, b = plane.client("alpha"), plane.client("beta")
    a.set("shared-name", "alpha")
    assert b.get("shared-name") is None
    b.set("shared-name", "beta")
    assert a.get("shared-name") == b"alpha"
    # A user of one cache does not exist in the other.
    a.execute_command("ACL", "SETUSER", "app", "on", ">app-secret-1", "~*", "+@all")
    status, alpha = plane.api("GET", "/v1/caches/alpha")
    ua = redis.Redis(host="127.0.0.1", port=alpha["endpoint"]["port"], ssl=True,
                     ssl_ca_certs=alpha["endpoint"]["ca"], username="app",
                     password="app-secret-1")
    assert ua.ping()
    status, beta = plane.api("GET", "/v1/caches/beta")
    ub = redis.Redis(host="127.0.0.1", port=beta["endpoint"]["port"], ssl=True,
                     ssl_ca_certs=beta["endpoint"]["ca"], username="app",
                     password="app-secret-1")
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)) as e:
        ub.ping()
    assert "WRONGPASS" in str(e.value)
    # FLUSHALL in one leaves the other alone.
    a.flushall()
    assert a.dbsize() == 0
    assert b.get("shared-name") == b"beta"
    # alpha's ECPU/s limit throttles alpha only.
    big = "x" * 100000  # 98 ECPU per SET: a wait of 0.5 s, beyond what the endpoint absorbs
    throttled = 0
    for _ in range(10):
        try:
            a.set("big", big)
        except redis.ResponseError as e:
            assert "THROTTLED" in str(e)
            throttled += 1
    assert throttled > 0
    for _ in range(10):
        b.set("big", big)  # never throttled
    assert b.get("big") == big.encode()
    # One Prometheus text for every cache: each family declared once, series of both.
    deadline = time.time() + 20
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{plane.port}/metrics", timeout=10) as m:
            text = m.read().decode()
        if 'cache="alpha"' in text and 'cache="beta"' in text:
            break
        assert time.time() < deadline, text[:2000]
        time.sleep(0.2)
    helps = re.findall(r"^# HELP (\S+)", text, re.M)
    assert len(helps) == len(set(helps)) and "stratus_shards" in helps
    fams = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            cur = line.split()[2]
        elif line and not line.startswith("#"):
            name = re.match(r"[a-z_]+", line).group(0)
            assert name == cur or name in (cur + "_bucket", cur + "_sum", cur + "_count"), line
            fams.setdefault(cur, set()).add(re.search(r'cache="([^"]+)"', line).group(1))
    assert fams["stratus_elasticache_processing_units_total"] == {"alpha", "beta"}
    # Different processes, different engines.
    assert plane.cache_pid("alpha") != plane.cache_pid("beta")
    assert not set(child_pids(plane.cache_pid("alpha"))) & set(child_pids(plane.cache_pid("beta")))


def test_each_cache_s_figures_reach_the_console(plane):
    """The plane reads each cache's figures from its process (GET /metrics.json on its metrics
    port, every 2 s): what /v1/caches and the series show are that cache's own."""
    plane.create("busy", replicas=0)
    plane.create("quiet", replicas=0)
    r = plane.client("busy")
    held = plane.client("busy")
    held.ping()
    deadline = time.time() + 30
    while True:
        for i in range(200):
            r.set(f"k{i}", "x" * 100)
            r.get(f"k{i}")
        u = plane.api("GET", "/v1/caches/busy")[1]["usage"]
        if (u["connections"] >= 2 and u["ecpu_per_second"] > 0 and u["p50_ms"] > 0
                and u["storage_bytes"] > 0):
            break
        assert time.time() < deadline, u
        time.sleep(0.5)
    assert u["shards"] == 1 and u["p99_ms"] >= u["p50_ms"]
    points = plane.api("GET", "/v1/caches/busy/series")[1]["points"]
    assert points and max(p["connections"] for p in points) >= 2
    assert any(p["ecpu_per_second"] > 0 and p["p50_ms"] > 0 for p in points)
    # The other cache was sampled too (one shard), and saw none of that traffic.
    q = plane.api("GET", "/v1/caches/quiet")[1]["usage"]
    assert q["shards"] == 1, q
    assert q["connections"] == 0 and q["ecpu_per_second"] == 0 and q["p50_ms"] == 0, q


# ---- hibernation -------------------------------------------------------------------------

def test_hibernate_wake_repeated_keeps_every_key(plane):
    plane.create("sleepy", shards=2, replicas=1)
    r = plane.client("sleepy")
    fill(r)
    before = all_data(r)
    pid = plane.cache_pid("sleepy")
    assert len(child_pids(pid)) == 4
    for round_ in range(3):
        got, c = plane.api("POST", "/v1/caches/sleepy/hibernate")
        assert got == 200, c
        # Asleep: no engine process at all; the endpoint still listens.
        deadline = time.time() + 30
        while child_pids(pid) and time.time() < deadline:
            time.sleep(0.05)
        assert child_pids(pid) == []
        assert (plane.data / "caches" / "sleepy" / "hibernation").exists()
        # A new client's first command wakes it and succeeds.
        fresh = plane.client("sleepy")
        t0 = time.monotonic()
        assert fresh.get("user:7") == b"v7" * 10
        woke = time.monotonic() - t0
        assert woke < 30
        assert all_data(fresh) == before, f"round {round_}"
        assert len(child_pids(pid)) == 4
        fresh.set(f"round:{round_}", round_)
        before = all_data(fresh)
    got, ev = plane.api("GET", "/v1/events?cache=sleepy")
    kinds = [e["kind"] for e in ev["events"]]
    assert kinds.count("hibernate") == 3 and kinds.count("wake") == 3


def test_idle_cache_hibernates_and_a_connected_client_wakes_it(plane):
    plane.create("idle", replicas=0, hibernate_after_seconds=2)
    r = plane.client("idle")
    r.set("k", "v")
    pid = plane.cache_pid("idle")
    deadline = time.time() + 30
    while not (plane.data / "caches" / "idle" / "hibernation").exists():
        assert time.time() < deadline, "the idle cache did not hibernate"
        time.sleep(0.1)
    # The same connection (still open) wakes it with its next command.
    assert r.get("k") == b"v"
    assert len(child_pids(pid)) == 1
    # While asleep, PING is answered without waking it.
    deadline = time.time() + 30
    while not (plane.data / "caches" / "idle" / "hibernation").exists():
        assert time.time() < deadline
        time.sleep(0.1)
    assert r.ping()
    assert child_pids(pid) == []
    # Asleep, seen from the metrics: no data in memory, its snapshot at rest, and no ECPU
    # charged while it sleeps (PING is free).
    def metric(text, name):
        m = re.search(rf'^{name}{{cache="idle"}} (\S+)$', text, re.M)
        return float(m.group(1)) if m else None

    deadline = time.time() + 20
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{plane.port}/metrics", timeout=10) as m:
            text = m.read().decode()
        if metric(text, "stratus_hibernating") == 1:
            break
        assert time.time() < deadline, text[:3000]
        time.sleep(0.2)
    assert metric(text, "stratus_storage_at_rest_bytes") > 0
    assert metric(text, "stratus_bytes_used_for_cache") == 0
    ecpu = metric(text, "stratus_elasticache_processing_units_total")
    for _ in range(20):
        r.ping()
    with urllib.request.urlopen(f"http://127.0.0.1:{plane.port}/metrics", timeout=10) as m:
        assert metric(m.read().decode(), "stratus_elasticache_processing_units_total") == ecpu
    assert plane.api("GET", "/v1/caches/idle")[1]["status"] == "hibernating"


def test_torn_hibernation_snapshot_is_never_loaded(plane):
    plane.create("fragile", replicas=0)
    r = plane.client("fragile")
    fill(r, 100)
    plane.api("POST", "/v1/caches/fragile/hibernate")
    rdb = next((plane.data / "caches" / "fragile" / "engines").glob("*/appendonly/*.base.rdb"))
    good = rdb.read_bytes()
    rdb.write_bytes(good[: len(good) // 2])  # a torn file
    fresh = plane.client("fragile")
    with pytest.raises(redis.ResponseError) as e:
        fresh.get("user:1")
    assert "cannot wake" in str(e.value) and "did not verify" in str(e.value)
    assert child_pids(plane.cache_pid("fragile")) == []
    assert rdb.read_bytes() == good[: len(good) // 2]  # nothing was touched or loaded


# ---- snapshots ---------------------------------------------------------------------------

def test_snapshot_restore_other_shard_count_export_import(plane, tmp_path):
    plane.create("src", shards=1, replicas=0)
    r = plane.client("src")
    fill(r)
    want = all_data(r)
    got, s = plane.api("POST", "/v1/snapshots", {"cache": "src", "name": "s1"})
    assert got == 201 and s["keys"] == len(want) and s["files"] == 1, s
    assert plane.api("POST", "/v1/snapshots", {"cache": "src", "name": "s1"})[0] == 409
    assert plane.api("POST", "/v1/snapshots", {"cache": "ghost", "name": "s9"})[0] == 404
    assert plane.api("POST", "/v1/snapshots", {"cache": "src", "name": "../x"})[0] == 400
    # Restore into 3 shards: the same data.
    got, c = plane.api("POST", "/v1/caches", {"name": "three", "snapshot": "s1", "shards": 3,
                                             "replicas": 0})
    assert got == 201 and c["restored_keys"] == len(want), c
    three = plane.client("three")
    assert three.info("stratus")["shards"] == 3
    assert all_data(three) == want
    # The restored cache's engines know its users (its commands run there as u:default).
    for name, c in engine_clients(None, root=plane.data / "caches" / "three" / "engines").items():
        assert c.acl_getuser("u:default"), name
    # A snapshot of the 3-shard cache has 3 files; back into 1 shard: the same data again.
    got, s3 = plane.api("POST", "/v1/snapshots", {"cache": "three", "name": "s3"})
    assert got == 201 and s3["files"] == 3
    plane.create("one", snapshot="s3", shards=1, replicas=0)
    assert all_data(plane.client("one")) == want
    # Export as one plain RDB that a plain redis-server loads.
    out = tmp_path / "export"
    got, e = plane.api("POST", "/v1/snapshots/s3/export", {"path": str(out)})
    assert got == 200, e
    manifest = json.loads((out / "s3.json").read_text())
    assert manifest["keys"] == len(want) and manifest["rdb"] == "s3.rdb"
    sock = str(tmp_path / "plain.sock")
    plain = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--dir",
                              str(out), "--dbfilename", "s3.rdb", "--appendonly", "no",
                              "--save", ""], stdout=subprocess.DEVNULL)
    try:
        pr = redis.Redis(unix_socket_path=sock)
        deadline = time.time() + 30
        while True:
            try:
                if pr.ping():
                    break
            except (redis.ConnectionError, redis.BusyLoadingError):
                assert time.time() < deadline
                time.sleep(0.05)
        assert all_data(pr) == want
    finally:
        plain.kill()
        plain.wait()
    # Import that file back, restore it: the same data once more.
    got, s4 = plane.api("POST", "/v1/snapshots",
                        {"name": "imported", "rdb_path": str(out / "s3.rdb")})
    assert got == 201 and s4["keys"] == len(want), s4
    plane.create("again", snapshot="imported", shards=2, replicas=0)
    assert all_data(plane.client("again")) == want
    # Not an RDB file: refused with the reason, nothing created.
    junk = tmp_path / "junk.rdb"
    junk.write_bytes(b"this is not an rdb file")
    got, err = plane.api("POST", "/v1/snapshots", {"name": "junk", "rdb_path": str(junk)})
    assert got == 400, err
    assert plane.api("GET", "/v1/snapshots/junk")[0] == 404
    # A damaged snapshot file is never restored.
    (plane.data / "snapshots" / "s1" / "shard-0.rdb").write_bytes(b"torn")
    got, err = plane.api("POST", "/v1/caches", {"name": "bad", "snapshot": "s1"})
    assert got == 500 and "changed" in err["error"]["message"]
    assert plane.api("GET", "/v1/caches/bad")[0] == 404
    # List and delete.
    names = [s["name"] for s in plane.api("GET", "/v1/snapshots")[1]["snapshots"]]
    assert set(names) == {"s1", "s3", "imported"}
    assert plane.api("DELETE", "/v1/snapshots/s3")[0] == 200
    assert plane.api("GET", "/v1/snapshots/s3")[0] == 404


def test_snapshot_of_a_hibernating_cache_does_not_wake_it(plane):
    plane.create("nap", replicas=0)
    r = plane.client("nap")
    fill(r, 50)
    want = all_data(r)
    plane.api("POST", "/v1/caches/nap/hibernate")
    got, s = plane.api("POST", "/v1/snapshots", {"cache": "nap", "name": "nap1"})
    assert got == 201 and s["keys"] == len(want), s
    assert child_pids(plane.cache_pid("nap")) == []
    plane.create("nap-copy", snapshot="nap1", replicas=0)
    assert all_data(plane.client("nap-copy")) == want
    # Right after a wake (the old primary resyncing from the replica that took over, a save
    # for it running): a snapshot waits for that save and takes its own.
    plane.create("busy", replicas=1)
    b = plane.client("busy")
    p = b.pipeline(transaction=False)
    for i in range(2000):
        p.set(f"v:{i}", "x" * 1000)
    p.execute()
    plane.api("POST", "/v1/caches/busy/hibernate")
    assert b.get("v:1") == b"x" * 1000
    b.set("after", "wake")
    got, s = plane.api("POST", "/v1/snapshots", {"cache": "busy", "name": "busy1"})
    assert got == 201 and s["keys"] == 2001, s


def test_caches_come_back_after_serve_restarts(tmp_path):
    p = Plane(tmp_path)
    try:
        p.create("keep", replicas=0)
        p.client("keep").set("k", "v")
        p.create("sleeper", replicas=0)
        p.client("sleeper").set("z", "1")
        p.api("POST", "/v1/caches/sleeper/hibernate")
    finally:
        assert p.stop() == 0
    p = Plane(tmp_path)
    try:
        deadline = time.time() + 30
        while True:
            caches = {c["name"]: c for c in p.api("GET", "/v1/caches")[1]["caches"]}
            if all(c["status"] in ("available", "hibernating") for c in caches.values()):
                break
            assert time.time() < deadline, caches
            time.sleep(0.1)
        assert set(caches) == {"keep", "sleeper"}
        assert p.client("keep").get("k") == b"v"
        # The sleeping cache started asleep: no engine until a request came.
        assert child_pids(p.cache_pid("sleeper")) == []
        assert p.client("sleeper").get("z") == b"1"
    finally:
        assert p.stop() == 0


def test_daily_snapshot_at_its_time(plane):
    # The minute from now on (UTC), unless it is about to end: then the next one.
    now = time.gmtime(time.time() + (20 if time.gmtime().tm_sec >= 45 else 0))
    at = time.strftime("%H:%M", now)
    plane.create("nightly", replicas=0)
    plane.client("nightly").set("k", "v")
    got, c = plane.api("PATCH", "/v1/caches/nightly",
                       {"daily_snapshot_time": at, "snapshot_retention_limit": 1})
    assert got == 200 and c["restarted"] is False and c["settings"]["daily_snapshot_time"] == at
    want = f"nightly-daily-{time.strftime('%Y%m%d', now)}"
    deadline = time.time() + 90
    while True:
        got, snaps = plane.api("GET", "/v1/snapshots?cache=nightly")
        names = [s["name"] for s in snaps["snapshots"] if s["kind"] == "daily"]
        if names:
            break
        assert time.time() < deadline, "no daily snapshot was taken at " + at
        time.sleep(0.5)
    assert names == [want]
    assert plane.api("GET", f"/v1/snapshots/{want}")[1]["keys"] == 1
