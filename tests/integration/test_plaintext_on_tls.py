"""Seed 000: a client that forgets TLS gets a plaintext error naming TLS within 100 ms, never a hang."""

import socket
import threading
import time

import pytest

from conftest import IO_TIMEOUT, encode, module_stratus

srv = module_stratus()

LIMIT_S = 0.100


def _talk_plain(srv, payload):
    """Sends payload in plaintext to the TLS port; returns (reply bytes, seconds to first byte, closed)."""
    s = srv.raw_tcp_to_tls_port()
    try:
        t0 = time.monotonic()
        s.sendall(payload)
        s.settimeout(2.0)
        try:
            first = s.recv(4096)
            closed = not first
        except socket.timeout:
            return b"", time.monotonic() - t0, False
        except ConnectionResetError:
            first, closed = b"", True
        latency = time.monotonic() - t0
        data = first
        end = time.monotonic() + 2.0
        while not closed and time.monotonic() < end:
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
            data += chunk
        return data, latency, closed
    finally:
        s.close()


PAYLOADS = {
    "inline-ping": b"PING\r\n",
    "resp-ping": b"*1\r\n$4\r\nPING\r\n",
    "ioredis-auth": encode("AUTH", "default", "whatever"),
    "hello3": encode("HELLO", "3", "AUTH", "default", "x"),
    "redis-py-ping-no-crlf-yet": b"*1\r\n$4\r\nPI",
    "one-byte": b"*",
}


@pytest.mark.parametrize("payload", list(PAYLOADS.values()), ids=list(PAYLOADS))
def test_plaintext_gets_tls_error_fast_then_close(srv, payload):
    data, latency, closed = _talk_plain(srv, payload)
    assert data, (f"no reply at all: connection {'closed/reset' if closed else 'silent for 2 s'} "
                  f"after {latency * 1000:.1f} ms")
    assert data.startswith(b"-ERR"), data
    assert b"TLS" in data, data
    assert data.endswith(b"\r\n"), data
    assert latency < LIMIT_S, f"error took {latency * 1000:.1f} ms (limit {LIMIT_S * 1000:.0f} ms)"
    assert closed, "the connection was not closed after the error"
    print(f"plaintext-on-TLS error after {latency * 1000:.2f} ms: {data!r}")


def test_many_plaintext_clients_at_once_do_not_stall_tls(srv):
    errors, lat = [], []

    def one():
        try:
            data, latency, closed = _talk_plain(srv, b"*1\r\n$4\r\nPING\r\n")
            if not (b"TLS" in data and closed):
                errors.append(data)
            lat.append(latency)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(50)]
    for t in threads:
        t.start()
    r = srv.client()
    assert r.set("during-plaintext-storm", "ok")
    for t in threads:
        t.join(IO_TIMEOUT)
    assert not errors, errors[:5]
    assert r.get("during-plaintext-storm") == "ok"
    lat.sort()
    print(f"50 concurrent plaintext clients: p50 {lat[len(lat) // 2] * 1000:.2f} ms, "
          f"max {lat[-1] * 1000:.2f} ms")
    assert lat[-1] < 1.0


def test_tls_still_works_after_plaintext_attempts(srv):
    for _ in range(5):
        _talk_plain(srv, b"PING\r\n")
    assert srv.client().ping()


def test_silent_plaintext_client_does_not_block_others(srv):
    # A client that connects and says nothing must not hold up anyone else's handshake.
    idle = [srv.raw_tcp_to_tls_port() for _ in range(20)]
    try:
        t0 = time.monotonic()
        assert srv.client().ping()
        assert time.monotonic() - t0 < 2.0
    finally:
        for s in idle:
            s.close()


def test_plaintext_port_is_really_plaintext(srv):
    c = srv.raw_plain()
    assert c.call("PING") == "PONG"
    c.close()
