"""Blocking commands (BLPOP family, BZPOP family, XREAD/XREADGROUP BLOCK) through the endpoint:
each blocked client has a private engine connection, timeouts are the client's own, a client
that disconnects while blocked takes nothing with it, and blocked clients never hold up others."""

import threading
import time

import pytest
import redis

from conftest import deadline_poll, encode, engine_clients, key_slot, module_stratus_each_size

srv = module_stratus_each_size("--max-blocking-clients", "40", "--max-blocking-per-user", "40")


def _later(delay, fn):
    t = threading.Timer(delay, fn)
    t.start()
    return t


def test_blpop_times_out_after_its_own_timeout(r):
    r.delete("blk:empty")
    t0 = time.monotonic()
    assert r.blpop("blk:empty", 0.5) is None
    took = time.monotonic() - t0
    assert 0.45 <= took < 1.5, took


def test_blpop_is_woken_by_a_push_from_another_client(srv, r):
    r.delete("blk:q")
    pusher = srv.client()
    _later(0.3, lambda: pusher.rpush("blk:q", "job1"))
    t0 = time.monotonic()
    assert r.blpop("blk:q", 10) == ("blk:q", "job1")
    assert 0.2 < time.monotonic() - t0 < 5
    pusher.close()


def test_blocking_family(r):
    r.delete("{bf}:a", "{bf}:b", "{bf}:z", "{bf}:z2")
    r.rpush("{bf}:a", "1", "2", "3")
    assert r.brpop("{bf}:a", 1) == ("{bf}:a", "3")
    assert r.blmove("{bf}:a", "{bf}:b", 1, "LEFT", "RIGHT") == "1"
    assert r.brpoplpush("{bf}:a", "{bf}:b", 1) == "2"
    assert r.lrange("{bf}:b", 0, -1) == ["2", "1"]  # BRPOPLPUSH pushes on the left
    assert r.execute_command("BLMPOP", 1, 1, "{bf}:b", "LEFT") == ["{bf}:b", ["2"]]
    r.zadd("{bf}:z", {"x": 1, "y": 2})
    assert r.bzpopmin("{bf}:z", 1) == ("{bf}:z", "x", 1.0)
    assert r.bzpopmax("{bf}:z", 1) == ("{bf}:z", "y", 2.0)
    r.zadd("{bf}:z2", {"m": 5})
    assert r.execute_command("BZMPOP", 1, 1, "{bf}:z2", "MIN") == ["{bf}:z2", [["m", "5"]]]
    assert r.blpop("{bf}:none", 0.1) is None


def test_blocking_keys_must_share_a_slot(r):
    with pytest.raises(redis.ResponseError, match="CROSSSLOT"):
        r.blpop(["blk:one", "blk:two"], 0.1)


def test_pipeline_order_around_a_blocking_command(r):
    """Commands before a blocking one run before it; commands after it run after it returns."""
    p = r.pipeline(transaction=False)
    p.delete("blk:p")
    p.rpush("blk:p", "a")
    p.blpop("blk:p", 1)
    p.blpop("blk:p", 0.2)
    p.rpush("blk:p", "b")
    p.lrange("blk:p", 0, -1)
    assert p.execute() == [0, 1, ("blk:p", "a"), None, 1, ["b"]]


def test_xreadgroup_block_consumers(srv, r):
    r.delete("blk:stream")
    r.xgroup_create("blk:stream", "workers", id="$", mkstream=True)
    got = []

    def consume(name):
        c = srv.client()
        res = c.xreadgroup("workers", name, {"blk:stream": ">"}, count=1, block=5000)
        got.append(res)
        c.close()

    threads = [threading.Thread(target=consume, args=(n,)) for n in ("c1", "c2")]
    for t in threads:
        t.start()
    time.sleep(0.2)
    r.xadd("blk:stream", {"job": "1"})
    r.xadd("blk:stream", {"job": "2"})
    for t in threads:
        t.join(10)
    jobs = sorted(entry[1]["job"] for res in got for _, entries in res for entry in entries)
    assert jobs == ["1", "2"], got
    assert r.xread({"blk:stream": "0"}, block=100)[0][0] == "blk:stream"


def test_disconnected_blocked_client_pops_nothing(srv, r):
    r.delete("blk:gone")
    victim = srv.raw_tls()
    victim.send(encode("BLPOP", "blk:gone", "0"))
    engines = engine_clients(srv.data_dir)

    def blocked():
        return sum(int(c.info("clients")["blocked_clients"]) for c in engines.values())

    deadline_poll(lambda: blocked() == 1, 10, what="the client to be blocked in an engine")
    victim.close()
    deadline_poll(lambda: blocked() == 0, 10, what="the engine to drop the blocked client")
    r.rpush("blk:gone", "precious")
    assert r.lrange("blk:gone", 0, -1) == ["precious"]


def _swallow(fn):
    try:
        fn()
    except (redis.ConnectionError, redis.TimeoutError, OSError, ValueError):
        pass


def test_blocked_clients_do_not_starve_others(srv, r):
    blockers = [srv.client() for _ in range(30)]
    threads = [threading.Thread(target=_swallow, args=(lambda c=c, i=i: c.blpop(f"blk:idle{i}", 3),))
               for i, c in enumerate(blockers)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    for i in range(200):
        r.set(f"blk:busy{i}", i)
        assert r.get(f"blk:busy{i}") == str(i)
    took = time.monotonic() - t0
    for t in threads:
        t.join(10)
    for c in blockers:
        c.close()
    assert took < 3, f"400 commands took {took:.2f} s while 30 clients were blocked"


def test_private_connection_limit_gives_a_clear_error(srv):
    clients = [srv.client() for _ in range(45)]
    errors = []

    def block(c, i):
        try:
            c.blpop(f"blk:lim{i}", 1)
        except redis.ResponseError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=block, args=(c, i)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    for c in clients:
        c.close()
    assert errors, "45 blocked clients with --max-blocking-clients 40 got no error"
    assert all("--max-blocking-clients" in e for e in errors), errors[:3]


def test_pipelined_blocking_commands_on_two_shards(srv):
    """The second command needs a private link to another shard, and the first one's reply
    (read on the old link) is what lets it go: the old link is let go of inside its own read."""
    a = "blk:two:a"
    b = next(f"blk:two:{i}" for i in range(1000) if key_slot(f"blk:two:{i}") >= 8192)
    assert key_slot(a) < 8192, "the keys must be on the two shards"
    c = srv.raw_tls()
    c.send(encode("BLPOP", a, "0.1") + encode("BLPOP", b, "0.1") + encode("BLPOP", a, "0.1")
           + encode("PING"))
    assert [c.read_reply() for _ in range(4)] == [None, None, None, "PONG"]
    c.close()


def _blocked(srv, n):
    """Waits until n clients are blocked (INFO blocked_clients, summed over the primaries), as
    the Redis suite's wait_for_blocked_clients_count does."""
    c = srv.client()
    try:
        deadline_poll(lambda: c.info("clients")["blocked_clients"] == n, 10,
                      what=f"{n} blocked client(s)")
    finally:
        c.close()


def test_a_blocked_xreadgroup_gets_unblocked_when_its_stream_goes(srv, r):
    """XREADGROUP ... BLOCK on a stream that is deleted, flushed or replaced by another type gets
    Redis's -UNBLOCKED error, not a re-issued command answered NOGROUP (stream-cgroups.tcl):
    only an unblock caused by the service's own failover is absorbed."""
    for end in (lambda: r.delete("{xg}s"), lambda: r.flushall(),
                lambda: (r.delete("{xg}s"), r.set("{xg}s", "string"))):
        r.delete("{xg}s")
        r.xadd("{xg}s", {"f": "v"}, id="666")
        r.xgroup_create("{xg}s", "g", id="$")
        rd = srv.raw_tls()
        rd.send(encode("XREADGROUP", "GROUP", "g", "Alice", "BLOCK", "0", "STREAMS", "{xg}s", ">"))
        _blocked(srv, 1)
        end()
        err = rd.read_reply()
        assert "UNBLOCKED" in str(err) and "no longer exists" in str(err), err
        rd.close()
        _blocked(srv, 0)


def test_bzpopmin_is_not_woken_by_a_key_that_is_no_longer_a_zset(srv, r):
    """ZADD, DEL and SET of the key in one transaction: the blocked BZPOPMIN keeps waiting, and
    a later ZADD serves it (zset.tcl "BZPOPMIN with same key multiple times", type change)."""
    r.delete("{bz}k")
    rd = srv.raw_tls()
    rd.send(encode("BZPOPMIN", "{bz}k", "0"))
    _blocked(srv, 1)
    p = r.pipeline(transaction=True)
    p.zadd("{bz}k", {"a": 1})
    p.delete("{bz}k")
    p.set("{bz}k", "string")
    p.execute()
    time.sleep(0.2)  # had it been woken, its WRONGTYPE would be here by now
    _blocked(srv, 1)
    r.delete("{bz}k")
    r.zadd("{bz}k", {"b": 2})
    assert rd.read_reply() == [b"{bz}k", b"b", b"2"]
    rd.close()


def test_circular_brpoplpush(srv, r):
    """Two clients each BRPOPLPUSH the other's list: one push moves the element once, and the
    other client stays blocked (list.tcl "Circular BRPOPLPUSH")."""
    r.delete("{cl}1", "{cl}2")
    rd1, rd2 = srv.raw_tls(), srv.raw_tls()
    rd1.send(encode("BRPOPLPUSH", "{cl}1", "{cl}2", "0"))
    _blocked(srv, 1)
    rd2.send(encode("BRPOPLPUSH", "{cl}2", "{cl}1", "0"))
    _blocked(srv, 2)
    r.rpush("{cl}1", "foo")
    assert rd1.read_reply() == b"foo"
    assert rd2.read_reply() == b"foo"
    assert r.lrange("{cl}1", 0, -1) == ["foo"] and r.lrange("{cl}2", 0, -1) == []
    rd1.close()
    rd2.close()
