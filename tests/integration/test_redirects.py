"""MOVED and ASK from the engines are absorbed by the endpoint. A slot is moved between the two
primaries behind the endpoint's back, the way live resharding does it (IMPORTING/MIGRATING,
MIGRATE, SETSLOT NODE); clients keep reading and writing and never see a redirection."""

import redis

from conftest import engine_clients, key_slot, module_stratus

srv = module_stratus("--shards", "2", "--replicas", "0")


def _owner(engines, key):
    """Name of the engine that serves key (the others answer MOVED)."""
    for name, c in engines.items():
        try:
            c.get(key)
            return name
        except redis.ResponseError as e:
            assert str(e).startswith("MOVED"), e
    raise AssertionError(f"no engine serves {key}")


def _redirections(client):
    return int(client.info("stats")["redirections_absorbed"])


def test_slot_moved_under_clients_is_invisible(srv):
    r = srv.client()
    old, new = "{redir}:old", "{redir}:new"
    slot = key_slot(old)
    assert key_slot(new) == slot
    r.delete(old, new)
    assert r.set(old, "v0")
    engines = engine_clients(srv.data_dir)
    assert len(engines) == 2
    src_name = _owner(engines, old)
    dst_name = next(n for n in engines if n != src_name)
    src, dst = engines[src_name], engines[dst_name]
    src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
    before = _redirections(r)

    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    # A key still on the source is served there; a new one is sent to the target by ASK.
    assert r.get(old) == "v0"
    assert r.set(new, "n0")
    assert r.get(new) == "n0"
    assert dst.execute_command("ASKING") and dst.get(new) == "n0"

    # The old key moves too: reads of it now get ASK from the source.
    dst_port = int(dst.config_get("port")["port"])
    password = src.connection_pool.connection_kwargs["password"]
    moved = src.execute_command("MIGRATE", "127.0.0.1", dst_port, old, 0, 5000, "AUTH", password)
    assert moved in ("OK", b"OK"), moved
    assert r.get(old) == "v0"
    assert r.mget(old, new) == ["v0", "n0"]

    # The move completes: the source answers MOVED from now on.
    dst.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    src.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    assert r.get(old) == "v0"
    assert r.set(old, "v1")
    assert r.get(old) == "v1"
    assert r.incr("{redir}:counter") >= 1
    assert dst.get(old) == "v1", "the write did not land on the new owner"
    assert _owner(engines, old) == dst_name

    after = _redirections(r)
    assert after > before, "the endpoint absorbed no redirection: the test did not move the slot"
