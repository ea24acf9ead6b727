"""The endpoint presents itself as ONE cluster node owning every slot, at the address dialled."""

import random
import shlex
import subprocess

import pytest
from redis.cluster import RedisCluster

from conftest import IO_TIMEOUT, RespError, key_slot, keys_in_distinct_slots, module_stratus

srv = module_stratus()


@pytest.fixture(params=["tls", "plaintext"])
def conn(request, srv):
    c = srv.raw_tls() if request.param == "tls" else srv.raw_plain()
    c.expected_port = srv.port if request.param == "tls" else srv.plaintext_port
    yield c
    c.close()


def _s(x):
    return x.decode() if isinstance(x, bytes) else x


def _pairs(flat):
    """A RESP2 flat [k1, v1, k2, v2] (or a RESP3 map) as a dict with str keys."""
    if isinstance(flat, dict):
        return {_s(k): v for k, v in flat.items()}
    return {_s(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def test_cluster_slots(conn):
    slots = conn.call("CLUSTER", "SLOTS")
    assert isinstance(slots, list) and len(slots) == 1, slots
    start, end, primary = slots[0][0], slots[0][1], slots[0][2]
    assert (start, end) == (0, 16383)
    assert _s(primary[0]) == "127.0.0.1"
    assert primary[1] == conn.expected_port
    assert len(_s(primary[2])) == 40  # a node id
    assert len(slots[0]) == 3, "no replicas are shown: the endpoint is the only node"


def test_cluster_myid_matches(conn):
    myid = _s(conn.call("CLUSTER", "MYID"))
    assert len(myid) == 40 and all(ch in "0123456789abcdef" for ch in myid), myid
    slots = conn.call("CLUSTER", "SLOTS")
    assert _s(slots[0][2][2]) == myid
    nodes = _s(conn.call("CLUSTER", "NODES"))
    assert nodes.split()[0] == myid


def test_cluster_nodes(conn):
    text = _s(conn.call("CLUSTER", "NODES"))
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    f = lines[0].split()
    assert f[1].split("@")[0] == f"127.0.0.1:{conn.expected_port}", f[1]
    flags = f[2].split(",")
    assert "myself" in flags and "master" in flags, flags
    assert f[3] == "-"
    assert f[7] == "connected"
    assert f[8:] == ["0-16383"], f[8:]


def test_cluster_shards(conn):
    shards = conn.call("CLUSTER", "SHARDS")
    assert isinstance(shards, list) and len(shards) == 1, shards
    shard = _pairs(shards[0])
    assert [int(x) for x in shard["slots"]] == [0, 16383]
    nodes = shard["nodes"]
    assert len(nodes) == 1, nodes
    node = _pairs(nodes[0])
    assert _s(node["ip"]) == "127.0.0.1"
    ports = {int(node[k]) for k in ("port", "tls-port") if k in node}
    assert conn.expected_port in ports, node
    assert _s(node["role"]) == "master"
    assert _s(node["health"]) == "online"


def test_cluster_info(conn):
    text = _s(conn.call("CLUSTER", "INFO"))
    info = dict(ln.split(":", 1) for ln in text.splitlines() if ":" in ln)
    assert info["cluster_state"].strip() == "ok"
    assert info["cluster_slots_assigned"].strip() == "16384"
    assert info["cluster_slots_ok"].strip() == "16384"
    assert info["cluster_known_nodes"].strip() == "1"
    assert info["cluster_size"].strip() == "1"


def test_info_says_cluster_enabled(conn):
    # redis-py's RedisCluster refuses a node whose INFO lacks cluster_enabled:1.
    text = _s(conn.call("INFO"))
    assert "cluster_enabled:1" in text


def test_cluster_keyslot(conn):
    assert conn.call("CLUSTER", "KEYSLOT", "foo") == 12182
    assert conn.call("CLUSTER", "KEYSLOT", "{user1000}.following") == conn.call(
        "CLUSTER", "KEYSLOT", "{user1000}.followers"
    )
    rnd = random.Random(7)
    for _ in range(50):
        k = "".join(rnd.choice("abcxyz{}:.01") for _ in range(rnd.randint(1, 12)))
        assert conn.call("CLUSTER", "KEYSLOT", k) == key_slot(k), k


def test_cluster_countkeysinslot(conn):
    keys = [f"{{cnt-{conn.expected_port}}}:{i}" for i in range(3)]
    for k in keys:
        assert conn.call("SET", k, "v") == "OK"
    slot = key_slot(keys[0])
    assert conn.call("CLUSTER", "COUNTKEYSINSLOT", slot) == 3
    assert conn.call("DEL", *keys) == 3
    assert conn.call("CLUSTER", "COUNTKEYSINSLOT", slot) == 0


def test_unsupported_cluster_subcommand(conn):
    r = conn.call("CLUSTER", "ADDSLOTS", "1")
    assert isinstance(r, RespError), r
    assert conn.call("PING") == "PONG"


# ---- real cluster clients through the one endpoint ---------------------------------------


@pytest.fixture
def rc(srv):
    c = RedisCluster.from_url(srv.url, ssl_ca_certs=srv.ca, decode_responses=True,
                              socket_timeout=IO_TIMEOUT)
    yield c
    c.close()


def test_redis_py_cluster_sees_one_node(srv, rc):
    nodes = rc.get_nodes()
    assert len(nodes) == 1
    assert (nodes[0].host, nodes[0].port) == ("127.0.0.1", srv.port)


def test_redis_py_cluster_set_get_many(rc):
    keys = keys_in_distinct_slots(300, "rpc")
    for i, k in enumerate(keys):
        assert rc.set(k, f"v{i}") is True
    for i, k in enumerate(keys):
        assert rc.get(k) == f"v{i}"
    assert rc.delete(*keys[:10]) == 10


def test_redis_py_cluster_mget(rc):
    tagged = [f"{{tag}}:{i}" for i in range(20)]
    rc.mset({k: k.upper() for k in tagged})  # one slot: sent as one MSET
    assert rc.mget(tagged) == [k.upper() for k in tagged]
    spread = keys_in_distinct_slots(50, "spread")
    rc.mset_nonatomic({k: k[::-1] for k in spread})
    assert rc.mget_nonatomic(spread + ["missing:1"]) == [k[::-1] for k in spread] + [None]


def test_redis_py_cluster_pipeline(rc):
    keys = keys_in_distinct_slots(100, "pl")
    p = rc.pipeline()
    for i, k in enumerate(keys):
        p.set(k, i)
    for k in keys:
        p.get(k)
    res = p.execute()
    assert res[:100] == [True] * 100
    assert res[100:] == [str(i) for i in range(100)]


def test_redis_cli_cluster_mode(srv):
    argv = shlex.split(srv.fields["redis-cli"]) + ["-c"]
    keys = keys_in_distinct_slots(5, "cli-c")
    for k in keys:
        out = subprocess.run(argv + ["SET", k, "x"], capture_output=True, text=True, timeout=IO_TIMEOUT)
        assert out.stdout.strip() == "OK", (out.stdout, out.stderr)
    out = subprocess.run(argv + ["MGET"] + keys, capture_output=True, text=True, timeout=IO_TIMEOUT)
    assert out.stdout.split() == ["x"] * 5, (out.stdout, out.stderr)
