"""The engines enforce the cache's ACL users too (issue 16): every user exists on every engine
(primaries and replicas, shards added by scaling, engines restarted, woken, or adopted after a
Stratus restart) with the same rules, a client's commands reach the engine under its user's
identity, so a script or a function is checked call by call by Redis itself, and no reply shows
an engine's pid, port, socket path, node id or run id."""

import os
import re
import signal
import time

import pytest
import redis

from conftest import deadline_poll, encode, engine_clients, keys_in_distinct_slots, module_stratus

srv = module_stratus("--shards", "3")

APP = dict(enabled=True, passwords=["+pw"], keys=["app:*"], channels=["app:*"],
           commands=["+@all", "-@dangerous"])


def user_client(inst, user="app", password="pw", **kw):
    return redis.Redis(host=inst.host, port=inst.port, username=user, password=password,
                       ssl=True, ssl_ca_certs=inst.ca, decode_responses=True, socket_timeout=10,
                       **kw)


def refused(fn, *args, match):
    with pytest.raises(redis.ResponseError, match=match):
        fn(*args)


CANT_KEY = "The user executing the script can't access at least one of the keys"
CANT_RUN = "The user executing the script can't run this command or subcommand"
CANT_PUB = "The user executing the script can't publish to the channel"


@pytest.fixture
def app(srv, r):
    r.acl_setuser("app", reset=True, **APP)
    r.set("other:1", "secret")
    r.set("app:1", "mine")
    u = user_client(srv)
    yield u
    u.close()
    r.acl_deluser("app")


def test_the_issue_examples_are_refused_by_the_engine(srv, r, app):
    e = app.execute_command
    assert e("EVAL", "return redis.call('GET','app:1')", 1, "app:1") == "mine"
    refused(e, "EVAL", "return redis.call('GET','other:1')", 1, "app:1", match=CANT_KEY)
    refused(e, "EVAL", "return redis.call('KEYS','*')", 0, match=CANT_RUN)
    refused(e, "EVAL", "return redis.call('FLUSHALL')", 0, match=CANT_RUN)
    assert r.get("other:1") == "secret"  # nothing was flushed
    refused(e, "EVAL", "return redis.call('CLUSTER','NODES')", 0, match=CANT_RUN)
    refused(e, "EVAL", "return redis.call('INFO','server')", 0, match=CANT_RUN)
    refused(e, "EVAL_RO", "return redis.call('GET','other:1')", 1, "app:1", match=CANT_KEY)
    refused(e, "EVAL", "return redis.call('SPUBLISH','other:ch','x')", 0, match=CANT_PUB)
    # PUBLISH from a script reaches nobody it may not publish to.
    sub = r.pubsub()
    sub.subscribe("other:ch")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    refused(e, "EVAL", "return redis.call('PUBLISH','other:ch','x')", 0, match=CANT_PUB)
    assert e("EVAL", "return redis.call('PUBLISH','app:ch','x')", 0) == 0
    assert sub.get_message(timeout=0.3) is None
    sub.close()
    # Functions run as the caller too, whoever loaded them.
    r.execute_command(
        "FUNCTION", "LOAD", "REPLACE",
        "#!lua name=peeklib\n"
        "redis.register_function('peek', function(keys) return redis.call('GET', keys[1]) end)\n"
        "redis.register_function{function_name='peek_ro', flags={'no-writes'},"
        " callback=function(keys, args) return redis.call('GET', args[1]) end}")
    assert e("FCALL", "peek", 1, "app:1") == "mine"
    refused(e, "FCALL", "peek", 1, "other:1", match="no permissions to access one of the keys")
    # A key it does not declare is checked by the engine.
    refused(e, "EVAL", "return redis.call('GET', ARGV[1])", 1, "app:1", "other:1", match=CANT_KEY)
    refused(e, "FCALL_RO", "peek_ro", 0, "other:1", match=CANT_KEY)  # a key it did not declare
    # A denial inside a script is in the cache's ACL LOG, as Redis logs it (context lua).
    r.execute_command("ACL", "LOG", "RESET")
    refused(e, "EVAL", "return redis.call('INCRBY', ARGV[1], 1)", 1, "app:1", "other:9",
            match=CANT_KEY)
    # As in Redis, the entry is there by the time the client has its error (no waiting), and
    # the denials before the RESET (FCALL_RO above) never land after it.
    log = r.acl_log()
    assert len(log) == 1, log
    entry = log[0]
    assert (entry["context"], entry["reason"], entry["object"], entry["username"]) == (
        "lua", "key", "other:9", "app"), entry
    info = entry["client-info"]  # redis-py parses the CLIENT INFO line into a dict
    assert (info["cmd"], info["user"]) == ("eval", "app"), entry
    # A legitimate script of the user works, writes included.
    assert e("EVAL", "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])",
             1, "app:2", "v2") == "v2"
    r.execute_command("FUNCTION", "DELETE", "peeklib")


def test_users_exist_on_every_engine_and_follow_changes(srv, r, app):
    engines = engine_clients(srv.data_dir)
    assert len(engines) == 6  # 3 shards x (primary + replica)
    for name, c in engines.items():
        got = c.acl_getuser("u:app")
        assert got, name
        assert "~app:*" in got["keys"], (name, got)
        assert "&app:*" in got["channels"], (name, got)
        proxy = c.acl_getuser("stratus-proxy")
        assert "-@scripting" in proxy.get("categories", []) + proxy["commands"], proxy
    # A change reaches every engine before ACL SETUSER is answered.
    r.execute_command("ACL", "SETUSER", "app", "~more:*")
    for name, c in engines.items():
        assert "~more:*" in c.acl_getuser("u:app")["keys"], name
    app.set("more:1", "x")
    r.acl_setuser("app", reset=True, enabled=True, passwords=["+pw"], keys=["app:*"],
                  commands=["+get", "+eval"])
    refused(app.execute_command, "EVAL", "return redis.call('SET','app:1','z')", 0,
            match=CANT_RUN)
    assert r.acl_deluser("app") == 1
    for name, c in engines.items():
        assert c.acl_getuser("u:app") is None, name


def test_evalsha_only_user_runs_loaded_scripts_on_every_shard(srv, r):
    """A user allowed EVALSHA alone runs the scripts the admin loaded, whatever shard its keys
    live on (a shard that lacks the script gets it from the endpoint first)."""
    r.acl_setuser("runner", reset=True, enabled=True, passwords=["+pw"], keys=["job:*"],
                  commands=["-@all", "+evalsha", "+incr"])
    sha = r.script_load("return redis.call('INCR', KEYS[1])")
    for c in engine_clients(srv.data_dir).values():
        try:
            c.script_flush()  # every engine forgets it: each shard must be repaired
        except redis.ReadOnlyError:
            pass
    u = user_client(srv, "runner")
    for k in keys_in_distinct_slots(6, "job:"):
        assert u.evalsha(sha, 1, k) == 1
    refused(u.evalsha, sha, 1, "other:9", match="no permissions to access one of the keys")
    refused(u.eval, "return 1", 0, match="no permissions to run the 'eval' command")
    u.close()
    r.acl_deluser("runner")


def engine_secrets(inst):
    """What no reply may show: engine pids, ports, socket paths, node ids and run ids."""
    secrets = {str(p) for p in inst.engine_pids()}
    for name, c in engine_clients(inst.data_dir).items():
        info = c.info("server")
        secrets.add(info["run_id"])
        secrets.add(str(info["tcp_port"]))
        secrets.add(c.execute_command("CLUSTER", "MYID"))
        conf = c.config_get("unixsocket").get("unixsocket")
        if conf:
            secrets.add(conf)
        secrets.add(str(c.config_get("cluster-port").get("cluster-port", "")))
        secrets.add(info["config_file"])
    return {s for s in secrets if s and len(s) >= 4}


def test_no_reply_shows_engine_internals(srv, r, app):
    secrets = engine_secrets(srv)
    assert secrets
    r.config_set("slowlog-log-slower-than", 0)
    try:
        r.set("app:s", "x")
        r.get("app:s")
        commands = [
            ("INFO",), ("INFO", "server"), ("INFO", "everything"), ("INFO", "all"),
            ("CLUSTER", "NODES"), ("CLUSTER", "SLOTS"), ("CLUSTER", "SHARDS"),
            ("CLUSTER", "INFO"), ("CLUSTER", "MYID"), ("CLIENT", "LIST"), ("CLIENT", "INFO"),
            ("SLOWLOG", "GET", "100"), ("LATENCY", "LATEST"), ("LATENCY", "DOCTOR"),
            ("MEMORY", "STATS"), ("ROLE",), ("CONFIG", "GET", "*"), ("HELLO", "3"),
            ("HELLO", "2"), ("ACL", "LIST"), ("ACL", "LOG"), ("FUNCTION", "STATS"),
            ("LASTSAVE",), ("DBSIZE",), ("MEMORY", "DOCTOR"),
            ("DEBUG", "OBJECT", "app:s"), ("OBJECT", "ENCODING", "app:s"),
            ("EVAL", "return redis.call('INFO')", 0),
            ("EVAL", "return redis.call('CLUSTER','NODES')", 0),
            ("EVAL", "return redis.call('CLUSTER','SHARDS')", 0),
            ("EVAL", "return redis.call('SLOWLOG','GET')", 0),
            ("EVAL", "return redis.call('CLUSTER','MYID')", 0),
        ]
        seen = []
        for who, c in (("default", r), ("app", app)):
            for cmd in commands:
                try:
                    reply = c.execute_command(*cmd)
                except (redis.RedisError, TypeError) as e:  # TypeError: redis-py's parsers
                    reply = str(e)
                seen.append((who, cmd, repr(reply)))
        def shows(text, secret):
            # A number (pid, port) counts where a reply would name a process or an address:
            # after host: or @, or after a word with port/pid/process in it. Anywhere else a
            # whole number is just as likely a slot (0-16383), a byte count or a client id.
            if secret.isdigit():
                where = (r"(?:\d+\.\d+\.\d+\.\d+:|localhost:|\]:|@"
                         r"|(?:port|pid|process)[a-z_]*\W{1,6})")
                return re.search(where + secret + r"(?![0-9])", text, re.I) is not None
            return secret in text

        leaks = [(who, cmd, s, text[:300]) for who, cmd, text in seen for s in secrets
                 if shows(text, s)]
        assert not leaks, leaks[:5]
    finally:
        r.config_set("slowlog-log-slower-than", 10000)


def wait_serving(inst, client):
    deadline_poll(lambda: client.ping(), 30, what="the cache to serve")


def test_users_on_engines_after_restart_scale_wake_and_adoption(stratus_factory):
    inst = stratus_factory("--replicas", "1", "--hibernate-after", "0", "--autoscale", "off")
    r = inst.client()
    r.acl_setuser("app", **APP)
    r.set("other:1", "secret")
    u = user_client(inst)

    def held():
        # Redis checks a call's ACL before its slot: the undeclared key is refused as such.
        refused(u.execute_command, "EVAL", "return redis.call('GET', ARGV[1])", 1, "app:x",
                "other:1", match=CANT_KEY)
        assert u.execute_command("EVAL", "return redis.call('SET', KEYS[1], '1')", 1,
                                 "app:x") == "OK"

    def on_every_engine():
        for name, c in engine_clients(inst.data_dir).items():
            assert c.acl_getuser("u:app"), name

    held()
    # An engine killed: the new process has the users before it serves.
    victim = inst.engine_pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline_poll(lambda: victim not in inst.engine_pids() and len(inst.engine_pids()) == 2, 30,
                  what="the killed engine's replacement")
    deadline_poll(lambda: held() is None, 30, what="the user's scripts after the restart")
    deadline_poll(lambda: on_every_engine() is None, 30, what="the users on every engine")
    # A shard added by scaling.
    r.execute_command("STRATUS", "SCALE", "2")
    deadline_poll(lambda: r.info("stratus").get("shards") == 2 and
                  not r.info("stratus").get("resharding"), 60, what="the second shard")
    assert len(engine_clients(inst.data_dir)) == 4
    on_every_engine()
    for k in keys_in_distinct_slots(8, "app:"):
        assert u.execute_command("EVAL", "return redis.call('SET', KEYS[1], '1')", 1, k) == "OK"
    # Asleep and woken by the user's own command.
    r.execute_command("STRATUS", "HIBERNATE")
    deadline_poll(lambda: inst.engine_pids() == [], 30, what="the engines to stop")
    # A change while asleep needs no engine: answered at once, and given to them at the wake.
    t0 = time.monotonic()
    r.execute_command("ACL", "SETUSER", "app", "%R~late:*")
    assert time.monotonic() - t0 < 1.0
    assert inst.engine_pids() == [], "an ACL change does not wake the cache"
    held()
    on_every_engine()
    for name, c in engine_clients(inst.data_dir).items():
        assert "%R~late:*" in c.acl_getuser("u:app")["keys"], name
    # The service restarted (engines saved and started again), and killed (engines adopted).
    u.close()
    r.close()
    inst.stop()
    inst.start()
    u = user_client(inst)
    held()
    on_every_engine()
    engines = set(inst.engine_pids())
    u.close()
    inst.stop(sig=signal.SIGKILL)
    for c in engine_clients(inst.data_dir).values():
        c.acl_deluser("u:app")  # whatever the engines were told, the cache's users come back
    inst.start()
    # The engines outlived the killed service and were adopted, not started again.
    assert engines and all(os.path.exists(f"/proc/{p}") for p in engines)
    u = user_client(inst)
    held()
    on_every_engine()
    u.close()


def test_auth_to_another_user_keeps_the_order_of_one_connection(srv, r, app):
    """A new user means other engine links: what was sent before AUTH runs first, so a client
    that switches user in a pipeline reads what it wrote just before."""
    c = srv.raw_tls()
    for i in range(20):
        c.send(encode("SET", f"app:seq{i}", f"v{i}") + encode("AUTH", "app", "pw") +
               encode("GET", f"app:seq{i}") + encode("AUTH", srv.username, srv.password))
        assert [c.read_reply() for _ in range(4)] == ["OK", "OK", f"v{i}".encode(), "OK"]
    c.close()


def test_a_read_write_star_pattern_before_other_patterns_reaches_the_engines(srv, r):
    """`%RW~* ~app:*` is two patterns to Redis (`~* ~app:*` would be refused by an engine: no
    pattern after allkeys), and the user works on every engine."""
    r.execute_command("ACL", "SETUSER", "star", "reset", "on", ">pw", "%RW~*", "~app:*",
                      "+get", "+eval")
    for name, c in engine_clients(srv.data_dir).items():
        assert c.acl_getuser("u:star"), name
    u = user_client(srv, "star")
    for k in keys_in_distinct_slots(6, "any:"):
        assert u.execute_command("EVAL", "return redis.call('GET', KEYS[1])", 1, k) is None
    u.close()
    r.acl_deluser("star")
