"""Cross-slot MGET/MSET/DEL/EXISTS/UNLINK/TOUCH are split and merged in order; other multi-key
commands get CROSSSLOT, except the reads of test_crossslot_reads.py."""

import pytest
import redis

from conftest import RespError, key_slot, keys_in_distinct_slots, module_stratus

srv = module_stratus()


@pytest.fixture
def r(srv):
    c = srv.client()
    c.flushall()
    return c


def _interleave(present, missing):
    """present keys with a missing key after every 10th, so order mistakes show."""
    out, mi = [], iter(missing)
    for i, k in enumerate(present):
        out.append(k)
        if i % 10 == 9:
            out.append(next(mi))
    return out


def test_keys_really_span_slots():
    keys = keys_in_distinct_slots(200, "mk")
    assert len({key_slot(k) for k in keys}) == 200


def test_mset_mget_200_keys_in_order(r):
    keys = keys_in_distinct_slots(200, "mk")
    assert r.mset({k: f"val-{k}" for k in keys}) is True
    missing = [f"missing-{i}" for i in range(20)]
    ask = _interleave(keys, missing)
    got = r.mget(ask)
    want = [None if k.startswith("missing-") else f"val-{k}" for k in ask]
    assert got == want


def test_mget_reversed_and_duplicates(r):
    keys = keys_in_distinct_slots(60, "dup")
    r.mset({k: k for k in keys})
    ask = list(reversed(keys)) + keys[:5] + keys[:5]
    assert r.mget(ask) == ask


def test_mset_overwrites_in_argument_order(r):
    k = keys_in_distinct_slots(3, "ow")
    # The same key twice: the later value wins, as in one Redis.
    assert r.execute_command("MSET", k[0], "first", k[1], "x", k[0], "second", k[2], "y")
    assert r.mget(k) == ["second", "x", "y"]


def test_del_counts_across_slots(r):
    keys = keys_in_distinct_slots(200, "del")
    r.mset({k: "1" for k in keys})
    missing = [f"nothere-{i}" for i in range(20)]
    assert r.delete(*_interleave(keys[:100], missing[:10])) == 100
    assert r.mget(keys[:100]) == [None] * 100
    assert r.mget(keys[100:]) == ["1"] * 100


def test_unlink_counts_across_slots(r):
    keys = keys_in_distinct_slots(200, "unl")
    r.mset({k: "1" for k in keys})
    assert r.unlink(*keys, "ghost-1", "ghost-2") == 200
    assert r.dbsize() == 0


def test_exists_counts_duplicates(r):
    keys = keys_in_distinct_slots(200, "ex")
    r.mset({k: "1" for k in keys[:150]})
    # 150 present + 50 absent + the first 10 again: Redis counts a repeated key each time.
    assert r.exists(*keys, *keys[:10]) == 160


def test_touch_counts_across_slots(r):
    keys = keys_in_distinct_slots(200, "touch")
    r.mset({k: "1" for k in keys[:120]})
    assert r.touch(*keys) == 120


def test_mget_single_and_tagged(r):
    r.set("solo", "1")
    assert r.mget(["solo"]) == ["1"]
    tagged = [f"{{grp}}:{i}" for i in range(30)]
    r.mset({k: str(i) for i, k in enumerate(tagged)})
    assert r.mget(tagged) == [str(i) for i in range(30)]


def test_mget_wrong_type_is_nil(r):
    keys = keys_in_distinct_slots(3, "wt")
    r.set(keys[0], "s")
    r.rpush(keys[1], "l")
    assert r.mget(keys) == ["s", None, None]


def test_mset_odd_arguments_is_an_error(srv):
    c = srv.raw_tls()
    res = c.call("MSET", "a", "1", "b")
    assert isinstance(res, RespError) and "wrong number of arguments" in str(res).lower(), res
    assert c.call("PING") == "PONG"
    c.close()


def _slot_pair(prefix):
    a, b = keys_in_distinct_slots(2, prefix)
    assert key_slot(a) != key_slot(b)
    return a, b


@pytest.mark.parametrize(
    "build",
    [
        lambda a, b: ("SMOVE", a, b, "m"),
        lambda a, b: ("RENAME", a, b),
        lambda a, b: ("MSETNX", a, "1", b, "2"),
        lambda a, b: ("LMOVE", a, b, "LEFT", "RIGHT"),
    ],
    ids=["smove", "rename", "msetnx", "lmove"],
)
def test_other_multikey_commands_crossslot(srv, build):
    a, b = _slot_pair("xs")
    c = srv.raw_tls()
    c.call("SADD", a, "m")
    res = c.call(*build(a, b))
    assert isinstance(res, RespError) and str(res).startswith("CROSSSLOT"), res
    assert c.call("PING") == "PONG"
    c.close()


def test_same_slot_multikey_commands_work(r):
    a, b, d = "{t}:s1", "{t}:s2", "{t}:dest"
    r.sadd(a, "x", "y", "z")
    r.sadd(b, "y", "z", "w")
    assert r.sinterstore(d, [a, b]) == 2
    assert r.smembers(d) == {"y", "z"}
    assert r.sunion([a, b]) == {"x", "y", "z", "w"}
    assert r.rename(a, "{t}:renamed") is True
    assert r.msetnx({"{t}:n1": "1", "{t}:n2": "2"}) is True
    r.rpush("{t}:src", "e1", "e2")
    assert r.lmove("{t}:src", "{t}:dst", "LEFT", "RIGHT") == "e1"


def test_crossslot_error_via_redis_py(r):
    a, b = _slot_pair("rp")
    with pytest.raises(redis.ResponseError) as e:
        r.smove(a, b, "m")
    assert "CROSSSLOT" in str(e.value)
