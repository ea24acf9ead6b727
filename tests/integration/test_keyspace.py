"""Whole-keyspace commands across shards: KEYS merges every shard, SCAN's one cursor walks every
shard in turn (MATCH, COUNT and TYPE honoured), RANDOMKEY finds a key wherever it is."""

import pytest
import redis

from conftest import module_stratus_each_size

srv = module_stratus_each_size("--replicas", "0")


@pytest.fixture(scope="module")
def data(srv):
    r = srv.client()
    r.flushall()
    keys = {f"ks:{i}" for i in range(300)}
    p = r.pipeline(transaction=False)
    for k in keys:
        p.set(k, "v")
    for i in range(20):
        p.rpush(f"ks:list:{i}", "x")
    p.execute()
    return r, keys, {f"ks:list:{i}" for i in range(20)}


def test_keys_merges_every_shard(data):
    r, strings, lists = data
    assert set(r.keys("ks:*")) == strings | lists
    assert set(r.keys("ks:list:*")) == lists
    assert r.keys("nothing:*") == []


def test_scan_walks_every_shard_once(data):
    r, strings, lists = data
    seen, cursor, calls = [], 0, 0
    while True:
        cursor, batch = r.scan(cursor, count=40)
        seen.extend(batch)
        calls += 1
        assert calls < 1000, "SCAN never returned cursor 0"
        if cursor == 0:
            break
    assert set(seen) == strings | lists
    assert len(seen) == len(set(seen)), "a key came back twice in a stable keyspace"


def test_scan_match_and_type(data):
    r, strings, lists = data
    assert set(r.scan_iter(match="ks:list:*", count=25)) == lists
    assert set(r.scan_iter(_type="list", count=25)) == lists


def test_scan_rejects_a_bad_cursor(data):
    r, _, _ = data
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.scan("notanumber")
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.scan(63)  # names shard 63 of a 3-shard cache


def test_randomkey(data):
    r, strings, lists = data
    for _ in range(10):
        assert r.randomkey() in strings | lists


def test_randomkey_on_an_empty_cache(srv):
    r = srv.client()
    r.flushall()
    assert r.randomkey() is None
    assert r.dbsize() == 0
