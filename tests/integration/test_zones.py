"""Zones on one machine (issue 5): every engine of a shard in its own zone, primaries where
--preferred-zone says, and a reader port whose reads are served by the replica in the
endpoint's own zone while writes still go to the primary.
"""

import time
from pathlib import Path

import redis

from conftest import deadline_poll, engine_clients


def manifest(data_dir):
    """{engine name: (role, zone)} from the engine manifest."""
    path = Path(data_dir) / "caches" / "default" / "engines" / "manifest"
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _port, _bus, _shard, role, zone = line.split()[:6]
        out[name] = (role, zone)
    return out


def gets_served(c):
    return c.info("commandstats").get("cmdstat_get", {}).get("calls", 0)


def reader_client(srv, **kw):
    port = srv.client().info("stratus")["reader_port"]
    return redis.Redis(host=srv.host, port=port, password=srv.password, ssl=True,
                       ssl_ca_certs=srv.ca, decode_responses=True, **kw)


def test_each_engine_of_a_shard_in_its_own_zone(stratus_factory):
    srv = stratus_factory("--autoscale", "off", "--shards", "2", "--replicas", "2",
                          "--zones", "a,b,c", "--preferred-zone", "b")
    m = manifest(srv.data_dir)
    assert len(m) == 6
    assert sorted(z for role, z in m.values() if role == "primary") == ["b", "b"]
    for shard in range(2):
        zones = sorted(z for name, (role, z) in m.items()
                       if int(name[1:]) // 3 == shard)
        assert zones == ["a", "b", "c"], m
    assert srv.client().info("stratus")["zone"] == "b"


def test_reader_port_reads_from_the_replica_in_its_zone(stratus_factory):
    # Primaries in z1 (the default preferred zone is the first), the replica in z2, and this
    # endpoint in z2: its reader port reads from the replica.
    srv = stratus_factory("--autoscale", "off", "--replicas", "1", "--reader-port", "0",
                          "--zone", "z2")
    r = srv.client()
    m = manifest(srv.data_dir)
    primary = next(n for n, (role, _) in m.items() if role == "primary")
    replica = next(n for n, (role, z) in m.items() if role == "replica" and z == "z2")
    engines = engine_clients(srv.data_dir)
    reader = reader_client(srv)
    reader.set("zone:k", "v1")  # a write on the reader port still goes to the primary
    assert r.get("zone:k") == "v1"
    # Eventually consistent: the replica has it a moment later.
    deadline_poll(lambda: reader.get("zone:k") == "v1", 10, what="the replica to have the key")

    def served_by_replica():
        # Until the replica is in the endpoint's topology (it joins a moment after the primary),
        # the reader port falls back to the primary.
        before = gets_served(engines[replica])
        reader.get("zone:k")
        return gets_served(engines[replica]) > before

    deadline_poll(served_by_replica, 15, what="reader-port reads served by the replica")
    p0, q0 = gets_served(engines[primary]), gets_served(engines[replica])
    for _ in range(100):
        assert reader.get("zone:k") == "v1"
    p1, q1 = gets_served(engines[primary]), gets_served(engines[replica])
    assert q1 - q0 >= 100 and p1 - p0 == 0, (p0, p1, q0, q1)
    # The main port reads from the primary.
    for _ in range(50):
        assert r.get("zone:k") == "v1"
    assert gets_served(engines[primary]) - p1 >= 50
    # Multi-key reads and fan-outs too; writes, transactions and scripts stay on the primary.
    assert reader.mget(["zone:k", "zone:none"]) == ["v1", None]
    with reader.pipeline(transaction=True) as p:
        p.incr("zone:n")
        p.get("zone:n")
        assert p.execute() == [1, "1"]
    assert reader.eval("return redis.call('INCR', KEYS[1])", 1, "zone:n") == 2
    for c in engines.values():
        c.close()


def test_reader_port_falls_back_to_the_primary(stratus_factory):
    # No replica in this endpoint's zone: the reader port reads from the primary.
    srv = stratus_factory("--autoscale", "off", "--replicas", "1", "--reader-port", "0",
                          "--zone", "elsewhere")
    reader = reader_client(srv)
    reader.set("fb:k", "v")
    t0 = time.monotonic()
    assert reader.get("fb:k") == "v"  # read-your-write: served by the primary
    assert time.monotonic() - t0 < 5


def test_primary_returns_to_the_preferred_zone_after_a_failover(stratus_factory):
    import os
    import signal
    import threading

    srv = stratus_factory("--autoscale", "off", "--replicas", "1", "--preferred-zone", "z1",
                          "--failback-delay", "500")
    from test_failover import settled

    deadline_poll(lambda: settled(srv), 30, what="cluster settled")
    m = manifest(srv.data_dir)
    (old,) = [n for n, (role, z) in m.items() if role == "primary"]
    assert m[old][1] == "z1"
    pid = engine_clients(srv.data_dir)[old].info("server")["process_id"]
    os.kill(pid, signal.SIGKILL)
    # The replica in z2 takes over at once ...
    deadline_poll(lambda: "failover: primary" in srv.log_text(), 30, what="a failover")
    errors, stop, n = [], [False], [0]

    def writer():
        c = srv.client()
        while not stop[0]:
            try:
                c.set(f"fb:{n[0] % 100}", n[0])
                n[0] += 1
            except redis.RedisError as e:
                errors.append(repr(e))
        c.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        # ... and once the restarted engine in z1 has been in sync for the delay, it is the
        # primary again, gracefully: the writer sees no error.
        deadline_poll(lambda: "failback" in srv.log_text() and
                      manifest(srv.data_dir)[old][0] == "primary", 60,
                      what="the primary back in z1")
        done = n[0]
        deadline_poll(lambda: n[0] > done + 100, 30, what="writes after the failback")
    finally:
        stop[0] = True
        t.join(30)
    assert errors == [], errors[:3]
    assert "failback" in srv.log_text()
