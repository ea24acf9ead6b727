"""--shards 3: keys spread over three primaries, the client still sees one node."""

import pytest
import redis

from conftest import engine_clients, keys_in_distinct_slots, module_stratus

srv = module_stratus("--shards", "3")


@pytest.fixture
def r(srv):
    c = srv.client()
    c.flushall()
    return c


def test_ready_line_and_engine_count(srv):
    assert srv.shards == 3
    assert srv.engines_per_shard == 2
    assert len(srv.engine_pids()) == 6


def test_thousand_set_get_and_dbsize(r):
    for i in range(1000):
        assert r.set(f"key:{i}", f"value:{i}") is True
    for i in range(1000):
        assert r.get(f"key:{i}") == f"value:{i}"
    assert r.dbsize() == 1000
    ks = r.info("keyspace")
    assert ks.get("db0", {}).get("keys") == 1000, ks
    assert r.flushall() is True
    assert r.dbsize() == 0
    assert r.get("key:1") is None


def test_keys_spread_over_every_primary(srv, r):
    for i in range(1000):
        r.set(f"spread:{i}", i)
    engines = engine_clients(srv.data_dir)
    primaries = {n: c for n, c in engines.items() if c.info("replication")["role"] == "master"}
    assert len(primaries) == 3, {n: c.info("replication")["role"] for n, c in engines.items()}
    counts = {n: c.dbsize() for n, c in primaries.items()}
    print(f"keys per primary: {counts}")
    assert sum(counts.values()) == 1000
    assert all(n > 150 for n in counts.values()), counts


def test_cross_shard_multikey(r):
    keys = keys_in_distinct_slots(300, "x3")
    assert r.mset({k: k[::-1] for k in keys}) is True
    ask = keys + ["absent"] + list(reversed(keys))
    want = [k[::-1] for k in keys] + [None] + [k[::-1] for k in reversed(keys)]
    assert r.mget(ask) == want
    assert r.exists(*keys, "absent") == 300
    assert r.delete(*keys[:150]) == 150
    assert r.unlink(*keys) == 150
    assert r.dbsize() == 0


def test_cluster_view_still_one_node(srv):
    c = srv.raw_tls()
    slots = c.call("CLUSTER", "SLOTS")
    assert len(slots) == 1 and slots[0][:2] == [0, 16383], slots
    c.close()


def test_scan_covers_every_shard_or_is_refused(r):
    """SCAN is not in this issue's list: refusing it is fine, answering for one shard is not."""
    want = {f"scan:{i}" for i in range(300)}
    for k in want:
        r.set(k, 1)
    try:
        seen = set(r.scan_iter(match="scan:*", count=100))
    except redis.ResponseError as e:
        assert "scan" in str(e).lower(), str(e)
        pytest.skip(f"SCAN refused: {e}")
    assert seen == want, f"{len(seen)} of 300 keys seen by SCAN"
