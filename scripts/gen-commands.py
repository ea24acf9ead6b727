#!/usr/bin/python3
"""Generate src/proto/cmdtable_gen.c from scripts/redis-7.0-commands.json (the COMMAND output of
a real redis-server 7.0.15) and the routing policy below. Run `make commands` after editing the
policy; the generated file is committed so building never needs a redis-server."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LATER3 = ("planned with the full command set (issue 3 of the Stratus tracker: transactions, "
          "blocking commands, pub/sub, scripts, ACL users, server commands)")

# name -> (route, merge, local, reason). Anything with keys and no entry is ROUTE_KEYS.
# Anything without keys and no entry is ROUTE_LATER.
POLICY = {
    "ping": ("LOCAL", "NONE", "PING"),
    "echo": ("LOCAL", "NONE", "ECHO"),
    "auth": ("LOCAL", "NONE", "AUTH"),
    "hello": ("LOCAL", "NONE", "HELLO"),
    "select": ("LOCAL", "NONE", "SELECT"),
    "quit": ("LOCAL", "NONE", "QUIT"),
    "readonly": ("LOCAL", "NONE", "READONLY"),
    "readwrite": ("LOCAL", "NONE", "READWRITE"),
    "info": ("LOCAL", "NONE", "INFO"),
    "cluster|slots": ("LOCAL", "NONE", "CLUSTER_SLOTS"),
    "cluster|shards": ("LOCAL", "NONE", "CLUSTER_SHARDS"),
    "cluster|nodes": ("LOCAL", "NONE", "CLUSTER_NODES"),
    "cluster|info": ("LOCAL", "NONE", "CLUSTER_INFO"),
    "cluster|myid": ("LOCAL", "NONE", "CLUSTER_MYID"),
    "cluster|keyslot": ("LOCAL", "NONE", "CLUSTER_KEYSLOT"),
    "cluster|replicas": ("LOCAL", "NONE", "CLUSTER_REPLICAS"),
    "cluster|slaves": ("LOCAL", "NONE", "CLUSTER_REPLICAS"),
    "cluster|countkeysinslot": ("SLOT_ARG", "NONE", None),
    "cluster|getkeysinslot": ("SLOT_ARG", "NONE", None),
    "client|setname": ("LOCAL", "NONE", "CLIENT_SETNAME"),
    "client|getname": ("LOCAL", "NONE", "CLIENT_GETNAME"),
    "client|id": ("LOCAL", "NONE", "CLIENT_ID"),
    "time": ("ANY", "NONE", None),
    "lolwut": ("ANY", "NONE", None),
    "command": ("ANY", "NONE", None),
    "command|count": ("ANY", "NONE", None),
    "command|docs": ("ANY", "NONE", None),
    "command|info": ("ANY", "NONE", None),
    "command|list": ("ANY", "NONE", None),
    "command|getkeys": ("ANY", "NONE", None),
    "command|getkeysandflags": ("ANY", "NONE", None),
    "command|help": ("ANY", "NONE", None),
    "multi": ("LOCAL", "NONE", "MULTI"),
    "exec": ("LOCAL", "NONE", "EXEC"),
    "discard": ("LOCAL", "NONE", "DISCARD"),
    "watch": ("LOCAL", "NONE", "WATCH"),
    "unwatch": ("LOCAL", "NONE", "UNWATCH"),
    "script|load": ("ALL", "FIRST", None),
    "script|flush": ("ALL", "ALL_OK", None),
    "script|exists": ("LOCAL", "NONE", "SCRIPT_EXISTS"),
    "script|help": ("ANY", "NONE", None),
    "function|load": ("ALL", "FIRST", None),
    "function|delete": ("ALL", "ALL_OK", None),
    "function|flush": ("ALL", "ALL_OK", None),
    "function|restore": ("ALL", "ALL_OK", None),
    "function|list": ("ANY", "NONE", None),
    "function|dump": ("ANY", "NONE", None),
    "function|stats": ("ALL", "FUNCTION_STATS", None),
    "function|help": ("ANY", "NONE", None),
    "keys": ("ALL", "CONCAT", None),
    "randomkey": ("ALL", "RANDOM", None),
    "scan": ("LOCAL", "NONE", "SCAN"),
    "subscribe": ("LOCAL", "NONE", "SUBSCRIBE"),
    "psubscribe": ("LOCAL", "NONE", "SUBSCRIBE"),
    "unsubscribe": ("LOCAL", "NONE", "SUBSCRIBE"),
    "punsubscribe": ("LOCAL", "NONE", "SUBSCRIBE"),
    "publish": ("LOCAL", "NONE", "PUBLISH"),  # shard 0 holds every subscriber: exact counts
    "pubsub|channels": ("LOCAL", "NONE", "PUBSUB_QUERY"),
    "pubsub|numsub": ("LOCAL", "NONE", "PUBSUB_QUERY"),
    "pubsub|numpat": ("LOCAL", "NONE", "PUBSUB_QUERY"),
    "pubsub|help": ("ANY", "NONE", None),
    "ssubscribe": ("LOCAL", "NONE", "SUBSCRIBE"),
    "sunsubscribe": ("LOCAL", "NONE", "SUBSCRIBE"),
    "pubsub|shardchannels": ("ALL", "CONCAT", None),  # a shard channel lives on one shard
    "pubsub|shardnumsub": ("ALL", "NUMSUB", None),
    "config|get": ("LOCAL", "NONE", "CONFIG_GET"),
    "config|set": ("LOCAL", "NONE", "CONFIG_SET"),
    "config|help": ("ANY", "NONE", None),
    "acl|setuser": ("LOCAL", "NONE", "ACL"),
    "acl|deluser": ("LOCAL", "NONE", "ACL"),
    "acl|getuser": ("LOCAL", "NONE", "ACL"),
    "acl|list": ("LOCAL", "NONE", "ACL"),
    "acl|users": ("LOCAL", "NONE", "ACL"),
    "acl|whoami": ("LOCAL", "NONE", "ACL"),
    "acl|genpass": ("LOCAL", "NONE", "ACL"),
    "acl|dryrun": ("LOCAL", "NONE", "ACL"),
    "acl|log": ("LOCAL", "NONE", "ACL"),
    "acl|cat": ("LOCAL", "NONE", "ACL"),
    "acl|help": ("ANY", "NONE", None),
    "wait": ("LOCAL", "NONE", "WAIT"),
    "dbsize": ("ALL", "SUM", None),
    "flushall": ("ALL", "ALL_OK", None),
    "flushdb": ("ALL", "ALL_OK", None),
    "mget": ("SPLIT", "MGET", None),
    "mset": ("SPLIT", "ALL_OK", None),
    "del": ("SPLIT", "SUM", None),
    "unlink": ("SPLIT", "SUM", None),
    "exists": ("SPLIT", "SUM", None),
    "touch": ("SPLIT", "SUM", None),
}

REFUSED = {
    "debug": "DEBUG can crash or stall an engine; it is not exposed by the service",
    "shutdown": "engines are run by Stratus: stop the service with Ctrl-C or `stratus` instead",
    "replicaof": "replication is managed by Stratus (--replicas); it cannot be changed by a client",
    "slaveof": "replication is managed by Stratus (--replicas); it cannot be changed by a client",
    "sync": "replication streams are internal to the service",
    "psync": "replication streams are internal to the service",
    "migrate": "keys move between shards only by Stratus's own resharding; use DUMP/RESTORE to copy a key",
    "module": "modules cannot be loaded into managed engines",
    "bgsave": "snapshots belong to the service; their data is saved on stop and kept in --data-dir",
    "save": "snapshots belong to the service; their data is saved on stop and kept in --data-dir",
    "bgrewriteaof": "persistence is managed by the service",
    "failover": "failover is managed by Stratus",
    "swapdb": "a cache has one database (0), as in Redis Cluster",
    "pfdebug": "PFDEBUG inspects and rewrites HyperLogLog internals for debugging; it is not "
               "exposed by the service (PFCOUNT, PFADD and PFMERGE are)",
    "monitor": "MONITOR would expose every client's traffic; use the endpoint's logs and metrics",
    "sentinel": "there is no Sentinel: failover is managed by Stratus",
    "cluster|addslots": "the cluster topology is managed by Stratus",
    "cluster|addslotsrange": "the cluster topology is managed by Stratus",
    "cluster|bumpepoch": "the cluster topology is managed by Stratus",
    "cluster|delslots": "the cluster topology is managed by Stratus",
    "cluster|delslotsrange": "the cluster topology is managed by Stratus",
    "cluster|failover": "failover is managed by Stratus",
    "cluster|flushslots": "the cluster topology is managed by Stratus",
    "cluster|forget": "the cluster topology is managed by Stratus",
    "cluster|meet": "the cluster topology is managed by Stratus",
    "cluster|replicate": "the cluster topology is managed by Stratus",
    "cluster|reset": "the cluster topology is managed by Stratus",
    "cluster|saveconfig": "the cluster topology is managed by Stratus",
    "cluster|set-config-epoch": "the cluster topology is managed by Stratus",
    "cluster|setslot": "the cluster topology is managed by Stratus",
    "cluster|count-failure-reports": "engine internals are not exposed; the endpoint is one node",
    "cluster|links": "engine internals are not exposed; the endpoint is one node",
    "config|rewrite": "engine configuration files are rendered by Stratus",
    "acl|save": "ACL users are saved by the service at once, durably (in <data-dir>/stratus.db)",
    "acl|load": "ACL users are saved by the service at once, durably (in <data-dir>/stratus.db); "
                "there is no ACL file to load",
}

# Connection and server commands (docs/architecture.md, "Connection and server commands"): the
# endpoint answers for its own clients, and engine diagnostics are merged over every shard.
SERVER_POLICY = {
    "client|list": ("LOCAL", "NONE", "CLIENT_LIST"),
    "client|info": ("LOCAL", "NONE", "CLIENT_INFO"),
    "client|kill": ("LOCAL", "NONE", "CLIENT_KILL"),
    "client|unblock": ("LOCAL", "NONE", "CLIENT_UNBLOCK"),
    "client|reply": ("LOCAL", "NONE", "CLIENT_REPLY"),
    "client|no-evict": ("LOCAL", "NONE", "CLIENT_NO_EVICT"),
    "client|trackinginfo": ("LOCAL", "NONE", "CLIENT_TRACKINGINFO"),
    "client|getredir": ("LOCAL", "NONE", "CLIENT_GETREDIR"),
    "reset": ("LOCAL", "NONE", "RESET"),
    "role": ("LOCAL", "NONE", "ROLE"),
    "asking": ("LOCAL", "NONE", "ASKING"),
    "lastsave": ("ALL", "MAX", None),
    "slowlog|get": ("ALL", "SLOWLOG", None),
    "slowlog|len": ("ALL", "SLOWLOG_LEN", None),
    "slowlog|reset": ("ALL", "ALL_OK", None),
    "latency|latest": ("ALL", "LATENCY_LATEST", None),
    "latency|history": ("ALL", "LATENCY_HISTORY", None),
    "latency|histogram": ("ALL", "LATENCY_HISTOGRAM", None),
    "latency|reset": ("ALL", "LATENCY_RESET", None),
    "latency|doctor": ("ALL", "LATENCY_DOCTOR", None),
    "memory|stats": ("ALL", "MEMORY_STATS", None),
    "memory|purge": ("ALL", "ALL_OK", None),
    "config|resetstat": ("ALL", "ALL_OK", None),
    "script|kill": ("ALL", "KILL", None),
    "function|kill": ("ALL", "KILL", None),
    "pfselftest": ("ANY", "NONE", None),
}
for _n in ("client", "slowlog", "latency", "memory", "object", "xgroup", "xinfo", "cluster"):
    SERVER_POLICY[_n + "|help"] = ("ANY", "NONE", None)  # the engine's own help text
_PER_ENGINE = ("describes one engine process's allocator, and a cache is several processes; use "
               "MEMORY STATS (summed over every shard) or INFO memory")
_TRACKING = ("client-side caching is not served: invalidation messages would have to come "
                      "from every shard's engine and be routed to the client that read each key, "
                      "which the endpoint's shared engine connections cannot do yet; use TTLs or "
                      "pub/sub for invalidation")
SERVER_REFUSED = {
    "client|caching": _TRACKING,
    "script|debug": "the Lua debugger needs a dedicated engine connection in a special mode; debug "
                    "scripts against a local redis-server (redis-cli --ldb)",
    "replconf": "replication is internal to the service",
    "latency|graph": "the ASCII graph is drawn per engine; use LATENCY HISTORY <event>, which merges "
                     "every shard's samples, and plot it",
    "memory|doctor": "its advice " + _PER_ENGINE,
    "memory|malloc-stats": "the allocator report " + _PER_ENGINE,
}
# Answered by the endpoint, with the reason its refused forms give (CLIENT TRACKING ON).
REFUSED_PART = {"client|tracking": _TRACKING}
SERVER_POLICY["client|tracking"] = ("LOCAL", "NONE", "CLIENT_TRACKING")
SERVER_POLICY["client|pause"] = ("LOCAL", "NONE", "CLIENT_PAUSE")
SERVER_POLICY["client|unpause"] = ("LOCAL", "NONE", "CLIENT_UNPAUSE")
POLICY.update(SERVER_POLICY)
REFUSED.update(SERVER_REFUSED)
# Rows of docs/commands.md that say more than their route's generic rule.
DOC_NOTES = {
    "client|list": "supported: every client of the endpoint (all worker threads), Redis's fields",
    "client|kill": "supported: any client of the endpoint, every filter of Redis 7.0",
    "client|unblock": "supported: the engine running the blocked command unblocks it",
    "client|reply": "supported: the endpoint suppresses the replies",
    "client|no-evict": "supported: recorded and shown (flag e); the endpoint never evicts clients",
    "client|getredir": "supported: -1, client tracking is never on",
    "readonly": "supported: OK, as a cluster node answers (the endpoint is one, cluster_enabled:1); "
                "reads then go to a replica in the endpoint's zone (docs/architecture.md, Zones)",
    "readwrite": "supported: OK; reads go to the primaries again",
    "info": "supported: Redis's sections; the engine sections are the primaries' own lines, "
            "merged over the shards (docs/operations.md, INFO)",
    "ping": "supported: answered by the endpoint, or by the primaries while a script runs or "
            "an engine is busy (so it waits, or says BUSY, as on Redis)",
    "eval": "supported: keys of one command must share a hash slot (else -CROSSSLOT naming "
            "them); runs on an engine link of its own, so a long script holds up no one else",
    "client|trackinginfo": "supported: tracking off, client tracking is never on",
    "client|tracking": "supported: OFF answers OK (tracking is never on); ON is refused: "
                       + _TRACKING,
    "client|pause": "supported: every client of the cache, as Redis pauses its clients (WRITE: "
                    "writes and commands that may replicate, scripts by their flags; ALL: "
                    "everything); the endpoint holds what the mode pauses and every primary is "
                    "paused too (no key expires meanwhile); in MULTI it begins at EXEC's end",
    "client|unpause": "supported: ends a CLIENT PAUSE on the endpoint and every primary",
    "reset": "supported: as Redis 7.0; a subscriber's engine connection is closed",
    "role": "supported: the endpoint is one master without replicas",
    "asking": "supported: +OK (the endpoint owns every slot)",
    "lastsave": "supported: the latest save of any shard",
    "slowlog|get": "supported: every shard's entries, newest first; a command the endpoint runs "
                   "on every shard (SLOWLOG RESET, CONFIG SET, FLUSHALL ...) is one entry; the "
                   "client address and name are empty (engines see connections shared by many "
                   "clients, and their addresses are not shown)",
    "slowlog|len": "supported: the entries SLOWLOG GET -1 lists",
    "latency|latest": "supported: every shard's events; per event the latest sample and the "
                      "highest maximum",
    "latency|history": "supported: every shard's samples by time (the highest of one second)",
    "latency|histogram": "supported: every shard's calls and cumulative buckets added up",
    "latency|reset": "supported: every shard; counts distinct events",
    "latency|doctor": "supported: the endpoint's own short report of every shard's events",
    "memory|stats": "supported: figures summed over every shard, ratios recomputed from the sums",
    "config|resetstat": "supported: every shard's statistics (INFO stats, commandstats, "
                        "errorstats, latencystats, SLOWLOG stays); the endpoint's own counters "
                        "(connections, commands, /metrics) only ever grow and are kept",
    "script|kill": "supported: every shard; NOTBUSY when no shard runs a script",
    "function|kill": "supported: every shard; NOTBUSY when no shard runs a function",
    "function|stats": "supported: the running function of whichever shard runs one (while it "
                      "runs, as on Redis); the libraries and functions are every shard's",
}

# Blocking commands (BLPOP ...) are served on a private engine connection per client (ROUTE_KEYS
# plus CMD_F_BLOCKING); what remains for issue 3 is listed here.
LATER = {n: LATER3 for n in [
    "wait",
    "script", "function",
    "config", "slowlog", "latency", "memory", "acl", "client",
    "reset", "lastsave", "role", "object", "readwrite_", "migrate_",
]}
LATER["xread"] = None  # served; only its BLOCK form waits for issue 3 (checked at run time)
LATER["xreadgroup"] = None
LATER["object"] = None  # OBJECT subcommands have keys: served
LATER["memory"] = None

# Stratus's own flags, by command.
EXTRA_FLAGS = {
    "eval": ["CMD_F_SCRIPT_BODY"], "eval_ro": ["CMD_F_SCRIPT_BODY"],
    "script|load": ["CMD_F_SCRIPT_BODY"],
    "evalsha": ["CMD_F_SCRIPT_SHA"], "evalsha_ro": ["CMD_F_SCRIPT_SHA"],
    "script|flush": ["CMD_F_SCRIPT_FLUSH"],
}
# Read-only multi-key commands served across slots, exactly: the keys on other slots are copied
# into the first key's slot for the one command (src/proxy/gather.c).
GATHER = ("sinter", "sunion", "sdiff", "sintercard", "zunion", "zinter", "zdiff", "zintercard",
          "pfcount", "lcs",
          # stores that write only their first key: the sources are copied into its slot
          "sunionstore", "sinterstore", "sdiffstore", "zunionstore", "zinterstore", "zdiffstore",
          "zrangestore", "pfmerge", "bitop")
for _n in GATHER:
    EXTRA_FLAGS.setdefault(_n, []).append("CMD_F_GATHER")

# Redis's CMD_MAY_REPLICATE, which COMMAND does not show: what CLIENT PAUSE WRITE pauses besides
# writes (a script's own flags, when it declares them, decide for it).
for _n in ("pfcount", "publish", "spublish", "eval", "evalsha", "fcall"):
    EXTRA_FLAGS.setdefault(_n, []).append("CMD_F_MAY_REPLICATE")
EXTRA_FLAGS.update({"script|kill": ["CMD_F_OOB"], "function|kill": ["CMD_F_OOB"],
                    "function|stats": ["CMD_F_OOB"]})
# Scripts and functions run on a link of their own (proxy/router.c: link kinds).
for _n in ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"):
    EXTRA_FLAGS.setdefault(_n, []).append("CMD_F_RUNS_CODE")
# Key positions or access flags that depend on the arguments (Redis 7.0's getkeys procs for
# incomplete or VARIABLE_FLAGS key specs): SORT's STORE key, SET ... GET, BITFIELD GET only.
for _n in ("sort", "sort_ro", "set", "bitfield"):
    EXTRA_FLAGS.setdefault(_n, []).append("CMD_F_KEYS_PROC")
# Answered from engine requests the endpoint composes itself (merged, filtered), sent under the
# endpoint's own engine user rather than the client's; they run after the client's earlier
# commands and before its later ones (src/control/acl_engine.h).
for _n in ("info", "config|get", "config|set", "lastsave", "slowlog|get", "slowlog|len",
           "slowlog|reset", "latency|latest", "latency|history", "latency|histogram",
           "latency|reset", "latency|doctor", "memory|stats", "memory|purge", "config|resetstat"):
    EXTRA_FLAGS.setdefault(_n, []).append("CMD_F_ENDPOINT")

FLAG_MAP = {"write": "CMD_F_WRITE", "readonly": "CMD_F_READONLY", "blocking": "CMD_F_BLOCKING",
            "no_auth": "CMD_F_NOAUTH", "movablekeys": "CMD_F_MOVABLE", "fast": "CMD_F_FAST",
            "no_multi": "CMD_F_NO_MULTI"}


# ACL categories, in the order of their bits in cmd_def.acl (Redis 7.0's list).
ACL_CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
                  "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
                  "blocking", "dangerous", "connection", "transaction", "scripting"]


def acl_bits(cmd):
    bits = 0
    for c in cmd["acl"]:
        bits |= 1 << ACL_CATEGORIES.index(c.lstrip("@"))
    return bits


def ks_access(ks):
    """What ACL key permissions a key spec needs: read for access, write for insert/delete/
    update (Redis's rule for %R~ and %W~ patterns)."""
    acc = []
    if "not_key" in ks["flags"]:
        return "KS_ACC_NOTKEY"
    if "access" in ks["flags"]:
        acc.append("KS_ACC_READ")
    if any(f in ks["flags"] for f in ("insert", "delete", "update")):
        acc.append("KS_ACC_WRITE")
    return " | ".join(acc) or "0"


def c_str(s):
    return "NULL" if s is None else json.dumps(s)


def decide(cmd, has_keys):
    name = cmd["name"]
    parent = name.split("|")[0]
    if name in REFUSED:
        return ("REFUSED", "NONE", None, REFUSED[name])
    if name in POLICY:
        r, m, l = POLICY[name]
        return (r, m, l, REFUSED_PART.get(name))
    if cmd["subcommands"]:
        return ("PARENT", "NONE", None, None)
    if name in LATER and LATER[name]:
        return ("LATER", "NONE", None, LATER[name])
    if "|" in name and parent in LATER and LATER[parent]:
        return ("LATER", "NONE", None, LATER[parent])
    if "|" in name and parent in REFUSED:
        return ("REFUSED", "NONE", None, REFUSED[parent])
    if has_keys:
        return ("KEYS", "NONE", None, None)
    return ("LATER", "NONE", None, "this server command is not served by the endpoint yet")


def emit_specs(out, cname, cmd):
    specs = []
    for ks in cmd["key_specs"]:
        bs, fk = ks["begin_search"], ks["find_keys"]
        if bs["type"] == "index":
            b = ("KS_BS_INDEX", bs["index"], None)
        elif bs["type"] == "keyword":
            b = ("KS_BS_KEYWORD", bs["startfrom"], bs["keyword"])
        else:
            b = ("KS_BS_UNKNOWN", 0, None)
        if fk["type"] == "range":
            f = ("KS_FK_RANGE", fk["lastkey"], fk["keystep"], fk["limit"])
        elif fk["type"] == "keynum":
            f = ("KS_FK_KEYNUM", fk["keynumidx"], fk["firstkey"], fk["keystep"])
        else:
            f = ("KS_FK_UNKNOWN", 0, 0, 0)
        specs.append("{%s, %s, %d, %s, %d, %d, %d, %s}" % (b[0], f[0], b[1], c_str(b[2]), f[1], f[2],
                                                          f[3], ks_access(ks)))
    if specs:
        out.append("static const cmd_keyspec ks_%s[] = {%s};" % (cname, ", ".join(specs)))
    return len(specs)


def cident(name):
    return name.replace("|", "__").replace("-", "_")


# Stratus's own commands, in Redis's COMMAND format (they are not in the Redis dump).
STRATUS_COMMANDS = [{
    "name": "stratus", "arity": -2, "flags": ["admin", "noscript", "loading", "stale"],
    "first": 0, "last": 0, "step": 0, "acl": ["@admin", "@slow", "@dangerous"], "tips": [],
    "key_specs": [], "subcommands": [
        {"name": "stratus|scale", "arity": 3, "flags": ["admin", "noscript", "loading", "stale"],
         "first": 0, "last": 0, "step": 0, "acl": ["@admin", "@slow", "@dangerous"],
         "tips": [], "key_specs": [], "subcommands": []},
        {"name": "stratus|hibernate", "arity": 2,
         "flags": ["admin", "noscript", "loading", "stale"],
         "first": 0, "last": 0, "step": 0, "acl": ["@admin", "@slow", "@dangerous"],
         "tips": [], "key_specs": [], "subcommands": []},
    ] + [
        {"name": "stratus|" + sub, "arity": arity, "flags": ["noscript", "loading", "stale"],
         "first": 0, "last": 0, "step": 0, "acl": ["@slow", "@connection"],
         "tips": [], "key_specs": [], "subcommands": []}
        for sub, arity in (("cost", -3), ("usage", 2), ("receipts", 3), ("receipt", 2))
    ]}]
POLICY["stratus|scale"] = ("LOCAL", "NONE", "STRATUS_SCALE")
POLICY["stratus|hibernate"] = ("LOCAL", "NONE", "STRATUS_HIBERNATE")
POLICY["stratus|cost"] = ("LOCAL", "NONE", "STRATUS_COST")
POLICY["stratus|usage"] = ("LOCAL", "NONE", "STRATUS_USAGE")
POLICY["stratus|receipts"] = ("LOCAL", "NONE", "STRATUS_RECEIPTS")
POLICY["stratus|receipt"] = ("LOCAL", "NONE", "STRATUS_RECEIPT")


def load_commands():
    data = json.load(open(os.path.join(HERE, "redis-7.0-commands.json")))
    data["commands"] = sorted(data["commands"] + STRATUS_COMMANDS, key=lambda c: c["name"])
    return data


def main():
    data = load_commands()
    out = ["/* Generated by scripts/gen-commands.py from scripts/redis-7.0-commands.json",
           " * (%s) and the routing policy in that script. Do not edit. */" % data["source"],
           '#include "proto/cmdtable.h"', "", "#include <stddef.h>", ""]
    defs = []
    next_id = [0]

    def entry(cmd, is_sub):
        name = cmd["name"]
        cname = cident(name)
        nspecs = emit_specs(out, cname, cmd)
        has_keys = nspecs > 0 and any(
            k["begin_search"]["type"] != "unknown" for k in cmd["key_specs"])
        route, merge, local, reason = decide(cmd, has_keys)
        flags = ([FLAG_MAP[f] for f in cmd["flags"] if f in FLAG_MAP]
                 + EXTRA_FLAGS.get(name, [])) or ["0"]
        subs = "NULL"
        nsubs = 0
        if cmd["subcommands"]:
            sub_entries = [entry(s, True) for s in sorted(cmd["subcommands"], key=lambda s: s["name"])]
            out.append("static const cmd_def subs_%s[] = {\n    %s,\n};" % (cname, ",\n    ".join(sub_entries)))
            subs = "subs_" + cname
            nsubs = len(sub_entries)
        sub = name.split("|")[1] if is_sub else None
        cid = next_id[0]
        next_id[0] += 1
        return "{%s, %s, %d, %s, ROUTE_%s, MERGE_%s, LOCAL_%s, %d, %s, %s, %s, %d, %d, 0x%xu}" % (
            c_str(name), c_str(sub), cmd["arity"], " | ".join(flags), route, merge,
            local or "NONE", nspecs, ("ks_" + cname) if nspecs else "NULL", c_str(reason), subs, nsubs,
            cid, acl_bits(cmd))

    for cmd in data["commands"]:
        defs.append(entry(cmd, False))
    out.append("")
    out.append("const cmd_def cmd_table[] = {\n    %s,\n};" % ",\n    ".join(defs))
    out.append("const size_t cmd_table_len = sizeof(cmd_table) / sizeof(cmd_table[0]);")
    out.append("const size_t cmd_ids = %d;" % next_id[0])
    out.append("const char *const cmd_acl_categories[] = {%s};" % ", ".join(c_str(c) for c in ACL_CATEGORIES))
    out.append("const size_t cmd_acl_ncategories = %d;" % len(ACL_CATEGORIES))
    target = os.path.join(ROOT, "src", "proto", "cmdtable_gen.c")
    open(target, "w").write("\n".join(out) + "\n")
    print("wrote %s (%d commands)" % (os.path.relpath(target, ROOT), len(defs)), file=sys.stderr)
    write_docs(data)


RULES = {
    "KEYS": "supported: keys of one command must share a hash slot (else -CROSSSLOT naming them)",
    "ANY": "supported: answered by any engine (no keys)",
    "LOCAL": "supported: answered by the endpoint",
    "TXN": "supported: transactions run on the slot's primary; every key of a MULTI block (and "
           "of WATCH) must share one slot (else -CROSSSLOT, and EXEC aborts)",
    "SPLIT": "supported across slots: split per slot, replies merged in key order",
    "ALL": "supported: sent to every shard, replies merged",
    "SLOT_ARG": "supported: routed to the engine owning the slot given",
    "GATHER": "supported across slots: exact (Redis's own reply); keys on other slots are copied "
              "into the first key's slot for the one command (see Cross-slot reads above)",
}


def _excluded(path):
    """(reason paragraph, [test names]) groups of an excluded*.txt of tests/conformance."""
    groups, reason, names = [], [], []
    for line in open(path).read().splitlines():
        if line.startswith("#"):
            if names:
                groups.append((" ".join(reason), names))
                reason, names = [], []
            reason.append(line.lstrip("# ").rstrip())
        elif line.strip():
            names.append(line.strip())
        elif names:
            groups.append((" ".join(reason), names))
            reason, names = [], []
        else:
            reason = [] if not names else reason
    if names:
        groups.append((" ".join(reason), names))
    return groups


def conformance_section():
    """Redis's own test suite: the measured figures (tests/conformance/figures.md, written from
    a run of `make conformance`) and every excluded test with its reason."""
    here = os.path.join(ROOT, "tests", "conformance")
    out = ["## Redis's own test suite", ""]
    out += open(os.path.join(here, "figures.md")).read().rstrip("\n").split("\n")
    out += ["", "### Tests excluded by name", "",
            "Each is listed in `tests/conformance/excluded.txt` (every configuration) or",
            "`excluded-sharded.txt` (several shards), under its reason:", ""]
    for fname, scope in (("excluded.txt", ""), ("excluded-sharded.txt", " (several shards only)")):
        for reason, names in _excluded(os.path.join(here, fname)):
            if not names:
                continue
            out.append("- %s%s" % (reason, scope))
            out.append("  " + "; ".join("`%s`" % n for n in names) + ".")
    out.append("")
    return out


def write_docs(data):
    rows = []

    def add(cmd, is_sub):
        name = cmd["name"]
        nspecs = len(cmd["key_specs"])
        has_keys = nspecs > 0 and any(k["begin_search"]["type"] != "unknown" for k in cmd["key_specs"])
        route, merge, local, reason = decide(cmd, has_keys)
        if route == "PARENT":
            for sc in sorted(cmd["subcommands"], key=lambda x: x["name"]):
                add(sc, True)
            return
        shown = name.upper().replace("|", " ")
        if name in DOC_NOTES and route not in ("REFUSED", "LATER"):
            status, why = "supported", DOC_NOTES[name]
        elif name == "publish":
            status, why = "supported", ("supported: sent to the engine every subscriber's "
                                        "connection is on (shard 0's primary), so the count is "
                                        "exact; inside MULTI it runs on the transaction's shard "
                                        "and reaches every subscriber (the cluster passes it on), "
                                        "the count being that engine's own, as in Redis Cluster")
        elif name in ("pubsub|channels", "pubsub|numsub", "pubsub|numpat"):
            status, why = "supported", ("supported: sent to the engine every subscriber's "
                                        "connection is on (shard 0's primary), so counts are exact")
        elif name in ("subscribe", "psubscribe", "unsubscribe", "punsubscribe"):
            status, why = "supported", ("supported: one engine connection per subscriber; a "
                                        "PUBLISH from any client reaches it, whatever the shard")
        elif name in ("ssubscribe", "sunsubscribe"):
            status, why = "supported", ("supported: the channels of one command must share a slot "
                                        "(else -CROSSSLOT); the subscription is made on the engine "
                                        "owning that slot, so SPUBLISH from any client reaches it")
        elif name == "spublish":
            status, why = "supported", "supported: routed to the engine owning the channel's slot"
        elif name in ("pubsub|shardchannels", "pubsub|shardnumsub"):
            status, why = "supported", ("supported: every shard asked; a shard channel lives on one "
                                        "shard, so the merged answer is exact")
        elif name.startswith("config|") and route == "LOCAL":
            status, why = "supported", (
                "supported: CONFIG SET accepts an allow-list of engine settings (notify-keyspace-"
                "events, maxmemory-policy, slowlog-*, encodings ...), applies it to every engine "
                "(replicas and engines started later too) and keeps it across restarts; CONFIG GET "
                "shows only those settings and maxmemory/appendonly/save" if name == "config|set" else
                "supported: shows the settable engine settings (plus maxmemory, appendonly, save); "
                "engine paths, ports and secrets are never shown")
        elif name.startswith("acl|") and route == "LOCAL":
            status, why = "supported", ("supported: ACL users belong to the cache, are enforced by "
                                        "the endpoint and by every engine (scripts included) and "
                                        "are kept durably; selectors are refused"
                                        if name != "acl|log" else
                                        "supported: the cache's log of denied commands, keys, "
                                        "channels and failed AUTHs, as Redis 7.0 keeps it "
                                        "(acllog-max-len settable with CONFIG SET)")
        elif name == "stratus|scale":
            status, why = "supported", ("Stratus's own: STRATUS SCALE <shards> reshards the cache "
                                        "live to that many shards (admin users only)")
        elif name == "stratus|hibernate":
            status, why = "supported", ("Stratus's own: STRATUS HIBERNATE puts the cache to sleep "
                                        "now (engines saved and stopped; the next request wakes "
                                        "it), as --hibernate-after does when it is idle (admin "
                                        "users only)")
        elif name == "stratus|cost":
            status, why = "supported", ("Stratus's own: STRATUS COST <command ...> says what that "
                                        "command costs in ECPU without running it (a read is run "
                                        "to measure its reply, its result dropped); "
                                        "docs/pricing.md")
        elif name == "stratus|usage":
            status, why = "supported", ("Stratus's own: the cache's usage so far (ECPU, bytes, "
                                        "storage GB-hours, throttled commands)")
        elif name == "stratus|receipts":
            status, why = "supported", ("Stratus's own: STRATUS RECEIPTS ON|OFF: on RESP3 every "
                                        "reply carries its ECPU as an attribute")
        elif name == "stratus|receipt":
            status, why = "supported", ("Stratus's own: the cost of this connection's last command "
                                        "and its total (the RESP2 way to read receipts)")
        elif name == "wait":
            status, why = "supported", ("supported: waits on every shard this connection wrote to "
                                        "since its last satisfied WAIT and answers the smallest "
                                        "replica count")
        elif name == "scan":
            status, why = "supported", ("supported: one cursor walks every shard in turn; MATCH, "
                                        "COUNT and TYPE honoured")
        elif name in ("multi", "exec", "discard", "watch", "unwatch"):
            status, why = "supported", RULES["TXN"]
        elif name in GATHER:
            status, why = "supported", RULES["GATHER"]
        elif route in RULES:
            status, why = "supported", RULES[route]
            if "blocking" in cmd["flags"]:
                why += "; it blocks on a private engine connection of its own"
        elif route == "REFUSED":
            status, why = "refused", reason
        else:
            status, why = "not yet", reason
        rows.append((shown, status, why))

    for cmd in data["commands"]:
        add(cmd, False)
    counts = {}
    for r in rows:
        counts[r[1]] = counts.get(r[1], 0) + 1
    lines = [
        "# Commands",
        "",
        "Generated by `scripts/gen-commands.py` from the command table (`src/proto/cmdtable_gen.c`),",
        "which is itself generated from the `COMMAND` output of Redis %s and the routing policy in" % "7.0.15",
        "that script. Every Redis 7.0 command and subcommand is listed: %s." % ", ".join(
            "%d %s" % (v, k) for k, v in sorted(counts.items())),
        "",
        "- **supported**: works through the endpoint; the rule says how it is routed.",
        "- **refused**: refused by design; the error says why and what to use instead.",
        "- **not yet**: refused with an error naming the plan, until the issue that adds it lands.",
        "",
        "Rules that apply to every command:",
        "",
        "- Before AUTH only AUTH, HELLO (with AUTH) and QUIT are accepted (`-NOAUTH` otherwise).",
        "- A cache has one database: `SELECT 0` is accepted, any other index is an error.",
        "- `MOVED`, `ASK`, `TRYAGAIN`, `LOADING` and `CLUSTERDOWN` from the engines are absorbed by the",
        "  endpoint (retried within `--backend-timeout`), never shown to clients.",
        "- A client's commands run on the engines under its ACL user's identity, so scripts and",
        "  functions are checked call by call as on Redis (`The user executing the script can't",
        "  ...`). Whatever the user's rules, a script cannot call what would show the engines",
        "  (`INFO`, `CLUSTER` other than `KEYSLOT`/`COUNTKEYSINSLOT`/`GETKEYSINSLOT`/`HELP`, `ROLE`,",
        "  `SLOWLOG GET`, `CLIENT`, `CONFIG`, `ACL`) or what is refused below: the endpoint answers",
        "  those itself (docs/security.md, \"What the engine enforces\").",
        "",
        "## Cross-slot reads and stores",
        "",
        "`SINTER`, `SUNION`, `SDIFF`, `SINTERCARD`, `ZUNION`, `ZINTER`, `ZDIFF`, `ZINTERCARD`,",
        "`PFCOUNT` and `LCS` also work when their keys are on different slots, with Redis's own",
        "reply (options such as `WITHSCORES`, `WEIGHTS`, `AGGREGATE`, `LIMIT`, `LEN`, `IDX` included),",
        "and so do the stores that write only their first key: `SUNIONSTORE`, `SINTERSTORE`,",
        "`SDIFFSTORE`, `ZUNIONSTORE`, `ZINTERSTORE`, `ZDIFFSTORE`, `ZRANGESTORE`, `PFMERGE` and",
        "`BITOP` (the destination's primary runs the store; the first key below is the destination):",
        "the endpoint copies each key of another slot (`DUMP`) and has the first key's primary run",
        "`MULTI`, a `RESTORE` of each copy under a temporary name in the first key's slot, the",
        "command on those names, an `UNLINK` of them, `EXEC`. Limits:",
        "",
        "- The result is consistent per shard, not a snapshot across shards (as for cross-slot `MGET`).",
        "- Each foreign value travels through the endpoint and is held in memory twice for the",
        "  command (its dump, then its copy on the first key's engine): fine for the sets and sorted",
        "  sets these commands are used with, costly for values of hundreds of megabytes.",
        "- The copies are writes on the first key's engine: with keyspace notifications enabled, their",
        "  `restore` and `del` events are visible under names containing `__stratus_tmp:`, and they",
        "  reach that engine's AOF and replicas. The copies exist only inside the `MULTI`, so no",
        "  client ever reads them and none is left behind.",
        "- Inside `MULTI` and while `WATCH` is in force, the keys must share one slot (`-CROSSSLOT`),",
        "  as must the keys of the commands that write several keys (`SMOVE`, `RENAME`, `COPY`, `LMOVE`,",
        "  `MSETNX`, `SORT ... STORE`, `GEORADIUS ... STORE` ...): each would be two writes on two",
        "  engines, and no engine can make them one atomic step.",
        "",
    ]
    lines += conformance_section()
    lines += [
        "## Every command",
        "",
        "| command | status | rule or reason |",
        "|---|---|---|",
    ]
    for shown, status, why in rows:
        lines.append("| %s | %s | %s |" % (shown, status, why))
    target = os.path.join(ROOT, "docs", "commands.md")
    open(target, "w").write("\n".join(lines) + "\n")
    print("wrote %s (%d rows)" % (os.path.relpath(target, ROOT), len(rows)), file=sys.stderr)


if __name__ == "__main__":
    main()
