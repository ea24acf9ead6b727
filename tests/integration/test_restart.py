"""Ctrl-C / SIGTERM stop everything cleanly; the next `stratus up` serves the same data."""

import signal
import stat

import pytest

from conftest import deadline_poll, keys_in_distinct_slots, processes_under


def _assert_clean_stop(inst, sig):
    engines = inst.engine_pids()
    assert engines, "no redis-server children while running"
    rc = inst.stop(sig)
    assert rc == 0, f"stratus exited with {rc} after {signal.Signals(sig).name}"
    # Every engine has exited with it; nothing runs from the data dir any more.
    deadline_poll(lambda: not processes_under(inst.data_dir), 5,
                  what="every process under the data dir to exit")
    for pid in engines:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        assert state in ("Z", "X"), f"engine {pid} still running after stop"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_is_clean(stratus, sig):
    stratus.client().set("k", "v")
    _assert_clean_stop(stratus, sig)


def test_restart_keeps_password_and_data(stratus_factory):
    first = stratus_factory()
    r = first.client()
    r.set("session:abc", "user-42", ex=3600)
    keys = keys_in_distinct_slots(100, "persist")
    r.mset({k: k for k in keys})
    r.hset("profile:42", mapping={"name": "alice", "plan": "pro"})
    r.rpush("queue", "a", "b", "c")
    password = first.password
    _assert_clean_stop(first, signal.SIGTERM)

    second = stratus_factory(data_dir=first.data_dir)
    assert second.password == password
    assert second.ca == first.ca
    r2 = second.client()
    assert r2.get("session:abc") == "user-42"
    ttl = r2.ttl("session:abc")
    assert 3500 < ttl <= 3600, ttl
    assert r2.mget(keys) == keys
    assert r2.hgetall("profile:42") == {"name": "alice", "plan": "pro"}
    assert r2.lrange("queue", 0, -1) == ["a", "b", "c"]
    assert r2.dbsize() == 103
    pw_file = first.data_dir / "caches" / "default" / "password"
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600


def test_restart_after_sigint_keeps_data(stratus_factory):
    first = stratus_factory()
    first.client().set("ctrl-c", "survives")
    _assert_clean_stop(first, signal.SIGINT)
    second = stratus_factory(data_dir=first.data_dir)
    assert second.client().get("ctrl-c") == "survives"


def test_old_password_still_valid_and_new_ca_trusted(stratus_factory):
    # The certificate from the first start is kept (clients pinned to the CA keep working).
    first = stratus_factory()
    ca_bytes = open(first.ca, "rb").read()
    _assert_clean_stop(first, signal.SIGTERM)
    second = stratus_factory(data_dir=first.data_dir)
    assert open(second.ca, "rb").read() == ca_bytes
    assert second.client().ping()


def test_restart_with_more_shards_keeps_data_or_refuses_clearly(stratus_factory):
    """Changing --shards on an existing data dir either keeps every key or exits with a message."""
    first = stratus_factory()
    keys = keys_in_distinct_slots(50, "reshard")
    first.client().mset({k: "1" for k in keys})
    _assert_clean_stop(first, signal.SIGTERM)
    try:
        second = stratus_factory("--shards", "2", data_dir=first.data_dir)
    except Exception as e:  # noqa: BLE001
        msg = str(e)
        assert "exited with status" in msg, msg
        return
    assert second.client().mget(keys) == ["1"] * 50
