"""kill -9 of a redis-server child: stratus restarts it and the endpoint keeps serving, data intact."""

import os
import signal
import threading
import time

import pytest
import redis

from conftest import deadline_poll, keys_in_distinct_slots

RECOVERY_S = 30.0


class Load:
    """A client doing SET/GET in a loop; records failures and the slowest reply (a hang shows)."""

    def __init__(self, srv):
        self.r = srv.client(socket_timeout=10, retry_on_timeout=False)
        self.stop = threading.Event()
        self.ok = 0
        self.errors = []
        self.slowest = 0.0
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop.is_set():
            i += 1
            t0 = time.monotonic()
            try:
                self.r.set(f"load:{i % 500}", i)
                assert self.r.get(f"load:{i % 500}") == str(i)
                self.ok += 1
            except redis.TimeoutError as e:
                self.errors.append(f"HANG: {e!r}")
            except Exception as e:  # noqa: BLE001 - counted, reported below
                self.errors.append(repr(e))
                time.sleep(0.01)
            self.slowest = max(self.slowest, time.monotonic() - t0)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join(15)


def _kill_and_wait_replacement(srv, victim):
    before = set(srv.engine_pids())
    assert victim in before
    os.kill(victim, signal.SIGKILL)
    t0 = time.monotonic()

    def replaced():
        now = set(srv.engine_pids())
        return victim not in now and len(now) == len(before) and now - before

    new = deadline_poll(replaced, RECOVERY_S, interval=0.05,
                        what=f"a new redis-server child replacing pid {victim}")
    return new, time.monotonic() - t0


def _serving(srv, keys):
    r = srv.client(socket_timeout=5)
    return r.mget(keys) == keys and r.set("probe", "1") and r.get("probe") == "1"


@pytest.mark.parametrize("which", [0, -1], ids=["first-engine", "last-engine"])
def test_killed_engine_is_restarted_and_data_kept(stratus, which):
    """One engine killed per run; the two runs between them kill the primary and the replica."""
    r = stratus.client()
    keys = keys_in_distinct_slots(300, "survivor")
    r.mset({k: k for k in keys})
    r.set("session:kill9", "alive", ex=3600)
    engines = stratus.engine_pids()
    assert len(engines) == stratus.shards * stratus.engines_per_shard, engines

    with Load(stratus) as load:
        deadline_poll(lambda: load.ok > 10, 10, what="the load client to get going")
        for victim in [engines[which]]:
            new, took = _kill_and_wait_replacement(stratus, victim)
            print(f"engine {victim} killed: replaced by {sorted(new)} after {took * 1000:.0f} ms")
            t0 = time.monotonic()
            deadline_poll(lambda: _serving(stratus, keys), RECOVERY_S, interval=0.1,
                          what="the endpoint to serve every key again")
            print(f"  serving every key {(time.monotonic() - t0) * 1000:.0f} ms after replacement")
    print(f"load during kills: {load.ok} ok, {len(load.errors)} errors, "
          f"slowest {load.slowest * 1000:.0f} ms; first errors: {load.errors[:3]}")

    assert load.ok > 0
    assert not [e for e in load.errors if e.startswith("HANG")], load.errors[:5]
    r = stratus.client()
    assert r.mget(keys) == keys
    assert r.get("session:kill9") == "alive"
    assert 3500 < r.ttl("session:kill9") <= 3600
    assert r.dbsize() >= 301
    assert stratus.proc.poll() is None, "stratus itself died"


def test_writes_after_engine_restart_are_kept(stratus):
    r = stratus.client()
    victim = stratus.engine_pids()[0]
    _kill_and_wait_replacement(stratus, victim)
    deadline_poll(lambda: stratus.client(socket_timeout=5).ping(), RECOVERY_S,
                  what="the endpoint to answer PING")
    keys = keys_in_distinct_slots(100, "after")
    deadline_poll(lambda: r.mset({k: "x" for k in keys}), RECOVERY_S, what="MSET to succeed")
    assert r.mget(keys) == ["x"] * 100


def test_frozen_engine_gives_a_reply_not_a_hang(stratus_factory):
    """A backend that stops answering (SIGSTOP) yields a reply (an error) within a deadline."""
    inst = stratus_factory("--replicas", "0")
    r = inst.client(socket_timeout=60)
    r.set("frozen", "before")
    (engine,) = inst.engine_pids()
    os.kill(engine, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        try:
            reply = r.get("frozen")
        except redis.ResponseError as e:
            reply = e
        except redis.TimeoutError:
            reply = None
        took = time.monotonic() - t0
        print(f"GET with the only engine frozen: {reply!r} after {took * 1000:.0f} ms")
        assert reply is not None, "no reply within 60 s: the request hung"
        assert took < 30, f"the reply took {took:.1f} s"
    finally:
        os.kill(engine, signal.SIGCONT)
    deadline_poll(lambda: inst.client(socket_timeout=5).get("frozen") == "before", RECOVERY_S,
                  what="the endpoint to serve again once the engine resumed (or was replaced)")
