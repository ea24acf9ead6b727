/* Service settings, defined once as a table: each has a flag (--name), an environment variable
 * (STRATUS_NAME), a config-file key (name), a type, bounds and help. Precedence: defaults <
 * config file < environment < flags. Errors name the setting and the fix. */
#ifndef STRATUS_SETTINGS_H
#define STRATUS_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

/* X(field, name, type, default, min, max, help) */
#define SETTINGS_LIST(X)                                                                           \
    X(data_dir, "data-dir", SET_STR, "./stratus-data", 0, 0,                                       \
      "directory for engines, certificates and secrets")                                           \
    X(port, "port", SET_INT, "6379", 0, 65535, "TLS port of the endpoint (0: any free port)")      \
    X(plaintext_port, "plaintext-port", SET_PORT_OFF, "off", 0, 65535,                             \
      "plaintext port for local development (off by default; 0: any free port)")                   \
    X(bind, "bind", SET_STR, "127.0.0.1", 0, 0, "address the endpoint listens on")                 \
    X(reader_port, "reader-port", SET_PORT_OFF, "off", 0, 65535,                                   \
      "TLS port whose reads are served by a replica in this endpoint's zone (0: any free port)")   \
    X(metrics_port, "metrics-port", SET_PORT_OFF, "off", 0, 65535,                                 \
      "HTTP port of the Prometheus metrics, GET /metrics (off by default; 0: any free port)")      \
    X(zones, "zones", SET_STR, "", 0, 0,                                                           \
      "zones of a new cache, e.g. a,b,c (default: one per engine of a shard, z1, z2, ...)")        \
    X(preferred_zone, "preferred-zone", SET_STR, "", 0, 0,                                         \
      "zone of every primary of a new cache (default: primaries spread over the zones)")           \
    X(zone_netns, "zone-netns", SET_STR, "", 0, 0,                                                 \
      "zones whose engines run in a network namespace: zone:netns:ip,... (see docs)")              \
    X(zone_agents, "zone-agents", SET_STR, "", 0, 0,                                               \
      "zones whose engines run on other hosts' `stratus agent`: zone=host:port,... (see docs)")    \
    X(agent_token_file, "agent-token-file", SET_STR, "", 0, 0,                                     \
      "token the agents check (default: <data-dir>/agent-token, created at first start)")          \
    X(follow, "follow", SET_STR, "", 0, 0,                                                         \
      "run as a zone endpoint of a cache whose control plane runs elsewhere: its engines "         \
      "host:port,...")                                                                             \
    X(zone, "zone", SET_STR, "", 0, 0,                                                             \
      "zone of this endpoint (default: the preferred zone, else the first)")                       \
    X(shards, "shards", SET_INT, "1", 1, 64, "shards (primaries) of a new cache")                  \
    X(replicas, "replicas", SET_INT, "1", 0, 2, "replicas per shard of a new cache")               \
    X(threads, "threads", SET_INT, "0", 0, 64, "worker threads (0: one per core)")                 \
    X(tls_cert, "tls-cert", SET_STR, "", 0, 0,                                                     \
      "your server certificate (PEM); default: generated")                                         \
    X(tls_key, "tls-key", SET_STR, "", 0, 0, "your server private key (PEM)")                      \
    X(tls_ca, "tls-ca", SET_STR, "", 0, 0, "CA certificate to show clients (PEM)")                 \
    X(engine_binary, "engine-binary", SET_STR, "", 0, 0,                                           \
      "redis-server or valkey-server to run (default: found on PATH)")                             \
    X(backend_timeout, "backend-timeout", SET_INT, "5000", 50, 600000,                             \
      "milliseconds an engine may take to answer before the client gets an error")                 \
    X(maxclients, "maxclients", SET_INT, "10000", 1, 1000000,                                      \
      "client connections the cache accepts; the next gets -ERR max number of clients reached")    \
    X(idle_timeout, "idle-timeout", SET_INT, "0", 0, 31536000,                                     \
      "seconds a client may send nothing before it is closed (0: never; clients waiting in a "     \
      "blocking command or subscribed are exempt)")                                                \
    X(handshake_timeout, "handshake-timeout", SET_INT, "10000", 100, 600000,                       \
      "milliseconds a client has to finish its TLS handshake")                                     \
    X(auth_timeout, "auth-timeout", SET_INT, "10000", 100, 3600000,                                \
      "milliseconds from connecting to a successful AUTH (or HELLO ... AUTH); then it is closed")  \
    X(client_output_limit, "client-output-limit", SET_STR, "256mb", 0, 0,                          \
      "replies a client may leave unread before it is disconnected (0: no limit)")                 \
    X(auth_failures_per_minute, "auth-failures-per-minute", SET_INT, "10", 0, 1000000,             \
      "failed AUTH attempts allowed per client address per minute (0: no throttle)")               \
    X(max_blocking_clients, "max-blocking-clients", SET_INT, "0", 0, 1000000,                      \
      "clients that may hold a private engine connection (blocking commands, WATCH, "              \
      "subscriptions) at once; 0: as many as the open-file limit leaves after --maxclients, up "   \
      "to --maxclients")                                                                           \
    X(max_blocking_per_user, "max-blocking-per-user", SET_INT, "0", 0, 1000000,                    \
      "of those, how many one ACL user may hold, so one user cannot take them all; 0: nine "       \
      "tenths of --max-blocking-clients")                                                          \
    X(node_timeout, "node-timeout", SET_INT, "5000", 500, 600000,                                  \
      "milliseconds before the cluster considers an engine down")                                  \
    X(failover_timeout, "failover-timeout", SET_INT, "1000", 200, 600000,                          \
      "milliseconds a primary may stay silent before its replica takes over (a dead one: at "      \
      "once)")                                                                                     \
    X(failback_delay, "failback-delay", SET_INT, "30000", 0, 86400000,                             \
      "milliseconds a replica in --preferred-zone stays in sync before it is primary again")       \
    X(durability, "durability", SET_STR, "async", 0, 0,                                            \
      "async: a write is acknowledged by the primary alone; sync: once a replica has it too")      \
    X(start_timeout, "start-timeout", SET_INT, "60000", 1000, 3600000,                             \
      "milliseconds to wait for the engines at start")                                             \
    X(shard_memory, "shard-memory", SET_STR, "1gb", 0, 0,                                          \
      "memory of each shard (its primary's maxmemory), e.g. 512mb, 1gb")                           \
    X(autoscale, "autoscale", SET_STR, "on", 0, 0,                                                 \
      "on: add and remove shards with the load (see docs/configuration.md); off: fixed")           \
    X(min_shards, "min-shards", SET_INT, "1", 1, 64, "autoscaling never goes below this")          \
    X(max_shards, "max-shards", SET_INT, "16", 1, 64, "autoscaling never goes above this")         \
    X(scale_out_window, "scale-out-window", SET_INT, "30000", 0, 3600000,                          \
      "milliseconds CPU or ops/s must stay over their mark before a scale-out")                    \
    X(scale_in_window, "scale-in-window", SET_INT, "300000", 0, 86400000,                          \
      "milliseconds every shard must stay under the low marks before a scale-in")                  \
    X(scale_out_cooldown, "scale-out-cooldown", SET_INT, "60000", 0, 86400000,                     \
      "milliseconds after a scaling action before the next scale-out")                             \
    X(scale_in_cooldown, "scale-in-cooldown", SET_INT, "300000", 0, 86400000,                      \
      "milliseconds after a scaling action before the next scale-in")                              \
    X(metering, "metering", SET_STR, "on", 0, 0,                                                   \
      "on: every command is metered in ECPU (docs/pricing.md); off: nothing is counted")           \
    X(meter_us_per_ecpu, "meter-us-per-ecpu", SET_INT, "10", 0, 1000000,                           \
      "microseconds of engine time per ECPU in the CPU part of the formula (0: data part only)")   \
    X(max_storage, "max-storage", SET_STR, "0", 0, 0,                                              \
      "usage limit: data the cache holds, e.g. 10gb (0: none); at it keys are evicted as "         \
      "--eviction says, then writes get OOM")                                                      \
    X(eviction, "eviction", SET_STR, "volatile-lru", 0, 0,                                         \
      "what goes at --max-storage: volatile-lru|lfu|ttl|random (keys with a TTL), "                \
      "allkeys-lru|lfu|random (any key) or noeviction (writes get OOM)")                           \
    X(max_ecpu_per_second, "max-ecpu-per-second", SET_INT, "0", 0, 1000000000,                     \
      "usage limit: ECPU per second for the cache (0: none); beyond it commands wait up to "       \
      "100 ms, then get THROTTLED")                                                                \
    X(user_ecpu_per_second, "user-ecpu-per-second", SET_STR, "", 0, 0,                             \
      "ECPU/s quotas per ACL user, user=N,... (so one app cannot starve another)")                 \
    X(usage_retention_days, "usage-retention-days", SET_INT, "90", 1, 36500,                       \
      "days of per-minute usage records kept")                                                     \
    X(hibernate_after, "hibernate-after", SET_INT, "600", 0, 31536000,                             \
      "seconds without a request before the cache hibernates (engines saved and stopped; the "     \
      "next request wakes it); 0: never")                                                          \
    X(cache_name, "cache-name", SET_STR, "default", 0, 0,                                          \
      "the cache this process serves (`stratus serve` starts one process per cache)")              \
    X(api_port, "api-port", SET_PORT_OFF, "8379", 0, 65535,                                        \
      "HTTP port of the control plane's API and web console (off: none)")                          \
    X(api_hosts, "api-hosts", SET_STR, "", 0, 0,                                                   \
      "more names the Host header of the API, console and /metrics may carry, e.g. "               \
      "stratus.example.com,10.0.0.5 (the address listened on and localhost always work)")          \
    X(log_level, "log-level", SET_STR, "info", 0, 0, "debug, info, warn or error")

typedef enum { SET_STR, SET_INT, SET_PORT_OFF } setting_type;

#define SETTINGS_FIELD(f, name, type, def, lo, hi, help) SETTINGS_FIELD_##type##_(f)
#define SETTINGS_FIELD_SET_STR_(f) char f[4096];
#define SETTINGS_FIELD_SET_INT_(f) long f;
#define SETTINGS_FIELD_SET_PORT_OFF_(f) long f; /* -1 = off */

/* Every setting's value. */
typedef struct settings {
    SETTINGS_LIST(SETTINGS_FIELD)
    char config_file[4096]; /* the file that was read, or "" */
} settings;

/* Fill defaults, then the config file (--config or STRATUS_CONFIG), environment, and argv flags
 * (argv[0..argc) are the subcommand's arguments). 0, or -1 with a one-line message in err. */
int settings_load(settings *s, int argc, char **argv, char *err, size_t errlen);
/* Parse a size ("1gb", "512mb", "64kb", "1048576"; k/m/g with or without b, any case) into
 * bytes. 0, or -1 when it is not a size. */
int settings_parse_size(const char *text, unsigned long long *bytes);
/* How many connections fit an open-file limit. */
typedef struct {
    long maxclients; /* client connections */
    long blocking;   /* private engine links (one per client in a blocking command ...) */
    long per_user;   /* of those, one ACL user's share */
} settings_fd_budget;

/* The budget for an open-file limit of `limit` descriptors: clients first (at most
 * maxclients), then private links (blocking; 0: as many as fit, at most maxclients), then the
 * per-user share (per_user; 0: nine tenths). Each never below 1. */
void settings_budget(uint64_t limit, long maxclients, long blocking, long per_user,
                     settings_fd_budget *out);
/* Descriptors wanted for these settings (what settings_budget needs to give all of them). */
uint64_t settings_fds_wanted(long maxclients, long blocking);
/* Print the flags with defaults and help, for `stratus --help`. */
void settings_print_help(void);

#endif
