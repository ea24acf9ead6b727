"""CLIENT PAUSE and CLIENT UNPAUSE: every client of the cache paused as Redis pauses its clients
(WRITE: writes and what may replicate, scripts by their flags, EXEC by its transaction; ALL:
everything), the waiting clients counted in INFO's blocked_clients, and every primary paused too.
Each test runs on a cache of 1 and of 3 shards, and the results are compared with a plain
redis-server (the `plain` fixture) where the behaviour is the server's own."""

import socket
import time

import pytest
import redis

from conftest import RespError, deadline_poll, encode, module_stratus_each_size

srv = module_stratus_each_size("--replicas", "0", "--threads", "2")


def blocked(r):
    return r.info("clients")["blocked_clients"]


def pending(conn, wait=0.3):
    """Whether conn has no reply for `wait` seconds (its command is held)."""
    conn.sock.settimeout(wait)
    try:
        conn._fill()
    except socket.timeout:
        return True
    finally:
        conn.sock.settimeout(10)
    return False


@pytest.fixture
def paused(srv, r):
    """A cache paused in WRITE mode for a minute; unpaused after the test whatever happens."""
    r.execute_command("CLIENT", "UNPAUSE")
    base = blocked(r)
    yield base
    r.execute_command("CLIENT", "UNPAUSE")


def held(srv, r, base, *cmd):
    """Sends cmd on a connection of its own and checks it waits, counted as a blocked client."""
    c = srv.raw_tls()
    c.send(encode(*cmd))
    deadline_poll(lambda: blocked(r) > base, 5, what=f"{cmd[0]} to wait for the pause")
    assert pending(c), f"{cmd} was answered during the pause"
    return c


def test_write_pause_holds_writes_and_serves_reads(srv, r, paused):
    r.set("p:k", "v")
    r.pfadd("p:hll", "a")
    assert r.execute_command("CLIENT", "PAUSE", "60000", "WRITE") == "OK"
    # Reads, PING and INFO go on; a command with a syntax error is answered at once.
    assert r.get("p:k") == "v" and r.ping() and blocked(r) == paused
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'set'"):
        r.execute_command("SET", "p:k")
    waiting = [held(srv, r, paused, "SET", "p:k", "v2"),
               held(srv, r, paused + 1, "PFCOUNT", "p:hll"),
               held(srv, r, paused + 2, "PUBLISH", "p:ch", "m"),
               held(srv, r, paused + 3, "EVAL", "return 1", "0")]
    # A multi-key read the endpoint may serve across slots writes temporary copies: it waits.
    waiting.append(held(srv, r, paused + 4, "SUNION", "p:s1", "p:s2"))
    assert blocked(r) == paused + 5
    assert r.get("p:k") == "v", "the write waits"
    assert r.execute_command("CLIENT", "UNPAUSE") == "OK"
    assert [c.read_reply() for c in waiting] == ["OK", 1, 0, 1, []]
    assert r.get("p:k") == "v2"
    deadline_poll(lambda: blocked(r) == paused, 5, what="blocked_clients to drop back")
    for c in waiting:
        c.close()


def test_scripts_and_transactions_by_what_they_may_write(srv, r, paused):
    r.set("p:x", "y")
    ro_body = "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])"
    sha = r.script_load(ro_body)
    r.execute_command("FUNCTION", "LOAD", "REPLACE",
                      "#!lua name=plib\n"
                      "redis.register_function{function_name='pread', flags={'no-writes'}, "
                      "callback=function(keys) return redis.call('GET', keys[1]) end}\n"
                      "redis.register_function('pwrite', function(keys) "
                      "return redis.call('SET', keys[1], 'w') end)")
    reader = srv.client()
    try:
        reader.execute_command("MULTI")
        reader.execute_command("GET", "p:x")
        writer = srv.raw_tls()
        writer.call("MULTI")
        assert writer.call("SET", "p:x", "t") == "QUEUED"
        assert r.execute_command("CLIENT", "PAUSE", "60000", "WRITE") == "OK"
        # Read-only work goes on: a transaction of reads, scripts that declare no-writes (EVAL,
        # EVALSHA, EVAL_RO), a function that declares no-writes.
        assert reader.execute_command("EXEC") == ["y"]
        assert r.eval(ro_body, 1, "p:x") == "y"
        assert r.evalsha(sha, 1, "p:x") == "y"
        assert r.execute_command("EVAL_RO", "return redis.call('GET', KEYS[1])", 1, "p:x") == "y"
        assert r.execute_command("FCALL", "pread", 1, "p:x") == "y"
        # A transaction that writes, a script without flags, a function that may write: wait.
        writer.send(encode("EXEC"))
        deadline_poll(lambda: blocked(r) > paused, 5, what="EXEC to wait")
        shebang = held(srv, r, paused + 1, "EVAL", "#!lua\nreturn 2", "0")
        function = held(srv, r, paused + 2, "FCALL", "pwrite", "1", "p:f")
        assert pending(writer)
        r.execute_command("CLIENT", "UNPAUSE")
        assert writer.read_reply() == ["OK"]
        assert shebang.read_reply() == 2 and function.read_reply() == "OK"
        assert r.get("p:x") == "t" and r.get("p:f") == "w"
        for c in (writer, shebang, function):
            c.close()
    finally:
        reader.close()
        r.execute_command("FUNCTION", "DELETE", "plib")


def test_all_pause_holds_everything_until_its_time(srv, r, paused):
    r.set("p:a", "1")
    other = srv.raw_tls()  # connected first: in ALL mode its AUTH would wait too
    t0 = time.monotonic()
    assert r.execute_command("CLIENT", "PAUSE", "700", "ALL") == "OK"
    other.send(encode("GET", "p:a"))
    assert pending(other), "a read waits too in ALL mode"
    assert other.read_reply() == b"1"
    assert time.monotonic() - t0 >= 0.6, "released by the pause's end, not before"
    other.close()


def test_pause_is_the_stricter_and_longer(srv, r, paused):
    """As Redis: a second CLIENT PAUSE never shortens or relaxes the one in force (and in ALL
    mode it waits like any command)."""
    pauser, reader = srv.raw_tls(), srv.raw_tls()
    t0 = time.monotonic()
    assert r.execute_command("CLIENT", "PAUSE", "1500", "ALL") == "OK"
    pauser.send(encode("CLIENT", "PAUSE", "10", "WRITE"))
    reader.send(encode("GET", "p:a"))
    assert pending(reader, 0.5) and pending(pauser, 0.1), "still ALL after 10 ms"
    reader.read_reply()
    assert time.monotonic() - t0 >= 1.4, "released by the first pause's end"
    assert pauser.read_reply() == "OK"
    for c in (pauser, reader):
        c.close()


def test_engines_are_paused_too(srv, r, paused):
    """Keys do not expire on a paused primary: expired_keys does not move during the pause."""
    # Their time runs out during the pause (400 ms leaves room for a slow, sanitized build
    # between the SETs and the pause).
    r.set("p:e1", "v", px=400)
    r.set("p:e2", "v", px=400)
    before = r.info("stats")["expired_keys"]
    assert r.execute_command("CLIENT", "PAUSE", "60000", "WRITE") == "OK"
    time.sleep(0.6)
    assert r.get("p:e1") is None and r.get("p:e2") is None, "logically expired"
    assert r.info("stats")["expired_keys"] == before, "but not deleted while paused"
    r.execute_command("CLIENT", "UNPAUSE")
    r.get("p:e1")
    r.get("p:e2")
    deadline_poll(lambda: r.info("stats")["expired_keys"] == before + 2, 5,
                  what="the keys to expire after the pause")


def test_a_waiting_client_that_leaves_is_no_longer_blocked(srv, r, paused):
    assert r.execute_command("CLIENT", "PAUSE", "60000", "WRITE") == "OK"
    c = held(srv, r, paused, "SET", "p:gone", "1")
    c.close()
    deadline_poll(lambda: blocked(r) == paused, 5, what="blocked_clients to drop")
    r.execute_command("CLIENT", "UNPAUSE")
    assert r.get("p:gone") is None, "the command of a client that left never ran"


def test_errors_and_multi_as_redis(srv, r, plain):
    reference = redis.Redis(unix_socket_path=plain, decode_responses=True)
    for c in (r, reference):
        for args, msg in [(("x",), "timeout is not an integer or out of range"),
                          (("-1",), "timeout is negative"),
                          (("10", "READ"), "CLIENT PAUSE mode must be WRITE or ALL")]:
            with pytest.raises(redis.ResponseError, match=msg):
                c.execute_command("CLIENT", "PAUSE", *args)
        assert c.execute_command("CLIENT", "PAUSE", "0") == "OK"
        assert c.execute_command("CLIENT", "UNPAUSE") == "OK"
        # Queued in a transaction, a wrong CLIENT PAUSE is EXEC's error element.
        p = c.pipeline(transaction=True)
        p.set("p:t0", "1").execute_command("CLIENT", "PAUSE", "x")
        replies = p.execute(raise_on_error=False)
        assert replies[0] is True and "timeout is not an integer" in str(replies[1])
    reference.close()


def test_a_pause_queued_in_a_transaction_begins_at_its_end(srv, r, paused):
    """As Redis: the transaction's own writes run, the next ones wait; every primary pauses."""
    r.set("p:ex1", "v", px=400)
    r.set("p:ex2", "v", px=400)
    before = r.info("stats")["expired_keys"]
    conn = srv.raw_tls()
    assert conn.call("MULTI") == "OK"
    assert conn.call("SET", "p:{t}1", "a") == "QUEUED"
    assert conn.call("CLIENT", "PAUSE", "60000", "WRITE") == "QUEUED"
    assert conn.call("SET", "p:{t}2", "b") == "QUEUED"
    assert conn.call("EXEC") == ["OK", "OK", "OK"]
    assert r.get("p:{t}1") == "a" and r.get("p:{t}2") == "b"
    later = held(srv, r, paused, "SET", "p:{t}3", "c")
    time.sleep(0.6)
    assert r.get("p:ex1") is None and r.get("p:ex2") is None
    assert r.info("stats")["expired_keys"] == before, "no primary deletes an expired key"
    r.execute_command("CLIENT", "UNPAUSE")
    assert later.read_reply() == "OK" and r.get("p:{t}3") == "c"
    for c in (conn, later):
        c.close()
