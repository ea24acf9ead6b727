"""The seeds' three workloads, end to end over TLS on a 3-shard cache, written the way their
applications write them: a session store (seed 000), a fixed-window counter and a sliding-window
rate limiter (seed 003, Arcjet), and a Redis Streams queue with a consumer group and blocking
consumers plus BLPOP workers (seed 004)."""

import threading
import time
import uuid


from conftest import module_stratus_each_size

srv = module_stratus_each_size()

SLIDING_WINDOW = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return 1
end
return 0
"""


def test_session_store(r):
    """SET EX on login, GET on each request, sliding TTL with EXPIRE, DEL on logout."""
    sessions = {f"session:{uuid.uuid4().hex}": f"user-{i}" for i in range(200)}
    for sid, user in sessions.items():
        assert r.set(sid, user, ex=1800)
    for sid, user in sessions.items():
        assert r.get(sid) == user
        assert r.expire(sid, 3600)  # the request slides the session
        assert 3500 < r.ttl(sid) <= 3600
    gone = list(sessions)[:50]
    assert r.delete(*gone) == 50  # logout of many sessions at once, across slots
    assert r.mget(gone[:3] + list(sessions)[60:62]) == [None] * 3 + [sessions[k] for k in list(sessions)[60:62]]


def test_fixed_window_counter(r):
    """INCR + EXPIRE per client per window, in one transaction, as rate-limit libraries do."""
    key = f"rl:fixed:{{client-{uuid.uuid4().hex[:8]}}}:{int(time.time()) // 60}"
    counts = []
    for _ in range(12):
        p = r.pipeline(transaction=True)
        p.incr(key)
        p.expire(key, 60)
        counts.append(p.execute()[0])
    assert counts == list(range(1, 13))
    assert [c <= 10 for c in counts].count(True) == 10  # 10 allowed, 2 limited
    assert 0 < r.ttl(key) <= 60


def test_sliding_window_limiter_in_lua(r):
    """A sorted set per client, trimmed and checked atomically by a script (EVALSHA)."""
    limiter = r.register_script(SLIDING_WINDOW)
    key = f"rl:sliding:{uuid.uuid4().hex[:8]}"
    now = int(time.time() * 1000)
    allowed = [limiter(keys=[key], args=[now + i, 1000, 5, f"req-{i}"]) for i in range(8)]
    assert allowed == [1, 1, 1, 1, 1, 0, 0, 0]
    later = now + 2000  # the window has slid past every earlier request
    assert limiter(keys=[key], args=[later, 1000, 5, "req-late"]) == 1
    assert r.zcard(key) == 1


def test_streams_queue_with_consumer_group(srv, r):
    """Producers XADD; two consumers in XREADGROUP BLOCK share the work; XACK; a crashed
    consumer's pending job is taken over with XAUTOCLAIM."""
    stream = f"queue:{{jobs-{uuid.uuid4().hex[:6]}}}"
    r.xgroup_create(stream, "workers", id="$", mkstream=True)
    done, lock = [], threading.Lock()
    stop = threading.Event()

    def consumer(name):
        c = srv.client()
        while not stop.is_set():
            res = c.xreadgroup("workers", name, {stream: ">"}, count=5, block=500)
            for _, entries in res or []:
                for msg_id, fields in entries:
                    with lock:
                        done.append((name, fields["job"]))
                    c.xack(stream, "workers", msg_id)
        c.close()

    threads = [threading.Thread(target=consumer, args=(f"c{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for i in range(60):
        r.xadd(stream, {"job": str(i)})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with lock:
            if len(done) == 60:
                break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(10)
    assert sorted(int(j) for _, j in done) == list(range(60)), "jobs lost or repeated"
    assert r.xpending(stream, "workers")["pending"] == 0

    # A consumer reads a job and dies without XACK: another claims it after its idle time.
    r.xadd(stream, {"job": "orphan"})
    crashed = srv.client()
    got = crashed.xreadgroup("workers", "crashed", {stream: ">"}, count=1, block=1000)
    crashed.close()
    orphan_id = got[0][1][0][0]
    time.sleep(0.2)
    claimed = r.xautoclaim(stream, "workers", "rescuer", min_idle_time=100, start_id="0-0")
    assert [m[0] for m in claimed[1]] == [orphan_id]
    assert r.xack(stream, "workers", orphan_id) == 1


def test_blpop_workers(srv, r):
    """Workers loop on BLPOP; producers push; every job is taken exactly once."""
    queue = f"q:{uuid.uuid4().hex[:8]}"
    taken, lock = [], threading.Lock()

    def worker():
        c = srv.client()
        while True:
            item = c.blpop(queue, 2)
            if item is None:
                break
            with lock:
                taken.append(item[1])
        c.close()

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for w in workers:
        w.start()
    for i in range(200):
        r.rpush(queue, f"job-{i}")
    for w in workers:
        w.join(30)
    assert sorted(taken) == sorted(f"job-{i}" for i in range(200))
    assert r.llen(queue) == 0
