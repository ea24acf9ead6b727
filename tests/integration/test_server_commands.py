"""Connection and server commands through the endpoint, which presents itself as one node:
CLIENT LIST/INFO/KILL/UNBLOCK/REPLY/NO-EVICT over every worker thread, RESET, SLOWLOG and
LATENCY merged over every shard, LASTSAVE, ROLE, SCRIPT/FUNCTION KILL of a busy engine, and the
reasons given for what is refused. Runs on a 3-shard cache; the key parts again on 1 shard."""

import socket
import ssl
import time

import pytest
import redis

from conftest import RespError, deadline_poll, encode, engine_clients, key_slot, module_stratus

srv = module_stratus("--shards", "3", "--replicas", "0", "--threads", "2",
                     "--backend-timeout", "10000")
srv1 = module_stratus("--shards", "1", "--replicas", "0", "--threads", "2")

# CLIENT LIST's fields in Redis 7.0, in its order.
FIELDS = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub",
          "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem",
          "tot-mem", "events", "cmd", "user", "redir", "resp"]
WORKERS = 2
ID_STRIDE = 64  # session ids: worker index + 1 + 64 * n
CLOSED = (EOFError, ConnectionError, ssl.SSLError, OSError)


@pytest.fixture(params=["srv", "srv1"])
def each(request):
    """The 3-shard instance, then the 1-shard one."""
    return request.getfixturevalue(request.param)


def parse_list(text):
    if isinstance(text, bytes):
        text = text.decode()
    out = []
    for line in text.split("\n"):
        if line:
            out.append(dict(f.split("=", 1) for f in line.split(" ")))
    return out


def worker_of(client_id):
    return (int(client_id) - 1) % ID_STRIDE


def conn_on_worker(inst, worker, tries=64):
    """A raw, authenticated TLS connection served by the given worker thread."""
    spare = []
    try:
        for _ in range(tries):
            c = inst.raw_tls()
            if worker_of(c.call("CLIENT", "ID")) == worker:
                return c
            spare.append(c)
    finally:
        for c in spare:
            c.close()
    pytest.fail(f"no connection landed on worker {worker} in {tries} tries")


def shard_keys(n_shards, prefix):
    """One key per shard, for slots split evenly as the supervisor assigns them."""
    keys, i = {}, 0
    while len(keys) < n_shards:
        k = f"{prefix}:{i}"
        shard = min(key_slot(k) * n_shards // 16384, n_shards - 1)
        keys.setdefault(shard, k)
        i += 1
    return [keys[s] for s in range(n_shards)]


def busy_script(ms):
    """Lua that runs for about ms milliseconds of wall time, whatever the machine's speed."""
    return ("local t=redis.call('TIME') local s=t[1]*1000000+t[2] "
            f"repeat local n=redis.call('TIME') until n[1]*1000000+n[2]-s > {ms * 1000} return 1")


def is_closed(c, timeout=5):
    """Whether the server closed c: a PING gets no reply but the end of the stream."""
    try:
        c.send(b"*1\r\n$4\r\nPING\r\n")
    except CLOSED:
        return True
    _, eof = c.read_until_eof(timeout)
    return eof


# ---- CLIENT LIST / INFO ----------------------------------------------------------------------


def test_client_list_every_client_of_every_worker(each):
    me = each.client()
    others = [conn_on_worker(each, w) for w in range(WORKERS)] + [each.raw_tls() for _ in range(4)]
    for i, c in enumerate(others):
        assert c.call("CLIENT", "SETNAME", f"lister-{i}") == "OK"
    ids = {int(c.call("CLIENT", "ID")): i for i, c in enumerate(others)}
    assert {worker_of(i) for i in ids} == set(range(WORKERS))
    lines = parse_list(me.execute_command("CLIENT", "LIST"))
    assert all(list(line) == FIELDS for line in lines)
    by_id = {int(line["id"]): line for line in lines}
    assert [int(line["id"]) for line in lines] == sorted(by_id), "listed in id order"
    for cid, i in ids.items():
        line = by_id[cid]
        local = others[i].sock.getsockname()
        assert line["addr"] == f"{local[0]}:{local[1]}"
        assert line["laddr"] == f"{each.host}:{each.port}"
        assert line["name"] == f"lister-{i}"
        assert line["cmd"] == "client|id" and line["flags"] == "N" and line["events"] == "r"
        assert line["user"] == "default" and line["resp"] == "2" and line["multi"] == "-1"
        assert line["db"] == "0" and line["redir"] == "-1" and int(line["fd"]) > 0
        assert int(line["age"]) >= 0 and int(line["idle"]) >= 0 and int(line["tot-mem"]) > 0
    mine = by_id[me.client_id()]
    assert mine["cmd"] == "client|list", "as Redis: the command being run"
    for c in others:
        c.close()
    me.close()


def test_client_info_is_the_callers_line(srv):
    c = srv.raw_tls()
    c.call("CLIENT", "SETNAME", "info-me")
    text = c.call("CLIENT", "INFO").decode()
    assert text.endswith("\n") and text.count("\n") == 1
    (line,) = parse_list(text)
    assert list(line) == FIELDS
    assert int(line["id"]) == c.call("CLIENT", "ID")
    assert line["name"] == "info-me" and line["cmd"] == "client|info"
    c.close()


def test_client_info_resp3_is_verbatim(srv):
    c = srv.raw_tls()
    c.call("HELLO", "3")
    c.send(b"*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n")
    head = c._line()
    assert head.startswith(b"=")  # verbatim string, "txt:"
    body = c._exact(int(head[1:]))
    assert body.startswith(b"txt:id=") and b" resp=3\n" in body
    c.close()


def test_client_list_filters(srv, r):
    sub = srv.raw_tls()
    sub_id = sub.call("CLIENT", "ID")
    assert sub.call("SUBSCRIBE", "cl:a", "cl:b") == [b"subscribe", b"cl:a", 1]
    assert sub.read_reply() == [b"subscribe", b"cl:b", 2]
    assert sub.call("PSUBSCRIBE", "cl:*")[2] == 3
    plain = srv.raw_tls()
    plain_id = plain.call("CLIENT", "ID")
    pubsub = parse_list(r.execute_command("CLIENT", "LIST", "TYPE", "pubsub"))
    assert [int(x["id"]) for x in pubsub] == [sub_id]
    assert pubsub[0]["flags"] == "P" and pubsub[0]["sub"] == "2" and pubsub[0]["psub"] == "1"
    normal = {int(x["id"]) for x in parse_list(r.execute_command("CLIENT", "LIST", "TYPE",
                                                                   "normal"))}
    assert plain_id in normal and r.client_id() in normal and sub_id not in normal
    assert r.execute_command("CLIENT", "LIST", "TYPE", "master") == ""
    assert r.execute_command("CLIENT", "LIST", "TYPE", "replica") == ""
    picked = parse_list(r.execute_command("CLIENT", "LIST", "ID", plain_id, 999999, sub_id))
    assert [int(x["id"]) for x in picked] == [plain_id, sub_id], "in the order asked"
    with pytest.raises(redis.ResponseError, match="^Unknown client type 'bogus'$"):
        r.execute_command("CLIENT", "LIST", "TYPE", "bogus")
    with pytest.raises(redis.ResponseError, match="^Invalid client ID$"):
        r.execute_command("CLIENT", "LIST", "ID", plain_id, "x")
    for bad in (["TYPE"], ["ID"], ["BOGUS", "1"]):
        with pytest.raises(redis.ResponseError, match="^syntax error$"):
            r.execute_command("CLIENT", "LIST", *bad)
    sub.close()
    plain.close()


def test_client_list_flags(srv, r):
    c = srv.raw_tls()
    cid = c.call("CLIENT", "ID")
    assert c.call("READONLY") == "OK"
    assert c.call("CLIENT", "NO-EVICT", "on") == "OK"
    assert c.call("MULTI") == "OK"
    assert c.call("SET", "{fl}:a", "1") == "QUEUED"
    assert c.call("GET", "{fl}:a") == "QUEUED"
    (line,) = parse_list(r.execute_command("CLIENT", "LIST", "ID", cid))
    assert line["flags"] == "xre" and line["multi"] == "2" and int(line["multi-mem"]) > 0
    assert c.call("EXEC") == ["OK", b"1"]
    assert c.call("READWRITE") == "OK" and c.call("CLIENT", "NO-EVICT", "off") == "OK"
    with pytest.raises(redis.ResponseError, match="^syntax error$"):
        r.execute_command("CLIENT", "NO-EVICT", "maybe")
    c.send(b"*3\r\n$5\r\nBLPOP\r\n$8\r\n{fl}:nil\r\n$1\r\n0\r\n")
    line = deadline_poll(
        lambda: [x for x in parse_list(r.execute_command("CLIENT", "LIST", "ID", cid))
                 if x["flags"] == "b"], 5, what="the BLPOP client to show flag b")[0]
    assert line["cmd"] == "blpop"
    assert r.execute_command("CLIENT", "UNBLOCK", cid) == 1
    assert c.read_reply() is None
    c.close()


# ---- CLIENT KILL -----------------------------------------------------------------------------


def test_client_kill_by_id_on_another_worker(each):
    killer = conn_on_worker(each, 0)
    victim = conn_on_worker(each, 1)
    vid = victim.call("CLIENT", "ID")
    assert killer.call("CLIENT", "KILL", "ID", vid) == 1
    assert is_closed(victim)
    assert killer.call("CLIENT", "KILL", "ID", vid) == 0
    assert not parse_list(killer.call("CLIENT", "LIST", "ID", vid))
    # and the other way round
    killer2, victim2 = conn_on_worker(each, 1), conn_on_worker(each, 0)
    assert killer2.call("CLIENT", "KILL", "ID", victim2.call("CLIENT", "ID")) == 1
    assert is_closed(victim2)
    assert killer.call("PING") == "PONG" and killer2.call("PING") == "PONG"
    for c in (killer, killer2):
        c.close()


def test_client_kill_old_form(srv):
    killer = conn_on_worker(srv, 0)
    victim = conn_on_worker(srv, 1)
    host, port = victim.sock.getsockname()[:2]
    assert killer.call("CLIENT", "KILL", f"{host}:{port}") == "OK"
    assert is_closed(victim)
    err = killer.call("CLIENT", "KILL", f"{host}:{port}")
    assert isinstance(err, RespError) and str(err) == "ERR No such client"
    # The old form spares nobody: a client may kill itself, and still gets its +OK.
    host, port = killer.sock.getsockname()[:2]
    assert killer.call("CLIENT", "KILL", f"{host}:{port}") == "OK"
    assert is_closed(killer)


def test_client_kill_filters(srv, r):
    me = r.client_id()
    a, b = conn_on_worker(srv, 0), conn_on_worker(srv, 1)
    a_host, a_port = a.sock.getsockname()[:2]
    assert r.execute_command("CLIENT", "KILL", "ADDR", f"{a_host}:{a_port}", "TYPE", "pubsub") == 0
    assert r.execute_command("CLIENT", "KILL", "ADDR", f"{a_host}:{a_port}", "TYPE", "normal",
                             "USER", "default") == 1
    assert is_closed(a)
    # SKIPME yes is the default: every client at this LADDR but the caller.
    sub = srv.raw_tls()
    sub.call("SUBSCRIBE", "kill:ch")
    assert r.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 1
    assert is_closed(sub)
    n = r.execute_command("CLIENT", "KILL", "LADDR", f"{srv.host}:{srv.port}")
    assert n >= 1 and is_closed(b)
    assert r.client_id() == me, "SKIPME yes spared the caller"
    assert [int(x["id"]) for x in parse_list(r.execute_command("CLIENT", "LIST"))] == [me]
    errors = {
        ("ID", "0"): "client-id should be greater than 0",
        ("ID", "x"): "client-id should be greater than 0",
        ("TYPE", "bogus"): "Unknown client type 'bogus'",
        ("USER", "nobody"): "No such user 'nobody'",
        ("SKIPME", "maybe"): "syntax error",
        ("MAXAGE", "1"): "syntax error",
        ("ID", "1", "TYPE"): "syntax error",
    }
    for args, msg in errors.items():
        with pytest.raises(redis.ResponseError, match=f"^{msg}$"):
            r.execute_command("CLIENT", "KILL", *args)
    # SKIPME no: the caller is killed too, after its reply.
    c = srv.raw_tls()
    assert c.call("CLIENT", "KILL", "ID", c.call("CLIENT", "ID"), "SKIPME", "no") == 1
    assert is_closed(c)


# ---- CLIENT REPLY ----------------------------------------------------------------------------


def test_client_reply_off_skip_on(srv):
    c = srv.raw_tls()
    c.send(b"".join([
        b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n",
        b"*3\r\n$3\r\nSET\r\n$6\r\nrp:key\r\n$2\r\nv1\r\n",
        b"*2\r\n$3\r\nGET\r\n$6\r\nrp:key\r\n",
        b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n",  # under OFF: nothing changes
        b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n",
    ]))
    assert c.read_reply() == "OK"  # ON's reply is the first one
    assert c.call("GET", "rp:key") == b"v1", "commands ran while their replies were dropped"
    c.send(b"".join([
        b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n",
        b"*2\r\n$4\r\nECHO\r\n$1\r\na\r\n",
        b"*2\r\n$4\r\nECHO\r\n$1\r\nb\r\n",
    ]))
    assert c.read_reply() == b"b"
    err = c.call("CLIENT", "REPLY", "LOUDER")
    assert isinstance(err, RespError) and str(err) == "ERR syntax error"
    c.close()


# ---- CLIENT UNBLOCK --------------------------------------------------------------------------


def _blocked(inst, worker, key):
    c = conn_on_worker(inst, worker)
    cid = c.call("CLIENT", "ID")
    c.send(b"*3\r\n$5\r\nBLPOP\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (len(key), key.encode()))
    return c, cid


def _wait_blocked(r, cid):
    deadline_poll(lambda: "b" in parse_list(r.execute_command("CLIENT", "LIST", "ID", cid))[0]
                  ["flags"], 5, what=f"client {cid} to be blocked")


def test_client_unblock_timeout_and_error(each):
    r = each.client()
    for worker in range(WORKERS):
        c, cid = _blocked(each, worker, "ub:q")
        _wait_blocked(r, cid)
        assert r.execute_command("CLIENT", "UNBLOCK", cid, "TIMEOUT") == 1
        assert c.read_reply() is None  # as a BLPOP that timed out
        c.send(b"*3\r\n$5\r\nBLPOP\r\n$4\r\nub:q\r\n$1\r\n0\r\n")
        _wait_blocked(r, cid)
        assert r.execute_command("CLIENT", "UNBLOCK", cid, "ERROR") == 1
        err = c.read_reply()
        assert isinstance(err, RespError)
        assert str(err) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
        assert r.execute_command("CLIENT", "UNBLOCK", cid) == 0, "not blocked any more"
        assert c.call("PING") == "PONG"
        c.close()
    assert r.execute_command("CLIENT", "UNBLOCK", r.client_id()) == 0
    assert r.execute_command("CLIENT", "UNBLOCK", 987654321) == 0
    with pytest.raises(redis.ResponseError, match="^value is not an integer or out of range$"):
        r.execute_command("CLIENT", "UNBLOCK", "x")
    with pytest.raises(redis.ResponseError, match="^CLIENT UNBLOCK reason should be TIMEOUT or "
                                                  "ERROR$"):
        r.execute_command("CLIENT", "UNBLOCK", 1, "SOON")
    r.close()


# ---- RESET -----------------------------------------------------------------------------------


def test_reset_clears_connection_state(srv):
    c = srv.raw_tls()
    assert c.call("HELLO", "3")["proto"] == 3
    assert c.call("CLIENT", "SETNAME", "before-reset") == "OK"
    c.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n"
           b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$4\r\nrs:k\r\n$1\r\n1\r\n")
    assert c.call("RESET") == "RESET", "answered although replies were off, inside MULTI"
    err = c.call("EXEC")
    assert isinstance(err, RespError) and str(err).startswith("NOAUTH"), "de-authenticated"
    c.auth(srv.username, srv.password)
    err = c.call("EXEC")
    assert isinstance(err, RespError) and str(err) == "ERR EXEC without MULTI"
    assert c.call("GET", "rs:k") is None, "the transaction was discarded"
    (line,) = parse_list(c.call("CLIENT", "INFO"))
    assert line["name"] == "" and line["resp"] == "2" and line["flags"] == "N"
    assert line["multi"] == "-1"
    c.close()


def test_reset_of_a_subscriber_drops_its_subscriptions(srv, r):
    c = srv.raw_tls()
    assert c.call("SUBSCRIBE", "rs:ch")[2] == 1
    assert c.call("PING") == [b"pong", b""], "RESP2 subscribed-mode pong"
    assert c.call("RESET") == "RESET"
    c.auth(srv.username, srv.password)
    assert c.call("PING") == "PONG", "no longer subscribed"
    deadline_poll(lambda: r.pubsub_numsub("rs:ch") == [("rs:ch", 0)], 5,
                  what="the engine to drop the subscription")
    assert r.publish("rs:ch", "lost") == 0
    assert c.call("ECHO", "after") == b"after", "no message arrives after RESET"
    c.close()


def test_reset_ends_a_watch(srv, r):
    c = srv.raw_tls()
    assert c.call("WATCH", "{rw}:k") == "OK"
    r.set("{rw}:k", "changed")
    assert c.call("RESET") == "RESET"
    c.auth(srv.username, srv.password)
    assert c.call("MULTI") == "OK"
    assert c.call("SET", "{rw}:k", "mine") == "QUEUED"
    assert c.call("EXEC") == ["OK"], "the WATCH ended with RESET"
    assert r.get("{rw}:k") == "mine"
    c.close()


def test_reset_waits_for_earlier_commands(srv):
    c = srv.raw_tls()
    c.send(b"*3\r\n$5\r\nBLPOP\r\n$6\r\nrs:blk\r\n$3\r\n0.2\r\n*1\r\n$5\r\nRESET\r\n")
    assert c.read_reply() is None
    assert c.read_reply() == "RESET"
    c.close()


# ---- SLOWLOG ---------------------------------------------------------------------------------


def test_slowlog_merges_every_shard(each):
    r = each.client()
    assert r.execute_command("SLOWLOG", "RESET") == "OK"
    assert r.execute_command("SLOWLOG", "LEN") == 0
    keys = shard_keys(each.shards, "slow")
    for k in keys:
        r.eval(busy_script(20), 1, k)  # over slowlog-log-slower-than (10 ms)
    assert r.execute_command("SLOWLOG", "LEN") == len(keys)
    entries = r.execute_command("SLOWLOG", "GET")
    assert len(entries) == len(keys)
    times = [e[1] for e in entries]
    assert times == sorted(times, reverse=True), "newest first"
    assert all(e[2] >= 20000 and e[3][0] == "EVAL" for e in entries)
    assert sorted(e[3][3] for e in entries) == sorted(keys)
    assert len(r.execute_command("SLOWLOG", "GET", 1)) == 1
    assert len(r.execute_command("SLOWLOG", "GET", -1)) == len(keys)
    assert r.execute_command("SLOWLOG", "GET", 0) == []
    with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
        r.execute_command("SLOWLOG", "GET", -2)
    assert r.execute_command("SLOWLOG", "HELP")
    r.close()


def test_slowlog_shows_a_command_run_on_every_shard_once(each):
    """SLOWLOG RESET and CONFIG SET run on every primary, and each logs its own copy: the client
    sent one command and sees one entry, as Redis's suite expects ("commands with too many
    arguments are trimmed" reads the entry before the reset's)."""
    r = each.client()
    try:
        r.config_set("slowlog-log-slower-than", 0)
        # One shard's entry ids run ahead of the others' (ids are each engine's own, and a
        # reset keeps counting): the order must not come from them.
        keys = shard_keys(each.shards, "slowid")
        for _ in range(20):
            r.set(keys[0], 1)
        assert r.execute_command("SLOWLOG", "RESET") == "OK"
        set_key = shard_keys(each.shards, "slowset")[-1]  # the last shard: not keys[0]'s
        r.sadd(set_key, *range(40))
        r.config_set("slowlog-log-slower-than", 0)  # logged: the threshold is 0 after it
        # New engine links (their AUTH and READONLY) and the control plane's own commands are
        # Stratus's, never shown.
        extra = each.client()
        extra.set("slow:other", 1)
        extra.close()
        entries = r.execute_command("SLOWLOG", "GET", -1)
        args = [[e[3][0].upper(), *e[3][1:]] for e in entries]
        args = [[a[0], a[1].upper(), *a[2:]] if a[0] in ("CONFIG", "SLOWLOG") else a
                for a in args]
        assert args.count(["SLOWLOG", "RESET"]) == 1, args
        assert args.count(["CONFIG", "SET", "slowlog-log-slower-than", "0"]) == 1, args
        assert sum(1 for a in args if a[:2] == ["SADD", set_key]) == 1, args
        assert args.index(["SLOWLOG", "RESET"]) > args.index(
            next(a for a in args if a[0] == "SADD")), "newest first"
        assert not [a for a in args if a[0] in ("AUTH", "HELLO", "READONLY", "PING", "ROLE")
                    or a[:2] == ["CLUSTER", "NODES"]], args
        # The GET above is logged too, on every shard: one entry more.
        assert r.execute_command("SLOWLOG", "LEN") == len(entries) + 1
    finally:
        r.config_set("slowlog-log-slower-than", 10000)
        r.close()


# ---- LATENCY ---------------------------------------------------------------------------------


def test_latency_latest_history_reset_doctor(each):
    r = each.client()
    r.execute_command("LATENCY", "RESET")
    assert r.execute_command("LATENCY", "LATEST") == []
    assert "No engine has recorded a latency spike" in r.execute_command("LATENCY", "DOCTOR")
    keys = shard_keys(each.shards, "lat")
    for k in keys:
        r.eval(busy_script(150), 1, k)  # over latency-monitor-threshold (100 ms)
    latest = r.execute_command("LATENCY", "LATEST")
    assert [e[0] for e in latest] == ["command"], "one event, whatever the shards"
    _, when, last, worst = latest[0]
    assert 150 <= last <= worst and abs(when - time.time()) < 60
    history = r.execute_command("LATENCY", "HISTORY", "command")
    stamps = [s[0] for s in history]
    assert stamps == sorted(set(stamps)), "by time, one sample per second"
    assert 1 <= len(history) <= len(keys) and max(s[1] for s in history) == worst
    assert r.execute_command("LATENCY", "HISTORY", "no-such-event") == []
    doctor = r.execute_command("LATENCY", "DOCTOR")
    assert "command" in doctor and f"worst {worst} ms" in doctor
    assert r.execute_command("LATENCY", "RESET", "no-such-event") == 0
    assert r.execute_command("LATENCY", "RESET") == 1, "one event, reset on every shard"
    assert r.execute_command("LATENCY", "LATEST") == []
    assert r.execute_command("LATENCY", "HELP")
    r.close()


def test_latency_histogram_adds_up_every_shard(srv, r):
    def calls():
        h = r.execute_command("LATENCY", "HISTOGRAM", "append")
        return dict(zip(h[1][::2], h[1][1::2]))["calls"] if h else 0

    before = calls()
    keys = shard_keys(3, "hist") * 10
    for k in keys:
        r.append(k, "x")
    h = r.execute_command("LATENCY", "HISTOGRAM", "append", "strlen")
    assert h[0] == "append" and len(h) == 2, "commands never called are not listed"
    body = dict(zip(h[1][::2], h[1][1::2]))
    assert body["calls"] == before + len(keys)
    buckets = body["histogram_usec"]
    bounds, counts = buckets[::2], buckets[1::2]
    assert bounds == sorted(bounds) and counts == sorted(counts), "cumulative"
    assert len(set(counts)) == len(counts), "listed only where the count grows"
    assert counts[-1] == body["calls"]
    c = srv.raw_tls()
    c.call("HELLO", "3")
    h3 = c.call("LATENCY", "HISTOGRAM", "append")
    assert h3["append"]["calls"] == body["calls"]
    assert list(h3["append"]["histogram_usec"].values())[-1] == body["calls"]
    c.close()


# ---- the rest: LASTSAVE, ROLE, MEMORY, KILL of scripts, HELP, refusals --------------------


def test_lastsave_role_asking(each):
    r = each.client()
    engines = engine_clients(each.data_dir)
    assert r.lastsave() == max(e.lastsave() for e in engines.values())
    assert r.execute_command("ROLE") == ["master", 0, []]
    c = each.raw_tls()
    assert c.call("ASKING") == "OK"
    c.close()
    r.close()


def test_memory_commands(srv, r):
    r.flushall()
    for k in shard_keys(3, "mem"):
        r.set(k, "v" * 100)
    stats = r.execute_command("MEMORY", "STATS")
    stats = dict(zip(stats[::2], stats[1::2]))
    assert stats["keys.count"] == 3 == r.dbsize()
    engines = engine_clients(srv.data_dir)
    startup = sum(dict(zip(*[iter(e.execute_command("MEMORY", "STATS"))] * 2))
                  ["startup.allocated"] for e in engines.values())
    assert stats["startup.allocated"] == startup, "summed over the shards"
    assert 0 < float(stats["dataset.percentage"]) <= 100
    assert float(stats["fragmentation"]) > 0
    assert r.memory_usage(shard_keys(3, "mem")[0]) > 100
    assert r.execute_command("MEMORY", "PURGE") == "OK"
    assert r.execute_command("MEMORY", "HELP")


def _on_same_worker(inst, c):
    return conn_on_worker(inst, worker_of(c.call("CLIENT", "ID")))


def test_script_and_function_kill_reach_busy_engines(srv, r):
    """An engine declares itself busy (and reads SCRIPT KILL) after busy-reply-threshold, 5 s;
    this instance's --backend-timeout of 10 s lets the scripts' own links wait that long."""
    for cmd in ("SCRIPT", "FUNCTION"):
        with pytest.raises(redis.ResponseError, match="^NOTBUSY No scripts in execution right now.$"):
            r.execute_command(cmd, "KILL")
    body = busy_script(8000)
    lib = ("#!lua name=spinlib\nredis.register_function('spin', function(keys, args) "
           + body.replace("return 1", "return 1 end)"))
    r.execute_command("FUNCTION", "LOAD", "REPLACE", lib)
    k1, k2, _ = shard_keys(3, "busy")
    script_runner, function_runner = srv.raw_tls(), srv.raw_tls()
    # A killer on a runner's worker: that worker's link to the busy engine is the stuck one.
    killer = _on_same_worker(srv, script_runner)
    script_runner.send(b"*4\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n1\r\n$%d\r\n%s\r\n"
                       % (len(body), body.encode(), len(k1), k1.encode()))
    function_runner.send(b"*4\r\n$5\r\nFCALL\r\n$4\r\nspin\r\n$1\r\n1\r\n$%d\r\n%s\r\n"
                         % (len(k2), k2.encode()))
    t0 = time.monotonic()
    deadline_poll(lambda: killer.call("SCRIPT", "KILL") == "OK", 9,
                  what="SCRIPT KILL to find the busy script")
    err = script_runner.read_reply()
    assert isinstance(err, RespError) and "Script killed by user with SCRIPT KILL" in str(err)
    # FUNCTION STATS names the running function, whichever shard runs it (every time: a single
    # shard asked would answer nil two times in three).
    for _ in range(6):
        stats = killer.call("FUNCTION", "STATS")
        assert not isinstance(stats, RespError), stats
        running = dict(zip(stats[1][::2], stats[1][1::2])) if stats[1] else {}
        assert stats[0] == b"running_script" and running.get(b"name") == b"spin", stats
        assert running[b"command"] == [b"FCALL", b"spin", b"1", k2.encode()], stats
    deadline_poll(lambda: killer.call("FUNCTION", "KILL") == "OK", 9,
                  what="FUNCTION KILL to find the busy function")
    err = function_runner.read_reply()
    assert isinstance(err, RespError) and "killed by user" in str(err)  # 7.0 names SCRIPT KILL
    assert time.monotonic() - t0 < 7.5, "killed, not run to their end"
    with pytest.raises(redis.ResponseError, match="^NOTBUSY"):
        r.execute_command("SCRIPT", "KILL")
    r.execute_command("FUNCTION", "DELETE", "spinlib")
    for c in (script_runner, function_runner, killer):
        c.close()


def test_helps_and_engine_answers(srv, r):
    c = srv.raw_tls()
    for cmd in (["CLIENT", "HELP"], ["SLOWLOG", "HELP"], ["LATENCY", "HELP"], ["MEMORY", "HELP"],
                ["OBJECT", "HELP"], ["XGROUP", "HELP"], ["XINFO", "HELP"], ["CLUSTER", "HELP"]):
        text = c.call(*cmd)
        assert isinstance(text, list) and any(cmd[0] in line.upper() for line in text), cmd
    c.close()
    assert r.execute_command("PFSELFTEST") == "OK"
    assert "keyspace" in r.execute_command("ACL", "CAT")
    assert r.execute_command("CLIENT", "GETREDIR") == -1
    assert r.execute_command("CLIENT", "TRACKINGINFO") == ["flags", ["off"], "redirect", -1,
                                                            "prefixes", []]


REFUSED = {
    ("CLIENT", "CACHING", "yes"): "invalidation messages would have to come from every shard",
    ("CLIENT", "TRACKING", "on"): "invalidation messages would have to come from every shard",
    ("SCRIPT", "DEBUG", "yes"): "redis-cli --ldb",
    ("REPLCONF", "listening-port", "1"): "replication is internal to the service",
    ("LATENCY", "GRAPH", "command"): "use LATENCY HISTORY",
    ("MEMORY", "DOCTOR"): "use MEMORY STATS",
    ("MEMORY", "MALLOC-STATS"): "use MEMORY STATS",
}


@pytest.mark.parametrize("cmd", list(REFUSED), ids=lambda c: " ".join(c))
def test_refused_commands_say_why(r, cmd):
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*cmd)
    msg = str(e.value)
    assert "is not available on Stratus:" in msg and REFUSED[cmd] in msg


def test_client_tracking_off_and_unpause_are_no_ops(srv):
    """Tracking is never on, and nothing is paused here: turning them off is OK, as on Redis
    (tracking.tcl and pause.tcl turn them off between tests)."""
    c = srv.raw_tls()
    assert c.call("CLIENT", "TRACKING", "off") == "OK"
    assert c.call("CLIENT", "UNPAUSE") == "OK"
    assert str(c.call("CLIENT", "TRACKING", "maybe")) == "ERR syntax error"
    c.close()


def test_server_commands_inside_multi_are_refused(srv):
    c = srv.raw_tls()
    assert c.call("MULTI") == "OK"
    err = c.call("SLOWLOG", "GET")
    assert isinstance(err, RespError) and "spans every shard" in str(err)
    assert isinstance(c.call("EXEC"), RespError)
    c.close()


def test_client_list_addresses_are_tcp(srv, r):
    """The endpoint is TCP only: no client shows the U flag, and addr is ip:port."""
    for line in parse_list(r.execute_command("CLIENT", "LIST")):
        assert "U" not in line["flags"] and ":" in line["addr"]
        host = line["addr"].rsplit(":", 1)[0]
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host.strip("[]"))


srv_busy = module_stratus("--shards", "1", "--replicas", "1", "--threads", "2",
                          "--backend-timeout", "10000")


def test_a_busy_engine_answers_busy_and_is_never_failed_over(srv_busy):
    """A script past busy-reply-threshold (5 s): other clients get Redis's -BUSY, the engine
    stays serving (it once went "not serving", so requests waited and then failed with
    CLUSTERDOWN) and is not failed over; SCRIPT KILL ends it."""
    r = srv_busy.client()
    r.set("busy:k", "v")
    failovers = r.info("stratus")["failovers"]
    runner = srv_busy.raw_tls()
    other = conn_on_worker(srv_busy, 1 - worker_of(runner.call("CLIENT", "ID")))
    body = busy_script(9000)
    runner.send(b"*3\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (len(body), body.encode()))
    time.sleep(0.2)  # the script has started: the GET below waits for the threshold
    err = other.call("GET", "busy:k")
    assert isinstance(err, RespError) and str(err).startswith("BUSY "), err
    time.sleep(1.5)  # health checks run many times while it is busy
    err = other.call("GET", "busy:k")
    assert isinstance(err, RespError) and str(err).startswith("BUSY "), err
    assert other.call("SCRIPT", "KILL") == "OK"
    err = runner.read_reply()
    assert isinstance(err, RespError) and "Script killed" in str(err), err
    assert other.call("GET", "busy:k") == b"v"
    assert r.info("stratus")["failovers"] == failovers
    assert "not serving" not in srv_busy.log_text().split("cluster healthy", 1)[-1]
    for c in (runner, other):
        c.close()


def test_a_busy_script_holds_up_no_one_on_its_own_worker(srv_busy):
    """Scripts run on a code link of their own: a client served by the same worker thread as
    a script past busy-reply-threshold gets Redis's -BUSY at once (it used to wait behind the
    script on the shared link), PING says BUSY as on Redis, a transaction's EXEC is aborted
    with the engine's BUSY, and SCRIPT KILL from that client ends it (multi.tcl and
    scripting.tcl's timed-out script tests)."""
    r = srv_busy.client()
    r.set("busy:k", "v")
    r.config_set("busy-reply-threshold", 100)
    runner = srv_busy.raw_tls()
    same = conn_on_worker(srv_busy, worker_of(runner.call("CLIENT", "ID")))
    try:
        body = busy_script(8000)
        runner.send(b"*3\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (len(body), body.encode()))

        def busy_error(*cmd):
            v = same.call(*cmd)
            return isinstance(v, RespError) and str(v).startswith("BUSY ") and v

        deadline_poll(lambda: busy_error("GET", "busy:k"), 3, what="GET to get -BUSY")
        deadline_poll(lambda: busy_error("PING"), 3, what="PING to get -BUSY")
        assert same.call("MULTI") == "OK"
        assert same.call("INCR", "busy:n") == "QUEUED"
        err = same.call("EXEC")
        assert isinstance(err, RespError) and str(err).startswith("EXECABORT") \
            and "BUSY" in str(err), err
        assert same.call("SCRIPT", "KILL") == "OK"
        err = runner.read_reply()
        assert isinstance(err, RespError) and "Script killed" in str(err), err
        deadline_poll(lambda: same.call("PING") == "PONG", 3, what="PING to answer PONG again")
        assert same.call("GET", "busy:k") == b"v" and same.call("GET", "busy:n") is None
    finally:
        r.config_set("busy-reply-threshold", 5000)
        for c in (runner, same):
            c.close()


def test_a_script_pipelined_behind_a_command_still_runs_on_its_own_link(srv_busy):
    """FUNCTION LOAD, FCALL and PING in one write (scripting.tcl's "Timedout script does not
    cause a false dead client"): the function used to follow the load onto the shared link,
    where no other client's command was read while it ran (they waited out the engine
    deadline). It waits for the load's reply and runs on a code link: the other clients of
    its worker get -BUSY, FUNCTION KILL ends it, and the three replies come in order."""
    r = srv_busy.client()
    r.config_set("busy-reply-threshold", 100)
    runner = srv_busy.raw_tls()
    same = conn_on_worker(srv_busy, worker_of(runner.call("CLIENT", "ID")))
    try:
        lib = ("#!lua name=pipespin\nredis.register_function('pipespin', function() "
               "while 1 do redis.call('ping') end end)")
        runner.send(encode("FUNCTION", "LOAD", "REPLACE", lib) + encode("FCALL", "pipespin", "0")
                    + encode("PING"))

        def busy_error(*cmd):
            v = same.call(*cmd)
            return isinstance(v, RespError) and str(v).startswith("BUSY ") and v

        t0 = time.monotonic()
        deadline_poll(lambda: busy_error("GET", "busy:k"), 3, what="GET to get -BUSY")
        assert time.monotonic() - t0 < 3
        assert same.call("FUNCTION", "KILL") == "OK"
        assert runner.read_reply() == b"pipespin"
        err = runner.read_reply()
        assert isinstance(err, RespError) and "killed by user" in str(err), err
        assert runner.read_reply() == "PONG"
    finally:
        r.config_set("busy-reply-threshold", 5000)
        r.execute_command("FUNCTION", "DELETE", "pipespin")
        for c in (runner, same):
            c.close()


def test_a_clients_scripts_and_commands_run_in_the_order_it_sent_them(srv):
    """Scripts go on the code link, other commands on the shared one; a pipeline that mixes
    them still runs in order on each engine."""
    r = srv.client()
    p = r.pipeline(transaction=False)
    for i in range(300):
        p.eval("return redis.call('INCR', KEYS[1])", 1, "order:{k}")
        p.get("order:{k}")
        p.set("order:{k}:last", i)
        p.evalsha(r.script_load("return redis.call('GET', KEYS[1])"), 1, "order:{k}:last")
    out = p.execute()
    for i in range(300):
        assert out[4 * i] == i + 1 and out[4 * i + 1] == str(i + 1)
        assert out[4 * i + 3] == str(i)


def test_info_is_redis_sections_with_the_primaries_figures(srv):
    """INFO has Redis's sections: the engines' own lines merged over the shards (commandstats
    summed, usec_per_call recomputed), the endpoint's own for clients, replication, CPU and
    cluster, and nothing of the service's internals (info-command.tcl)."""
    r = srv.client()
    assert r.config_resetstat()
    keys = [f"infostat:{i}" for i in range(30)]
    for k in keys:
        r.set(k, "v")
    raw = srv.raw_tls()
    default = raw.call("INFO").decode()
    raw.close()
    for field in ("redis_git_sha1:00000000", "used_cpu_user:", "used_memory:", "# Errorstats",
                  "role:master", "connected_slaves:0", "master_repl_offset:"):
        assert field in default, field
    for hidden in ("rejected_calls", "executable:", "config_file:", "slave0:", "cmdstat_"):
        assert hidden not in default, hidden
    everything = r.info("everything")
    assert everything["cmdstat_set"]["calls"] == 30
    assert everything["cmdstat_set"]["usec_per_call"] == pytest.approx(
        everything["cmdstat_set"]["usec"] / 30, abs=0.01)
    assert "latency_percentiles_usec_set" in everything
    internal = ("replconf", "psync", "cluster|info", "cluster|nodes", "readonly", "auth", "ping",
                "acl|setuser")
    for name in internal:
        assert f"cmdstat_{name}" not in everything, name
    assert "errorstat_NOAUTH" not in everything
    cpu = r.info("cpu")
    assert set(cpu) >= {"used_cpu_user", "used_cpu_sys"} and "used_memory" not in cpu
    assert r.config_resetstat()
    assert "cmdstat_set" not in r.info("commandstats")
    r.delete(*keys)
