"""ACL's own commands, differentially against Redis 7.0 itself: the same ACL SETUSER rule sets go
to a plain `redis-server` and to a Stratus endpoint, and ACL GETUSER (every field), the ACL LIST
line and SETUSER's errors must be the same; the same denied commands and failed AUTHs must give
the same ACL LOG (every field but age-seconds and client-info, whose id=, addr= and user= are
checked). Redis lists single commands in its hash order, so a description's first word
(+@all / -@all) and everything before it are compared exactly and the rules after it as a set.
Also replays redis-py 4.3.4's test_acl_log and test_acl_getuser_setuser assertions.

Deliberate differences, checked as such: Stratus refuses selectors and "+cmd|firstarg" (with a
message naming the fix), its `default` user is the cache admin, and Stratus-only commands
(STRATUS ...) may appear in a description where Redis has no such command."""

import hashlib

import pytest
import redis

from conftest import IO_TIMEOUT, module_stratus

srv = module_stratus("--replicas", "0")


CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
              "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
              "dangerous", "connection", "transaction", "scripting"]

H = hashlib.sha256(b"passwd4").hexdigest()

# Rule sets applied to a fresh user on both servers (each one's outcome and user compared).
RULE_SETS = [
    [],
    ["reset"],
    ["-@all", "+@set", "+@hash", "-@geo"],
    ["+@all", "-@dangerous", "+info"],
    ["nocommands"],
    ["allcommands"],
    ["+@all", "-@all", "+@all", "-get"],
    ["allcommands", "-@all"],
    ["on", ">p1", ">p2", "<p1"],
    ["#" + H, ">passwd4", "!" + H],
    ["#" + H, "nopass"],
    ["nopass", ">again"],
    ["%RW~*", "~foo"],
    ["~*", "~foo"],
    ["allkeys", "%R~foo"],
    ["&*", "&foo"],
    ["allchannels", "resetchannels", "&a", "&b", "&a"],
    ["resetchannels", "&x", "allchannels"],
    ["%R~r:*", "%W~w:*", "~rw:*", "%R~w:*", "%W~r:*"],
    ["%wr~mixed:*", "%r~low"],
    ["%~foo"],
    ["%"],
    ["%R"],
    ["%RR~a"],
    ["%RX~a"],
    ["~a b"],
    ["&a\tb"],
    ["~a", "~*", "resetkeys", "~b"],
    ["+@nosuch"],
    ["+config|get|x"],
    ["+acl|cat|x"],
    ["+config|"],
    ["-config|"],
    ["+get|"],
    ["-get|x"],
    ["-select|0"],
    ["+select|0|1"],
    ["+|get"],
    ["+"],
    ["-@"],
    ["+config|nosuch"],
    ["foo"],
    ["#" + "A" * 64],
    ["#abc"],
    ["!" + H],
    ["<never-set"],
    ["", "on", ""],
    ["clearselectors"],
    ["-@all", "+acl", "+config", "-config|set"],
    ["+@all", "-client", "+client|id", "+client|setname"],
    ["+@all", "-client|kill"],
    ["+memory|doctor"],
    ["+memory|doctor", "+memory"],
    ["+@all", "+client|id"],
    ["+@all", "-memory|doctor"],
    ["+@all", "-memory"],
    ["-@all", "+@read", "-@fast"],
    ["+@all", "-@write", "+set"],
    ["on", "nopass", "skip-sanitize-payload", "~*", "&*", "+@all"],
    ["sanitize-payload", "off", "resetpass", ">x", "skip-sanitize-payload"],
    ["-@all", "+@slow", "+@fast", "-@admin"],
    ["+@all", "-@connection", "+ping"],
    ["-@all", "+@stream", "+@pubsub", "-xadd", "+xgroup|create"],
    ["-@all", "+@scripting", "-eval", "+@transaction"],
    ["+@all", "-@keyspace", "-@string", "+del"],
    ["+@ALL", "-@Set", "+GET", "+config|GET", "ON", "AllKeys"],
    ["-@all", "+@string", "-incr", "+acl", "+client|id", "+client|getname"],
    ["+@all", "~*", "-@string", "+incr", "-debug"],
    ["-@all", "+@list", "+@blocking", "-@write", "+rpush"],
    ["~k:*", "%R~r:*", "&ch:*", "+@all", "-flushall", "on", ">pw", "reset"],
] + [["+@all", "-@" + c] for c in CATEGORIES] + [["-@all", "+@" + c] for c in CATEGORIES]

# Refused by Stratus on purpose, accepted by Redis (checked for Stratus's message).
STRATUS_REFUSES = [
    (["-@all", "+select|0"], "Stratus does not support allowing one first argument"),
    (["+debug|object"], "Stratus does not support allowing one first argument"),
    (["(+get ~x)"], "selectors are not supported by Stratus"),
]


class Pair:
    """The same commands to plain Redis (p) and to Stratus (s), as the admin (default) user."""

    def __init__(self, sock, srv):
        self.sock = sock
        self.srv = srv
        self.p = redis.Redis(unix_socket_path=sock, decode_responses=True,
                             socket_timeout=IO_TIMEOUT)
        self.s = srv.client()
        self.compared = {"rule sets": 0, "getuser fields": 0, "list lines": 0, "errors": 0,
                         "log entries": 0}

    def both(self, *args):
        """Run args on both; each result is ("ok", reply) or ("err", message)."""
        out = []
        for c in (self.p, self.s):
            try:
                out.append(("ok", c.execute_command(*args)))
            except redis.exceptions.ResponseError as e:
                out.append(("err", str(e)))
        return out

    def user_clients(self, user, password):
        p = redis.Redis(unix_socket_path=self.sock, username=user, password=password,
                        decode_responses=True, socket_timeout=IO_TIMEOUT,
                        single_connection_client=True)
        s = redis.Redis(host=self.srv.host, port=self.srv.port, username=user, password=password,
                        ssl=True, ssl_ca_certs=self.srv.ca, decode_responses=True,
                        socket_timeout=IO_TIMEOUT, single_connection_client=True)
        return p, s

    def close(self):
        self.p.close()
        self.s.close()


@pytest.fixture(scope="module")
def pair(plain, srv):
    pr = Pair(plain, srv)
    yield pr
    c = pr.compared
    print(f"\nACL fidelity vs redis-server: {c['rule sets']} rule sets, {c['getuser fields']} "
          f"GETUSER fields, {c['list lines']} ACL LIST lines, {c['errors']} error texts, "
          f"{c['log entries']} ACL LOG entries compared")
    pr.close()


def stratus_only(word):
    """A rule naming a Stratus-only command (Redis has no STRATUS command)."""
    return word.lstrip("+-").split("|")[0] == "stratus"


def split_rules(text):
    """(words up to and including the first +@all/-@all, the set of rules after it)."""
    words = text.split(" ")
    for i, w in enumerate(words):
        if w in ("+@all", "-@all"):
            return words[: i + 1], {x for x in words[i + 1:] if not stratus_only(x)}
    return words, set()


def getuser_map(reply):
    return dict(zip(reply[0::2], reply[1::2])) if isinstance(reply, list) else reply


def assert_same_user(pair, name, where):
    gp, gs = pair.both("ACL", "GETUSER", name)
    assert gp[0] == gs[0] == "ok", (where, gp, gs)
    if gp[1] is None or gs[1] is None:
        assert gp[1] is None and gs[1] is None, (where, gp, gs)
        return
    up, us = getuser_map(gp[1]), getuser_map(gs[1])
    assert list(up) == list(us), (where, up, us)  # the same fields in the same order
    for field in up:
        if field == "commands":
            assert split_rules(up[field]) == split_rules(us[field]), (where, up[field], us[field])
        else:
            assert up[field] == us[field], (where, field, up[field], us[field])
        pair.compared["getuser fields"] += 1
    lines = []
    for c in (pair.p, pair.s):
        mine = [x for x in c.execute_command("ACL", "LIST") if x.startswith(f"user {name} ")]
        assert len(mine) == 1, (where, mine)
        lines.append(mine[0])
    assert split_rules(lines[0]) == split_rules(lines[1]), (where, lines)
    pair.compared["list lines"] += 1


@pytest.mark.parametrize("i", range(len(RULE_SETS)))
def test_setuser_getuser_list_match_redis(pair, i):
    rules = RULE_SETS[i]
    name = f"fid{i}"
    pair.both("ACL", "DELUSER", name)
    rp, rs = pair.both("ACL", "SETUSER", name, *rules)
    assert rp == rs, (rules, rp, rs)
    if rp[0] == "err":
        pair.compared["errors"] += 1
    assert_same_user(pair, name, rules)
    # The same rules again on the existing user (errors leave it unchanged).
    rp, rs = pair.both("ACL", "SETUSER", name, *rules)
    assert rp == rs, (rules, rp, rs)
    assert_same_user(pair, name, rules)
    pair.compared["rule sets"] += 1
    pair.both("ACL", "DELUSER", name)


def test_rules_accumulate_like_redis(pair):
    """One user changed step by step, compared after every step (Redis's acl.tcl sequences)."""
    steps = [
        ["reset", "+@all", "~*", "-@string", "+incr", "-debug"],
        ["reset", "+@string", "-incr", "+acl", "+client|id"],
        ["+memory|doctor"], ["+memory"], ["+@all", "+client|id"], ["-@all"],
        ["+@all", "-memory|doctor"], ["-memory"], ["+@hash", "-hset"], ["-@all", "+@set"],
        ["resetkeys", "%R~a", "%W~a", "~b"], ["resetchannels", "&x", "&y"], ["allchannels"],
        [">p", ">q", "<p"], ["nopass"], ["resetpass"], ["on"], ["off"],
    ]
    pair.both("ACL", "DELUSER", "acc")
    for rules in steps:
        rp, rs = pair.both("ACL", "SETUSER", "acc", *rules)
        assert rp == rs, (rules, rp, rs)
        assert_same_user(pair, "acc", rules)
    pair.both("ACL", "DELUSER", "acc")


@pytest.mark.parametrize("name", ["a a", "a\tb", "new\nline"])
def test_username_errors_match_redis(pair, name):
    rp, rs = pair.both("ACL", "SETUSER", name, "on")
    assert rp == rs and rp[0] == "err", (rp, rs)
    pair.compared["errors"] += 1


@pytest.mark.parametrize("rules,message", STRATUS_REFUSES)
def test_deliberate_refusals(pair, rules, message):
    rp, rs = pair.both("ACL", "SETUSER", "refused", *rules)
    assert rp[0] == "ok", rp
    assert rs[0] == "err" and message in rs[1], rs
    assert rs[1].startswith("Error in ACL SETUSER modifier '"), rs
    pair.both("ACL", "DELUSER", "refused")


def test_dryrun_matches_redis(pair):
    pair.both("ACL", "SETUSER", "dry", "reset", "on", "nopass", "+@all", "-client|kill",
              "~object:*", "resetchannels", "&news.*")
    for args in (["client", "kill", "id", "1"], ["get", "object:1"], ["get", "other"],
                 ["mset", "object:1", "v", "other", "w"], ["publish", "news.x", "m"],
                 ["publish", "sports", "m"], ["set", "object:2", "v"]):
        rp, rs = pair.both("ACL", "DRYRUN", "dry", *args)
        assert rp == rs, (args, rp, rs)
    pair.both("ACL", "DELUSER", "dry")


# ---- ACL LOG ---------------------------------------------------------------------------


def log_entries(client, *args):
    reply = client.execute_command("ACL", "LOG", *args)
    return [getuser_map(e) for e in reply]


def client_info_fields(text):
    return dict(f.split("=", 1) for f in text.split(" ") if "=" in f)


def assert_same_log(pair, *args):
    lp, ls = log_entries(pair.p, *args), log_entries(pair.s, *args)
    assert len(lp) == len(ls), (lp, ls)
    for ep, es in zip(lp, ls):
        assert list(ep) == list(es) == ["count", "reason", "context", "object", "username",
                                        "age-seconds", "client-info"], (ep, es)
        for field in ("count", "reason", "context", "object", "username"):
            assert ep[field] == es[field], (field, ep, es)
        age = float(es["age-seconds"])
        assert 0 <= age < 60, es
        fp, fs = client_info_fields(ep["client-info"]), client_info_fields(es["client-info"])
        for field in ("id", "addr", "user"):
            assert field in fs, es["client-info"]
        assert fp["user"] == fs["user"], (ep["client-info"], es["client-info"])
        pair.compared["log entries"] += 1
    return ls


def denied(fn):
    try:
        fn()
    except (redis.exceptions.ResponseError, redis.exceptions.AuthenticationError) as e:
        return str(e)
    raise AssertionError("expected a refusal")


def test_acl_log_matches_redis(pair):
    for c in (pair.p, pair.s):
        c.execute_command("ACL", "SETUSER", "antirez", "reset", ">foo", "on", "+set",
                          "~object:1234", "+eval", "+multi", "+exec", "resetchannels", "+publish",
                          "+client|id")
        c.execute_command("ACL", "LOG", "RESET")
    assert pair.both("ACL", "LOG") == [("ok", []), ("ok", [])]
    up, us = pair.user_clients("antirez", "foo")
    for u in (up, us):
        for _ in range(3):
            assert "'get' command" in denied(lambda: u.get("foo"))  # grouped: count 3
        assert "keys" in denied(lambda: u.set("somekeynotallowed", "1234"))
        assert "channels" in denied(lambda: u.publish("somechannelnotallowed", "m"))
        assert "'script|help' command" in denied(lambda: u.execute_command("SCRIPT", "HELP"))
        assert "'client|kill' command" in denied(
            lambda: u.execute_command("CLIENT", "KILL", "ID", "1"))
        u.execute_command("MULTI")
        assert "'incr' command" in denied(lambda: u.execute_command("INCR", "foo"))
        assert "keys" in denied(lambda: u.execute_command("SET", "other", "v"))
        assert "Transaction discarded" in denied(lambda: u.execute_command("EXEC"))
        assert "WRONGPASS" in denied(lambda: u.execute_command("AUTH", "antirez", "wrong"))
        assert "WRONGPASS" in denied(lambda: u.execute_command("AUTH", "nosuchuser", "x"))
        assert "WRONGPASS" in denied(lambda: u.execute_command("auth", "antirez", "wrong"))
        assert "WRONGPASS" in denied(
            lambda: u.execute_command("HELLO", "2", "AUTH", "antirez", "bad"))
    entries = assert_same_log(pair)
    assert len(entries) == 10  # ACL LOG's default count
    assert [(e["reason"], e["context"], e["object"], e["username"]) for e in entries[:5]] == [
        ("auth", "toplevel", "HELLO", "antirez"), ("auth", "toplevel", "auth", "antirez"),
        ("auth", "toplevel", "AUTH", "nosuchuser"), ("auth", "toplevel", "AUTH", "antirez"),
        ("key", "multi", "other", "antirez")]
    every = assert_same_log(pair, "100")
    assert len(every) == 11
    assert [(e["reason"], e["object"], e["count"]) for e in every[-6:]] == [
        ("command", "incr", 1), ("command", "client|kill", 1), ("command", "script|help", 1),
        ("channel", "somechannelnotallowed", 1), ("key", "somekeynotallowed", 1),
        ("command", "get", 3)]
    assert len(assert_same_log(pair, "2")) == 2
    assert assert_same_log(pair, "0") == []
    assert assert_same_log(pair, "-5") == []
    for args in (["x"], ["01"], ["1", "2"], ["+1"]):
        rp, rs = pair.both("ACL", "LOG", *args)
        assert rp == rs and rp[0] == "err", (args, rp, rs)
        pair.compared["errors"] += 1
    # A fresh, unauthenticated connection's failed AUTH: client-info says user=default.
    for c in (pair.p, pair.s):
        c.execute_command("ACL", "LOG", "RESET")
    fp = redis.Redis(unix_socket_path=pair.sock, decode_responses=True)
    fs = redis.Redis(host=pair.srv.host, port=pair.srv.port, ssl=True, ssl_ca_certs=pair.srv.ca,
                     decode_responses=True)
    for f in (fp, fs):
        denied(lambda: f.execute_command("AUTH", "ghost", "pw"))
        f.close()
    (entry,) = assert_same_log(pair)
    assert entry["username"] == "ghost" and entry["reason"] == "auth"
    assert pair.both("ACL", "LOG", "RESET") == [("ok", "OK"), ("ok", "OK")]
    assert pair.both("ACL", "LOG") == [("ok", []), ("ok", [])]
    up.close()
    us.close()


def test_acl_log_max_len_matches_redis(pair):
    """Redis's "ACL LOG entries are limited to a maximum amount" (CONFIG SET acllog-max-len)."""
    for c in (pair.p, pair.s):
        c.execute_command("ACL", "SETUSER", "antirez", "reset", ">foo", "on", "+set",
                          "~object:1234")
        c.execute_command("ACL", "LOG", "RESET")
        c.config_set("acllog-max-len", 5)
    up, us = pair.user_clients("antirez", "foo")
    try:
        for u in (up, us):
            for j in range(10):
                denied(lambda: u.set(f"obj:{j}", "123"))
        entries = assert_same_log(pair, "100")
        assert [e["object"] for e in entries] == [f"obj:{j}" for j in range(9, 4, -1)]
        assert pair.both("CONFIG", "GET", "acllog-max-len") == [
            ("ok", ["acllog-max-len", "5"])] * 2
    finally:
        for c in (pair.p, pair.s):
            c.config_set("acllog-max-len", 128)
            c.execute_command("ACL", "LOG", "RESET")
        up.close()
        us.close()


def test_log_is_empty_for_allowed_commands(pair):
    for c in (pair.p, pair.s):
        c.execute_command("ACL", "SETUSER", "fine", "reset", "on", ">pw", "+@all", "~*", "&*")
        c.execute_command("ACL", "LOG", "RESET")
    up, us = pair.user_clients("fine", "pw")
    for u in (up, us):
        u.set("k", "v")
        u.get("k")
        u.publish("c", "m")
        u.close()
    assert pair.both("ACL", "LOG") == [("ok", []), ("ok", [])]


# ---- redis-py 4.3.4's own tests (tests/test_commands.py), on both servers --------------


@pytest.mark.parametrize("which", ["redis", "stratus"])
def test_redis_py_acl_log(pair, which):
    r = pair.p if which == "redis" else pair.s
    username = "redis-py-user"
    r.acl_setuser(username, enabled=True, reset=True, commands=["+get", "+set", "+select"],
                  keys=["cache:*"], nopass=True)
    r.acl_log_reset()
    if which == "redis":
        user_client = redis.Redis(unix_socket_path=pair.sock, username=username,
                                  single_connection_client=True)
    else:
        user_client = redis.Redis(host=pair.srv.host, port=pair.srv.port, username=username,
                                  password="any", ssl=True, ssl_ca_certs=pair.srv.ca,
                                  single_connection_client=True)
    assert user_client.set("cache:0", 1)
    assert user_client.get("cache:0") == b"1"
    with pytest.raises(redis.exceptions.NoPermissionError):
        user_client.get("violated_cache:0")
    with pytest.raises(redis.exceptions.NoPermissionError):
        user_client.hset("cache:0", "hkey", "hval")
    assert isinstance(r.acl_log(), list)
    assert len(r.acl_log()) == 2
    assert len(r.acl_log(count=1)) == 1
    assert isinstance(r.acl_log()[0], dict)
    assert "client-info" in r.acl_log(count=1)[0]
    assert r.acl_log_reset()
    user_client.close()
    r.acl_deluser(username)


@pytest.mark.parametrize("which", ["redis", "stratus"])
def test_redis_py_acl_getuser_setuser(pair, which):
    r = pair.p if which == "redis" else pair.s
    username = "redis-py-user"
    assert r.acl_setuser(username, enabled=False, reset=True)
    acl = r.acl_getuser(username)
    assert acl["categories"] == ["-@all"]
    assert acl["commands"] == []
    assert acl["keys"] == []
    assert acl["passwords"] == []
    assert "off" in acl["flags"]
    assert acl["enabled"] is False

    assert r.acl_setuser(username, enabled=True, reset=True, nopass=True)
    acl = r.acl_getuser(username)
    assert acl["categories"] == ["-@all"]
    assert acl["commands"] == []
    assert acl["keys"] == []
    assert acl["passwords"] == []
    assert "on" in acl["flags"]
    assert "nopass" in acl["flags"]
    assert acl["enabled"] is True

    assert r.acl_setuser(username, enabled=True, reset=True, passwords=["+pass1", "+pass2"],
                         categories=["+set", "+@hash", "-geo"],
                         commands=["+get", "+mget", "-hset"], keys=["cache:*", "objects:*"])
    acl = r.acl_getuser(username)
    assert set(acl["categories"]) == {"-@all", "+@set", "+@hash"}
    assert set(acl["commands"]) == {"+get", "+mget", "-hset"}
    assert acl["enabled"] is True
    assert "on" in acl["flags"]
    assert set(acl["keys"]) == {"~cache:*", "~objects:*"}
    assert len(acl["passwords"]) == 2

    assert r.acl_setuser(username, enabled=True, reset=True, passwords=["+pass1"],
                         categories=["+@set"], commands=["+get"], keys=["cache:*"])
    assert r.acl_setuser(username, enabled=True, passwords=["+pass2"], categories=["+@hash"],
                         commands=["+mget"], keys=["objects:*"])
    acl = r.acl_getuser(username)
    assert set(acl["categories"]) == {"-@all", "+@set", "+@hash"}
    assert set(acl["commands"]) == {"+get", "+mget"}
    assert acl["enabled"] is True
    assert "on" in acl["flags"]
    assert set(acl["keys"]) == {"~cache:*", "~objects:*"}
    assert len(acl["passwords"]) == 2

    assert r.acl_setuser(username, enabled=True, reset=True, passwords=["+pass1", "+pass2"])
    assert len(r.acl_getuser(username)["passwords"]) == 2
    assert r.acl_setuser(username, enabled=True, passwords=["-pass2"])
    assert len(r.acl_getuser(username)["passwords"]) == 1

    hashed_password = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
    assert r.acl_setuser(username, enabled=True, reset=True,
                         hashed_passwords=["+" + hashed_password])
    acl = r.acl_getuser(username)
    assert acl["passwords"] == [hashed_password]

    assert r.acl_setuser(username, enabled=True, reset=True,
                         hashed_passwords=["+" + hashed_password], passwords=["+pass1"])
    assert len(r.acl_getuser(username)["passwords"]) == 2
    assert r.acl_setuser(username, enabled=True, hashed_passwords=["-" + hashed_password])
    assert len(r.acl_getuser(username)["passwords"]) == 1

    # The original's last part gives the user a selector: Stratus refuses selectors.
    kw = dict(enabled=True, reset=True, passwords=["+pass1", "+pass2"],
              categories=["+set", "+@hash", "-geo"], commands=["+get", "+mget", "-hset"],
              keys=["cache:*", "objects:*"], channels=["message:*"])
    if which == "redis":
        # redis-py 4.3.4 has no selectors= argument: the selector is sent as a raw rule.
        r.execute_command("ACL", "SETUSER", username, "reset", "on", ">pass1", ">pass2",
                          "+@set", "+@hash", "-@geo", "+get", "+mget", "-hset", "~cache:*",
                          "~objects:*", "&message:*", "(+set %W~app*)")
        assert r.acl_getuser(username)["selectors"] == [
            ["commands", "-@all +set", "keys", "%W~app*", "channels", ""]]
    else:
        with pytest.raises(redis.exceptions.ResponseError, match="selectors are not supported"):
            r.execute_command("ACL", "SETUSER", username, "(+set %W~app*)")
    assert r.acl_setuser(username, **kw)
    acl = r.acl_getuser(username)
    assert set(acl["categories"]) == {"-@all", "+@set", "+@hash"}
    assert set(acl["commands"]) == {"+get", "+mget", "-hset"}
    assert set(acl["channels"]) == {"&message:*"}
    r.acl_deluser(username)


def test_users_survive_a_restart_with_their_description(pair, srv):
    """Users are stored as their ACL LIST text: after a restart GETUSER and the line are the
    same. (Runs last: it restarts the module's instance.)"""
    c = srv.client()
    rules = ["on", ">pw", "+@all", "-@dangerous", "+info", "-client|kill", "%R~r:*", "%RW~*",
             "~w", "resetchannels", "&news", "skip-sanitize-payload"]
    c.execute_command("ACL", "SETUSER", "keeper", *rules)
    before = c.execute_command("ACL", "GETUSER", "keeper")
    line = [x for x in c.execute_command("ACL", "LIST") if x.startswith("user keeper ")]
    c.close()
    pair.s.close()
    srv.stop()
    srv.start()
    c = srv.client()
    assert c.execute_command("ACL", "GETUSER", "keeper") == before
    assert [x for x in c.execute_command("ACL", "LIST") if x.startswith("user keeper ")] == line
    c.close()
    pair.s = srv.client()
