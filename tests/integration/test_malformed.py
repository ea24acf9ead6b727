"""Bad input gets a clear error and a close, and never disturbs another client's requests."""

import pytest

from conftest import RespError, encode, module_stratus

srv = module_stratus()

# (payload, must the error say "Protocol error"?)
AFTER_AUTH = {
    "multibulk-length-not-a-number": (b"*abc\r\n", True),
    "multibulk-length-too-big": (b"*3000000000\r\n", True),
    "bulk-length-not-a-number": (b"*2\r\n$3\r\nGET\r\n$xyz\r\n", True),
    "bulk-length-negative": (b"*2\r\n$3\r\nGET\r\n$-7\r\n", True),
    "bulk-length-over-512mb": (b"*2\r\n$4\r\nECHO\r\n$600000000\r\n", True),
    "dollar-missing": (b"*1\r\nPING\r\n", True),
    "nested-array": (b"*1\r\n*1\r\n$4\r\nPING\r\n", True),
}

BEFORE_AUTH = {
    "eleven-arguments": (encode("AUTH", *["x"] * 10), False),
    "many-arguments-header-only": (b"*1000\r\n", False),
    "20kb-bulk": (b"*2\r\n$4\r\nECHO\r\n$20480\r\n" + b"a" * 20480 + b"\r\n", False),
    "20kb-bulk-header-only": (b"*2\r\n$4\r\nAUTH\r\n$20480\r\n", False),
    "20kb-inline": (b"A" * 20480, False),
    "bad-multibulk-before-auth": (b"*zz\r\n", True),
}


class Healthy:
    """An authenticated client with a command half-sent while another client misbehaves."""

    def __init__(self, srv):
        self.c = srv.raw_tls()
        assert self.c.call("SET", "healthy", "0") == "OK"
        self.n = 0
        self.pending = None

    def begin(self):
        if self.pending:  # an earlier test failed between begin() and finish()
            self.finish()
        self.n += 1
        self.pending = encode("INCR", "healthy")
        self.c.send(self.pending[:7])  # stop inside the first bulk

    def finish(self):
        rest, self.pending = self.pending[7:], None
        self.c.send(rest)
        assert self.c.read_reply() == self.n
        assert self.c.call("GET", "healthy") == str(self.n).encode()


@pytest.fixture(scope="module")
def healthy(srv):
    h = Healthy(srv)
    yield h
    h.c.close()


def _junk(srv, payload, auth, wants_protocol_error):
    c = srv.raw_tls(auth=auth)
    c.send(payload)
    data, closed = c.read_until_eof(timeout=5.0)
    c.close()
    assert data.startswith(b"-ERR") or data.startswith(b"-"), data[:200]
    if wants_protocol_error:
        assert b"Protocol error" in data, data[:200]
    assert closed, f"connection still open 5 s after the error {data[:200]!r}"
    assert data.count(b"\r\n") == 1, f"exactly one error line expected, got {data[:300]!r}"


@pytest.mark.parametrize("case", list(AFTER_AUTH), ids=list(AFTER_AUTH))
def test_malformed_after_auth(srv, healthy, case):
    payload, proto = AFTER_AUTH[case]
    healthy.begin()
    _junk(srv, payload, True, proto)
    healthy.finish()


@pytest.mark.parametrize("case", list(BEFORE_AUTH), ids=list(BEFORE_AUTH))
def test_limits_before_auth(srv, healthy, case):
    payload, proto = BEFORE_AUTH[case]
    healthy.begin()
    _junk(srv, payload, False, proto)
    healthy.finish()


def test_limits_do_not_apply_after_auth(srv):
    c = srv.raw_tls()
    args = []
    for i in range(30):
        args += [f"{{lim}}:{i}", str(i)]
    assert c.call("MSET", *args) == "OK"
    big = b"b" * (64 * 1024)
    assert c.call("SET", "bigval", big) == "OK"
    assert c.call("GET", "bigval") == big
    c.close()


def test_inline_commands_after_auth(srv):
    c = srv.raw_tls()
    c.send(b"PING\r\n")
    assert c.read_reply() == "PONG"
    c.send(b"SET inline-key inline-value\r\n")
    assert c.read_reply() == "OK"
    assert c.call("GET", "inline-key") == b"inline-value"
    c.close()


def test_error_after_valid_pipelined_commands_keeps_their_replies(srv):
    # Replies to the valid commands before the junk arrive first, then the error, then EOF.
    c = srv.raw_tls()
    c.send(encode("SET", "before-junk", "1") + encode("GET", "before-junk") + b"*1\r\n$x\r\n")
    assert c.read_reply() == "OK"
    assert c.read_reply() == b"1"
    err = c.read_reply()
    assert isinstance(err, RespError) and "Protocol error" in str(err), err
    data, closed = c.read_until_eof(timeout=5.0)
    assert data == b"" and closed
    c.close()


def test_wrong_arity_is_not_fatal(srv):
    c = srv.raw_tls()
    r = c.call("GET")
    assert isinstance(r, RespError) and "wrong number of arguments" in str(r).lower(), r
    r = c.call("SET", "only-key")
    assert isinstance(r, RespError), r
    assert c.call("PING") == "PONG"
    c.close()


def test_empty_multibulk_is_ignored(srv):
    c = srv.raw_tls()
    c.send(b"*0\r\n" + encode("PING"))
    assert c.read_reply() == "PONG"
    c.close()


def test_healthy_client_never_reconnected(healthy):
    # The same connection carried every request above.
    assert healthy.c.call("PING") == "PONG"
    assert not healthy.c.eof
