"""Read-only multi-key commands across slots (SINTER, SUNION, SDIFF, SINTERCARD, ZUNION, ZINTER,
ZDIFF, ZINTERCARD, PFCOUNT, LCS), and the stores that write only their first key (SUNIONSTORE
... PFMERGE, BITOP): the reply is Redis's own. Each case runs the command on keys of
different slots (different shards with --shards 3) and on same-slot copies of them ({t}...),
which one engine answers natively, and the replies must be byte for byte the same, in RESP2 and
RESP3; results are also checked against a computation in Python. Every test runs on a 3-shard and
on a 1-shard cache."""

import socket

import pytest

from conftest import (
    RawConn,
    RespError,
    deadline_poll,
    encode,
    engine_clients,
    key_slot,
    module_stratus,
)

_srv3 = module_stratus("--shards", "3")
_srv1 = module_stratus()


@pytest.fixture(scope="module", params=["3shards", "1shard"])
def srv(request):
    return request.getfixturevalue("_srv3" if request.param == "3shards" else "_srv1")


class Frames(RawConn):
    """A RawConn that also returns the exact bytes of each reply."""

    def __init__(self, sock):
        super().__init__(sock)
        self.taken = []

    def _line(self):
        line = super()._line()
        self.taken.append(line + b"\r\n")
        return line

    def _exact(self, n):
        data = super()._exact(n)
        self.taken.append(data + b"\r\n")
        return data

    def call(self, *args):
        return super().call(*[repr(a) if isinstance(a, float) else a for a in args])

    def raw(self, *args):
        """(reply bytes, parsed reply) of one command."""
        self.send(encode(*[repr(a) if isinstance(a, float) else a for a in args]))
        return self.read_raw()

    def read_raw(self):
        self.taken = []
        v = self.read_reply()
        return b"".join(self.taken), v


def frames(srv, proto=2):
    sock = socket.create_connection((srv.host, srv.port), timeout=10)
    c = Frames(srv.ssl_context().wrap_socket(sock, server_hostname="localhost"))
    c.auth(srv.username, srv.password)
    if proto == 3:
        hello = c.call("HELLO", "3")
        assert isinstance(hello, dict), hello
    return c


def key_in_third(third, prefix):
    """A key whose slot is well inside one third of the slot space: with 3 shards, keys of
    different thirds live on different primaries."""
    lo = third * 5461 + 1000
    i = 0
    while True:
        k = f"{prefix}:{i}"
        if lo <= key_slot(k) <= lo + 3000:
            return k
        i += 1


def spread(prefix, n=3):
    """n keys of distinct slots, on distinct shards for the first three."""
    keys = [key_in_third(i % 3, f"{prefix}{i}") for i in range(n)]
    assert len({key_slot(k) for k in keys}) == n
    return keys


def tagged(keys):
    """Same-slot stand-ins for keys: one engine runs the command on them natively."""
    return ["{t}" + k for k in keys]


@pytest.fixture
def c(srv):
    conn = frames(srv)
    assert conn.call("FLUSHALL") == "OK"
    yield conn
    conn.close()


def same_reply(c, build, keys, unordered=False):
    """Runs build(keys) across slots and build(tagged keys) on one slot; returns the reply after
    checking both are identical (as sets when unordered: a set's order is the engine's)."""
    cross_raw, cross = c.raw(*build(keys))
    ref_raw, ref = c.raw(*build(tagged(keys)))
    if unordered and isinstance(cross, (list, set)):
        assert sorted(cross) == sorted(ref), (cross, ref)
        assert cross_raw.split(b"\r\n", 1)[0] == ref_raw.split(b"\r\n", 1)[0]
    else:
        assert cross_raw == ref_raw, (cross_raw, ref_raw)
    return cross


def load(c, keys, cmds):
    """Runs each (command, key index, *args) on keys and on their tagged copies."""
    for ks in (keys, tagged(keys)):
        for cmd, i, *args in cmds:
            r = c.call(cmd, ks[i], *args)
            assert not isinstance(r, RespError), r


def no_temp_keys(srv):
    conn = srv.client()
    try:
        return list(conn.scan_iter(match="*__stratus_tmp*", count=1000)) == []
    finally:
        conn.close()


# ---- the keys really are spread ------------------------------------------------------------


def test_keys_live_on_different_engines(srv, c):
    if srv.shards != 3:
        pytest.skip("one shard: every key is on the same engine (different slots still)")
    keys = spread("where")
    for k in keys:
        c.call("SET", k, "1")
    engines = engine_clients(srv.data_dir)
    primaries = [e for e in engines.values() if e.info("replication")["role"] == "master"]
    assert len(primaries) == 3
    # Each primary holds exactly one of the three keys.
    held = [sorted(e.execute_command("CLUSTER", "COUNTKEYSINSLOT", key_slot(k)) for e in primaries)
            for k in keys]
    assert held == [[0, 0, 1]] * 3, held
    owners = {
        k: next(i for i, e in enumerate(primaries)
                if e.execute_command("CLUSTER", "COUNTKEYSINSLOT", key_slot(k)) == 1)
        for k in keys
    }
    assert len(set(owners.values())) == 3, owners


# ---- sets ----------------------------------------------------------------------------------

SETS = [
    ("SADD", 0, "a", "b", "c", "d", "x1"),
    ("SADD", 1, "b", "c", "d", "e", "x2"),
    ("SADD", 2, "c", "d", "e", "f"),
]
PY_SETS = [{"a", "b", "c", "d", "x1"}, {"b", "c", "d", "e", "x2"}, {"c", "d", "e", "f"}]


@pytest.mark.parametrize(
    "cmd,want",
    [
        ("SINTER", PY_SETS[0] & PY_SETS[1] & PY_SETS[2]),
        ("SUNION", PY_SETS[0] | PY_SETS[1] | PY_SETS[2]),
        ("SDIFF", PY_SETS[0] - PY_SETS[1] - PY_SETS[2]),
    ],
)
def test_set_algebra(c, cmd, want):
    keys = spread("s")
    load(c, keys, SETS)
    got = same_reply(c, lambda ks: (cmd, *ks), keys, unordered=True)
    assert {m.decode() for m in got} == want
    # Any key may be the first one (the one whose shard runs the command).
    for order in ([2, 0, 1], [1, 2, 0]):
        ks = [keys[i] for i in order]
        got = same_reply(c, lambda k2: (cmd, *k2), ks, unordered=True)
        sets = [PY_SETS[i] for i in order]
        py = {"SINTER": set.intersection, "SUNION": set.union, "SDIFF": set.difference}[cmd]
        assert {m.decode() for m in got} == py(*sets)


def test_integer_sets_are_byte_identical(c):
    # Integer sets (intsets) are sorted, so even the order is defined.
    keys = spread("int")
    load(c, keys, [("SADD", 0, *range(0, 60, 2)), ("SADD", 1, *range(0, 60, 3)),
                   ("SADD", 2, *range(0, 60, 5))])
    for cmd in ("SINTER", "SUNION", "SDIFF"):
        same_reply(c, lambda ks: (cmd, *ks), keys)


def test_sintercard(c):
    keys = spread("sc")
    load(c, keys, SETS)
    assert same_reply(c, lambda ks: ("SINTERCARD", 3, *ks), keys) == 2
    assert same_reply(c, lambda ks: ("SINTERCARD", 2, ks[0], ks[1]), keys) == 3
    assert same_reply(c, lambda ks: ("SINTERCARD", 2, ks[0], ks[1], "LIMIT", 1), keys) == 1
    same_reply(c, lambda ks: ("SINTERCARD", 2, ks[0], ks[1], "LIMIT", -1), keys)
    same_reply(c, lambda ks: ("SINTERCARD", 2, ks[0], ks[1], "BOGUS"), keys)


def test_duplicate_keys(c):
    keys = spread("dup")
    load(c, keys, SETS)
    got = same_reply(c, lambda ks: ("SUNION", ks[0], ks[1], ks[1], ks[2], ks[0]), keys,
                     unordered=True)
    assert {m.decode() for m in got} == PY_SETS[0] | PY_SETS[1] | PY_SETS[2]


# ---- sorted sets ---------------------------------------------------------------------------

ZSETS = [
    ("ZADD", 0, 1, "a", 2, "b", 3, "c", 4.5, "d"),
    ("ZADD", 1, 10, "b", 20, "c", -1, "e"),
    ("ZADD", 2, 100, "c", 0.25, "f", 7, "a"),
]
PY_Z = [{"a": 1, "b": 2, "c": 3, "d": 4.5}, {"b": 10, "c": 20, "e": -1},
        {"c": 100, "f": 0.25, "a": 7}]


def _zcombine(op, weights=(1, 1, 1), agg=sum):
    zs = [{m: s * w for m, s in z.items()} for z, w in zip(PY_Z, weights)]
    members = set(zs[0])
    for z in zs[1:]:
        members = members | set(z) if op == "union" else members & set(z)
    out = {m: agg([z[m] for z in zs if m in z]) for m in members}
    return sorted(out.items(), key=lambda kv: (kv[1], kv[0]))


@pytest.mark.parametrize(
    "extra",
    [(), ("WITHSCORES",), ("WEIGHTS", 2, 0.5, -1, "WITHSCORES"), ("AGGREGATE", "MIN", "WITHSCORES"),
     ("AGGREGATE", "MAX", "WITHSCORES"), ("WEIGHTS", 1, 2, 3, "AGGREGATE", "SUM")],
)
@pytest.mark.parametrize("cmd", ["ZUNION", "ZINTER"])
def test_zunion_zinter(c, cmd, extra):
    keys = spread("z")
    load(c, keys, ZSETS)
    got = same_reply(c, lambda ks: (cmd, 3, *ks, *extra), keys)
    weights = tuple(float(x) for x in extra[1:4]) if extra[:1] == ("WEIGHTS",) else (1, 1, 1)
    agg = min if "MIN" in extra else max if "MAX" in extra else sum
    want = _zcombine("union" if cmd == "ZUNION" else "inter", weights, agg)
    names = [m.decode() for m in (got[::2] if "WITHSCORES" in extra else got)]
    assert names == [m for m, _ in want]
    if "WITHSCORES" in extra:
        assert [float(s) for s in got[1::2]] == [s for _, s in want]


def test_zdiff_and_zintercard(c):
    keys = spread("zd")
    load(c, keys, ZSETS)
    got = same_reply(c, lambda ks: ("ZDIFF", 3, *ks, "WITHSCORES"), keys)
    assert got == [b"d", b"4.5"]
    same_reply(c, lambda ks: ("ZDIFF", 2, ks[1], ks[0]), keys)
    assert same_reply(c, lambda ks: ("ZINTERCARD", 2, ks[0], ks[1]), keys) == 2
    assert same_reply(c, lambda ks: ("ZINTERCARD", 3, *ks, "LIMIT", 1), keys) == 1
    same_reply(c, lambda ks: ("ZINTERCARD", 3, *ks, "LIMIT", "x"), keys)


def test_zunion_with_a_plain_set_and_bad_options(c):
    keys = spread("zs")
    load(c, keys, [ZSETS[0], ("SADD", 1, "a", "zz"), ZSETS[2]])
    got = same_reply(c, lambda ks: ("ZUNION", 3, *ks, "WITHSCORES"), keys)
    assert dict(zip(got[::2], got[1::2]))[b"zz"] == b"1"
    err = same_reply(c, lambda ks: ("ZUNION", 3, *ks, "AGGREGATE", "AVG"), keys)
    assert isinstance(err, RespError)
    err = same_reply(c, lambda ks: ("ZINTER", 3, *ks, "WEIGHTS", 1, "x", 1), keys)
    assert isinstance(err, RespError)


# ---- HyperLogLog and LCS -------------------------------------------------------------------


def test_pfcount_three_keys(c):
    keys = spread("hll")
    groups = [range(0, 600), range(400, 1000), range(900, 1500)]
    for ks in (keys, tagged(keys)):
        for k, g in zip(ks, groups):
            c.call("PFADD", k, *[f"e{i}" for i in g])
    got = same_reply(c, lambda ks: ("PFCOUNT", *ks), keys)
    assert abs(got - 1500) <= 1500 * 0.03, got
    # A missing key counts as empty, wherever it is.
    assert same_reply(c, lambda ks: ("PFCOUNT", ks[0], ks[1] + ":none", ks[2]), keys) == same_reply(
        c, lambda ks: ("PFCOUNT", ks[0], ks[2]), keys)


def test_pfcount_many_keys(c):
    keys = spread("hmany", 40)
    for ks in (keys, tagged(keys)):
        for i, k in enumerate(ks):
            c.call("PFADD", k, *[f"m{i * 10 + j}" for j in range(15)])
    got = same_reply(c, lambda ks: ("PFCOUNT", *ks), keys)
    assert abs(got - 405) <= 405 * 0.03, got


def _lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize(
    "extra",
    [(), ("LEN",), ("IDX",), ("IDX", "MINMATCHLEN", 3), ("IDX", "WITHMATCHLEN"),
     ("IDX", "MINMATCHLEN", 2, "WITHMATCHLEN"), ("LEN", "IDX")],
)
def test_lcs(c, extra):
    keys = spread("lcs", 2)
    a, b = "ohmytext-and-some-more-text", "mynewtext-and-less-text"
    load(c, keys, [("SET", 0, a), ("SET", 1, b)])
    got = same_reply(c, lambda ks: ("LCS", ks[0], ks[1], *extra), keys)
    if extra == ("LEN",):
        assert got == _lcs(a, b)
    elif extra == ():
        assert len(got) == _lcs(a, b)


# ---- missing keys and errors ---------------------------------------------------------------


def test_missing_keys(c):
    keys = spread("miss")
    # keys[0] holds a set, keys[1] a sorted set, keys[2] nothing.
    load(c, keys, [("SADD", 0, "a", "b"), ("ZADD", 1, 1, "a", 2, "z")])
    for build in (
        lambda ks: ("SINTER", ks[2], ks[0]),
        lambda ks: ("SUNION", ks[2], ks[0]),
        lambda ks: ("SUNION", ks[0], ks[2]),
        lambda ks: ("SDIFF", ks[0], ks[2]),
        lambda ks: ("SDIFF", ks[2], ks[0]),
        lambda ks: ("SINTERCARD", 2, ks[0], ks[2]),
        lambda ks: ("ZUNION", 2, ks[2], ks[1], "WITHSCORES"),
        lambda ks: ("ZINTER", 2, ks[1], ks[2]),
        lambda ks: ("ZDIFF", 2, ks[1], ks[2]),
        lambda ks: ("PFCOUNT", ks[2], ks[2] + "x"),
        lambda ks: ("LCS", ks[2], ks[2] + "y"),
    ):
        same_reply(c, build, keys, unordered=True)
    # Only missing keys, all on other slots than the first.
    assert same_reply(c, lambda ks: ("SUNION", ks[2] + ":none", ks[2]), keys) == []


def test_wrongtype(c):
    keys = spread("wt")
    load(c, keys, [("SADD", 0, "a"), ("SET", 1, "str"), ("ZADD", 2, 1, "a")])
    for build in (
        lambda ks: ("SINTER", ks[0], ks[1]),  # the foreign key is a string
        lambda ks: ("SUNION", ks[1], ks[0]),  # the first key is a string
        lambda ks: ("SDIFF", ks[0], ks[2]),  # a sorted set where a set is expected
        lambda ks: ("SINTERCARD", 2, ks[0], ks[1]),
        lambda ks: ("ZUNION", 2, ks[2], ks[1]),
        lambda ks: ("ZINTERCARD", 2, ks[2], ks[1]),
        lambda ks: ("PFCOUNT", ks[1], ks[0]),  # not HyperLogLogs
        lambda ks: ("LCS", ks[1], ks[0]),
    ):
        err = same_reply(c, build, keys)
        assert isinstance(err, RespError), err
    err = same_reply(c, lambda ks: ("PFCOUNT", ks[0], ks[1]), keys)
    assert str(err).startswith("WRONGTYPE"), err


def test_odd_first_keys_still_share_a_slot(c):
    # Temporary keys take the first key's hash tag; keys that cannot give one (empty, a '}'
    # without a tag, very long) get a numeric tag of the same slot.
    for first in ("", "a}b", "{}x", "L" * 300, "pre{tag}post"):
        second = next(f"other:{i}" for i in range(1000) if key_slot(f"other:{i}") != key_slot(first))
        for k, ref in ((first, "{t}" + first), (second, "{t}" + second)):
            c.call("DEL", k, ref)
        c.call("SADD", first, "p", "q")
        c.call("SADD", second, "q", "r")
        c.call("SADD", "{t}1", "p", "q")
        c.call("SADD", "{t}2", "q", "r")
        for cmd in ("SINTER", "SUNION", "SDIFF"):
            got = c.call(cmd, first, second)
            ref = c.call(cmd, "{t}1", "{t}2")
            assert sorted(got) == sorted(ref), (first, cmd, got, ref)


# ---- RESP3 ---------------------------------------------------------------------------------


def test_resp3_byte_identical(srv):
    c3 = frames(srv, proto=3)
    try:
        keys = spread("r3")
        c3.call("FLUSHALL")
        load(c3, keys, ZSETS)
        same_reply(c3, lambda ks: ("ZUNION", 3, *ks, "WITHSCORES"), keys)
        same_reply(c3, lambda ks: ("ZINTER", 3, *ks, "WEIGHTS", 2, 0.5, 1, "WITHSCORES"), keys)
        same_reply(c3, lambda ks: ("ZDIFF", 2, ks[0], ks[1], "WITHSCORES"), keys)
        same_reply(c3, lambda ks: ("ZINTERCARD", 2, ks[0], ks[1]), keys)
        raw, v = c3.raw("ZUNION", 3, *keys, "WITHSCORES")
        assert raw.startswith(b"*") and b"\r\n," in raw, raw  # RESP3 doubles
        ks2 = spread("r3s")
        load(c3, ks2, SETS)
        raw, v = c3.raw("SUNION", *ks2)
        assert raw.startswith(b"~") and isinstance(v, set), raw
        same_reply(c3, lambda ks: ("SUNION", *ks), ks2, unordered=True)
        same_reply(c3, lambda ks: ("SINTERCARD", 3, *ks), ks2)
        ks3 = spread("r3l", 2)
        load(c3, ks3, [("SET", 0, "abcdefgh"), ("SET", 1, "xbcdyefh")])
        raw, v = c3.raw("LCS", *ks3, "IDX", "WITHMATCHLEN")
        assert raw.startswith(b"%"), raw
        same_reply(c3, lambda ks: ("LCS", *ks, "IDX", "WITHMATCHLEN"), ks3)
        same_reply(c3, lambda ks: ("SINTER", ks[0], ks[1] + ":none"), ks2)
        load(c3, ks3, [("SET", 0, "str")])
        err = same_reply(c3, lambda ks: ("SUNION", ks2[0], ks[0]), ks3)
        assert isinstance(err, RespError)
    finally:
        c3.close()


# ---- order, leftovers, other commands ------------------------------------------------------


def test_pipeline_keeps_order_and_reads_own_writes(srv, c):
    a, b, d = spread("pipe")
    cmds = [
        ("SADD", a, "1", "2", "3"),
        ("SINTER", a, b),  # b missing: empty
        ("SADD", b, "2", "3", "4"),
        ("SINTER", a, b),  # sees the SADD just before it
        ("SADD", a, "4"),  # runs on a's engine after the SINTER before it, never before
        ("SUNION", b, a, d),
        ("SREM", b, "3"),
        ("SINTERCARD", 2, b, a),
        ("GET", "plain"),
        ("SDIFF", a, b),
        ("SET", d, "s"),
        ("SUNION", a, d),
        ("PING",),
    ]
    c.send(b"".join(encode(*cmd) for cmd in cmds))
    got = [c.read_reply() for _ in cmds]
    assert got[0] == 3
    assert got[1] == []
    assert got[2] == 3
    assert sorted(got[3]) == [b"2", b"3"]
    assert got[4] == 1
    assert sorted(got[5]) == [b"1", b"2", b"3", b"4"]
    assert got[6] == 1
    assert got[7] == 2
    assert got[8] is None
    assert sorted(got[9]) == [b"1", b"3"]
    assert got[10] == "OK"
    assert isinstance(got[11], RespError) and str(got[11]).startswith("WRONGTYPE")
    assert got[12] == "PONG"
    assert no_temp_keys(srv)


def test_many_pipelined_gathers(srv, c):
    keys = spread("many", 3)
    load(c, keys, SETS)
    n = 300
    c.send(b"".join(encode("SINTERCARD", 3, *keys) for _ in range(n)) + encode("PING"))
    assert [c.read_reply() for _ in range(n)] == [2] * n
    assert c.read_reply() == "PONG"
    assert no_temp_keys(srv)


@pytest.mark.parametrize(
    "build",
    [
        lambda a, b: ("SMOVE", a, b, "m"),
        lambda a, b: ("RENAME", a, b),
        lambda a, b: ("COPY", a, b),
        lambda a, b: ("LMOVE", a, b, "LEFT", "LEFT"),
        lambda a, b: ("MSETNX", a, "1", b, "2"),
    ],
    ids=["smove", "rename", "copy", "lmove", "msetnx"],
)
def test_writes_of_several_keys_across_slots_still_crossslot(c, build):
    """Commands that write more than their first key would be two writes on two engines."""
    a, b = spread("st", 2)
    c.call("SADD", a, "m")
    res = c.call(*build(a, b))
    assert isinstance(res, RespError) and str(res).startswith("CROSSSLOT"), res
    assert c.call("SMEMBERS", a) == [b"m"]


def test_multi_and_watch_keep_one_slot(c):
    a, b = spread("tx", 2)
    c.call("SADD", a, "m")
    c.call("SADD", b, "m")
    assert c.call("MULTI") == "OK"
    res = c.call("SINTER", a, b)
    assert isinstance(res, RespError) and str(res).startswith("CROSSSLOT"), res
    res = c.call("EXEC")
    assert isinstance(res, RespError) and str(res).startswith("EXECABORT"), res
    assert c.call("WATCH", a) == "OK"
    res = c.call("SUNION", a, b)
    assert isinstance(res, RespError) and str(res).startswith("CROSSSLOT"), res
    assert c.call("UNWATCH") == "OK"
    assert c.call("SINTER", a, b) == [b"m"]


def test_disconnect_mid_gather(srv, c):
    keys = spread("gone")
    for k in keys:
        for i in range(0, 20000, 1000):
            c.call("SADD", k, *[f"{k}-{j}" for j in range(i, i + 1000)])
    for _ in range(5):
        d = frames(srv)
        d.send(b"".join(encode("SUNION", *keys) for _ in range(3)))
        d.close()
    # The server is fine, answers exactly, and the copies are gone once the EXECs ran.
    assert c.call("SINTERCARD", 3, *keys) == 0
    assert c.call("SCARD", keys[0]) == 20000
    raw, v = c.raw("SUNION", *keys)
    assert len(v) == 60000
    deadline_poll(lambda: no_temp_keys(srv), 10, what="no temporary keys left")


def test_no_temporary_keys_left_and_counter(srv, c):
    keys = spread("left")
    load(c, keys, SETS)
    conn = srv.client()
    try:
        before = conn.info("stats")["cross_slot_reads"]
        for cmd in ("SINTER", "SUNION", "SDIFF"):
            c.call(cmd, *keys)
        assert conn.info("stats")["cross_slot_reads"] == before + 3
        assert conn.dbsize() == 6
    finally:
        conn.close()
    assert no_temp_keys(srv)


# ---- stores that write only their first key ------------------------------------------------


@pytest.mark.parametrize("store,read", [
    (("SUNIONSTORE",), ("SMEMBERS",)), (("SINTERSTORE",), ("SMEMBERS",)),
    (("SDIFFSTORE",), ("SMEMBERS",)),
    (("ZUNIONSTORE", "3"), ("ZRANGE", "0", "-1", "WITHSCORES")),
    (("ZINTERSTORE", "3"), ("ZRANGE", "0", "-1", "WITHSCORES")),
    (("ZDIFFSTORE", "3"), ("ZRANGE", "0", "-1", "WITHSCORES")),
    (("BITOP", "OR"), ("GET",)), (("PFMERGE",), ("PFCOUNT",)),
])
def test_stores_across_slots_write_what_one_engine_writes(srv, c, store, read):
    """SUNIONSTORE a b c with b and c on other shards: the destination holds what it holds when
    one engine runs the store on same-slot copies, the reply is the same, and no temporary key
    is left (t_set.tcl, t_zset.tcl, bitops.tcl, hyperloglog.tcl stores)."""
    keys = spread("st", 4)
    src = keys[1:]
    kind = store[0]
    if kind.startswith("S"):
        load(c, src, SETS)
    elif kind.startswith("Z"):
        load(c, src, [("ZADD", i, "1", "a", "2", "b", str(i + 3), f"m{i}") for i in range(3)])
    elif kind == "BITOP":
        load(c, src, [("SET", i, chr(i + 1) + "abc") for i in range(3)])
    else:
        load(c, src, [("PFADD", i, "x", f"y{i}", f"z{i}") for i in range(3)])
    dest_cross, dest_ref = keys[0], tagged(keys)[0]

    def build(ks):
        if kind == "BITOP":
            return ("BITOP", store[1], ks[0], *ks[1:])
        return (store[0], ks[0], *store[1:], *ks[1:])

    same_reply(c, build, keys)
    got_cross = c.call(read[0], dest_cross, *read[1:])
    got_ref = c.call(read[0], dest_ref, *read[1:])
    if read[0] == "SMEMBERS":
        assert sorted(got_cross) == sorted(got_ref) and got_ref
    else:
        assert got_cross == got_ref and got_ref
    assert no_temp_keys(srv)


def test_zrangestore_across_slots(srv, c):
    src, dest = spread("zr", 2)
    for ks in ((src, dest), tagged([src, dest])):
        assert c.call("ZADD", ks[0], "1", "a", "2", "b", "3", "c") == 3
        assert c.call("ZRANGESTORE", ks[1], ks[0], "1", "-1") == 2
        assert c.call("ZRANGE", ks[1], "0", "-1", "WITHSCORES") == [b"b", b"2", b"c", b"3"]
    assert no_temp_keys(srv)
