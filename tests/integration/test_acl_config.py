"""ACL users for the whole cache, CONFIG GET/SET's allow-list and WAIT, on caches of 1 and 3
shards: a least-privilege user is held to its rules whatever shard its keys live on and on every
worker thread; users survive a restart; CONFIG never shows engine internals; WAIT counts the
replicas that have this connection's writes."""

import time

import pytest
import redis

from conftest import deadline_poll, engine_clients, keys_in_distinct_slots, module_stratus_each_size

srv = module_stratus_each_size()


def user_client(srv, user, password, **kw):
    return redis.Redis(host=srv.host, port=srv.port, username=user, password=password,
                       ssl=True, ssl_ca_certs=srv.ca, decode_responses=True,
                       socket_timeout=10, **kw)


def test_session_store_user(srv, r):
    assert r.acl_setuser("sessions", enabled=True, passwords=["+s3cret"],
                         keys=["session:*"],
                         commands=["+get", "+set", "+expire", "+del", "+acl|whoami"])
    u = user_client(srv, "sessions", "s3cret")
    assert u.execute_command("ACL", "WHOAMI") == "sessions"
    keys = keys_in_distinct_slots(12, "session:")
    for k in keys:  # every shard
        assert u.set(k, "v", ex=60)
        assert u.get(k) == "v"
    with pytest.raises(redis.exceptions.NoPermissionError, match="keys used as arguments"):
        u.get("other:1")
    with pytest.raises(redis.exceptions.NoPermissionError, match="'keys' command"):
        u.keys("*")
    with pytest.raises(redis.exceptions.NoPermissionError, match="'flushall' command"):
        u.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError, match="keys used as arguments"):
        u.delete(keys[0], "other:2")  # a multi-key command is checked key by key
    assert u.delete(*keys) == len(keys)
    u.close()


def test_read_only_user_and_channels(srv, r):
    r.acl_setuser("reader", enabled=True, passwords=["+pw"], keys=["%R~*"],
                  commands=["+@read", "+@pubsub", "+@connection"], channels=["alerts.*"])
    r.set("report", "42")
    u = user_client(srv, "reader", "pw")
    assert u.get("report") == "42"
    with pytest.raises(redis.exceptions.NoPermissionError):
        u.set("report", "43")
    assert u.publish("alerts.disk", "full") == 0
    with pytest.raises(redis.exceptions.NoPermissionError, match="channels"):
        u.publish("other", "x")
    u.close()


def test_wrong_password_disabled_user_and_unknown_user(srv, r):
    r.acl_setuser("off-user", enabled=False, passwords=["+pw"], commands=["+@all"], keys=["*"])
    r.acl_setuser("reader2", enabled=True, passwords=["+pw"], commands=["+ping"])
    assert user_client(srv, "reader2", "pw").ping()
    for user, pw in (("reader2", "nope"), ("off-user", "pw"), ("ghost", "pw")):
        with pytest.raises((redis.exceptions.AuthenticationError,
                            redis.exceptions.ResponseError), match="WRONGPASS|invalid"):
            user_client(srv, user, pw).ping()


def test_changes_apply_to_open_connections(srv, r):
    r.acl_setuser("app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+get"])
    u = user_client(srv, "app", "pw")
    assert u.get("nothing") is None
    r.acl_setuser("app", commands=["-get"])
    with pytest.raises(redis.exceptions.NoPermissionError):
        u.get("nothing")
    assert r.acl_deluser("app") == 1
    with pytest.raises((redis.exceptions.ConnectionError, redis.exceptions.ResponseError)):
        u.get("nothing")
    u.close()


def test_acl_introspection(srv, r):
    r.acl_setuser("intro", enabled=True, passwords=["+pw"], keys=["a:*"], commands=["+get"])
    info = r.acl_getuser("intro")
    assert "on" in info["flags"]
    assert info["keys"] == ["~a:*"]
    assert "+get" in info["commands"]
    assert "intro" in r.acl_users() and "default" in r.acl_users()
    assert any(line.startswith("user intro on #") for line in r.acl_list())
    assert r.execute_command("ACL", "DRYRUN", "intro", "GET", "a:1") == "OK"
    assert "no permissions" in r.execute_command("ACL", "DRYRUN", "intro", "SET", "a:1", "v")
    assert "read" in r.acl_cat()
    assert "get" in r.acl_cat("read")
    assert len(r.acl_genpass()) == 64
    assert r.acl_log_reset()  # earlier tests' denials are logged (test_acl_fidelity.py)
    assert r.acl_log() == []
    assert r.acl_getuser("nobody") is None


def test_acl_errors(srv, r):
    with pytest.raises(redis.exceptions.ResponseError, match="admin user"):
        r.acl_setuser("default", enabled=False)
    with pytest.raises(redis.exceptions.ResponseError, match="cannot be removed"):
        r.acl_deluser("default")
    with pytest.raises(redis.exceptions.ResponseError, match="Unknown command"):
        r.execute_command("ACL", "SETUSER", "bad", "+nosuchcommand")
    with pytest.raises(redis.exceptions.ResponseError, match="selectors are not supported"):
        r.execute_command("ACL", "SETUSER", "bad", "(~x +get)")
    assert r.acl_getuser("bad") is None  # a refused SETUSER changes nothing
    with pytest.raises(redis.exceptions.ResponseError, match="saved by the service"):
        r.execute_command("ACL", "SAVE")


def test_users_survive_restart(srv, r):
    r.acl_setuser("durable", enabled=True, passwords=["+pw"], keys=["d:*"], commands=["+set"])
    srv.stop()
    srv.start()
    u = user_client(srv, "durable", "pw")
    assert u.set("d:1", "x")
    with pytest.raises(redis.exceptions.NoPermissionError):
        u.get("d:1")
    u.close()
    assert "durable" in srv.client().acl_users()
    # Secrets are stored hashed, never in clear.
    assert b"+pw" not in (srv.data_dir / "stratus.db").read_bytes()


def test_config_get_hides_engine_internals(srv, r):
    everything = r.config_get("*")
    assert "notify-keyspace-events" in everything
    for secret in ("requirepass", "masterauth", "dir", "port", "unixsocket", "cluster-config-file"):
        assert secret not in everything
    assert r.config_get("requirepass") == {}


def test_config_set_refuses_what_the_service_manages(srv, r):
    for name, value in (("maxmemory", "10mb"), ("requirepass", "x"), ("dir", "/tmp"),
                        ("appendonly", "no")):
        with pytest.raises(redis.exceptions.ResponseError, match="managed by the service"):
            r.config_set(name, value)
    with pytest.raises(redis.exceptions.ResponseError):
        r.config_set("maxmemory-policy", "not-a-policy")  # the engine's own validation
    assert r.config_set("maxmemory-policy", "allkeys-lru")
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    r.config_set("maxmemory-policy", "noeviction")


def test_config_set_values_stay_in_the_clients_order(srv, r):
    """A CONFIG SET reaches the primaries at once; the control plane then gives the values to
    the replicas. It must never give a primary a value older than the client's last one (the
    conformance run saw stream-node-max-entries go back to 100 in the middle of a test)."""
    name = "stream-node-max-entries"
    engines = engine_clients(srv.data_dir)
    primaries = [c for c in engines.values() if c.execute_command("ROLE")[0] == "master"]
    assert primaries
    t_end = time.monotonic() + 4  # several rounds of the control loop
    i = 0
    while time.monotonic() < t_end:
        value = str(1 + i % 7)
        assert r.config_set(name, value)
        for _ in range(3):
            for c in primaries:
                assert c.config_get(name) == {name: value}, f"a primary, after set {i}"
        i += 1
    r.config_set(name, "100")
    deadline_poll(lambda: all(c.config_get(name) == {name: "100"} for c in engines.values()),
                  10, what="every engine, replicas too, to have the last value")
    for c in engines.values():
        c.close()


def test_wait_counts_replicas_with_my_writes(srv, r):
    keys = keys_in_distinct_slots(6, "w:")
    # Replicas finish their first sync a moment after the cache is ready (and after a restart):
    # until then WAIT honestly answers 0.
    deadline_poll(lambda: r.set("w:probe", "1") and r.wait(1, 200) == 1, 30,
                  what="replicas in sync")
    for k in keys:
        r.set(k, "v")
    t0 = time.monotonic()
    assert r.wait(1, 2000) == 1  # one replica per shard by default
    assert time.monotonic() - t0 < 1.5
    assert r.wait(0, 0) >= 0
    t0 = time.monotonic()
    assert r.wait(2, 300) == 1  # only one replica exists: the timeout is honoured
    assert 0.25 < time.monotonic() - t0 < 3
    with pytest.raises(redis.exceptions.ResponseError):
        r.wait(1, -1)
