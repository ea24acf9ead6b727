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
