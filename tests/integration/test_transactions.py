"""MULTI/EXEC/DISCARD/WATCH/UNWATCH through the endpoint, with Redis's own semantics: queue-time
errors abort EXEC, run-time errors stay inside EXEC's reply, WATCH makes EXEC fail after another
client's write, and every key of a transaction must share one slot (Redis Cluster's rule)."""

import pytest
import redis

from conftest import module_stratus_each_size

srv = module_stratus_each_size()


def test_multi_exec(r):
    r.delete("{t}:a", "{t}:n")
    p = r.pipeline(transaction=True)
    p.set("{t}:a", "1")
    p.incr("{t}:n")
    p.incrby("{t}:n", 5)
    p.get("{t}:a")
    assert p.execute() == [True, 1, 6, "1"]


def test_raw_replies_are_redis_replies(srv):
    c = srv.raw_tls()
    assert c.call("MULTI") == "OK"
    assert c.call("SET", "{t}:raw", "v") == "QUEUED"
    assert c.call("GET", "{t}:raw") == "QUEUED"
    assert c.call("EXEC") == ["OK", b"v"]
    with pytest.raises(Exception, match="EXEC without MULTI"):
        _raise(c.call("EXEC"))
    assert c.call("MULTI") == "OK"
    with pytest.raises(Exception, match="MULTI calls can not be nested"):
        _raise(c.call("MULTI"))
    assert c.call("DISCARD") == "OK"
    with pytest.raises(Exception, match="DISCARD without MULTI"):
        _raise(c.call("DISCARD"))
    c.close()


def _raise(reply):
    if isinstance(reply, Exception):
        raise reply
    return reply


def test_queue_time_errors_abort_exec(srv):
    c = srv.raw_tls()
    assert c.call("MULTI") == "OK"
    assert c.call("SET", "{t}:q", "1") == "QUEUED"
    err = c.call("NOSUCHCOMMAND", "x")
    assert isinstance(err, Exception) and "unknown command" in str(err)
    err = c.call("GET")
    assert isinstance(err, Exception) and "wrong number of arguments" in str(err)
    reply = c.call("EXEC")
    assert isinstance(reply, Exception) and str(reply).startswith("EXECABORT"), reply
    assert c.call("GET", "{t}:q") is None, "an aborted transaction ran"
    c.close()


def test_run_time_errors_stay_in_exec_reply(srv):
    c = srv.raw_tls()
    c.call("SET", "{t}:str", "text")
    assert c.call("MULTI") == "OK"
    assert c.call("INCR", "{t}:str") == "QUEUED"
    assert c.call("SET", "{t}:after", "ok") == "QUEUED"
    out = c.call("EXEC")
    assert isinstance(out[0], Exception) and "not an integer" in str(out[0]), out
    assert out[1] == "OK"
    c.close()


def test_cross_slot_transaction_is_refused_with_the_fix(srv):
    c = srv.raw_tls()
    assert c.call("MULTI") == "OK"
    assert c.call("SET", "{u1}:a", "1") == "QUEUED"
    err = c.call("SET", "{u2}:b", "1")
    assert isinstance(err, Exception) and str(err).startswith("CROSSSLOT"), err
    assert "hash tag" in str(err)
    reply = c.call("EXEC")
    assert isinstance(reply, Exception) and str(reply).startswith("EXECABORT")
    assert c.call("EXISTS", "{u1}:a") == 0
    c.close()


def test_commands_for_every_shard_inside_multi(srv):
    """FLUSHALL, DBSIZE, KEYS ... inside MULTI: a plain command of the one engine on a 1-shard
    cache (multi.tcl queues FLUSHALL and SLOWLOG RESET); refused with several shards, where
    they would be several engines' commands and no transaction spans them."""
    c = srv.raw_tls()
    assert c.call("SET", "{q}:a", "1") == "OK"
    if srv.shards == 1:
        keys = c.call("DBSIZE")
        assert c.call("MULTI") == "OK"
        assert c.call("INCR", "{q}:a") == "QUEUED"
        assert c.call("DBSIZE") == "QUEUED"
        assert c.call("KEYS", "{q}:*") == "QUEUED"
        assert c.call("SLOWLOG", "RESET") == "QUEUED"
        assert c.call("EXEC") == [2, keys, [b"{q}:a"], "OK"]
    else:
        assert c.call("MULTI") == "OK"
        err = c.call("DBSIZE")
        assert isinstance(err, Exception) and "transaction" in str(err), err
        assert isinstance(c.call("EXEC"), Exception)
    assert c.call("MULTI") == "OK"
    err = c.call("SLOWLOG", "GET")  # merged (and filtered) by the endpoint: never queued
    assert isinstance(err, Exception) and "transaction" in str(err), err
    assert isinstance(c.call("EXEC"), Exception)
    c.call("DEL", "{q}:a")
    c.close()


def test_watch_then_other_client_write_makes_exec_fail(srv, r):
    other = srv.client()
    r.set("{w}:balance", "10")
    p = r.pipeline(transaction=True)
    p.watch("{w}:balance")
    assert p.get("{w}:balance") == "10"  # immediate mode after WATCH
    other.set("{w}:balance", "99")
    p.multi()
    p.set("{w}:balance", "11")
    with pytest.raises(redis.WatchError):
        p.execute()
    assert r.get("{w}:balance") == "99"
    other.close()


def test_watch_without_conflict_commits(r):
    r.set("{w}:stock", "5")
    with r.pipeline(transaction=True) as p:
        p.watch("{w}:stock")
        left = int(p.get("{w}:stock"))
        p.multi()
        p.set("{w}:stock", str(left - 1))
        p.rpush("{w}:orders", "o1")
        assert p.execute() == [True, 1]
    assert r.get("{w}:stock") == "4"


def test_transaction_helper_retries_on_conflict(r):
    r.set("{w}:ctr", "0")

    def bump(pipe):
        v = int(pipe.get("{w}:ctr"))
        pipe.multi()
        pipe.set("{w}:ctr", str(v + 1))

    for _ in range(20):
        r.transaction(bump, "{w}:ctr")
    assert r.get("{w}:ctr") == "20"


def test_watch_keys_must_share_a_slot(srv):
    c = srv.raw_tls()
    err = c.call("WATCH", "{a}:1", "{b}:2")
    assert isinstance(err, Exception) and str(err).startswith("CROSSSLOT")
    assert c.call("WATCH", "{a}:1") == "OK"
    err = c.call("GET", "{b}:2")
    assert isinstance(err, Exception) and "WATCH" in str(err)
    assert c.call("UNWATCH") == "OK"
    assert c.call("GET", "{b}:2") is None
    c.close()


def test_discard_drops_watch(srv, r):
    c = srv.raw_tls()
    other = srv.client()
    c.call("SET", "{d}:k", "1")
    assert c.call("WATCH", "{d}:k") == "OK"
    assert c.call("MULTI") == "OK"
    assert c.call("SET", "{d}:k", "2") == "QUEUED"
    assert c.call("DISCARD") == "OK"
    other.set("{d}:k", "3")
    assert c.call("MULTI") == "OK"
    assert c.call("SET", "{d}:k", "4") == "QUEUED"
    assert c.call("EXEC") == ["OK"], "DISCARD did not drop the WATCH"
    assert r.get("{d}:k") == "4"
    c.close()
    other.close()


def test_keyless_transaction(srv):
    c = srv.raw_tls()
    assert c.call("MULTI") == "OK"
    assert c.call("PING") == "QUEUED"
    assert c.call("ECHO", "hi") == "QUEUED"
    assert c.call("EXEC") == ["PONG", b"hi"]
    c.close()


def test_publish_inside_multi_reaches_every_subscriber(srv, r):
    """bee-queue finishes each job with MULTI ... PUBLISH ... EXEC: the message reaches
    subscribers whatever shard the transaction runs on (the cluster passes it on)."""
    sub = r.pubsub()
    sub.subscribe("jobs:done")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    for key in ("job:1", "job:2", "job:3", "job:4"):  # slots on every shard of 3
        c = srv.raw_tls()
        assert c.call("MULTI") == "OK"
        assert c.call("SET", key, "done") == "QUEUED"
        assert c.call("PUBLISH", "jobs:done", key) == "QUEUED"
        got = c.call("EXEC")
        assert got[0] == "OK" and isinstance(got[1], int), got
        c.close()
        msg = None
        while msg is None or msg["type"] != "message":
            msg = sub.get_message(timeout=5)
            assert msg is not None, f"the PUBLISH of {key}'s transaction reached nobody"
        assert msg["data"] == key
    sub.close()
