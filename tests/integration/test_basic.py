"""The endpoint as a plain Redis: TLS, AUTH, RESP3, SELECT, DBSIZE, FLUSHALL, INFO, errors."""

import os
import shlex
import socket
import ssl
import stat
import subprocess
import threading
import warnings

import pytest
import redis

from conftest import IO_TIMEOUT, RespError, deadline_poll, module_stratus

srv = module_stratus()


def test_ready_block_follows_contract(srv):
    assert srv.header.group("cache") == "default"
    assert srv.shards == 1
    assert srv.engines_per_shard == 2  # 1 primary + 1 replica by default
    assert srv.username == "default"
    assert srv.host == "127.0.0.1"
    assert srv.port and srv.port > 0
    assert os.path.isabs(srv.ca) and srv.ca == str(srv.data_dir.resolve() / "tls" / "ca.crt")
    assert srv.plaintext_url == f"redis://default:{srv.password}@127.0.0.1:{srv.plaintext_port}"
    assert srv.plaintext_port != srv.port
    assert srv.fields["redis-cli"] == f"redis-cli --tls --cacert {srv.ca} -u {srv.url}"
    assert srv.fields["ioredis"] == (
        f'new Redis("{srv.url}", {{ tls: {{ ca: fs.readFileSync("{srv.ca}") }} }})'
    )
    assert srv.fields["redis-py"] == f'redis.Redis.from_url("{srv.url}", ssl_ca_certs="{srv.ca}")'
    assert srv.ready_block[-1] == "Press Ctrl-C to stop."


def test_password_file_is_private(srv):
    pw_file = srv.data_dir / "caches" / "default" / "password"
    st = pw_file.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert pw_file.read_text().strip() == srv.password
    assert len(srv.password) >= 16


def test_set_get_over_tls(srv):
    r = srv.client()
    assert r.set("greeting", "hello") is True
    assert r.get("greeting") == "hello"
    assert r.get("missing-key") is None
    assert r.set("session:42", "alice", ex=60) is True
    assert 0 < r.ttl("session:42") <= 60


def test_redis_py_line_as_printed(srv):
    # The exact call the ready block shows, with nothing added.
    r = redis.Redis.from_url(srv.url, ssl_ca_certs=srv.ca)
    assert r.ping() is True
    r.set("printed-line", b"v")
    assert r.get("printed-line") == b"v"


def test_binary_safe_and_large_values(srv):
    r = srv.client(decode_responses=False)
    blob = bytes(range(256)) * 4096  # 1 MiB with every byte value, CR and LF included
    assert r.set(b"bin\r\nkey\x00", blob)
    assert r.get(b"bin\r\nkey\x00") == blob
    assert r.strlen(b"bin\r\nkey\x00") == len(blob)


def test_ping_echo_time(srv):
    r = srv.client()
    assert r.ping() is True
    assert r.echo("hello world") == "hello world"
    c = srv.raw_tls()
    assert c.call("PING", "msg") == b"msg"
    c.close()
    secs, micros = r.time()
    assert secs > 1_600_000_000 and 0 <= micros < 1_000_000


def test_common_data_types(srv):
    r = srv.client()
    r.delete("h", "l", "s", "z", "cnt", "bits", "hll", "geo", "stream")
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hgetall("h") == {"a": "1", "b": "2"}
    assert r.rpush("l", "x", "y", "z") == 3
    assert r.lrange("l", 0, -1) == ["x", "y", "z"]
    assert r.sadd("s", "m1", "m2") == 2
    assert r.smembers("s") == {"m1", "m2"}
    assert r.zadd("z", {"one": 1, "two": 2}) == 2
    assert r.zrange("z", 0, -1, withscores=True) == [("one", 1.0), ("two", 2.0)]
    assert r.incrby("cnt", 5) == 5
    assert r.setbit("bits", 7, 1) == 0 and r.bitcount("bits") == 1
    assert r.pfadd("hll", "a", "b", "c") == 1 and r.pfcount("hll") == 3
    assert r.geoadd("geo", (13.361389, 38.115556, "Palermo")) == 1
    assert r.xadd("stream", {"f": "v"})
    assert r.xlen("stream") == 1
    assert r.expire("cnt", 100) is True and 0 < r.ttl("cnt") <= 100
    assert r.type("h") == "hash"


def test_redis_cli_one_liner_as_printed(srv):
    argv = shlex.split(srv.fields["redis-cli"])
    out = subprocess.run(argv + ["SET", "cli-key", "cli-value"], capture_output=True, text=True,
                         timeout=IO_TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK", (out.stdout, out.stderr)
    out = subprocess.run(argv + ["GET", "cli-key"], capture_output=True, text=True, timeout=IO_TIMEOUT)
    assert out.stdout.strip() == "cli-value", (out.stdout, out.stderr)


# ---- TLS ---------------------------------------------------------------------------------


def _handshake(srv, ctx, server_hostname):
    sock = socket.create_connection((srv.host, srv.port), timeout=IO_TIMEOUT)
    try:
        tls = ctx.wrap_socket(sock, server_hostname=server_hostname)
        version = tls.version()
        tls.close()
        return version
    finally:
        sock.close()


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "::1"])
def test_certificate_verifies_with_printed_ca_and_names(srv, name):
    ctx = ssl.create_default_context(cafile=srv.ca)  # check_hostname=True, CERT_REQUIRED
    version = _handshake(srv, ctx, name)
    assert version in ("TLSv1.2", "TLSv1.3")


def test_certificate_rejected_without_the_ca(srv):
    ctx = ssl.create_default_context()  # system roots only
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(srv, ctx, "localhost")


def test_certificate_does_not_claim_other_names(srv):
    ctx = ssl.create_default_context(cafile=srv.ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(srv, ctx, "example.com")


def test_tls_below_1_2_refused(srv):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot offer TLS 1.1 as a client")
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        _handshake(srv, ctx, "localhost")
    # The refused handshake does not stop the listener.
    assert srv.client().ping()


# ---- AUTH --------------------------------------------------------------------------------


def test_noauth_before_auth(srv):
    c = srv.raw_tls(auth=False)
    r = c.call("GET", "x")
    assert isinstance(r, RespError) and str(r).startswith("NOAUTH"), r
    r = c.call("SET", "x", "1")
    assert isinstance(r, RespError) and str(r).startswith("NOAUTH"), r
    # Still usable: authenticate now.
    assert c.call("AUTH", "default", srv.password) == "OK"
    assert c.call("PING") == "PONG"
    c.close()


def test_noauth_on_plaintext_port_too(srv):
    c = srv.raw_plain(auth=False)
    r = c.call("PING")
    assert isinstance(r, RespError) and str(r).startswith("NOAUTH"), r
    c.close()


@pytest.mark.parametrize(
    "args",
    [
        ("AUTH", "default", "wrong-password"),
        ("AUTH", "wrong-password"),
        ("AUTH", "nobody", "{password}"),
    ],
    ids=["user-bad-pass", "legacy-bad-pass", "bad-user"],
)
def test_wrongpass(srv, args):
    c = srv.raw_tls(auth=False)
    args = [a.replace("{password}", srv.password) for a in args]
    r = c.call(*args)
    assert isinstance(r, RespError) and str(r).startswith("WRONGPASS"), r
    r = c.call("GET", "x")
    assert isinstance(r, RespError) and str(r).startswith("NOAUTH"), r
    c.close()


def test_legacy_single_argument_auth(srv):
    c = srv.raw_tls(auth=False)
    assert c.call("AUTH", srv.password) == "OK"
    assert c.call("PING") == "PONG"
    c.close()


def test_redis_py_wrong_password_raises(srv):
    r = redis.Redis(host=srv.host, port=srv.port, ssl=True, ssl_ca_certs=srv.ca,
                    username="default", password="nope", socket_timeout=IO_TIMEOUT)
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)) as e:
        r.ping()
    assert "WRONGPASS" in str(e.value)


# ---- RESP3 -------------------------------------------------------------------------------


def test_hello_3_with_auth(srv):
    c = srv.raw_tls(auth=False)
    hello = c.call("HELLO", "3", "AUTH", "default", srv.password)
    assert isinstance(hello, dict), hello
    assert hello.get("proto") == 3
    assert "server" in hello and "version" in hello
    assert c.call("SET", "r3", "v") == "OK"
    assert c.call("GET", "r3") == b"v"
    c.call("DEL", "r3map")
    assert c.call("HSET", "r3map", "a", "1", "b", "2") == 2
    m = c.call("HGETALL", "r3map")  # a RESP3 map (%), not a flat array
    assert m == {"a": b"1", "b": b"2"}, m
    c.close()


def test_hello_3_map_type_on_the_wire(srv):
    c = srv.raw_tls(auth=False)
    c.call("HELLO", "3", "AUTH", "default", srv.password)
    c.call("HSET", "wire-map", "k", "v")
    c.send(b"*2\r\n$7\r\nHGETALL\r\n$8\r\nwire-map\r\n")
    first = c._line()
    assert first == b"%1", first
    c.close()


def test_hello_2_returns_flat_arrays(srv):
    c = srv.raw_tls()
    hello = c.call("HELLO", "2")
    assert isinstance(hello, list) and b"proto" in hello, hello
    assert hello[hello.index(b"proto") + 1] == 2
    c.close()


def test_hello_setname(srv):
    c = srv.raw_tls(auth=False)
    hello = c.call("HELLO", "3", "AUTH", "default", srv.password, "SETNAME", "conn-a")
    assert isinstance(hello, dict) and hello["proto"] == 3, hello
    c.close()


def test_hello_3_without_auth_is_noauth(srv):
    c = srv.raw_tls(auth=False)
    r = c.call("HELLO", "3")
    assert isinstance(r, RespError) and str(r).startswith("NOAUTH"), r
    c.close()


def test_hello_bad_password_is_wrongpass(srv):
    c = srv.raw_tls(auth=False)
    r = c.call("HELLO", "3", "AUTH", "default", "bad")
    assert isinstance(r, RespError) and str(r).startswith("WRONGPASS"), r
    c.close()


def test_hello_unsupported_protocol(srv):
    c = srv.raw_tls()
    r = c.call("HELLO", "4")
    assert isinstance(r, RespError) and str(r).startswith("NOPROTO"), r
    c.close()


# ---- keyspace-wide commands --------------------------------------------------------------


def test_select(srv):
    r = srv.client()
    assert r.execute_command("SELECT", 0) in (True, "OK")
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("SELECT", 1)
    assert str(e.value)  # a message, whatever its wording
    assert r.ping()


def test_dbsize_and_flushall(srv):
    r = srv.client()
    assert r.flushall() is True
    assert r.dbsize() == 0
    for i in range(50):
        r.set(f"dbsize:{i}", i)
    assert r.dbsize() == 50
    assert r.flushall() is True
    assert r.dbsize() == 0
    assert r.get("dbsize:1") is None


def test_flushdb(srv):
    r = srv.client()
    r.mset({f"fdb:{i}": i for i in range(20)})
    assert r.dbsize() >= 20
    assert r.flushdb() is True
    assert r.dbsize() == 0


def test_info_has_sections(srv):
    r = srv.client()
    raw = r.execute_command("INFO")
    text = raw if isinstance(raw, str) else ""
    if not text:  # redis-py parses INFO into a dict; ask for the raw text instead
        c = srv.raw_tls()
        text = c.call("INFO").decode()
        c.close()
    assert "# Server" in text, text[:500]
    assert "# Keyspace" in text, text[:500]
    assert "redis_version:" in text
    info = r.info()
    assert "redis_version" in info


def test_info_keyspace_counts_keys(srv):
    r = srv.client()
    r.flushall()
    for i in range(30):
        r.set(f"ks:{i}", i)
    ks = r.info("keyspace")
    assert ks.get("db0", {}).get("keys") == 30, ks


def test_info_cpu_as_redis_names_it(srv):
    r = srv.client()
    for section in (None, "default", "all", "cpu"):
        info = r.info(section) if section else r.info()
        for field in ("used_cpu_sys", "used_cpu_user", "used_cpu_sys_children",
                      "used_cpu_user_children", "used_cpu_sys_main_thread",
                      "used_cpu_user_main_thread"):
            assert isinstance(info.get(field), float), (section, field, sorted(info)[:40])
    assert "used_cpu_user" not in r.info("server")


def test_info_blocked_clients_counts_the_endpoints_blocked_clients(srv):
    """Redis's own tests wait for `blocked_clients` to reach N before they push."""
    r = srv.client()
    assert r.info("clients")["blocked_clients"] == 0
    blockers = [srv.client() for _ in range(3)]
    threads = [threading.Thread(target=c.blpop, args=(f"{{blk}}:info{i}", 10))
               for i, c in enumerate(blockers)]
    for t in threads:
        t.start()
    deadline_poll(lambda: r.info("clients")["blocked_clients"] == 3, 10,
                  what="INFO clients to count 3 blocked clients")
    assert r.info()["blocked_clients"] == 3
    for i in range(3):
        r.rpush(f"{{blk}}:info{i}", "x")
    for t in threads:
        t.join(10)
    deadline_poll(lambda: r.info("clients")["blocked_clients"] == 0, 10,
                  what="blocked_clients back to 0")
    for c in blockers:
        c.close()


def test_command_and_command_count(srv):
    c = srv.raw_tls()
    n = c.call("COMMAND", "COUNT")
    assert isinstance(n, int) and n > 50, n
    info = c.call("COMMAND", "INFO", "GET")
    assert isinstance(info, list) and info[0][0] == b"get", info
    c.close()


def test_unknown_command_is_named(srv):
    r = srv.client()
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("NOSUCHCOMMAND", "a", "b")
    assert "nosuchcommand" in str(e.value).lower()
    assert r.ping()


@pytest.mark.parametrize(
    "cmd",
    [
        ("SHUTDOWN",),
        ("SHUTDOWN", "NOSAVE"),
        ("DEBUG", "SEGFAULT"),
        ("CLUSTER", "RESET", "HARD"),
        ("CLUSTER", "FAILOVER"),
        ("SWAPDB", "0", "1"),
        ("REPLICAOF", "127.0.0.1", "1"),
    ],
    ids=lambda c: "-".join(c).lower(),
)
def test_engine_admin_commands_do_not_reach_engines(srv, cmd):
    r = srv.client()
    r.set("still-here", "yes")
    engines = srv.engine_pids()
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*cmd)
    assert cmd[0].lower() in str(e.value).lower(), str(e.value)
    # Every engine is still the same process and the data is intact.
    assert srv.engine_pids() == engines
    assert r.get("still-here") == "yes"
    assert srv.client().get("still-here") == "yes"
