"""MOVED and ASK from the engines are absorbed by the endpoint. A slot is moved between the two
primaries behind the endpoint's back, the way live resharding does it (IMPORTING/MIGRATING,
MIGRATE, SETSLOT NODE); clients keep reading and writing and never see a redirection."""

import pytest
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


def _serving(engines, key):
    """Name of the engine that serves key (TYPE works for any type; the others answer MOVED)."""
    for name, c in engines.items():
        try:
            c.type(key)
            return name
        except redis.ResponseError as e:
            assert str(e).startswith("MOVED"), e
    raise AssertionError(f"no engine serves {key}")


def _move_slot_of(engines, key):
    """Moves key's slot (and its keys) to the other primary, behind the endpoint's back."""
    slot = key_slot(key)
    src_name = _serving(engines, key)
    dst_name = next(n for n in engines if n != src_name)
    src, dst = engines[src_name], engines[dst_name]
    src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    dst_port = int(dst.config_get("port")["port"])
    password = src.connection_pool.connection_kwargs["password"]
    for k in src.execute_command("CLUSTER GETKEYSINSLOT", slot, 1000):
        src.execute_command("MIGRATE", "127.0.0.1", dst_port, k, 0, 5000, "AUTH", password)
    dst.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    src.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)


def _other_slot_key(key):
    return next(f"other:{i}" for i in range(1000) if key_slot(f"other:{i}") != key_slot(key))


def _absorbs_a_move(srv, key, run):
    """Moves key's slot, then run(); True once the endpoint absorbed a redirection doing it.
    The endpoint refreshes its view of the slots every second: a move just before the command is
    almost always seen as MOVED; it is repeated in the rare case the refresh came first."""
    r = srv.client()
    engines = engine_clients(srv.data_dir)
    for attempt in range(5):
        before = _redirections(r)
        _move_slot_of(engines, key)
        run(attempt)
        if _redirections(r) > before:
            return True
    return False


def test_transaction_follows_a_moved_slot(srv):
    """EXEC's batch (MULTI, the commands, EXEC) is refused command by command when its slot
    moved (MOVED while queueing, then EXECABORT): nothing ran, so it is sent to the new owner."""
    r = srv.client()
    key = "{txmv}:a"
    r.delete(key)

    def run(attempt):
        p = r.pipeline(transaction=True)
        p.sadd(key, f"t{attempt}")
        p.sismember(key, f"t{attempt}")
        assert p.execute() == [1, 1]

    assert _absorbs_a_move(srv, key, run), "no MOVED absorbed: the resend was not exercised"


def test_gathered_read_follows_a_moved_slot(srv):
    """The batch of a cross-slot read is resent to the new owner of the first key's slot."""
    r = srv.client()
    first = "{gmv}:a"
    other = _other_slot_key(first)
    r.delete(first, other)
    r.sadd(first, "x", "y")
    r.sadd(other, "y", "z")

    def run(attempt):
        assert r.sinter([first, other]) == {"y"}

    assert _absorbs_a_move(srv, first, run), "no MOVED absorbed: the resend was not exercised"
    assert list(r.scan_iter(match="*__stratus_tmp*")) == []


def test_gathered_read_while_its_slot_migrates_gets_tryagain(srv):
    """Mid-migration, Redis Cluster refuses a multi-key command with a key missing on either
    side (TRYAGAIN); the batch of a cross-slot read is such a command, so after its retries the
    client gets TRYAGAIN, and the read works again once the slot has moved."""
    r = srv.client()
    first = "{gmig}:a"
    other = _other_slot_key(first)
    r.delete(first, other)
    r.sadd(first, "x", "y")
    r.sadd(other, "y", "z")
    engines = engine_clients(srv.data_dir)
    slot = key_slot(first)
    src_name = _serving(engines, first)
    dst_name = next(n for n in engines if n != src_name)
    src, dst = engines[src_name], engines[dst_name]
    src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
    dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
    dst_port = int(dst.config_get("port")["port"])
    password = src.connection_pool.connection_kwargs["password"]
    src.execute_command("MIGRATE", "127.0.0.1", dst_port, first, 0, 5000, "AUTH", password)
    with pytest.raises(redis.ResponseError) as e:
        r.sinter([first, other])
    assert str(e.value).startswith("TRYAGAIN"), e.value
    dst.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    src.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    assert r.sinter([first, other]) == {"y"}
    assert list(r.scan_iter(match="*__stratus_tmp*")) == []
