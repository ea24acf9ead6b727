"""Lua scripts and functions through the endpoint: routed by their declared keys (one slot,
else CROSSSLOT), keyless scripts run, SCRIPT LOAD and FUNCTION LOAD reach every shard, and
NOSCRIPT never reaches a client for a script it loaded, on any shard, even after an engine
restart."""

import hashlib
import os
import signal

import pytest
import redis

from conftest import deadline_poll, key_slot, module_stratus_each_size

srv = module_stratus_each_size("--replicas", "0")

INCR_BY = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
LIMITER = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def _keys_on_every_shard(bands=8):
    """One key in each eighth of the slot range, so each of 3 shards gets some."""
    keys, seen = [], set()
    i = 0
    while len(keys) < bands:
        k = f"lua:{i}"
        band = key_slot(k) * bands // 16384
        if band not in seen:
            seen.add(band)
            keys.append(k)
        i += 1
    return keys


def test_eval_routed_by_key_and_keyless(r):
    r.delete("lua:k")
    assert r.eval(INCR_BY, 1, "lua:k", 5) == 5
    assert r.eval("return 'keyless ' .. ARGV[1]", 0, "ok") == "keyless ok"
    assert r.eval_ro("return redis.call('GET', KEYS[1])", 1, "lua:k") == "5"


def test_script_keys_must_share_a_slot(r):
    with pytest.raises(redis.ResponseError, match="CROSSSLOT"):
        r.eval(INCR_BY, 2, "{a}:x", "{b}:y", 1)
    assert r.eval("return #KEYS", 2, "{a}:x", "{a}:y") == 2


def test_script_load_then_evalsha_on_every_shard(r):
    sha = r.script_load(INCR_BY)
    for k in _keys_on_every_shard():
        r.delete(k)
        assert r.evalsha(sha, 1, k, 2) == 2
    assert r.script_exists(sha, "0" * 40) == [True, False]


def test_eval_then_evalsha_anywhere_never_sees_noscript(r):
    body = LIMITER + "-- " + os.urandom(4).hex()
    keys = _keys_on_every_shard()
    assert r.eval(body, 1, keys[0], 60) >= 1  # runs, and so loads, on one shard only
    sha = hashlib.sha1(body.encode()).hexdigest()
    for k in keys:
        r.delete(k)
        assert r.evalsha(sha, 1, k, 60) == 1


def test_noscript_for_unknown_script_is_reported(r):
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha("f" * 40, 0)


def test_script_flush_forgets(r):
    sha = r.script_load("return 42")
    assert r.evalsha(sha, 0) == 42
    assert r.script_flush()
    assert r.script_exists(sha) == [False]
    with pytest.raises(redis.exceptions.NoScriptError):
        r.evalsha(sha, 0)


def test_evalsha_survives_an_engine_restart(srv, r):
    body = "return 'survivor ' .. KEYS[1]"
    sha = r.script_load(body)
    k = "lua:restart"
    assert r.evalsha(sha, 1, k) == "survivor lua:restart"
    victims = srv.engine_pids()
    before = set(victims)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    deadline_poll(lambda: len(set(srv.engine_pids()) - before) == len(victims), 30,
                  what="every engine to be restarted")
    # Restarted engines have no scripts: the endpoint loads it again on demand.
    deadline_poll(lambda: r.evalsha(sha, 1, k) == "survivor lua:restart", 30,
                  what="EVALSHA to succeed after the restart")


def test_functions_reach_every_shard(r):
    lib = ("#!lua name=stratuslib\n"
           "redis.register_function('bump', function(keys, args) "
           "return redis.call('INCRBY', keys[1], args[1]) end)")
    assert r.execute_command("FUNCTION", "LOAD", "REPLACE", lib) == "stratuslib"
    for k in _keys_on_every_shard():
        r.delete(k)
        assert r.fcall("bump", 1, k, 3) == 3
    libs = r.execute_command("FUNCTION", "LIST")
    assert any("stratuslib" in str(entry) for entry in libs)
    assert r.execute_command("FUNCTION", "DELETE", "stratuslib") == "OK"
    with pytest.raises(redis.ResponseError):
        r.fcall("bump", 1, "lua:after", 1)
