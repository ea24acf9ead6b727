"""Pub/Sub through the endpoint on a 3-shard cache: a subscriber sees what any connection
publishes, whatever slot the channel hashes to; patterns, unsubscribe, RESP2 subscribed-mode
rules and RESP3 pushes work as on Redis; a subscriber that never reads is cut off instead of
growing the endpoint's memory."""

import time


from conftest import deadline_poll, encode, module_stratus_each_size

srv = module_stratus_each_size("--replicas", "0")

CHANNELS = [f"news:{i}" for i in range(12)]  # spread over many slots, so over every shard


def _messages(ps, n, timeout=10):
    out, end = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        m = ps.get_message(timeout=0.2)
        if m and m["type"] in ("message", "pmessage"):
            out.append(m)
    return out


def test_subscriber_gets_every_publish_whatever_the_shard(srv):
    sub, pub = srv.client(), srv.client()
    ps = sub.pubsub()
    ps.subscribe(*CHANNELS)
    confirmations = [ps.get_message(timeout=5) for _ in CHANNELS]
    assert [c["type"] for c in confirmations] == ["subscribe"] * len(CHANNELS)
    for ch in CHANNELS:
        assert pub.publish(ch, f"hello {ch}") == 1
    got = _messages(ps, len(CHANNELS))
    assert sorted(m["channel"] for m in got) == sorted(CHANNELS)
    assert all(m["data"] == f"hello {m['channel']}" for m in got)
    ps.close()


def test_pattern_subscription(srv):
    sub, pub = srv.client(), srv.client()
    ps = sub.pubsub()
    ps.psubscribe("alerts:*")
    assert ps.get_message(timeout=5)["type"] == "psubscribe"
    pub.publish("alerts:disk", "90%")
    pub.publish("other:disk", "ignored")
    got = _messages(ps, 1)
    assert got and got[0]["pattern"] == "alerts:*" and got[0]["data"] == "90%"
    assert _messages(ps, 1, timeout=0.5) == []
    ps.close()


def test_pubsub_introspection(srv):
    sub, pub = srv.client(), srv.client()
    ps = sub.pubsub()
    ps.subscribe("intro:a", "intro:b")
    ps.psubscribe("intro:*")
    for _ in range(3):
        ps.get_message(timeout=5)
    deadline_poll(lambda: set(pub.pubsub_channels("intro:*")) == {"intro:a", "intro:b"}, 5,
                  what="PUBSUB CHANNELS to list the subscriptions")
    assert dict(pub.pubsub_numsub("intro:a", "intro:none")) == {"intro:a": 1, "intro:none": 0}
    assert pub.pubsub_numpat() >= 1
    ps.close()


def test_resp2_subscribed_mode_rules_and_leaving_it(srv):
    c = srv.raw_tls()
    c.send(encode("SUBSCRIBE", "mode:a", "mode:b"))
    assert c.read_reply() == [b"subscribe", b"mode:a", 1]
    assert c.read_reply() == [b"subscribe", b"mode:b", 2]
    c.send(encode("GET", "k"))
    err = c.read_reply()
    assert isinstance(err, Exception) and "only (P|S)SUBSCRIBE" in str(err), err
    c.send(encode("PING"))
    assert c.read_reply() == [b"pong", b""]
    c.send(encode("UNSUBSCRIBE"))
    replies = [c.read_reply(), c.read_reply()]
    assert sorted(r[1] for r in replies) == [b"mode:a", b"mode:b"]
    assert replies[-1][2] == 0
    assert c.call("SET", "mode:k", "v") == "OK"  # back to normal commands
    assert c.call("GET", "mode:k") == b"v"
    c.close()


def test_resp3_pushes(srv):
    c = srv.raw_tls(auth=False)
    c.call("HELLO", "3", "AUTH", "default", srv.password)
    c.send(encode("SUBSCRIBE", "push:ch"))
    c.send(b"")
    first = c._line()
    assert first == b">3", first  # a RESP3 push, not an array
    pub = srv.client()
    assert pub.publish("push:ch", "data") == 1
    c.close()


def test_slow_subscriber_is_cut_off_and_others_keep_going(srv):
    slow = srv.raw_tls()
    slow.send(encode("SUBSCRIBE", "flood"))
    pub = srv.client()
    deadline_poll(lambda: pub.pubsub_numsub("flood")[0][1] == 1, 5, what="the subscription")
    payload = "x" * 65536
    t0 = time.monotonic()
    cut = False
    for _ in range(2000):  # up to 128 MB, never read by the subscriber
        if pub.publish("flood", payload) == 0:
            cut = True
            break
    assert cut, "a subscriber that never reads was never cut off"
    assert pub.ping() and pub.set("after:flood", "ok") and pub.get("after:flood") == "ok"
    print(f"slow subscriber cut off after {time.monotonic() - t0:.2f} s")
    slow.close()
