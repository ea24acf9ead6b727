"""Hostile clients (issue 8): every limit the endpoint puts on a client, each with its error,
while the clients around it go on: --maxclients, --idle-timeout, --handshake-timeout and
--auth-timeout (a 2,000-connection slowloris), --client-output-limit (10,000 pipelined GETs of
100 KB never read), and the AUTH failure budget per address (no password in any log)."""

import os
import resource
import select
import socket
import threading
import time

import pytest
import redis

from conftest import STRATUS_BIN, deadline_poll, encode, rss_kb


@pytest.fixture(autouse=True)
def enough_descriptors():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def info_stat(srv, field, client=None):
    return int((client or srv.plain_client()).info("stats")[field])


def read_until_closed(sock, timeout):
    """Everything the peer sends until it closes; raises if it is still open after timeout."""
    sock.settimeout(timeout)
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return data
        except socket.timeout:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"still open after {timeout}s; got {data[:200]!r}")


# ---- max clients -----------------------------------------------------------------------------

def test_maxclients_refuses_with_the_redis_error_and_accepting_never_stalls(stratus_factory):
    srv = stratus_factory("--maxclients", "8")
    admin = srv.plain_client()
    admin.ping()
    held = [srv.plain_client() for _ in range(6)] + [srv.client()]
    for c in held:
        c.ping()  # 8 open with admin
    # Plaintext and TLS: the same Redis error, then a close.
    with pytest.raises(redis.ConnectionError, match="max number of clients reached"):
        srv.plain_client().ping()
    with pytest.raises(redis.ConnectionError, match="max number of clients reached"):
        srv.client().ping()
    # A flood far beyond the limit: every one is closed, the loop keeps accepting.
    flood = [socket.create_connection((srv.host, srv.plaintext_port)) for _ in range(400)]
    for s in flood:
        read_until_closed(s, 10)
        s.close()
    assert admin.ping() and all(c.ping() for c in held)
    assert info_stat(srv, "rejected_connections", admin) >= 402
    # Room again once a client leaves.
    held.pop().connection_pool.disconnect()
    deadline_poll(lambda: srv.plain_client().ping(), 10, what="a client accepted again")
    assert int(admin.info("clients")["maxclients"]) == 8


# ---- idle timeout ----------------------------------------------------------------------------

def test_idle_timeout_closes_idle_clients_but_not_blocked_or_subscribed_ones(stratus_factory):
    srv = stratus_factory("--idle-timeout", "1")
    idle = srv.raw_plain()
    assert idle.call("PING") == "PONG"
    t0 = time.monotonic()
    read_until_closed(idle.sock, 5)
    assert 0.9 <= time.monotonic() - t0 < 3.0
    # Blocked for 2.5 s (longer than the timeout): answered, and still usable.
    blocked = srv.plain_client(socket_timeout=10)
    assert blocked.blpop("nothing-here", timeout=2.5) is None
    assert blocked.ping()
    # Subscribed and silent for 2.5 s: still receives.
    sub = srv.plain_client(socket_timeout=10).pubsub()
    sub.subscribe("news")
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    time.sleep(2.5)  # the thing under test is what happens over time with no traffic
    srv.plain_client().publish("news", "hello")
    msg = sub.get_message(timeout=5)
    assert msg and msg["data"] == "hello", msg
    assert info_stat(srv, "client_idle_timeouts") >= 1


# ---- handshake and first-request deadlines: a slowloris --------------------------------------

def test_slowloris_connections_are_closed_at_their_deadlines_while_others_are_served(
        stratus_factory):
    srv = stratus_factory("--handshake-timeout", "1000", "--auth-timeout", "2000",
                          "--maxclients", "5000")
    healthy = srv.client()
    healthy.set("k", "v")
    stop = threading.Event()
    errors, latencies = [], []

    def serve_healthy():
        while not stop.is_set():
            t = time.perf_counter()
            try:
                assert healthy.get("k") == "v"
            except Exception as e:  # noqa: BLE001 - recorded and asserted below
                errors.append(repr(e))
            latencies.append(time.perf_counter() - t)

    th = threading.Thread(target=serve_healthy)
    th.start()
    try:
        # 1,000 TLS handshakes that never finish (a byte of ClientHello at a time), and 1,000
        # plaintext clients dribbling a command without ever authenticating.
        conns = []  # (socket, kind, connected at)
        for i in range(2000):
            port = srv.port if i % 2 == 0 else srv.plaintext_port
            s = socket.create_connection((srv.host, port))
            s.setblocking(False)
            conns.append((s, "tls" if i % 2 == 0 else "plain", time.monotonic()))
        hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64
        dribble = b"*1\r\n$4\r\nPI"
        sent = {}
        closed = {}
        said = {}
        poller = select.poll()
        by_fd = {}
        for idx, (s, _, _) in enumerate(conns):
            poller.register(s.fileno(), select.POLLIN)
            by_fd[s.fileno()] = idx

        def gone(idx, when):
            closed[idx] = when
            poller.unregister(conns[idx][0].fileno())

        end = time.monotonic() + 15
        while len(closed) < len(conns) and time.monotonic() < end:
            now = time.monotonic()
            for idx, (s, kind, at) in enumerate(conns):
                if idx in closed:
                    continue
                n = sent.get(idx, 0)
                payload = hello if kind == "tls" else dribble
                if n < len(payload) and now - at >= n * 0.4:  # a byte every 0.4 s
                    try:
                        s.send(payload[n:n + 1])
                        sent[idx] = n + 1
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        gone(idx, now)
            for fd, _ in poller.poll(50):
                idx = by_fd[fd]
                if idx in closed:
                    continue
                try:
                    data = conns[idx][0].recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                if data:
                    said[idx] = said.get(idx, b"") + data
                else:
                    gone(idx, time.monotonic())
        assert len(closed) == len(conns), f"{len(conns) - len(closed)} slowloris still open"
        for idx, (s, kind, at) in enumerate(conns):
            took = closed[idx] - at
            deadline = 1.0 if kind == "tls" else 2.0
            assert deadline - 0.05 <= took <= deadline + 1.5, (kind, took)
            if kind == "plain":
                assert said.get(idx, b"").startswith(b"-ERR authentication timeout"), said.get(idx)
            s.close()
    finally:
        stop.set()
        th.join(30)
    assert not errors, errors[:5]
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    print(f"healthy client during the slowloris: {len(latencies)} GETs, "
          f"p50 {latencies[len(latencies) // 2] * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms")
    assert p99 < 1.0  # no stall; the 2x-baseline figure is measured in bench/hostile
    assert info_stat(srv, "client_auth_timeouts") >= 1000


# ---- output buffer limit ---------------------------------------------------------------------

def test_a_client_that_never_reads_is_disconnected_at_the_output_limit(stratus_factory):
    srv = stratus_factory("--client-output-limit", "32mb", "--replicas", "0")
    healthy = srv.plain_client()
    healthy.set("big", "x" * 100_000)
    base = rss_kb(srv.pid)
    hostile = srv.raw_plain()
    hostile.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hostile.sock.sendall(encode("GET", "big") * 10_000)  # 1 GB of replies, never read
    deadline_poll(lambda: info_stat(srv, "client_output_buffer_limit_disconnections") == 1,
                  timeout=30, what="the hostile client disconnected")
    peak = rss_kb(srv.pid)
    assert healthy.get("big") == "x" * 100_000
    # Bounded: the limit and the replies in flight when it was hit, not 1 GB.
    if "/address/" not in os.path.realpath(STRATUS_BIN):  # ASan's quarantine holds freed memory
        assert peak - base < 600_000, (base, peak)
    print(f"RSS {base} KB before, {peak} KB once the hostile client was cut off")
    # Gone from the server's side at once (its socket may take long to drain the bytes the
    # kernel still holds for it: it reads nothing, through a 4 KB window).
    port = hostile.sock.getsockname()[1]
    assert not [c for c in healthy.client_list() if c["addr"].endswith(f":{port}")]
    assert srv.log_text().count("over the output limit") == 1


def test_a_client_reading_a_reply_bigger_than_the_limit_keeps_up_and_is_served(stratus_factory):
    srv = stratus_factory("--client-output-limit", "1mb")
    r = srv.plain_client(decode_responses=False)
    r.set("blob", b"y" * 300_000)
    for _ in range(20):  # it reads: never over the limit for long
        assert len(r.get("blob")) == 300_000
    assert info_stat(srv, "client_output_buffer_limit_disconnections") == 0


# ---- AUTH brute force ------------------------------------------------------------------------

def test_failed_auth_is_throttled_per_address_and_no_password_reaches_a_log(stratus_factory):
    srv = stratus_factory("--auth-failures-per-minute", "60", "--log-level", "debug")
    admin = srv.plain_client()
    admin.execute_command("ACL", "SETUSER", "app", "on", ">app-secret-7731", "~*", "+@all")
    guesses = [f"guess-{i}-x91" for i in range(60)]
    attacker = srv.raw_plain(auth=False)
    for g in guesses:
        assert str(attacker.call("AUTH", "default", g)).startswith("WRONGPASS")
    # The budget is spent: refused without a check, even the right password.
    r = str(attacker.call("AUTH", "default", srv.password))
    assert r.startswith("ERR too many failed AUTH attempts from 127.0.0.1"), r
    r = attacker.call("HELLO", "3", "AUTH", "app", "app-secret-7731")
    assert str(r).startswith("ERR too many failed AUTH attempts"), r
    # Another address is not affected.
    other = socket.socket()
    other.bind(("127.0.0.2", 0))
    other.connect((srv.host, srv.plaintext_port))
    other.sendall(encode("AUTH", "app", "app-secret-7731"))
    assert other.recv(100) == b"+OK\r\n"
    other.close()
    # A connection already authenticated goes on.
    assert admin.ping()
    # The budget refills (one a second here): the right password works again.
    deadline_poll(lambda: attacker.call("AUTH", "default", srv.password) == "OK", timeout=10,
                  what="AUTH allowed again")
    assert info_stat(srv, "auth_throttled") >= 2
    # No password, right or wrong, in the endpoint's log or any engine's.
    logs = [srv.log_text()]
    for p in srv.data_dir.rglob("*.log"):
        logs.append(p.read_text(errors="replace"))
    text = "\n".join(logs)
    assert "spent its budget of failed AUTH attempts" in text
    for secret in guesses + [srv.password, "app-secret-7731"]:
        assert secret not in text, f"{secret} written to a log"
