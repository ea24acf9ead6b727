"""Pipelines: 1000 commands written at once come back in request order, whichever shard answers."""

import threading

import pytest

from conftest import RespError, encode, keys_in_distinct_slots, module_stratus

srv = module_stratus("--shards", "2", "--replicas", "0")


@pytest.fixture(params=["tls", "plaintext"])
def conn(request, srv):
    c = srv.raw_tls() if request.param == "tls" else srv.raw_plain()
    yield c
    c.close()


def test_ready_line(srv):
    assert (srv.shards, srv.engines_per_shard) == (2, 1)


def test_thousand_commands_in_one_write(conn):
    keys = keys_in_distinct_slots(250, f"pipe{id(conn)}")
    cmds, want = [], []
    for i, k in enumerate(keys):
        cmds.append(encode("SET", k, f"v{i}"))
        want.append("OK")
        cmds.append(encode("GET", k))
        want.append(f"v{i}".encode())
        cmds.append(encode("INCR", f"{k}:n"))
        want.append(1)
        cmds.append(encode("MGET", k, keys[(i + 1) % len(keys)] + ":none", k))
        want.append([f"v{i}".encode(), None, f"v{i}".encode()])
    assert len(cmds) == 1000
    conn.send(b"".join(cmds))
    got = [conn.read_reply() for _ in range(1000)]
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"reply {n} is {g!r}, expected {w!r}"


def test_errors_stay_in_place(conn):
    conn.call("DEL", "pipe-list")
    conn.send(encode("RPUSH", "pipe-list", "a") + encode("INCR", "pipe-list")
              + encode("NOSUCHCMD") + encode("LLEN", "pipe-list") + encode("PING"))
    assert conn.read_reply() == 1
    err = conn.read_reply()
    assert isinstance(err, RespError) and str(err).startswith("WRONGTYPE"), err
    err = conn.read_reply()
    assert isinstance(err, RespError) and "nosuchcmd" in str(err).lower(), err
    assert conn.read_reply() == 1
    assert conn.read_reply() == "PONG"


def test_pipeline_byte_by_byte(conn):
    data = b"".join(encode("SET", f"bb{i}", str(i)) + encode("GET", f"bb{i}") for i in range(20))
    for b in data:
        conn.send(bytes([b]))
    for i in range(20):
        assert conn.read_reply() == "OK"
        assert conn.read_reply() == str(i).encode()


def test_concurrent_pipelining_clients_read_their_own_writes(srv):
    errors = []

    def client(n):
        try:
            c = srv.raw_tls()
            keys = keys_in_distinct_slots(200, f"cc{n}")
            c.send(b"".join(encode("SET", k, f"{n}:{k}") + encode("GET", k) for k in keys))
            for k in keys:
                assert c.read_reply() == "OK"
                got = c.read_reply()
                assert got == f"{n}:{k}".encode(), (k, got)
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(f"client {n}: {e!r}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
