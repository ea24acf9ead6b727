"""ACL differential test (issue 16): the same (command, ACL user) cases run against the endpoint
and against a plain redis-server 7.0 started here, with the same users, the same data and the
same scripts and functions. Redis is the oracle: Stratus may never allow what Redis refuses
(looser), and may refuse what Redis runs (stricter) only for a reason written in the table.

Each case records one outcome per side: `ok` (any non-error reply), `denied` (an ACL refusal:
NOPERM, a script's "The user executing the script ...", SORT's "... denied due to insufficient
ACL permissions") or `error:<first word>` (ERR, CROSSSLOT, WRONGTYPE, Stratus's "is not
available on Stratus" ...). Verdicts:

- equal: same class (for `denied` the texts are compared too: "denied, text differs");
- both refused: neither side ran it, for different reasons (e.g. CLUSTER NODES in a script:
  plain Redis has no cluster, Stratus denies it);
- stricter: Redis ran it, Stratus refused; allowed only with the case's reason;
- differs: plain Redis gave a non-ACL error and Stratus answered (e.g. CLUSTER NODES, which the
  endpoint answers as a one-node cluster); allowed only with the case's reason;
- looser: Redis refused and Stratus ran it, or Redis refused and Stratus's data, functions,
  scripts, config or users then differ from Redis's (a denial that still wrote). Always a failure.

In the cases' names, "EVAL 0 GET other:1" is EVAL of a generic body (redis.call(unpack(ARGV)))
with no declared key and the command as arguments; EVALSHA runs the same body loaded by the admin;
"FCALL run 0 ..." and "FCALL_RO run_ro 0 ..." are its function twins, loaded by the admin.

A summary line and the stricter cases with their reasons are printed at the end; with
ACL_DIFF_REPORT=<file> the same is written there as JSON (the docs' figures come from it).
Most cases run on a 1-shard cache; scripts with undeclared keys, cross-slot commands, pub/sub and
keyspace subscriptions run on a 3-shard cache too.
"""

import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from conftest import (IO_TIMEOUT, RawConn, RespError, deadline_poll, encode, key_slot,
                      module_stratus)

srv = module_stratus("--replicas", "0")
srv3 = module_stratus("--shards", "3", "--replicas", "0")

PW = "pw-acl-diff"
CASE_TIMEOUT = 5.0  # a reply slower than this is a hang (blocking cases block for 0.1 s)

# ---- the users ----------------------------------------------------------------------------

PROFILES = {
    # The user: its own keys and channels, every command but the dangerous ones.
    "app": "~app:* &app:* +@all -@dangerous",
    # Mixed key permissions: app:* read-write, pub:* read-only, log:* write-only.
    "mixed": "~app:* %R~pub:* %W~log:* &app:* +@all -@dangerous",
    # Read-only user: every key for reading, read commands only, no channels.
    "reader": "%R~* resetchannels +@read",
    # Read-only keys, but allowed to run scripts and read-only functions.
    "roscript": "%R~* resetchannels +@read +eval +eval_ro +evalsha +evalsha_ro +fcall +fcall_ro",
    # Category users.
    "readcat": "~app:* resetchannels +@read",
    "writecat": "~app:* resetchannels +@write",
    "noscripting": "~app:* &app:* +@all -@scripting",
    # Single commands.
    "geteval": "~app:* resetchannels -@all +get +eval",
    "shaonly": "~app:* resetchannels -@all +evalsha",
    "fcallro": "~app:* resetchannels -@all +fcall_ro",
    # Full key access, no dangerous commands.
    "allkeys": "allkeys allchannels +@all -@dangerous",
    # Full key access and SORT (whose BY/GET patterns need full key access).
    "sortall": "allkeys resetchannels -@all +sort +sort_ro +get +eval",
    # Every command (dangerous ones too), restricted keys and channels.
    "allcmds": "~app:* &app:* +@all",
    # No channels at all.
    "nochan": "~app:* resetchannels +@all -@dangerous",
    # Channel patterns (PSUBSCRIBE compares patterns literally).
    "chan": "~app:* resetchannels &news.* &app:ch +@all -@dangerous",
    # Keyspace notifications of its own keys only.
    "kspace": "~app:* resetchannels &app:* &__keyspace@0__:app:* +@all -@dangerous",
    # ACL introspection.
    "acladm": "~app:* resetchannels -@all +acl +get",
}

# ---- the data both sides start every case with ------------------------------------------

SEED = [
    ("SET", "app:1", "v1"), ("SET", "app:2", "v2"), ("SET", "other:1", "secret"),
    ("SET", "other:2", "secret2"), ("SET", "pub:1", "public"), ("SET", "log:1", "l1"),
    ("SET", "app:n", "10"), ("SET", "log:n", "5"),
    ("SET", "app:{t}1", "t1"), ("SET", "app:{t}2", "t2"), ("SET", "other:{t}1", "tsecret"),
    ("RPUSH", "app:list", "a", "b", "c"), ("RPUSH", "other:list", "x", "y"),
    ("RPUSH", "pub:list", "p"), ("RPUSH", "log:list", "l"),
    ("RPUSH", "app:{t}list", "a", "b"), ("RPUSH", "other:{t}list", "x"),
    ("ZADD", "app:z", "1", "a", "2", "b"), ("ZADD", "other:z", "1", "x"),
    ("ZADD", "app:{t}z", "1", "a"), ("ZADD", "other:{t}z", "1", "x"),
    ("XADD", "app:s", "1-1", "f", "v"), ("XADD", "other:s", "1-1", "f", "secret"),
    ("XADD", "pub:s", "1-1", "f", "v"),
    ("XGROUP", "CREATE", "app:s", "g", "0"), ("XGROUP", "CREATE", "other:s", "g", "0"),
    ("XGROUP", "CREATE", "pub:s", "g", "0"),
    ("HSET", "app:h", "f", "v"), ("HSET", "other:h", "f", "secret"),
    ("SADD", "app:set", "a", "b"), ("SADD", "other:set", "b", "c"),
    ("SADD", "app:{t}set", "a"), ("SADD", "other:{t}set", "a", "x"),
    ("PFADD", "app:hll", "a", "b"), ("PFADD", "other:hll", "c"),
    ("GEOADD", "app:{t}geo", "13.361389", "38.115556", "palermo"),
    # SORT: a list and weights, with and without a hash tag.
    ("RPUSH", "app:sl", "3", "1", "2"), ("SET", "app:w_1", "30"), ("SET", "app:w_2", "20"),
    ("SET", "app:w_3", "10"),
    ("RPUSH", "app:{t}sl", "3", "1", "2"), ("SET", "app:{t}w_1", "30"),
    ("SET", "app:{t}w_2", "20"), ("SET", "app:{t}w_3", "10"),
]

# A generic script and function: run the command given as arguments, so one body serves every
# command of the table (EVAL and EVALSHA alike).
RUN_BODY = "return redis.call(unpack(ARGV))"
NOOP_BODY = "return 1"
RUN_SHA = hashlib.sha1(RUN_BODY.encode()).hexdigest()
NOOP_SHA = hashlib.sha1(NOOP_BODY.encode()).hexdigest()
ADMIN_LIB = """#!lua name=adminlib
redis.register_function('run', function(keys, args) return redis.call(unpack(args)) end)
redis.register_function{function_name='run_ro', flags={'no-writes'},
    callback=function(keys, args) return redis.call(unpack(args)) end}
redis.register_function('peek',
    function(keys, args) return redis.call('GET', keys[1] or args[1]) end)
redis.register_function{function_name='peek_ro', flags={'no-writes'},
    callback=function(keys, args) return redis.call('GET', keys[1] or args[1]) end}
redis.register_function('noop', function(keys, args) return 1 end)
redis.register_function{function_name='noop_ro', flags={'no-writes'},
    callback=function(keys, args) return 1 end}
"""
USER_LIB = """#!lua name=userlib
redis.register_function('ufn', function(keys, args) return redis.call('GET', 'other:1') end)
"""

# ---- reasons Stratus may refuse what plain Redis runs -----------------------------------

WHY_INFO = ("INFO reveals the engines' pids, ports and paths: not run for clients' scripts "
            "(a client's own INFO is answered by the endpoint)")
WHY_CLUSTER_SCRIPT = ("CLUSTER subcommands other than KEYSLOT/COUNTKEYSINSLOT/GETKEYSINSLOT/HELP "
                      "reveal the engines' cluster: not run for clients' scripts")
WHY_SLOWLOG = ("SLOWLOG GET shows the engine's view of client addresses: not run for clients' "
               "scripts")
WHY_ROLE = "ROLE reveals an engine's replication: not run for clients' scripts"
WHY_DESIGN = "refused by design: docs/commands.md"
WHY_ONE_DB = "a cache has one database (SELECT 0 only): docs/commands.md"
WHY_CLUSTER_MODE = ("the engines run as a Redis Cluster, which refuses this where a standalone "
                    "Redis runs it")
WHY_CLUSTER_VIEW = ("plain Redis has cluster support disabled; the endpoint answers CLUSTER as "
                    "one node owning every slot (docs/architecture.md, One node to every client)")
WHY_UNDECLARED = ("an undeclared key in a script: on a cache of several shards the script runs "
                  "on one engine, which reaches only its own slots (Redis Cluster's rule: "
                  "declare keys)")
WHY_ONE_SLOT = ("keys of one command must share a hash slot (Redis Cluster's rule, kept by the "
                "engines; docs/commands.md)")
WHY_CROSS_SHARD = ("one command's keys on two shards: a cache of several shards keeps Redis "
                   "Cluster's one-slot rule for this command (docs/commands.md)")


# ---- the table ----------------------------------------------------------------------------


@dataclass
class Case:
    area: str
    profile: str
    label: str
    action: object  # callable(ctx) -> reply (RespError for an error reply)
    reason: str = ""  # why Stratus may refuse what Redis runs
    reason3: str = ""  # the same, on the 3-shard cache only
    differs: str = ""  # why Stratus may answer where plain Redis gives a non-ACL error
    dirty: bool = False  # may change functions, scripts, config or users: reset them after
    three: bool = False  # also run on the 3-shard cache

    @property
    def id(self):
        return f"{self.area}/{self.profile}/{self.label}"


def _label(args):
    # The generic script body and its SHA are left out: "EVAL 0 GET other:1".
    out = " ".join(str(a) for a in args if a not in (RUN_BODY, RUN_SHA))
    return out if len(out) <= 70 else out[:67] + "..."


def cmd(*args):
    """The command on the profile's shared connection."""

    def run(ctx):
        return ctx.conn().call(*args)

    run.args = args
    return run


def fresh(*args):
    """The command on a connection of its own (subscribe, MONITOR, SELECT ...): first reply."""

    def run(ctx):
        c = ctx.fresh()
        try:
            return c.call(*args)
        finally:
            c.close()

    run.args = args
    return run


def seq(*cmds):
    """Commands in order on a connection of their own; the first error or the last reply."""

    def run(ctx):
        c = ctx.fresh()
        try:
            for x in cmds:
                r = c.call(*x)
                if isinstance(r, RespError):
                    return r
            return r
        finally:
            c.close()

    return run


def multi(*cmds, show):
    """MULTI, the commands, EXEC on a connection of their own. show: "queue" (the last command's
    queue-time reply), "exec" (EXEC's reply) or "result" (the last command's reply in EXEC's
    array, or EXEC's reply when it is not an array)."""

    def run(ctx):
        c = ctx.fresh()
        try:
            r = c.call("MULTI")
            if isinstance(r, RespError):
                return r
            queued = [c.call(*x) for x in cmds]
            ex = c.call("EXEC")
            if show == "queue":
                return queued[-1]
            if show == "result" and isinstance(ex, list) and ex:
                return ex[-1]
            return ex
        finally:
            c.close()

    return run


def keyspace_event(sub, trigger):
    """Subscribes (sub) on a connection of its own, has the admin run trigger, and returns the
    first message, or an error when none comes within 3 s."""

    def run(ctx):
        c = ctx.fresh()
        try:
            r = c.call(*sub)
            if isinstance(r, RespError):
                return r
            # The subscription may reach the other shards' engines just after the confirmation:
            # the admin repeats the trigger every 0.1 s until a message comes (3 s at most).
            end = time.monotonic() + 3
            c.sock.settimeout(0.1)
            while time.monotonic() < end:
                ctx.admin_call(*trigger)
                try:
                    return c.read_reply()
                except (socket.timeout, TimeoutError):
                    continue
            return RespError("TIMEOUT no keyspace message within 3 s")
        finally:
            c.close()

    return run


CASES = []


def add(area, profiles, action, label=None, **kw):
    for p in profiles:
        assert p in PROFILES, p
        CASES.append(Case(area, p, label or _label(action.args), action, **kw))


# -- direct commands on keys: the endpoint's own checks (key specs, read/write access) ------

KEY_PROFILES = ["app", "mixed", "reader", "readcat", "writecat", "allkeys", "allcmds", "geteval"]
for args in [
    ("GET", "app:1"), ("GET", "other:1"), ("SET", "app:1", "x"), ("SET", "other:1", "pwned"),
    ("DEL", "other:1"), ("EXISTS", "other:1"), ("TYPE", "other:1"), ("STRLEN", "other:1"),
    ("EXPIRE", "other:1", "100"), ("LPUSH", "other:list", "z"), ("LRANGE", "other:list", "0", "-1"),
    ("HGETALL", "other:h"), ("XRANGE", "other:s", "-", "+"),
    ("COPY", "app:{t}1", "other:{t}9"), ("COPY", "other:{t}1", "app:{t}9"),
    ("RENAME", "other:{t}1", "app:{t}9"),
    ("LMOVE", "app:{t}list", "other:{t}list", "LEFT", "RIGHT"),
    ("ZUNIONSTORE", "other:{t}z", "1", "app:{t}z"), ("SINTERSTORE", "app:{t}set", "other:{t}set"),
    ("BITOP", "AND", "other:{t}1", "app:{t}1"),
    ("GEORADIUS", "app:{t}geo", "15", "37", "200", "km", "STORE", "other:{t}geo"),
    ("GEOSEARCHSTORE", "other:{t}geo", "app:{t}geo", "FROMLONLAT", "15", "37", "BYRADIUS", "200",
     "km"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "other:s", ">"),
    ("OBJECT", "ENCODING", "other:1"), ("MEMORY", "USAGE", "other:1"),
    ("DUMP", "other:1"), ("TOUCH", "other:1"), ("GETDEL", "other:1"),
]:
    add("keys", KEY_PROFILES, cmd(*args))
# Commands whose keys are found by numkeys, keywords or a key-finding function in Redis.
for args in [
    ("XREAD", "STREAMS", "app:{t}s", "other:{t}s", "0", "0"),
    ("ZINTERCARD", "2", "app:{t}z", "other:{t}z"),
    ("ZUNION", "2", "app:{t}z", "other:{t}z"), ("SUNIONSTORE", "other:{t}set", "app:{t}set"),
    ("SMOVE", "app:{t}set", "other:{t}set", "a"), ("PFMERGE", "other:{t}hll", "app:{t}hll"),
    ("RENAMENX", "app:{t}1", "other:{t}9"), ("LMPOP", "2", "app:{t}list", "other:{t}list", "LEFT"),
    ("GEORADIUS", "app:{t}geo", "15", "37", "200", "km", "STOREDIST", "other:{t}geo"),
    ("GEORADIUSBYMEMBER", "app:{t}geo", "palermo", "10", "km", "STORE", "other:{t}geo"),
    ("XGROUP", "CREATE", "other:s", "g2", "0"), ("XINFO", "STREAM", "other:s"),
    ("XAUTOCLAIM", "other:s", "g", "c", "0", "0"), ("GETEX", "other:1", "PERSIST"),
    ("LPOS", "other:list", "x"), ("OBJECT", "FREQ", "other:1"),
]:
    add("keys", ["app", "mixed", "reader", "allkeys"], cmd(*args))
add("keys", ["app", "reader", "allkeys"], fresh("WATCH", "other:1"))

# Mixed read-only (%R~pub:*) and write-only (%W~log:*) keys: each command's key spec decides
# whether it needs read, write or either (Redis: a key spec without ACCESS/INSERT/DELETE/UPDATE
# needs any permission on the key).
for args in [
    ("GET", "pub:1"), ("SET", "pub:1", "x"), ("GET", "log:1"), ("SET", "log:1", "x"),
    ("APPEND", "log:1", "x"), ("APPEND", "pub:1", "x"), ("INCR", "log:n"), ("TYPE", "log:1"),
    ("EXISTS", "log:1"), ("STRLEN", "log:1"), ("GETRANGE", "log:1", "0", "-1"),
    ("TTL", "log:1"), ("EXPIRE", "pub:1", "100"), ("DEL", "pub:1"), ("DEL", "log:1"),
    ("GETDEL", "pub:1"), ("GETEX", "pub:1"), ("OBJECT", "ENCODING", "log:1"),
    ("MEMORY", "USAGE", "log:1"), ("LPUSH", "log:list", "x"), ("LPUSH", "pub:list", "x"),
    ("LPOP", "pub:list"), ("LRANGE", "log:list", "0", "-1"), ("XLEN", "pub:s"),
    ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "pub:s", ">"), ("DUMP", "log:1"),
    # SET and BITFIELD have variable key flags (Redis's setGetKeys/bitfieldGetKeys): SET without
    # GET only writes, BITFIELD with GET only reads.
    ("SET", "log:1", "x", "GET"), ("SET", "pub:1", "x", "GET"), ("SET", "log:1", "x", "EX", "100"),
    ("BITFIELD", "pub:1", "GET", "u8", "0"), ("BITFIELD", "log:1", "GET", "u8", "0"),
    ("BITFIELD", "log:1", "SET", "u8", "0", "1"), ("BITFIELD", "pub:1", "SET", "u8", "0", "1"),
    ("BITFIELD_RO", "pub:1", "GET", "u8", "0"),
]:
    add("keys-rw", ["mixed"], cmd(*args))
for args in [("GET", "pub:1"), ("SET", "pub:1", "x"), ("SET", "log:1", "x"),
             ("APPEND", "log:1", "x"), ("TYPE", "log:1"), ("GETRANGE", "log:1", "0", "-1")]:
    add("keys-rw", ["reader", "roscript", "allkeys"], cmd(*args))

# SORT: BY and GET patterns need full key access in Redis 7.0; engines in cluster mode refuse
# a BY/GET pattern outside the sorted key's slot.
for args, why in [
    (("SORT", "app:sl"), ""),
    (("SORT", "app:sl", "BY", "nosort"), ""),
    (("SORT", "app:sl", "BY", "app:w_*"), WHY_CLUSTER_MODE),
    (("SORT", "app:sl", "GET", "app:w_*"), WHY_CLUSTER_MODE),
    (("SORT", "app:sl", "GET", "#"), WHY_CLUSTER_MODE),
    (("SORT", "app:{t}sl", "BY", "app:{t}w_*"), WHY_CLUSTER_MODE),
    (("SORT", "app:{t}sl", "GET", "app:{t}w_*"), WHY_CLUSTER_MODE),
    (("SORT", "app:{t}sl", "BY", "other:{t}w_*"), WHY_CLUSTER_MODE),
    (("SORT_RO", "app:{t}sl", "GET", "app:{t}w_*"), WHY_CLUSTER_MODE),
    (("SORT", "app:{t}sl", "STORE", "other:{t}sorted"), ""),
    (("SORT", "app:sl", "STORE", "other:sorted"), WHY_ONE_SLOT),
    (("SORT", "app:{t}sl", "STORE", "app:{t}sorted"), ""),
    (("SORT", "other:list", "ALPHA"), ""),
]:
    add("sort", ["allcmds", "sortall", "app", "reader"], cmd(*args), reason=why)

# -- cross-slot multi-key commands: the endpoint splits them per slot ----------------------

assert key_slot("app:1") != key_slot("other:1") and key_slot("app:2") != key_slot("other:2")
assert key_slot("app:1") != key_slot("app:2") and key_slot("app:set") != key_slot("other:set")
for args in [
    ("MGET", "app:1", "app:2"), ("MGET", "app:1", "other:1"), ("MGET", "other:1", "app:1", "app:2"),
    ("MSET", "app:1", "a", "app:2", "b"), ("MSET", "app:1", "a", "other:1", "b"),
    ("MSET", "other:1", "a", "app:1", "b", "app:2", "c"),
    ("DEL", "app:1", "other:1"), ("DEL", "app:2", "app:1", "other:2"),
    ("UNLINK", "app:1", "other:1"),
    ("EXISTS", "app:1", "other:1"), ("TOUCH", "app:1", "other:1"),
    ("SUNION", "app:set", "other:set"), ("SINTERCARD", "2", "app:set", "other:set"),
    ("ZUNION", "2", "app:z", "other:z"), ("PFCOUNT", "app:hll", "other:hll"),
    ("LCS", "app:1", "other:1"),
]:
    add("cross-slot", ["app", "reader", "allkeys", "readcat", "writecat"], cmd(*args), three=True,
        reason3=WHY_CROSS_SHARD if args[0] == "LCS" else "")
for args in [("MGET", "app:1", "pub:1"), ("MGET", "app:1", "log:1"),
             ("MSET", "app:1", "a", "log:1", "b"), ("MSET", "app:1", "a", "pub:1", "b"),
             ("DEL", "app:1", "pub:1"), ("DEL", "log:1", "app:2")]:
    add("cross-slot", ["mixed"], cmd(*args), three=True)

# -- server, connection and introspection commands ------------------------------------------

SERVER_PROFILES = ["app", "allcmds", "allkeys", "reader"]
for args, why, dirty in [
    (("KEYS", "*"), "", False), (("SCAN", "0"), "", False), (("RANDOMKEY",), "", False),
    (("DBSIZE",), "", False), (("FLUSHALL",), "", False), (("FLUSHDB",), "", False),
    (("INFO",), "", False), (("INFO", "server"), "", False), (("INFO", "keyspace"), "", False),
    (("INFO", "commandstats"), "", False),
    (("CLUSTER", "NODES"), "", False), (("CLUSTER", "SLOTS"), "", False),
    (("CLUSTER", "INFO"), "", False), (("CLUSTER", "SHARDS"), "", False),
    (("CLUSTER", "MYID"), "", False), (("CLUSTER", "KEYSLOT", "app:1"), "", False),
    (("CLUSTER", "COUNTKEYSINSLOT", "0"), "", False),
    (("CLUSTER", "GETKEYSINSLOT", "0", "1"), "", False),
    (("CLUSTER", "MEET", "127.0.0.1", "1"), "", False), (("CLUSTER", "RESET"), "", False),
    (("SLOWLOG", "GET"), "", False), (("SLOWLOG", "LEN"), "", False),
    (("SLOWLOG", "RESET"), "", False),
    (("LATENCY", "LATEST"), "", False), (("LATENCY", "DOCTOR"), "", False),
    (("LATENCY", "RESET"), "", False),
    (("MEMORY", "STATS"), "", False), (("MEMORY", "USAGE", "app:1"), "", False),
    (("MEMORY", "DOCTOR"), WHY_DESIGN, False), (("MEMORY", "MALLOC-STATS"), WHY_DESIGN, False),
    (("OBJECT", "ENCODING", "app:1"), "", False), (("OBJECT", "FREQ", "app:1"), "", False),
    (("DEBUG", "SLEEP", "0"), "", False), (("DEBUG", "OBJECT", "app:1"), "", False),
    (("CONFIG", "GET", "maxmemory-policy"), "", False),
    (("CONFIG", "SET", "slowlog-max-len", "129"), "", True),
    (("CONFIG", "SET", "dir", "/tmp"), "", False), (("CONFIG", "RESETSTAT"), WHY_DESIGN, False),
    (("LASTSAVE",), "", False), (("TIME",), "", False), (("ECHO", "hi"), "", False),
    (("PING",), "", False), (("SELECT", "0"), "", False), (("WAIT", "0", "0"), "", False),
    (("ROLE",), "", False), (("COMMAND", "COUNT"), "", False),
    (("COMMAND", "GETKEYS", "SET", "other:1", "x"), "", False),
    (("PFDEBUG", "GETREG", "app:hll"), WHY_DESIGN, False),
    (("SWAPDB", "0", "1"), WHY_DESIGN, False), (("SAVE",), WHY_DESIGN, False),
    (("BGSAVE",), WHY_DESIGN, False),
    (("MIGRATE", "127.0.0.1", "1", "app:1", "0", "100"), WHY_DESIGN, False),
    (("MIGRATE", "127.0.0.1", "1", "other:1", "0", "100"), WHY_DESIGN, False),
    (("REPLICAOF", "NO", "ONE"), WHY_DESIGN, False), (("FAILOVER",), WHY_DESIGN, False),
    (("MODULE", "LIST"), WHY_DESIGN, False),
    (("PUBSUB", "CHANNELS"), "", False), (("PUBSUB", "NUMSUB", "other:ch"), "", False),
]:
    add("server", SERVER_PROFILES, cmd(*args), reason=why, dirty=dirty,
        differs=WHY_CLUSTER_VIEW if args[0] == "CLUSTER" else "")
# PFSELFTEST takes seconds where it runs: only for users who may not run it.
add("server", ["app", "allkeys", "reader"], cmd("PFSELFTEST"))
# SHUTDOWN only for users plain Redis refuses it to (it would stop the oracle otherwise).
add("server", ["app", "allkeys", "reader", "geteval"], cmd("SHUTDOWN", "NOSAVE"))
for args, why in [(("SELECT", "1"), WHY_ONE_DB), (("MONITOR",), WHY_DESIGN)]:
    add("server", SERVER_PROFILES, fresh(*args), reason=why)

for args, why in [
    (("CLIENT", "ID"), ""), (("CLIENT", "INFO"), ""), (("CLIENT", "LIST"), ""),
    (("CLIENT", "SETNAME", "diff"), ""), (("CLIENT", "GETNAME"), ""),
    (("CLIENT", "NO-EVICT", "on"), ""), (("CLIENT", "KILL", "ID", "999999999"), ""),
    (("CLIENT", "KILL", "TYPE", "pubsub"), ""), (("CLIENT", "PAUSE", "1", "WRITE"), ""),
    (("CLIENT", "UNPAUSE"), ""),
]:
    add("client", ["app", "allcmds", "allkeys", "reader", "geteval"], cmd(*args), reason=why)

for args in [("ACL", "WHOAMI"), ("ACL", "CAT"), ("ACL", "GETUSER", "app"), ("ACL", "LIST"),
             ("ACL", "USERS"), ("ACL", "LOG"), ("ACL", "DRYRUN", "app", "GET", "other:1"),
             ("ACL", "GENPASS")]:
    add("acl", ["app", "acladm", "geteval", "allcmds"], cmd(*args))

for args, dirty in [
    (("SCRIPT", "LOAD", NOOP_BODY), False), (("SCRIPT", "EXISTS", "0" * 40), False),
    (("SCRIPT", "FLUSH"), True), (("FUNCTION", "LIST"), False), (("FUNCTION", "STATS"), False),
    (("FUNCTION", "DUMP"), False), (("FUNCTION", "DELETE", "adminlib"), True),
    (("FUNCTION", "FLUSH"), True), (("FUNCTION", "LOAD", "REPLACE", USER_LIB), True),
]:
    add("script-admin", ["app", "noscripting", "geteval", "roscript", "shaonly", "allcmds"],
        cmd(*args), dirty=dirty, label=_label(args)[:40])

# -- scripts and functions: every redis.call must be checked as the user --------------------

# (command inside the script, reason Stratus may refuse it to a user Redis lets run it)
SCRIPT_CMDS = [
    (("GET", "app:1"), ""), (("GET", "other:1"), ""), (("SET", "app:1", "x"), ""),
    (("SET", "other:1", "pwned"), ""), (("DEL", "other:1"), ""), (("EXPIRE", "other:1", "100"), ""),
    (("LPUSH", "other:list", "z"), ""), (("HSET", "other:h", "f", "pwned"), ""),
    (("XADD", "other:s", "9-1", "f", "pwned"), ""), (("LPOP", "other:list"), ""),
    (("BLPOP", "other:list", "0"), ""),
    (("MGET", "app:{t}1", "app:{t}2"), ""), (("MGET", "app:{t}1", "other:{t}1"), ""),
    (("COPY", "app:{t}1", "other:{t}9"), ""), (("RENAME", "other:{t}1", "app:{t}9"), ""),
    (("GET", "pub:1"), ""), (("SET", "pub:1", "x"), ""), (("GET", "log:1"), ""),
    (("SET", "log:1", "x"), ""),
    (("KEYS", "*"), ""), (("SCAN", "0"), ""), (("RANDOMKEY",), ""), (("DBSIZE",), ""),
    (("FLUSHALL",), ""), (("FLUSHDB",), ""),
    (("INFO",), WHY_INFO), (("INFO", "server"), WHY_INFO), (("INFO", "keyspace"), WHY_INFO),
    (("CLUSTER", "NODES"), WHY_CLUSTER_SCRIPT), (("CLUSTER", "SLOTS"), WHY_CLUSTER_SCRIPT),
    (("CLUSTER", "INFO"), WHY_CLUSTER_SCRIPT), (("CLUSTER", "SHARDS"), WHY_CLUSTER_SCRIPT),
    (("CLUSTER", "MYID"), WHY_CLUSTER_SCRIPT), (("CLUSTER", "KEYSLOT", "app:1"), ""),
    (("CLUSTER", "COUNTKEYSINSLOT", "0"), ""), (("CLUSTER", "GETKEYSINSLOT", "0", "1"), ""),
    (("SLOWLOG", "GET"), WHY_SLOWLOG), (("SLOWLOG", "LEN"), ""), (("ROLE",), WHY_ROLE),
    (("LASTSAVE",), ""), (("TIME",), ""), (("ECHO", "hi"), ""), (("PING",), ""),
    (("SELECT", "0"), ""), (("OBJECT", "ENCODING", "other:1"), ""),
    (("OBJECT", "ENCODING", "app:1"), ""), (("MEMORY", "USAGE", "other:1"), ""),
    (("MEMORY", "USAGE", "app:1"), ""), (("MEMORY", "STATS"), ""),
    (("SORT", "app:{t}sl", "BY", "app:{t}w_*"), WHY_CLUSTER_MODE),
    (("SORT", "app:{t}sl", "GET", "app:{t}w_*"), WHY_CLUSTER_MODE),
    (("SORT", "app:sl", "BY", "app:w_*"), WHY_CLUSTER_MODE),
    (("PUBLISH", "app:ch", "x"), ""), (("PUBLISH", "other:ch", "x"), ""),
    (("SPUBLISH", "app:ch", "x"), ""), (("SPUBLISH", "other:ch", "x"), ""),
    (("PFDEBUG", "GETREG", "app:hll"), WHY_DESIGN), (("PFSELFTEST",), WHY_DESIGN),
    (("SWAPDB", "0", "1"), WHY_DESIGN),
    (("MIGRATE", "127.0.0.1", "1", "app:1", "0", "100"), WHY_DESIGN),
    (("CONFIG", "GET", "maxmemory"), ""), (("DEBUG", "SLEEP", "0"), ""),
    (("SHUTDOWN", "NOSAVE"), ""), (("CLIENT", "LIST"), ""), (("ACL", "WHOAMI"), ""),
]
UNDECLARED = {("GET", "app:1"), ("SET", "app:1", "x"), ("GET", "other:1"),
              ("SET", "other:1", "pwned"), ("KEYS", "*"), ("FLUSHALL",),
              ("PUBLISH", "other:ch", "x"), ("SPUBLISH", "other:ch", "x"),
              ("MGET", "app:{t}1", "other:{t}1"), ("INFO", "server"), ("CLUSTER", "NODES")}


# Plain Redis refuses every CLUSTER subcommand (no cluster); these harmless ones keep running in
# clients' scripts on Stratus.
CLUSTER_IN_SCRIPTS = {"KEYSLOT", "COUNTKEYSINSLOT", "GETKEYSINSLOT", "HELP"}


def _script_differs(inner):
    if inner[0] == "CLUSTER" and inner[1] in CLUSTER_IN_SCRIPTS:
        return WHY_CLUSTER_VIEW
    return ""


def _script_reason3(inner):
    # On 3 shards a keyless script or function runs on one engine: an undeclared key of another
    # shard is refused there (ERR ... non local key), which is stricter than Redis only when
    # Redis would have run it.
    return WHY_UNDECLARED if inner in UNDECLARED else ""


# EVAL with no declared key: the body touches whatever it likes (the class).
for inner, why in SCRIPT_CMDS:
    add("script", ["app"], cmd("EVAL", RUN_BODY, "0", *inner), label="EVAL 0 " + _label(inner),
        reason=why, three=inner in UNDECLARED, reason3=why or _script_reason3(inner),
        differs=_script_differs(inner))
# The same for the other script-capable users, on a subset.
SUBSET = [(i, w) for i, w in SCRIPT_CMDS if i in UNDECLARED or i[0] in (
    "DEL", "LPUSH", "COPY", "SLOWLOG", "ROLE", "SORT", "PFDEBUG", "SWAPDB", "OBJECT", "MEMORY",
    "SELECT", "GET", "SET", "LASTSAVE", "EXPIRE")]
for inner, why in SUBSET:
    add("script", ["mixed", "allkeys", "allcmds", "nochan", "geteval", "roscript", "sortall"],
        cmd("EVAL", RUN_BODY, "0", *inner), label="EVAL 0 " + _label(inner), reason=why)
# Declared keys: an allowed key declared does not make the undeclared one allowed; a forbidden
# key declared is refused before the script runs.
for keys, inner in [
    (("app:1",), ("GET", "other:1")), (("app:1",), ("SET", "other:1", "pwned")),
    (("app:1",), ("GET", "app:1")), (("other:1",), ("GET", "app:1")),
    (("app:{t}1",), ("GET", "other:{t}1")), (("app:{t}1", "other:{t}1"), ("GET", "app:{t}1")),
    (("pub:1",), ("GET", "pub:1")),
]:
    add("script-keys", ["app", "mixed", "roscript", "allcmds", "geteval"],
        cmd("EVAL", RUN_BODY, str(len(keys)), *keys, *inner),
        label=f"EVAL {len(keys)} {' '.join(keys)} {_label(inner)}", three=True,
        reason3=WHY_UNDECLARED if inner != ("GET", keys[0]) else "")
    add("script-keys", ["app", "roscript", "fcallro"],
        cmd("EVAL_RO", RUN_BODY, str(len(keys)), *keys, *inner),
        label=f"EVAL_RO {len(keys)} {' '.join(keys)} {_label(inner)}")
# The literal examples.
for body, keys in [("return redis.call('GET','other:1')", ("app:1",)),
                   ("return redis.call('KEYS','*')", ()), ("return redis.call('FLUSHALL')", ()),
                   ("return redis.call('CLUSTER','NODES')", ()),
                   ("return redis.call('PUBLISH','other:ch','x')", ()),
                   ("return redis.call('INFO','server')", ()),
                   ("return redis.call('SPUBLISH','other:ch','x')", ())]:
    add("script-issue", ["app"], cmd("EVAL", body, str(len(keys)), *keys),
        label=f"EVAL {body[7:]} {len(keys)}")
# redis.acl_check_cmd tells the script what its user may do.
ACL_CHECK = ("if redis.acl_check_cmd(unpack(ARGV)) then return 'allowed' else "
             "return redis.error_reply('NOPERM acl_check_cmd said no') end")
for inner in [("GET", "other:1"), ("GET", "app:1"), ("INFO",), ("FLUSHALL",)]:
    add("script-acl-check", ["app", "geteval"], cmd("EVAL", ACL_CHECK, "0", *inner),
        label="acl_check_cmd " + _label(inner))

# The other ways to run a script or function, with the same generic bodies.
VARIANT_CMDS = [(i, w) for i, w in SCRIPT_CMDS if i in UNDECLARED or i in {
    ("DEL", "other:1"), ("SELECT", "0"), ("OBJECT", "ENCODING", "other:1"), ("SLOWLOG", "GET"),
    ("ROLE",), ("TIME",), ("CLUSTER", "KEYSLOT", "app:1")}]
for inner, why in VARIANT_CMDS:
    for how in (("EVALSHA", RUN_SHA, "0"), ("EVAL_RO", RUN_BODY, "0"), ("EVALSHA_RO", RUN_SHA, "0"),
                ("FCALL", "run", "0"), ("FCALL_RO", "run_ro", "0")):
        name = " ".join(a for a in how if a not in (RUN_BODY, RUN_SHA))
        add("script-variants", ["app", "allcmds"] if how[0] in ("EVALSHA", "FCALL") else ["app"],
            cmd(*how, *inner), label=f"{name} {_label(inner)}", reason=why,
            three=how[0] in ("EVALSHA", "FCALL") and inner in UNDECLARED,
            reason3=why or _script_reason3(inner), differs=_script_differs(inner))
    # Users allowed one way only: EVALSHA (scripts the admin loaded), FCALL_RO, or every way but
    # with read-only keys; each redis.call is still checked against the user's own rules.
    for how, profiles in ((("EVALSHA", RUN_SHA, "0"), ["shaonly", "roscript"]),
                          (("FCALL", "run", "0"), ["roscript"]),
                          (("FCALL_RO", "run_ro", "0"), ["fcallro", "roscript"])):
        name = " ".join(a for a in how if a not in (RUN_BODY, RUN_SHA))
        add("script-variants", profiles, cmd(*how, *inner),
            label=f"{name} {_label(inner)}", reason=why, differs=_script_differs(inner))
for args in [("EVALSHA", NOOP_SHA, "0"), ("FCALL_RO", "noop_ro", "0"), ("FCALL", "noop", "0"),
             ("EVAL", NOOP_BODY, "0"), ("EVAL_RO", NOOP_BODY, "0"),
             ("FCALL", "peek", "0", "other:1"), ("FCALL", "peek", "1", "other:1"),
             ("FCALL", "peek", "1", "app:1"), ("FCALL_RO", "peek_ro", "0", "other:1"),
             ("FCALL_RO", "peek_ro", "1", "app:1"), ("FCALL_RO", "peek_ro", "1", "other:1")]:
    add("functions", ["app", "shaonly", "fcallro", "noscripting", "geteval", "roscript", "allkeys"],
        cmd(*args), three=args[2] == "0" and len(args) > 3, reason3=WHY_UNDECLARED)
# A function the user loads itself, then calls.
add("functions", ["app", "allcmds", "noscripting", "allkeys"],
    seq(("FUNCTION", "LOAD", "REPLACE", USER_LIB), ("FCALL", "ufn", "0")),
    label="FUNCTION LOAD userlib; FCALL ufn 0 (GET other:1)", dirty=True, three=True,
    reason3=WHY_UNDECLARED)

# -- transactions: a command refused at queue time aborts EXEC -------------------------------

for cmds in [
    (("SET", "app:1", "x"), ("GET", "other:1")),
    (("SET", "app:1", "x"), ("SET", "other:1", "pwned")),
    (("SET", "app:1", "x"), ("FLUSHALL",)),
    (("SET", "app:1", "x"), ("INFO",)),
    (("SET", "app:1", "x"), ("PUBLISH", "other:ch", "x")),
    (("SET", "app:1", "x"), ("GET", "app:1")),
    (("SET", "app:1", "x"), ("EVAL", RUN_BODY, "0", "GET", "other:1")),
    (("SET", "app:1", "x"), ("EVAL", RUN_BODY, "0", "SET", "other:1", "pwned")),
]:
    for show in ("queue", "exec", "result"):
        if show == "result" and cmds[-1][0] != "EVAL":
            continue
        add("multi", ["app", "geteval", "mixed"], multi(*cmds, show=show),
            label=f"MULTI {_label(cmds[0])}; {_label(cmds[1])}; EXEC [{show}]")

# -- blocking commands (0.1 s timeouts) -----------------------------------------------------

for args in [
    ("BLPOP", "app:list", "0.1"), ("BLPOP", "app:empty", "0.1"), ("BLPOP", "other:list", "0.1"),
    ("BLPOP", "pub:list", "0.1"), ("BRPOP", "other:list", "0.1"),
    ("BLMOVE", "app:{t}list", "other:{t}list", "LEFT", "RIGHT", "0.1"),
    ("BLMOVE", "other:{t}list", "app:{t}list", "LEFT", "RIGHT", "0.1"),
    ("BRPOPLPUSH", "other:{t}list", "app:{t}list", "0.1"),
    ("BLMPOP", "0.1", "2", "app:{t}list", "other:{t}list", "LEFT"),
    ("BZPOPMIN", "app:z", "0.1"), ("BZPOPMIN", "other:z", "0.1"),
    ("BZMPOP", "0.1", "1", "other:z", "MIN"),
    ("XREAD", "BLOCK", "100", "STREAMS", "app:s", "$"),
    ("XREAD", "BLOCK", "100", "STREAMS", "other:s", "0"),
    ("XREAD", "BLOCK", "100", "STREAMS", "pub:s", "0"),
    ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "100", "STREAMS", "other:s", ">"),
    ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "100", "STREAMS", "pub:s", ">"),
]:
    add("blocking", ["app", "mixed", "reader", "writecat"], cmd(*args))

# -- pub/sub ----------------------------------------------------------------------------------

for args in [
    ("SUBSCRIBE", "app:ch"), ("SUBSCRIBE", "other:ch"), ("SUBSCRIBE", "app:ch", "other:ch"),
    ("PSUBSCRIBE", "app:*"), ("PSUBSCRIBE", "app:c*"), ("PSUBSCRIBE", "*"),
    ("PSUBSCRIBE", "other:*"),
    ("SSUBSCRIBE", "app:ch"), ("SSUBSCRIBE", "other:ch"), ("UNSUBSCRIBE", "other:ch"),
    ("PUNSUBSCRIBE", "other:*"), ("SUNSUBSCRIBE", "other:ch"), ("SUNSUBSCRIBE", "app:ch"),
    ("SUBSCRIBE", "news.sport"), ("SUBSCRIBE", "news.*"), ("PSUBSCRIBE", "news.*"),
    ("PSUBSCRIBE", "news.s*"), ("PSUBSCRIBE", "news.sport"),
]:
    add("pubsub", ["app", "allkeys", "chan"], fresh(*args), three=True)
    add("pubsub", ["nochan", "reader"], fresh(*args))
for args in [("PUBLISH", "app:ch", "x"), ("PUBLISH", "other:ch", "x"), ("SPUBLISH", "app:ch", "x"),
             ("SPUBLISH", "other:ch", "x"), ("PUBLISH", "news.sport", "x"),
             ("PUBLISH", "news.*", "x")]:
    add("pubsub", ["app", "allkeys", "chan"], cmd(*args), three=True)
    add("pubsub", ["nochan", "reader"], cmd(*args))

# -- keyspace notifications (notify-keyspace-events KEA on both) ---------------------------

for args in [
    ("PSUBSCRIBE", "__keyspace@0__:app:*"), ("SUBSCRIBE", "__keyspace@0__:app:1"),
    ("PSUBSCRIBE", "__keyspace@0__:*"), ("SUBSCRIBE", "__keyspace@0__:other:1"),
    ("PSUBSCRIBE", "__key*@0__:*"), ("PSUBSCRIBE", "__keyevent@0__:*"),
    ("SUBSCRIBE", "__keyevent@0__:set"),
]:
    add("keyspace", ["kspace", "app", "allkeys", "nochan"], fresh(*args), three=True)
for sub, trigger in [
    (("PSUBSCRIBE", "__keyspace@0__:app:*"), ("SET", "app:1", "changed")),
    (("SUBSCRIBE", "__keyspace@0__:app:1"), ("SET", "app:1", "changed")),
    (("PSUBSCRIBE", "__keyspace@0__:*"), ("SET", "other:1", "changed")),
]:
    add("keyspace", ["kspace", "allkeys"], keyspace_event(sub, trigger),
        label=f"{_label(sub)} then admin {_label(trigger)}", three=True)


def _dedupe_ids():
    seen = {}
    for c in CASES:
        n = seen.get(c.id, 0)
        seen[c.id] = n + 1
        if n:
            c.label += f" #{n + 1}"


_dedupe_ids()
CASES3 = [c for c in CASES if c.three]


# ---- the two sides ------------------------------------------------------------------------


def classify(reply):
    """(class, text) of a reply: ok / denied / error:<first word>."""
    if isinstance(reply, RespError):
        text = str(reply)
        if (text.startswith("NOPERM") or "The user executing the script" in text
                or "denied due to insufficient ACL permissions" in text):
            return "denied", text
        return "error:" + (text.split(None, 1)[0] if text else "?"), text
    return "ok", _short(reply)


def _short(reply):
    if isinstance(reply, bytes):
        reply = reply.decode(errors="replace")
    text = repr(reply)
    return text if len(text) <= 100 else text[:97] + "..."


class Side:
    """One server (Stratus or plain Redis) as the table sees it: a raw admin connection and one
    shared raw connection per user (raw: exact error texts, binary values, cheap pipelines)."""

    def __init__(self, name, connect, admin_auth):
        self.name = name
        self._connect = connect  # () -> a RawConn, not authenticated
        self.admin = connect()
        if admin_auth:
            self.admin.auth(*admin_auth)
        self.conns = {}
        self.profile = None

    def admin_call(self, *args):
        r = self.admin.call(*args)
        assert not isinstance(r, RespError), f"{self.name}: admin {_label(args)}: {r}"
        return r

    def send(self, cmds):
        """Pipelines admin commands; read_replies(len(cmds)) collects their replies."""
        self.admin.send(b"".join(encode(*c) for c in cmds))

    def read_replies(self, n):
        out = [self.admin.read_reply() for _ in range(n)]
        errors = [r for r in out if isinstance(r, RespError)]
        assert not errors, f"{self.name}: admin pipeline: {errors[0]}"
        return out

    def fresh(self):
        c = self._connect()
        c.sock.settimeout(CASE_TIMEOUT)
        r = c.call("AUTH", self.profile, PW)
        assert r == "OK", f"{self.name}: AUTH {self.profile} failed: {r!r}"
        return c

    def conn(self):
        c = self.conns.get(self.profile)
        if c is None:
            c = self.conns[self.profile] = self.fresh()
        return c

    def drop(self, profile):
        c = self.conns.pop(profile, None)
        if c:
            c.close()

    def run(self, case):
        self.profile = case.profile
        try:
            return case.action(self)
        except (OSError, EOFError) as e:
            # A timeout or a closed connection: the shared one is no longer usable.
            self.drop(case.profile)
            what = "TIMEOUT" if isinstance(e, socket.timeout) else "CONNECTION"
            return RespError(f"{what} {e!r}")

    def close(self):
        for p in list(self.conns):
            self.drop(p)
        self.admin.close()

    def setup(self):
        for name, rules in PROFILES.items():
            self.admin_call("ACL", "SETUSER", name, "reset", "on", ">" + PW, *rules.split())
        self.admin_call("CONFIG", "SET", "notify-keyspace-events", "KEA")
        self.reset_code()

    def reset_code(self):
        """Functions, scripts and config as every case expects them."""
        self.admin_call("FUNCTION", "FLUSH")
        self.admin_call("FUNCTION", "LOAD", "REPLACE", ADMIN_LIB)
        assert self.admin_call("SCRIPT", "LOAD", RUN_BODY) == RUN_SHA.encode()
        assert self.admin_call("SCRIPT", "LOAD", NOOP_BODY) == NOOP_SHA.encode()
        self.admin_call("CONFIG", "SET", "slowlog-max-len", "128")


SEED_CMDS = [("FLUSHALL",)] + SEED


def seed(sides):
    """The same data on every side (FLUSHALL, then SEED), the sides' pipelines overlapped."""
    for side in sides:
        side.send(SEED_CMDS)
    for side in sides:
        side.read_replies(len(SEED_CMDS))


def _value_cmds(key, typ):
    if typ == "string":
        return [("GET", key)]
    if typ == "list":
        return [("LRANGE", key, "0", "-1")]
    if typ == "set":
        return [("SMEMBERS", key)]
    if typ == "zset":
        return [("ZRANGE", key, "0", "-1", "WITHSCORES")]
    if typ == "hash":
        return [("HGETALL", key)]
    if typ == "stream":
        return [("XRANGE", key, "-", "+"), ("XINFO", "GROUPS", key)]
    return [("TYPE", key)]


def states(sides):
    """Per side, everything a refused command must not have changed: each key's type, value
    and whether it expires; the function libraries; the scripts; slowlog-max-len; the users."""
    head = [("KEYS", "*"), ("FUNCTION", "LIST"), ("SCRIPT", "EXISTS", RUN_SHA, NOOP_SHA),
            ("CONFIG", "GET", "slowlog-max-len"), ("ACL", "USERS")]
    for side in sides:
        side.send(head)
    heads = [side.read_replies(len(head)) for side in sides]
    keys = [sorted(k for k in h[0] if not k.startswith(b"__stratus")) for h in heads]
    for side, ks in zip(sides, keys):
        side.send([c for k in ks for c in (("TYPE", k), ("PTTL", k))])
    metas = [side.read_replies(2 * len(ks)) for side, ks in zip(sides, keys)]
    value_cmds = [[_value_cmds(k, m[2 * i]) for i, k in enumerate(ks)]
                  for ks, m in zip(keys, metas)]
    for side, vcs in zip(sides, value_cmds):
        side.send([c for vc in vcs for c in vc])
    out = []
    for side, ks, meta, vcs, h in zip(sides, keys, metas, value_cmds, heads):
        vals = side.read_replies(sum(len(vc) for vc in vcs))
        st, j = {}, 0
        for i, k in enumerate(ks):
            typ = meta[2 * i]
            v = vals[j:j + len(vcs[i])]
            j += len(vcs[i])
            if typ == "set":
                v = sorted(v[0])
            st[k.decode(errors="replace")] = (typ, repr(v), meta[2 * i + 1] >= 0)
        out.append({"keys": st, "functions": sorted(lib[1].decode() for lib in h[1]),
                    "scripts": h[2], "config": [x.decode() for x in h[3]],
                    "users": sorted(u.decode() for u in h[4])})
    return out


def _unix_raw(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    s.connect(path)
    return RawConn(s, IO_TIMEOUT)


def _ping(sock):
    c = _unix_raw(sock)
    try:
        return c.call("PING") == "PONG"
    finally:
        c.close()


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A plain redis-server 7.0 on a unix socket in a temp dir (no cluster, no password for the
    default user, DEBUG disabled), stopped by its pid."""
    d = tmp_path_factory.mktemp("plain-redis")
    sock = str(d / "r.sock")
    log = open(d / "redis.log", "wb")
    proc = subprocess.Popen(
        ["redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
         "--save", "", "--appendonly", "no", "--enable-debug-command", "no", "--dir", str(d)],
        stdout=log, stderr=subprocess.STDOUT, cwd=str(d), start_new_session=True)
    try:
        deadline_poll(lambda: os.path.exists(sock) and _ping(sock), 10,
                      what="plain redis-server to answer PING")
        side = Side("redis", lambda: _unix_raw(sock), None)
        side.setup()
        yield side
        side.close()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()


def _stratus_side(inst):
    side = Side("stratus", lambda: inst.raw_tls(auth=False, timeout=IO_TIMEOUT),
                (inst.username, inst.password))
    side.setup()
    return side


@pytest.fixture(scope="module")
def stratus1(srv):
    side = _stratus_side(srv)
    yield side
    side.close()


@pytest.fixture(scope="module")
def stratus3(srv3):
    side = _stratus_side(srv3)
    yield side
    side.close()


# ---- running and judging one case ----------------------------------------------------------

RESULTS = []  # one dict per case run, in order
_NEEDS_RESET = {"flag": False}


def judge(case, instance, r_out, s_out, after):
    """The verdict of one case: equal, both-refused, stricter, differs, looser (or
    stricter-unexplained / differs-unexplained, which fail) and a note."""
    rc, sc = r_out[0], s_out[0]
    reason = case.reason3 if instance == "3-shard" and case.reason3 else case.reason
    if rc != "ok" and sc == "ok":
        if rc == "denied":
            return "looser", "Redis denied it, Stratus ran it"
        if case.differs:
            return "differs", case.differs
        return "looser", "Redis refused it (not an ACL error), Stratus ran it"
    if rc != "ok" and after and after[0] != after[1]:
        return "looser", ("Redis refused it, but afterwards Stratus's state differs from "
                          "Redis's: " + _state_diff(*after))
    if rc == sc:
        if rc == "denied" and r_out[1] != s_out[1]:
            return "denied-text-differs", ""
        return "equal", ""
    if rc != "ok":
        return "both-refused", ""
    if reason:
        return "stricter", reason
    return "stricter-unexplained", "Redis ran it, Stratus refused it, and the table gives no reason"


def _state_diff(r, s):
    out = []
    for part in ("functions", "scripts", "config", "users"):
        if r[part] != s[part]:
            out.append(f"{part}: redis {r[part]} stratus {s[part]}")
    rk, sk = r["keys"], s["keys"]
    for k in sorted(set(rk) | set(sk)):
        if rk.get(k) != sk.get(k):
            out.append(f"{k}: redis {rk.get(k)} stratus {sk.get(k)}")
    return "; ".join(out[:6]) + (" ..." if len(out) > 6 else "")


def run_case(case, instance, plain_side, stratus_side):
    if _NEEDS_RESET["flag"]:
        for side in (plain_side, stratus_side):
            side.reset_code()
        _NEEDS_RESET["flag"] = False
    seed((plain_side, stratus_side))
    r_reply = plain_side.run(case)
    s_reply = stratus_side.run(case)
    r_out, s_out = classify(r_reply), classify(s_reply)
    after = None
    if r_out[0] != "ok":
        after = states((plain_side, stratus_side))
    verdict, note = judge(case, instance, r_out, s_out, after)
    if case.dirty or verdict == "looser" or after and after[0] != after[1]:
        _NEEDS_RESET["flag"] = True
    res = {
        "id": case.id, "instance": instance, "area": case.area, "profile": case.profile,
        "rules": PROFILES[case.profile], "command": case.label,
        "redis": {"class": r_out[0], "text": r_out[1]},
        "stratus": {"class": s_out[0], "text": s_out[1]},
        "verdict": verdict, "note": note,
    }
    RESULTS.append(res)
    return res


FAILING = ("looser", "stricter-unexplained")


def _check(res):
    if res["verdict"] in FAILING:
        pytest.fail(
            f"{res['verdict'].upper()}: {res['command']} as user {res['profile']} "
            f"({res['rules']}) on the {res['instance']} cache\n"
            f"  redis:   {res['redis']['class']}: {res['redis']['text']}\n"
            f"  stratus: {res['stratus']['class']}: {res['stratus']['text']}\n"
            f"  {res['note']}", pytrace=False)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_acl_case(case, plain, stratus1):
    _check(run_case(case, "1-shard", plain, stratus1))


@pytest.mark.parametrize("case", CASES3, ids=[c.id for c in CASES3])
def test_acl_case_3_shards(case, plain, stratus3):
    _check(run_case(case, "3-shard", plain, stratus3))


def _summary_line(results):
    counts = {}
    for r in results:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    line = (f"acl-differential: {len(results)} cases: {counts.get('equal', 0)} equal, "
            f"{counts.get('both-refused', 0)} both refused, "
            f"{counts.get('stricter', 0)} stricter (reasons), "
            f"{counts.get('differs', 0)} differ (reasons), "
            f"{counts.get('looser', 0)} looser, "
            f"{counts.get('stricter-unexplained', 0)} stricter unexplained, "
            f"{counts.get('denied-text-differs', 0)} denied-text-differs")
    return line, counts


def test_summary():
    """Prints the summary line, the stricter cases grouped by reason, the denials whose texts
    differ and every failing case; writes the same as JSON to $ACL_DIFF_REPORT."""
    if not RESULTS:
        pytest.skip("no case ran")
    line, counts = _summary_line(RESULTS)
    areas, per_instance = {}, {}
    for r in RESULTS:
        areas[r["area"]] = areas.get(r["area"], 0) + 1
    for inst in sorted({r["instance"] for r in RESULTS}):
        per_instance[inst] = _summary_line([r for r in RESULTS if r["instance"] == inst])[0]
    print("\n" + line)
    for inst, text in per_instance.items():
        print(f"  {inst}: {text.split(': ', 1)[1]}")
    print("cases per area: " + ", ".join(f"{a} {k}" for a, k in areas.items()))

    by_reason = {}
    for r in RESULTS:
        if r["verdict"] in ("stricter", "differs"):
            by_reason.setdefault((r["verdict"], r["note"]), []).append(r)
    if by_reason:
        print("\nstricter than Redis, or answering where plain Redis errors, with reasons:")
        for (verdict, reason), rs in by_reason.items():
            print(f"  {verdict} ({len(rs)}): {reason}")
            for r in rs:
                print(f"      [{r['instance']}] {r['profile']:<11} {r['command'][:60]:<60} "
                      f"redis {r['redis']['class']}, stratus {r['stratus']['class']}")
    texts = {}
    for r in RESULTS:
        if r["verdict"] == "denied-text-differs":
            texts.setdefault((r["redis"]["text"], r["stratus"]["text"]), []).append(r)
    if texts:
        print(f"\ndenied by both, text differs ({counts['denied-text-differs']} cases):")
        for (rt, st), rs in texts.items():
            print(f"  redis:   {rt}\n  stratus: {st}\n      ({len(rs)}: "
                  + ", ".join(f"{r['profile']} {r['command'][:30]}" for r in rs[:3])
                  + (" ..." if len(rs) > 3 else "") + ")")
    failing = [r for r in RESULTS if r["verdict"] in FAILING]
    if failing:
        print(f"\nFAILING ({len(failing)}):")
        for r in failing:
            note = r["note"] if r["verdict"] != "looser" or "state" in r["note"] else ""
            print(f"  [{r['instance']}] {r['verdict']}: {r['area']} {r['profile']} "
                  f"| {r['command']}\n"
                  f"      redis:   {r['redis']['class']}: {r['redis']['text'][:140]}\n"
                  f"      stratus: {r['stratus']['class']}: {r['stratus']['text'][:140]}"
                  + (f"\n      {note[:300]}" if note else ""))
    report = os.environ.get("ACL_DIFF_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump({"summary": line, "per_instance": per_instance, "counts": counts,
                       "areas": areas, "cases": RESULTS}, f, indent=1)
    if len(RESULTS) >= len(CASES) + len(CASES3):  # the whole table ran
        assert len(RESULTS) >= 300, f"the table shrank below 300 cases: {line}"
    if failing:
        pytest.fail(f"{line}: {len(failing)} failing case(s), listed above", pytrace=False)
