/* Supervisor room internals shared by supervisor.c (orchestration), spawn.c (spawning, the
 * manifest, adoption), health.c (health checks, failover) and migrate.c (shards added and
 * removed, slots moved). Control thread only, like the supervisor itself. */
#ifndef STRATUS_SUPERVISOR_INT_H
#define STRATUS_SUPERVISOR_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "cluster/agent.h"
#include "cluster/engine.h"
#include "cluster/supervisor.h"
#include "common/buf.h"
#include "common/compiler.h"
#include "proto/resp.h"

#define MAX_ENGINES TOPO_MAX_NODES
#define CALL_MS 2000
#define HEALTH_MS 300 /* one health check's own timeout, and any call to an engine failing them */

/* One engine process. Invariant: pid > 0 exactly while the child runs (not yet reaped). A
 * follower (--follow) runs no engine: every engine it knows has pid 1 and is never signalled. */
typedef struct {
    char name[16];          /* "n0", "n1", ... */
    char dir[4096];         /* engine directory */
    char addr[112];         /* proxy address: unix socket path or 127.0.0.1:port */
    int port;               /* client/replication TCP port (loopback) */
    int bus_port;           /* cluster bus port (loopback) */
    int shard;              /* shard it was created for */
    int primary;            /* created as the shard's primary */
    pid_t pid;              /* running child, 0 if none */
    uint64_t next_start_ms; /* restart backoff */
    int failures;           /* consecutive quick deaths */
    uint64_t started_ms;    /* last spawn */
    engine_client cli;      /* control connection */
    char id[41];            /* cluster node id, once known ("" until then) */
    double cpu_prev;        /* used_cpu_sys + used_cpu_user at the last sample, seconds */
    uint64_t cpu_prev_ms;   /* when */
    uint64_t maxmemory;     /* maxmemory set at runtime (vertical step), 0: the shard size */
    uint64_t last_ok_ms;    /* last health check it answered */
    uint64_t checked_ms;    /* last health check */
    uint64_t cpu_ticks;     /* its process's CPU time (clock ticks) at the last silent
                               health check, 0 once it answers again */
    long long repl_offset;  /* master_repl_offset at its last health check (primaries) */
    int state_ok;           /* its last CLUSTER INFO said cluster_state:ok */
    int busy;               /* its last health check found it busy (-BUSY, or silent and running) */
    int held;               /* a dead primary: not restarted until a replica took over */
    char replicate_to[41];  /* once it answers again, CLUSTER REPLICATE this (a fenced primary) */
    int adopted;            /* left running by an earlier Stratus: not our child (no waitpid) */
    char zone[16];          /* zone it was placed in */
    char host[48];          /* a follower's engines: the address the cluster knows it by */
    uint64_t in_sync_since; /* a replica in the preferred zone: in sync since (failback) */
    uint64_t users_version; /* users version this process was brought in step with */
    pid_t users_pid;        /* the process that was (0: none since it started) */
} engine;

/* A zone whose engines run elsewhere: in a network namespace of this host (--zone-netns
 * zone:netns:ip), or on another host's agent (--zone-agents zone=host:port; agent != NULL). */
typedef struct {
    char zone[16];
    char netns[64];
    char ip[48];
    agent_link *agent;
} zone_net;

struct supervisor {
    int migrate_keys; /* keys per MIGRATE pipeline, adapted so the source stays responsive */
    char *cache_name;
    char *dir;
    char *binary;
    char *password;
    char *proxy_password;
    char *proxy_rules; /* the engines' "stratus-proxy" user: its rules and password */
    int shards, replicas, node_timeout_ms, failover_timeout_ms, sync_writes, failback_delay_ms;
    long engine_maxclients;    /* rendered maxclients (0: Redis's default) */
    char maxmemory_policy[24]; /* what the engines evict at their maxmemory */
    char *follow; /* --follow seeds ("" unless this endpoint follows a control plane elsewhere) */
    int64_t failovers;
    char zones[8][16]; /* --zones */
    int nzones;
    int preferred; /* index of --preferred-zone in zones, -1 to spread primaries */
    zone_net znet[8];
    int nznet;
    uint64_t maxmemory;
    int nengines;
    engine engines[MAX_ENGINES];
    char *overrides;         /* "name value\n" lines clients set (CONFIG SET), rendered last */
    void (*idle)(void *arg); /* called while a long operation waits (health checks go on) */
    void *idle_arg;
    int64_t restarts;
    char version[32];
    uint64_t users_version; /* the cache's users as the engines must have them: version, */
    buf users_cmds;         /* the ACL SETUSER commands that make them (RESP), */
    size_t nusers_cmds;     /* how many, */
    char **user_names;      /* their engine names, */
    size_t nuser_names;
    char *users_prefix;       /* and the prefix of the engine users they own (others are deleted) */
    uint64_t users_warned_ms; /* last warning about an engine refusing them (rate limit) */
};

/* ---- supervisor.c: talking to engines ---- */

/* Connect e's control client if needed; 0 when the engine answers. */
int sup_engine_ready(supervisor *s, engine *e, int timeout_ms);
/* Call argv (NULL-terminated) on e, briefly if e is unresponsive; NULL if no reply. */
const resp_value *sup_ecall(supervisor *s, engine *e, const char *const *argv);
#define ECALL(s, e, ...) sup_ecall((s), (e), (const char *const[]){__VA_ARGS__, NULL})
/* Whether v is a reply and not an error. */
int sup_reply_ok(const resp_value *v);
/* An engine reply's text for a log line or an error, at most 200 bytes (a reply's str is not
 * NUL-terminated: it points into the connection's buffer); alt when there was no reply. For "%.*s":
 * SUP_REPLY_LEN, then SUP_REPLY_TEXT. */
#define SUP_REPLY_TEXT(v, alt) ((v) ? ((v)->str ? (v)->str : "") : (alt))
#define SUP_REPLY_LEN(v, alt) ((v) ? (int)MIN((v)->len, 200) : (int)strlen(alt))
/* Find "field:" in an INFO-like reply v; copies the value to out (n bytes). 0, or -1. */
int sup_info_field(const resp_value *v, const char *field, char *out, size_t n);
/* e's cluster node id into out (n bytes), asked once and remembered (e->id). 0, or -1. */
int sup_node_id(supervisor *s, engine *e, char *out, size_t n);
/* Nodes e knows (its CLUSTER NODES lines, those in handshake left out), or -1. */
int sup_count_known_nodes(supervisor *s, engine *e);
/* Whether e's CLUSTER INFO says cluster_state:ok. */
int sup_cluster_state_ok(supervisor *s, engine *e);
/* Sleep ms milliseconds. */
void sup_pause_ms(long ms);
/* The running engine whose node id is id, or NULL. */
engine *sup_engine_by_id(supervisor *s, const char *id);

/* ---- spawn.c: spawning engines, the manifest, adoption ---- */

/* The network namespace and address of e's zone (--zone-netns, --zone-agents), or NULL. */
const zone_net *sup_zone_of(const supervisor *s, const engine *e);
/* The address e listens on and the cluster knows it by. */
const char *sup_engine_ip(const supervisor *s, const engine *e);
/* The agent that runs e (another host), or NULL when this process does. */
agent_link *sup_agent_of(const supervisor *s, const engine *e);
/* Set e's directory and proxy address from its name, zone and port. */
void sup_engine_paths(supervisor *s, engine *e);
/* Set the zone of e, the k-th engine (k == 0: the primary) of new shard `shard`. */
void sup_place(const supervisor *s, engine *e, int shard, int k);
/* Write the manifest (engines, ports, shards, roles, zones); 0 or a negative errno. */
int sup_save_manifest(supervisor *s);
/* Read the manifest into fresh engine records: engines read, 0 if none, or a negative errno. */
int sup_load_manifest(supervisor *s);
/* Two free ports for e where it runs (this host or its agent's); -1 in each if none. */
void sup_free_ports(supervisor *s, engine *e, int *port, int *bus);
/* Send sig to e's process (through its agent for another host's engine; best effort). */
void sup_engine_signal(supervisor *s, engine *e, int sig);
/* Render e's configuration and start it (here, or on its zone's agent); 0 or a negative errno. */
int sup_spawn_engine(supervisor *s, engine *e);
/* Wait until every engine answers PING (children that died are reported). 0, or -1 with err. */
int sup_wait_engines_up(supervisor *s, uint64_t deadline, char *err, size_t errlen);
/* First start: epochs, MEET, slots, replicas. 0, or -1 with err. */
int sup_build_cluster(supervisor *s, uint64_t deadline, char *err, size_t errlen);
/* Whether e's process has ended; *status is set for a reaped child, else -1. */
int sup_engine_ended(supervisor *s, engine *e, int *status);
/* Adopt the engines an earlier Stratus left running (stopping those it cannot); how many. */
int sup_adopt_running(supervisor *s);

/* ---- health.c: health checks and failover ---- */

/* A running replica of primary p's shard, or NULL. */
engine *sup_live_replica(supervisor *s, const engine *p);

#endif
