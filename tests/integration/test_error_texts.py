"""Error texts as Redis 7.0 words them, checked against a plain redis-server started by the test:
every container command's unknown subcommand (the container named in capitals, as typed), and
commands whose own code checks their argument count (PING)."""

import pytest
import redis

from conftest import module_stratus

srv = module_stratus()

# Containers the endpoint answers or routes; each with a subcommand nobody has.
CONTAINERS = ["CLIENT", "client", "Config", "CLUSTER", "SCRIPT", "FUNCTION", "OBJECT", "MEMORY",
              "LATENCY", "SLOWLOG", "PUBSUB", "XINFO", "ACL", "COMMAND"]


def error_of(c, *args):
    try:
        c.execute_command(*args)
    except redis.ResponseError as e:
        return str(e)
    return None


@pytest.fixture(scope="module")
def both(plain, srv):
    p = redis.Redis(unix_socket_path=plain, decode_responses=True)
    s = srv.client()
    yield p, s
    p.close()
    s.close()


@pytest.mark.parametrize("container", CONTAINERS)
def test_unknown_subcommand_is_worded_as_redis(both, container):
    p, s = both
    for sub in ("NOSUCHSUB", "x" * 200):  # Redis cuts the name at 128 characters
        want = error_of(p, container, sub)
        assert want and want.startswith("unknown subcommand"), want
        assert error_of(s, container, sub) == want


def test_ping_takes_at_most_one_argument(both):
    p, s = both
    want = error_of(p, "PING", "a", "b")
    assert want == "wrong number of arguments for 'ping' command"
    assert error_of(s, "PING", "a", "b") == want
    assert s.execute_command("PING", "a") == p.execute_command("PING", "a")


def _raw_plain_redis(sock_path):
    """A RawConn to the plain redis-server's unix socket (no AUTH there)."""
    import socket

    from conftest import RawConn
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    return RawConn(s, 10)


@pytest.mark.parametrize("cmd", [("SAVE",), ("SHUTDOWN", "NOSAVE")])
def test_no_multi_commands_are_refused_inside_multi_as_redis_does(plain, srv, cmd):
    """Redis's no_multi commands get its own words inside MULTI, and the EXEC aborts."""
    replies = []
    for c in (_raw_plain_redis(plain), srv.raw_tls()):
        assert c.call("MULTI") == "OK"
        err = c.call(*cmd)
        ex = c.call("EXEC")
        replies.append((str(err), str(ex)))
        c.close()
    assert replies[0] == replies[1]
    assert replies[0][0] == "ERR Command not allowed inside a transaction"


@pytest.mark.parametrize("proto", [2, 3])
def test_pubsub_frames_arrive_under_client_reply_off(plain, srv, proto):
    """CLIENT REPLY OFF silences replies, not pub/sub: subscription confirmations and messages
    still arrive, in RESP2 and RESP3 alike (pubsub.tcl "PubSub messages with CLIENT REPLY
    OFF")."""
    seen = []
    for sub, pub in ((_raw_plain_redis(plain), _raw_plain_redis(plain)),
                     (srv.raw_tls(), srv.raw_tls())):
        if proto == 3:
            sub.call("HELLO", "3")
        sub.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n")
        sub.send(b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
        frames = [sub.read_reply()]
        sub.send(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$3\r\nch*\r\n")
        frames.append(sub.read_reply())
        assert pub.call("PUBLISH", "ch", "hello") == 2
        frames += [sub.read_reply(), sub.read_reply()]
        sub.send(b"*2\r\n$11\r\nUNSUBSCRIBE\r\n$2\r\nch\r\n")
        frames.append(sub.read_reply())
        seen.append([list(f) for f in frames])
        sub.close()
        pub.close()
    assert seen[0] == seen[1]
    assert seen[0][2] == [b"message", b"ch", b"hello"]
