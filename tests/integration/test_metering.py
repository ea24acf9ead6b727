"""Metering (issue 6): every command's ECPU by the formula docs/pricing.md publishes, checked
against a scripted workload whose sizes are known; STRATUS COST equals what the command then
costs; receipts; free connection commands; the CPU part; usage kept across a restart and
recorded per minute in SQLite."""

import sqlite3
import time

import pytest
import redis

from conftest import StratusStartError, deadline_poll


def one_connection(srv):
    """A client that keeps one connection (receipts are per connection)."""
    return redis.Redis(connection_pool=srv.client().connection_pool,
                       single_connection_client=True)


def mecpu_of(req_bytes, reply_bytes, cpu=0):
    """The published formula: 1 ECPU per KiB moved (request + reply), in milli-ECPU rounded up;
    the CPU part if larger; at least 1 ECPU."""
    data = -(-(req_bytes + reply_bytes) * 1000 // 1024)
    return max(data, cpu, 1000)


def resp_request(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return len(out)


def bulk(n):
    return len(b"$%d\r\n" % n) + n + 2


def usage(r):
    u = r.execute_command("STRATUS", "USAGE")
    return dict(zip(u[::2], u[1::2])) if isinstance(u, list) else u


@pytest.fixture
def data_only(stratus_factory):
    # The CPU part off: costs depend on bytes alone, so they can be worked out exactly.
    return stratus_factory("--autoscale", "off", "--meter-us-per-ecpu", "0")


def test_a_scripted_workload_costs_exactly_what_the_formula_says(data_only):
    r = data_only.client()
    value = "x" * 3200
    r.set("big", value)
    members = {f"m{i}": i for i in range(1000)}
    r.zadd("z", members)
    before = usage(r)
    expected = 0
    for i in range(1000):
        assert len(r.get("big")) == 3200
    expected += 1000 * mecpu_of(resp_request("GET", "big"), bulk(3200))
    for i in range(1000):
        r.set(f"s{i:03d}", "y" * 100)
    expected += 1000 * mecpu_of(resp_request("SET", "s000", "y" * 100), len(b"+OK\r\n"))
    reply = len(b"*1000\r\n") + sum(bulk(len(m)) for m in members)
    for _ in range(100):
        assert len(r.zrange("z", 0, -1)) == 1000
    expected += 100 * mecpu_of(resp_request("ZRANGE", "z", 0, -1), reply)
    # Free: connection commands cost nothing, and commands refused before running are counted
    # as rejected, not charged.
    for _ in range(50):
        r.ping()
    for _ in range(3):
        with pytest.raises(redis.ResponseError):
            r.execute_command("NOSUCHCOMMAND")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")
    after = usage(r)
    assert after["rejected"] - before["rejected"] == 4
    assert after["mecpu"] - before["mecpu"] == expected
    assert after["commands"] - before["commands"] == 2100
    assert after["ecpu"] == "%d.%03d" % (after["mecpu"] // 1000, after["mecpu"] % 1000)


def cost(r, *cmd):
    c = r.execute_command("STRATUS", "COST", *cmd)
    return dict(zip(c[::2], c[1::2])) if isinstance(c, list) else c


def receipt(r):
    c = r.execute_command("STRATUS", "RECEIPT")
    return dict(zip(c[::2], c[1::2])) if isinstance(c, list) else c


def test_cost_is_what_the_command_then_costs(data_only):
    r = one_connection(data_only)
    r.set("k", "v" * 5000)
    c = cost(r, "GET", "k")
    assert c["reply"] == "measured" and c["reply_bytes"] == bulk(5000)
    assert c["request_bytes"] == resp_request("GET", "k")
    r.get("k")
    got = receipt(r)
    assert got["command"] == "get" and got["mecpu"] == c["mecpu"] == mecpu_of(20, bulk(5000))
    # A write is not run: its reply is the average of that command's replies so far.
    c = cost(r, "SET", "k2", "w" * 2000)
    assert c["reply"] == "average" and c["reply_bytes"] == 5
    assert r.get("k2") is None, "STRATUS COST ran a write"
    r.set("k2", "w" * 2000)
    assert receipt(r)["mecpu"] == c["mecpu"] == mecpu_of(resp_request("SET", "k2", "w" * 2000), 5)
    # Errors and free commands: a read that fails says why instead of a cost.
    r.set("str", "x")
    with pytest.raises(redis.ResponseError, match="^WRONGTYPE"):
        cost(r, "LRANGE", "str", 0, -1)
    with pytest.raises(Exception, match="unknown command"):
        cost(r, "NOSUCH", "x")
    assert cost(r, "PING")["mecpu"] == 0 and cost(r, "PING")["reply"] == "free"
    # Nothing above was charged but the GET and the SET.
    assert receipt(r)["connection_commands"] == 5  # SET k, GET k, GET k2, SET k2, SET str


def test_receipts_ride_on_resp3_replies(data_only):
    c = data_only.raw_tls(auth=False)
    assert isinstance(c.call("HELLO", "3", "AUTH", "default", data_only.password), dict)
    assert c.call("STRATUS", "RECEIPTS", "ON") == "OK"
    c.last_attr = None
    assert c.call("SET", "rk", "v" * 3000) == "OK"
    assert c.last_attr == {"ecpu": mecpu_of(resp_request("SET", "rk", "v" * 3000), 5) / 1000}
    c.last_attr = None
    assert c.call("GET", "rk") == b"v" * 3000
    assert c.last_attr == {"ecpu": mecpu_of(resp_request("GET", "rk"), bulk(3000)) / 1000}
    c.last_attr = None
    assert c.call("PING") == "PONG" and c.last_attr is None  # free: no receipt
    assert c.call("STRATUS", "RECEIPTS", "OFF") == "OK"
    c.call("GET", "rk")
    assert c.last_attr is None
    assert isinstance(c.call("STRATUS", "RECEIPTS", "maybe"), Exception)
    c.close()


def test_the_cpu_part_charges_what_the_engine_spends(stratus_factory):
    # 1 ECPU per microsecond: a command that takes the engine longer than its bytes cost is
    # charged for the time (INFO commandstats usec_per_call, refreshed every 5 s).
    srv = stratus_factory("--autoscale", "off", "--meter-us-per-ecpu", "1")
    r = one_connection(srv)
    r.rpush("l", *range(2000))
    for _ in range(20):
        r.sort("l", desc=True, alpha=True, start=0, num=1)
    deadline_poll(lambda: cost(r, "SORT", "l", "DESC", "ALPHA", "LIMIT", 0, 1)["cpu_mecpu"] > 0,
                  15, what="the CPU table to be refreshed")
    c = cost(r, "SORT", "l", "DESC", "ALPHA", "LIMIT", 0, 1)
    assert c["cpu_mecpu"] > c["data_mecpu"], c  # sorting 2000 strings takes well over 1 us
    assert c["mecpu"] == max(c["cpu_mecpu"], c["data_mecpu"], 1000)


def test_usage_survives_a_restart_and_is_recorded_per_minute(stratus_factory, tmp_path):
    srv = stratus_factory("--autoscale", "off", "--meter-us-per-ecpu", "0")
    r = srv.client()
    for i in range(300):
        r.set(f"u{i}", "z" * 1000)
    first = usage(r)
    assert first["mecpu"] >= 300 * 1000
    srv.stop()
    again = stratus_factory("--autoscale", "off", "--meter-us-per-ecpu", "0",
                            data_dir=srv.data_dir)
    r = again.client()
    assert usage(r)["mecpu"] == first["mecpu"]
    db = sqlite3.connect(srv.data_dir / "stratus.db")
    rows = dict(db.execute("SELECT cmd, SUM(calls) FROM usage WHERE cache = 'default' "
                           "GROUP BY cmd").fetchall())
    assert rows["set"] == 300
    assert rows.get("key:") == 300  # keys u0..u299 have no ':' prefix
    assert "" in rows  # each recorded minute has its own row: storage, connections
    db.close()


def test_metering_off_counts_nothing(stratus_factory):
    srv = stratus_factory("--autoscale", "off", "--metering", "off")
    r = srv.client()
    r.set("a", "b")
    u = usage(r)
    assert u["metering"] == "off" and u["mecpu"] == 0 and u["commands"] == 0


def test_the_ecpu_per_second_limit_holds_the_rate_and_says_throttled(stratus_factory):
    limit = 1000
    srv = stratus_factory("--autoscale", "off", "--meter-us-per-ecpu", "0",
                          "--max-ecpu-per-second", str(limit))
    r = srv.client()
    r.set("v3k", "x" * 3200)  # each GET costs 3.154 ECPU
    stop = time.monotonic() + 5.0
    errors = []

    def hammer():
        c = srv.client()
        while time.monotonic() < stop:
            try:
                c.get("v3k")
            except Exception as e:  # noqa: BLE001
                errors.append(str(e))

    import threading
    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the bucket's burst is spent by now
    u0, t0 = usage(r)["mecpu"], time.monotonic()
    time.sleep(3.0)
    u1, t1 = usage(r)["mecpu"], time.monotonic()
    for t in threads:
        t.join()
    rate = (u1 - u0) / 1000 / (t1 - t0)
    assert abs(rate - limit) <= 0.05 * limit, rate
    # Commands this cheap wait (absorbed) rather than fail.
    assert all("THROTTLED" in e for e in errors), errors[:3]
    # One command costs more than 100 ms of the limit: the next is refused with the wait it
    # would need, never left to time out.
    with pytest.raises(redis.ResponseError,
                       match=r"^THROTTLED ECPU/s limit of cache default reached \(1000 ECPU/s\), "
                             r"retry after \d+ ms$"):
        r.set("huge", "h" * 300_000)  # about 293 ECPU: the bucket owes that much
        for _ in range(5):
            r.get("huge")
    assert usage(r)["throttled"] >= 1


def test_the_storage_limit_evicts_only_keys_with_a_ttl_then_says_oom(stratus_factory):
    srv = stratus_factory("--autoscale", "off", "--replicas", "0", "--max-storage", "8mb")
    r = srv.client()
    value = "t" * 10_000
    for i in range(300):  # about 3 MB with a TTL
        r.set(f"ttl:{i}", value, ex=3600)
    kept = []
    with pytest.raises(redis.ResponseError,
                       match=r"^OOM storage limit of cache default reached \(--max-storage 8388608 "
                             r"bytes, eviction volatile-lru\): keys without a TTL are never "
                             r"evicted"):
        for i in range(2000):  # 20 MB without a TTL: more than the limit
            r.set(f"keep:{i}", value)
            kept.append(f"keep:{i}")
    assert len(kept) > 300, len(kept)  # the TTL keys made room first
    assert all(r.exists(k) for k in kept), "a key without a TTL was evicted"
    assert r.dbsize() < 300 + len(kept), "no key with a TTL was evicted"
    # Reads and deletes still work at the limit, and make room again.
    assert r.get(kept[0]) == value
    r.delete(*kept[:100])
    r.set("after-delete", value)
    with pytest.raises(redis.ResponseError,
                       match=r"evicts with its eviction setting \(volatile-lru\); change it "
                             r"with `stratus cache modify default --eviction POLICY`"):
        r.config_set("maxmemory-policy", "allkeys-lru")
    with pytest.raises(redis.ResponseError, match="keeps its shard count"):
        r.execute_command("STRATUS", "SCALE", "2")


def test_eviction_allkeys_lru_makes_room_by_evicting_keys_without_a_ttl(stratus_factory):
    srv = stratus_factory("--autoscale", "off", "--replicas", "0", "--max-storage", "8mb",
                          "--eviction", "allkeys-lru")
    r = srv.client()
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    value = "k" * 10_000
    for i in range(2000):  # 20 MB without a TTL, well over the limit: never an OOM
        r.set(f"keep:{i}", value)
    n = r.dbsize()
    assert 0 < n < 2000, n  # keys without a TTL made room
    assert r.get("keep:1999") == value  # the last write is there
    assert r.info("memory")["used_memory"] <= 9 * 1024 * 1024


def test_eviction_noeviction_says_oom_at_the_limit_and_keeps_every_key(stratus_factory):
    srv = stratus_factory("--autoscale", "off", "--replicas", "0", "--max-storage", "8mb",
                          "--eviction", "noeviction")
    r = srv.client()
    value = "n" * 10_000
    written = []
    with pytest.raises(redis.ResponseError,
                       match=r"eviction noeviction\): no key is ever evicted"):
        for i in range(2000):
            r.set(f"ttl:{i}", value, ex=3600)  # even keys with a TTL stay
            written.append(f"ttl:{i}")
    assert len(written) > 100
    assert r.dbsize() == len(written)


def test_an_unknown_eviction_policy_is_refused_at_start(stratus_factory):
    with pytest.raises(StratusStartError,
                       match=r"--eviction: 'most-lru' is not one of volatile-lru"):
        stratus_factory("--eviction", "most-lru")


def test_prometheus_metrics_mirror_the_meter(stratus_factory):
    import re
    import urllib.error
    import urllib.request

    srv = stratus_factory("--autoscale", "off", "--meter-us-per-ecpu", "0", "--metrics-port", "0")
    line = next(x for x in srv.stdout_lines if x.strip().startswith("metrics "))
    url = line.split()[-1]
    r = srv.client()
    r.set("pk", "p" * 2000)
    for _ in range(3):
        r.get("pk")
    u = usage(r)
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert "# TYPE stratus_elasticache_processing_units_total counter" in text
    m = re.search(r'^stratus_elasticache_processing_units_total\{cache="default"\} (\S+)$', text,
                  re.M)
    assert m and m.group(1) == u["ecpu"], (m and m.group(1), u)
    assert 'stratus_commands_total{cache="default",command="get"} 3' in text
    assert 'stratus_commands_total{cache="default",command="set"} 1' in text
    assert re.search(r'^stratus_bytes_used_for_cache\{cache="default"\} \d+$', text, re.M)
    assert 'stratus_throttled_cmds_total{cache="default"} 0' in text
    assert re.search(r'^stratus_curr_connections\{cache="default"\} [1-9]', text, re.M)
    # The endpoint's own health, for dashboards and alerts (docs/operations.md).
    assert re.search(r'^stratus_engines\{cache="default"\} 2$', text, re.M), text
    assert re.search(r'^stratus_failovers_total\{cache="default"\} 0$', text, re.M)
    assert re.search(r'^stratus_commands_processed_total\{cache="default"\} [1-9]', text, re.M)
    try:
        urllib.request.urlopen(url.replace("/metrics", "/nope"), timeout=10)
        raise AssertionError("no 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_the_bill_names_the_key_prefixes_that_cost_most(stratus_factory):
    import subprocess

    from conftest import STRATUS_BIN
    srv = stratus_factory("--autoscale", "off", "--meter-us-per-ecpu", "0")
    r = srv.client()
    for i in range(200):
        r.set(f"session:{i}", "s" * 3000)  # about 3 ECPU each
        r.incr(f"rate:{i % 7}")  # 1 ECPU each
    srv.stop()  # records the minute in progress
    out = subprocess.run([STRATUS_BIN, "bill", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=30).stdout
    lines = out.split("Top key prefixes by ECPU")[1].splitlines()
    assert lines[1].split()[0] == "session:" and lines[1].split()[1] == "200", out
    assert lines[2].split()[0] == "rate:" and lines[2].split()[1] == "200", out
    top = out.split("Top command types by ECPU:")[1].splitlines()
    assert top[1].split()[0] == "set" and top[2].split()[0] == "incrby", out  # redis-py sends INCRBY


def test_a_user_quota_keeps_one_app_from_starving_another(stratus_factory):
    import threading

    srv = stratus_factory("--autoscale", "off", "--meter-us-per-ecpu", "0",
                          "--user-ecpu-per-second", "batch=300")
    admin = srv.client()
    for user in ("batch", "web"):
        admin.execute_command("ACL", "SETUSER", user, "on", ">pw-" + user, "~*", "+@all")
    admin.set("v3k", "x" * 3200)  # 3.154 ECPU per GET

    def client(user):
        return redis.Redis(host=srv.host, port=srv.port, username=user, password="pw-" + user,
                           ssl=True, ssl_ca_certs=srv.ca, decode_responses=True)

    stop = time.monotonic() + 4.0
    counts = []

    def batch():
        c, n = client("batch"), 0
        while time.monotonic() < stop:
            c.get("v3k")
            n += 1
        counts.append(n)

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    web = client("web")
    t0 = time.monotonic()
    for _ in range(300):  # 946 ECPU: over 3 s at batch's quota, unlimited for web
        web.get("v3k")
    web_s = time.monotonic() - t0
    for t in threads:
        t.join()
    assert web_s < 2.0, web_s
    batch_rate = sum(counts) * 3.154 / 4.0
    assert batch_rate <= 300 * 1.05 + 30, batch_rate  # the burst (30 ECPU) at most on top
    with pytest.raises(redis.ResponseError,
                       match=r"^THROTTLED ECPU/s quota of user batch on cache default reached "
                             r"\(300 ECPU/s\), retry after \d+ ms$"):
        c = client("batch")
        c.set("big", "b" * 200_000)  # about 195 ECPU: the next command would wait > 100 ms
        c.get("big")
