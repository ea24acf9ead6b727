"""Blocked clients cannot lock out new ones (issue 16): each blocked client holds two file
descriptors (its socket and a private engine link), so the open-file limit is raised to what the
settings need, the private links get what is left once every client could connect, one ACL user
may hold only its share of them, and a blocking command over the budget gets a clear -ERR."""

import re
import selectors
import socket
import time

import pytest
import redis

from conftest import deadline_poll, encode

USER, PASSWORD = "lowpriv", "pw"


def open_blocked(host, port, n, user, password, key, batch=500):
    """n plaintext connections of `user`, each AUTH then BLPOP key 0; returns (socks, replies)
    where replies[i] is what connection i got so far (b"" while it is blocked)."""
    socks, replies = [], []
    sel = selectors.DefaultSelector()
    hello = encode("AUTH", user, password) + encode("BLPOP", key, 0)
    for start in range(0, n, batch):
        opened = []
        for _ in range(min(batch, n - start)):
            s = socket.create_connection((host, port), timeout=30)
            s.sendall(hello)
            s.setblocking(False)
            opened.append(s)
        # Each one's AUTH is answered before the next batch connects (the listen backlog).
        pending = {s.fileno(): (len(socks) + i, s) for i, s in enumerate(opened)}
        socks.extend(opened)
        replies.extend(b"" for _ in opened)
        for s in opened:
            sel.register(s, selectors.EVENT_READ)
        end = time.monotonic() + 60
        while pending and time.monotonic() < end:
            for keyobj, _ in sel.select(timeout=1):
                i, s = pending.get(keyobj.fd, (None, None))
                if s is None:
                    continue
                data = s.recv(4096)
                replies[i] += data
                if replies[i].startswith(b"+OK\r\n"):
                    pending.pop(keyobj.fd)
                    sel.unregister(s)
        assert not pending, f"{len(pending)} connection(s) of batch {start} got no AUTH reply"
    return socks, replies, sel


def settle(socks, replies, wait_s=5.0):
    """Reads what the server sends the connections within wait_s (refusals come at once)."""
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        for keyobj, _ in sel.select(timeout=0.2):
            try:
                data = keyobj.fileobj.recv(65536)
            except BlockingIOError:
                continue
            replies[keyobj.data] += data
    sel.close()


def test_ten_thousand_blocked_clients_leave_room_for_new_ones(stratus_factory):
    n = 10000
    inst = stratus_factory("--maxclients", str(n + 100), "--replicas", "0")
    log = inst.log_text()
    m = re.search(r"open file limit (\d+): up to (\d+) clients, (\d+) of them in blocking "
                  r"commands \((\d+) per ACL user\)", log)
    assert m, log[-2000:]
    limit, clients, blocking, per_user = map(int, m.groups())
    print(f"open file limit {limit}: {clients} clients, {blocking} blocking, {per_user} per user")
    assert clients == n + 100
    # The limit is raised as far as the hard limit allows (this machine's may be 20,000): the
    # private links get what is left once every client could be connected.
    assert blocking == min(clients, limit - 1024 - clients)
    assert per_user == blocking - blocking // 10
    r = inst.client()
    r.set("ready", 1)  # past the new primary's writable delay: the commands below run at once
    r.acl_setuser(USER, enabled=True, passwords=["+" + PASSWORD], keys=["q:*"],
                  commands=["+blpop", "+lpush", "+ping"])
    t0 = time.monotonic()
    socks, replies, sel = open_blocked(inst.host, inst.plaintext_port, n, USER, PASSWORD, "q:1")
    settle(socks, replies, wait_s=3.0)
    took = time.monotonic() - t0
    refused = [x for x in replies if b"too many clients of user 'lowpriv'" in x]
    blocked = [x for x in replies if x == b"+OK\r\n"]
    other = [x for x in replies if x not in refused and x not in blocked]
    print(f"{n} connections of one user in {took:.1f} s: {len(blocked)} blocked, "
          f"{len(refused)} refused with the per-user error, {len(other)} other")
    assert not other, other[:3]
    assert len(refused) == n - per_user
    assert len(blocked) == per_user
    try:
        # A new client connects and is served, and may block too (the share left to others).
        fresh = inst.client()
        assert fresh.ping()
        fresh.set("k", "v")
        assert fresh.get("k") == "v"
        admin = inst.plain_client(socket_timeout=30)
        assert admin.blpop("admin:q", timeout=0.2) is None
        info = fresh.info("clients")
        assert info["connected_clients"] >= n
        fresh.close()
        admin.close()
        # The blocked ones are still served: a push wakes one of them.
        assert r.lpush("q:1", "job") == 1
        deadline_poll(lambda: r.llen("q:1") == 0, 10, what="a blocked client to pop the job")
    finally:
        for s in socks:
            s.close()
        sel.close()
    assert "Too many open files" not in inst.log_text()


def test_per_user_share_and_cache_limit(stratus_factory):
    inst = stratus_factory("--max-blocking-clients", "12", "--max-blocking-per-user", "8",
                           "--replicas", "0")
    r = inst.client()
    r.set("ready", 1)  # past the new primary's writable delay: the commands below run at once
    for u in ("a", "b"):
        r.acl_setuser(u, enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
                      commands=["+@all"])
    a_socks, a_replies, a_sel = open_blocked(inst.host, inst.plaintext_port, 10, "a", "pw", "x")
    settle(a_socks, a_replies, 1.0)
    assert a_replies.count(b"+OK\r\n") == 8
    refusals = [x for x in a_replies if x != b"+OK\r\n"]
    assert len(refusals) == 2 and all(
        x.startswith(b"+OK\r\n-ERR too many clients of user 'a' in blocking commands") and
        b"(each user may hold 8 of its 12, --max-blocking-per-user)" in x for x in refusals), refusals
    b_socks, b_replies, b_sel = open_blocked(inst.host, inst.plaintext_port, 6, "b", "pw", "y")
    settle(b_socks, b_replies, 1.0)
    assert b_replies.count(b"+OK\r\n") == 4  # 12 in all
    assert all(b"(limit 12, --max-blocking-clients)" in x for x in b_replies if x != b"+OK\r\n")
    # Subscriptions hold private links too, under the same budget (all 12 are held now).
    ua = redis.Redis(host=inst.host, port=inst.plaintext_port, username="a", password="pw",
                     socket_timeout=10)
    with pytest.raises(redis.ResponseError, match=r"\(limit 12, --max-blocking-clients\)"):
        ua.execute_command("SUBSCRIBE", "ch")
    ua.close()
    # Closing blocked clients gives their links back.
    for s in a_socks[:4]:
        s.close()
    ub = redis.Redis(host=inst.host, port=inst.plaintext_port, username="b", password="pw",
                     socket_timeout=10)
    deadline_poll(lambda: ub.blpop("y:free", timeout=0.1) is None, 10,
                  what="a freed private link for user b")
    ub.close()
    for s in a_socks + b_socks:
        s.close()
    a_sel.close()
    b_sel.close()
