/* The proxy room's internals, shared by its files and by no one else (the control plane sees
 * only view.h and worker.h). A command goes session.c (read, parse) -> request.c (what it
 * becomes; local.c's table for what the endpoint answers; txn.c, pubsub.c, gather.c, wait.c,
 * admin.c, clients.c for their families) -> router.c (which link) -> backend.c (the engine);
 * its reply comes backend.c -> reply.c (redirections, retries) -> merge.c (fan-outs) ->
 * session.c (in order, to the client). worker.c owns the loop, the pools and the lists. */
#ifndef STRATUS_PROXY_INT_H
#define STRATUS_PROXY_INT_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/compiler.h"
#include "acl/acl_log.h"
#include "proxy/view.h"
#include "meter/meter.h"
#include "net/conn.h"
#include "net/ev.h"
#include "proto/cmdtable.h"
#include "proto/resp.h"

typedef struct worker worker;
typedef struct session session;
typedef struct backend backend;
typedef struct req req;
typedef struct client_job client_job;
typedef struct worker_msg worker_msg;
typedef struct ident ident;

/* Where a request goes when it is (re)sent. */
typedef enum {
    TARGET_SLOT,  /* the primary owning req->slot */
    TARGET_SHARD, /* the primary of shard req->shard (fan-out to every shard) */
    TARGET_NODE,  /* a named node (ASK redirection): req->ask_addr */
    TARGET_HOME   /* the pub/sub home (topology.pubsub_home) */
} req_target;

#define REQ_F_READONLY 0x01u /* safe to resend after a lost connection */
#define REQ_F_DISCARD 0x02u  /* internal (AUTH/HELLO/ASKING on a link): reply dropped */
#define REQ_F_ASKING 0x04u   /* send ASKING first (one ASK redirection) */
#define REQ_F_DONE 0x08u     /* reply complete, in reply or merged */
#define REQ_F_INQUEUE 0x10u  /* on a backend's in-flight list */
#define REQ_F_RETRY 0x20u    /* on the worker's retry list */
#define REQ_F_BLOCKING 0x40u /* blocking command: private link, no engine deadline once sent */
#define REQ_F_PINNED 0x80u   /* WATCH in force: sent on the session's private link */
#define REQ_F_PUBSUB                                                                               \
    0x100u /* subscribe family: written to the private link, answered by pass-through */
#define REQ_F_WAIT 0x200u /* WAIT: visits the shards the session wrote to, one by one */
#define REQ_F_SSUB 0x400u /* SSUBSCRIBE: its link holds shard channels */
#define REQ_F_OWN_MULTI                                                                            \
    0x800u /* a MULTI batch of the endpoint's own: a command refused while queueing is the         \
              reply, not EXECABORT */
#define REQ_F_NOREPLY 0x1000u /* CLIENT REPLY OFF/SKIP: the reply is dropped, not written */
#define REQ_F_OOB 0x2000u     /* sent on the out-of-band link (SCRIPT KILL during a script) */
#define REQ_F_LINK_ID 0x4000u /* internal CLIENT ID of a private link: the reply names it */
#define REQ_F_ACK 0x8000u     /* internal WAIT 1 after a write (--durability sync): req->ack */
#define REQ_F_ENDPOINT                                                                             \
    0x10000u /* composed by the endpoint (INFO, CONFIG, cross-slot reads, WAIT ...): runs under    \
                its own engine user, not the client's */
#define REQ_F_LINK_AUTH 0x20000u  /* internal AUTH of a link: refused, nothing after it ran */
#define REQ_F_ACL_WAIT 0x40000u   /* ACL SETUSER/DELUSER answered once the engines have it */
#define REQ_F_ACL_FETCH 0x80000u  /* internal ACL LOG of an engine after a script's denial */
#define REQ_F_RUNS_CODE 0x100000u /* a script or function (CMD_F_RUNS_CODE): the code link */

/* A client request, or one shard's part of a fanned-out request.
 * Invariants: a top-level req is on exactly one session queue until it is written out (or its
 * session is gone: s == NULL, "orphan"); a child req belongs to parent and never to a session
 * queue; a req is on at most one of {a backend's in-flight list, the worker's retry list}. */
struct req {
    session *s;             /* owning session; NULL once the client is gone */
    req *next;              /* session queue */
    req *bnext;             /* backend in-flight list or worker retry list */
    req *parent;            /* fan-out parent, or NULL */
    req **children;         /* fan-out parts (parent only) */
    uint32_t nchildren;     /* entries in children */
    uint32_t pending;       /* children still waiting (parent only) */
    uint32_t *key_map;      /* MGET: for key i, (child << 20) | index in child; MERGE_GATHER
                               phase 1: argument index of the first key, then of each foreign key */
    uint32_t nkeys;         /* entries in key_map; MERGE_GATHER phase 2: RESTOREs in the batch */
    uint8_t gather_phase;   /* MERGE_GATHER: 1 while the DUMPs run, 2 while the command runs */
    uint8_t gather_write;   /* MERGE_GATHER: the command writes its first key (SUNIONSTORE ...) */
    uint8_t merge;          /* cmd_merge of the parent */
    uint32_t info_sections; /* MERGE_INFO: INFO_* sections asked for */
    uint32_t flags;         /* REQ_F_* */
    uint8_t target;         /* req_target */
    uint8_t redirects;      /* MOVED/ASK hops so far */
    uint8_t moving;         /* waiting on a slot in motion (TRYAGAIN, redirections going round):
                               at the deadline the client gets TRYAGAIN */
    uint16_t slot;          /* TARGET_SLOT */
    uint16_t shard;         /* TARGET_SHARD */
    char ask_addr[48];      /* TARGET_NODE: cluster address from ASK */
    uint64_t deadline_ms;   /* give up (error reply) after this */
    uint64_t born_ms;       /* when the client's command was read */
    uint64_t born_us;       /* the same, in microseconds (latency histogram) */
    req *ack;               /* --durability sync: a write's WAIT request, and the WAIT's write
                               (both cleared when either is freed); the write's reply is held
                               in reply until the WAIT says a replica has it */
    uint64_t retry_at_ms;   /* retry list: not before */
    uint8_t proto;          /* protocol of the link it travels on */
    uint32_t preamble;      /* replies to skip before this request's own (MULTI, QUEUED ...) */
    req *preamble_of;       /* placeholder of a skipped reply: its request, which keeps the
                               first error among them in its reply buffer */
    uint8_t script_sha;     /* EVALSHA: on NOSCRIPT, load the script and retry */
    uint64_t boff;          /* backend: queued_bytes at the end of this request */
    uint64_t wait_mask;     /* WAIT: shards still to visit */
    uint64_t wait_until;    /* WAIT: deadline (monotonic ms), 0 for none */
    long long wait_min;     /* WAIT: fewest replicas acknowledging so far */
    long long wait_target;  /* WAIT: numreplicas asked for */
    char wait_num[24];      /* WAIT: numreplicas as sent */
    uint8_t pubsub_mode;    /* subscribe family: which links it is written to (pubsub.c) */
    uint8_t wait_bump;      /* WAIT: make the link's last write current first */
    uint16_t meter_cmd;     /* command id + 1 to charge when its reply goes out, 0: none */
    uint16_t cost_probe;    /* STRATUS COST: id + 1 of the command run to measure its reply */
    uint64_t acl_wait;      /* REQ_F_ACL_WAIT: the users version the engines must reach */
    uint32_t meter_in;      /* request bytes charged with it */
    uint8_t meter_plen;     /* its first key's prefix (meter_haskey: it has a key) */
    uint8_t meter_haskey;
    char meter_prefix[METER_PREFIX_MAX];
    buf cmd;         /* request bytes, kept for resending */
    buf reply;       /* reply bytes when they cannot go straight to the client */
    client_job *job; /* CLIENT LIST/KILL/UNBLOCK across workers (clients.c), or NULL */
    ident *ident;    /* engine user it runs under, bound when first sent (held) */
    char *note;      /* REQ_F_ACL_FETCH: the user's engine name, NUL, the client's CLIENT
                        INFO line, NUL (owned) */
};

/* The shared links of an identity to one engine. A script or function runs on a code link, so
 * that while one runs past busy-reply-threshold the other clients' commands reach the engine
 * and get its -BUSY, as on Redis, instead of waiting behind it; SCRIPT/FUNCTION KILL go
 * out of band. A session keeps one kind while its requests are out, so its own commands still
 * run in the order it sent them. */
enum {
    LINK_RESP2,
    LINK_RESP3,
    LINK_OOB, /* RESP2: SCRIPT/FUNCTION KILL */
    LINK_CODE_RESP2,
    LINK_CODE_RESP3,
    LINK_KINDS
};
#define LINK_PROTO(kind) ((kind) == LINK_RESP3 || (kind) == LINK_CODE_RESP3 ? 3 : 2)

/* An engine identity of a worker: the engine ACL user its links authenticate as ("u:<name>"
 * for a cache user, so the engine checks what that user's commands and scripts do; the
 * endpoint's own user for what the endpoint composes), and the shared links under it.
 * Invariant: refs counts the sessions authenticated as it and the requests bound to it; one
 * nobody has held for IDENT_KEEP_MS is freed once its links are idle (the endpoint's never). */
struct ident {
    char *user;                                 /* engine user name */
    uint32_t refs;                              /* sessions and requests holding it */
    uint64_t unused_since_ms;                   /* when refs fell to 0 */
    backend *links[LINK_KINDS][TOPO_MAX_NODES]; /* by link kind and topology node index */
    ident *next;                                /* the worker's list */
};

/* A multiplexed, pipelined connection from one worker to one engine, for one protocol.
 * Invariant: the in-flight list holds requests in the order their bytes were queued in out;
 * replies arrive in that order (the engine answers in order). */
struct backend {
    worker *w;
    session *owner;           /* private link of this session (blocking commands), else NULL */
    int passthrough;          /* frames with no request waiting go to the owner (pub/sub) */
    int filtered;             /* pass-through of a non-home shard: only its own events pass */
    int had_ssub;             /* SSUBSCRIBE was sent on it (SUNSUBSCRIBE with no channel) */
    long long ssub_count;     /* shard channels subscribed on it, as the engine last said */
    conn *c;                  /* NULL when disconnected */
    char addr[112];           /* engine address (unix path or host:port) */
    char *user;               /* engine user it authenticates as (owned copy) */
    char *share;              /* private link: the ACL user whose share it uses (owned), or NULL */
    int proto;                /* 2 or 3 */
    int connected;            /* connect finished */
    int dirty;                /* on the worker's flush list */
    int retired;              /* no longer in the topology: close when idle */
    backend *flush_next;      /* worker flush list */
    backend *retired_next;    /* worker retired list */
    uint64_t queued_bytes;    /* bytes ever appended to out */
    uint64_t written_bytes;   /* bytes ever written to the socket */
    buf out;                  /* bytes to write */
    buf in;                   /* bytes read, reply frames parsed from here */
    resp_reply_scanner scan;  /* frame scanner state */
    req *head, *tail;         /* in-flight requests */
    uint32_t inflight;        /* entries in the list */
    int code;                 /* a code link: while it has requests out it counts in the view's
                               * code_links_out (PING then asks the engines, as Redis answers
                               * PING only between scripts) */
    uint64_t next_connect_ms; /* reconnect backoff */
    uint64_t engine_id;       /* private link: the engine's CLIENT ID for it, 0 until known */
    int dropped;              /* private link let go of (RESET): closed in before_sleep */
    backend *dropped_next;    /* worker list of dropped links */
};

/* A client connection. Invariant: requests are answered in the order of the queue; head is the
 * oldest request not yet written to out. */
struct session {
    worker *w;
    proxy_view *view;
    conn *c;
    uint64_t id;              /* CLIENT ID */
    int proto;                /* 2 or 3 */
    int authed;               /* AUTH succeeded (or no password) */
    int closing;              /* close after flushing out (QUIT, protocol error) */
    int dead;                 /* connection gone; free when the batch ends */
    int dirty;                /* on the worker's flush list */
    int paused;               /* reading stopped: too much in flight */
    int again;                /* more input may be buffered in the transport */
    int plaintext_listener;   /* accepted on the plaintext port */
    int reader;               /* accepted on the reader port: reads go to this zone's replica */
    const char *reject_error; /* every command gets this error until close_at_ms: a plaintext
                                 client on the TLS port, a client beyond --maxclients */
    int reject_prepaid;       /* the error sent at once already answers its first command */
    uint64_t close_at_ms;     /* reject_error: close then */
    char *name;               /* CLIENT SETNAME */
    char *user_name;          /* ACL user it authenticated as (NULL before AUTH) */
    const acl_user *user;     /* that user in the table of version acl_version */
    uint64_t acl_version;     /* users table version user points into */
    buf in;                   /* unparsed client bytes */
    buf out;                  /* bytes to write to the client */
    resp_req_parser parser;   /* request parser */
    req *head, *tail;         /* request queue */
    uint32_t queued;          /* entries in the queue */
    session *flush_next;      /* worker flush list */
    session *again_next;      /* worker again list */
    int barrier;              /* stop parsing until the queue drains (HELLO, blocking; gather.c) */
    req *held;                /* blocking request waiting to become the oldest before it is sent */
    backend *priv;            /* private link for blocking commands and WATCH, kept for reuse */
    int multi;                /* inside MULTI: commands are queued here until EXEC */
    int multi_dirty;          /* a queued command was refused: EXEC aborts */
    int multi_all;            /* a command for every shard is queued: EXEC needs one shard */
    int multi_slot;           /* slot of the transaction's keys, -1 until a keyed command */
    uint32_t multi_count;     /* commands queued */
    int multi_writes;         /* a queued command may write: CLIENT PAUSE WRITE holds EXEC */
    long long multi_pause_ms; /* a CLIENT PAUSE queued: its time and mode (VIEW_PAUSE_*), */
    int multi_pause_type;     /* which the endpoint's pause takes at EXEC */
    buf multi_cmds;           /* their bytes */
    int subscribed;        /* in a SUBSCRIBE/PSUBSCRIBE: the private link passes frames through */
    long long sub_count;   /* channels and patterns, as the home engine last said */
    uint32_t ps_pending;   /* other shards' links still to confirm a subscription change */
    buf ps_hold_home;      /* home link frames held until then (confirmations first) */
    buf ps_hold_other;     /* other links' frames held until then */
    backend **sublinks;    /* filtered pass-through links to other engines (lazy, by address) */
    buf ks_replay;         /* keyspace (un)subscriptions, replayed on shards added later */
    int ks_replay_full;    /* ks_replay hit its cap: new shards are not subscribed */
    buf ps_set;            /* channels ('c') and patterns ('p') subscribed, as the home link
                              confirmed them: kind, 4-byte length, name; replayed when the
                              home engine is lost (a failover) */
    int resub;             /* a link of its subscriptions was lost: subscribe again */
    int resub_home;        /* that link was the home link: replay the whole set on a new one */
    uint32_t resub_skip;   /* confirmations of that replay still to swallow */
    int doomed;            /* to be closed at the end of this loop iteration */
    session *doom_next;    /* worker doomed list */
    uint64_t wrote_shards; /* shards written to since the last satisfied WAIT */
    int watching;          /* WATCH in force: commands go to the private link of pin_slot */
    int code_link;     /* its requests out went on code links (LINK_CODE_*): later ones follow */
    uint16_t pin_slot; /* slot of the watched keys */
    int processing;    /* inside session_process_input (no re-entry) */
    uint32_t retrying; /* requests of this session on the worker's retry queue */
    uint64_t retry_blocked; /* retry pass in which one of its requests had to keep waiting */
    session *list_prev, *list_next; /* worker's list of sessions */
    char local_ip[64];              /* address the client connected to */
    int local_port;
    char addr[80];        /* the client's address, "ip:port" ("[ip]:port" for IPv6) */
    char src[64];         /* the client's IP alone: its AUTH failure budget is kept by it */
    uint64_t born_ms;     /* when it was accepted: --auth-timeout counts from then */
    int over_limit;       /* accepted beyond --maxclients: told so and closed once ready */
    char laddr[80];       /* the address it connected to, same format */
    uint64_t last_ms;     /* when its last command arrived (CLIENT LIST idle) */
    const char *last_cmd; /* name of its last command ("NULL" before any) */
    int reply_off;        /* CLIENT REPLY OFF */
    int reply_skip;       /* CLIENT REPLY SKIP: replies of the next requests to drop */
    int no_evict;         /* CLIENT NO-EVICT ON (recorded only) */
    int readonly;         /* READONLY (cluster read-from-replica mode) */
    int nsub, npsub;      /* channels and patterns subscribed (from the confirmations) */
    int redo;             /* dispatch again once earlier requests are answered (RESET) */
    uint16_t meter_cmd;   /* the command being dispatched: id + 1 (0: free), for its request */
    uint16_t cost_probe;  /* STRATUS COST in progress: id + 1 of the command it measures */
    uint32_t meter_in;    /* its request bytes (charged once, with its first request) */
    uint8_t meter_plen;   /* its first key's prefix: length, and whether it has a key */
    uint8_t meter_haskey;
    char meter_prefix[METER_PREFIX_MAX];
    int receipts;             /* STRATUS RECEIPTS ON: RESP3 replies carry their cost */
    uint64_t receipt_last;    /* milli-ECPU of its last charged command */
    uint64_t receipt_total;   /* milli-ECPU charged to this connection */
    uint64_t receipt_calls;   /* commands charged to it */
    uint16_t receipt_cmd;     /* id of its last charged command */
    uint64_t throttled_until; /* over the ECPU/s limit: its next command waits until then */
    int pause_waiting;        /* its command waits for a CLIENT PAUSE to end (proxy/pause.c) */
    meter_quota *quota;       /* its ACL user's ECPU/s quota, or NULL */
    ident *ident;             /* its user's engine identity (held), NULL before AUTH */
};

/* One worker thread: its loop, listeners, sessions and backend links. */
struct worker {
    int id;
    ev_loop *loop;
    proxy_view *view;
    ev_handler tls_listener;      /* SO_REUSEPORT socket on the TLS port */
    ev_handler plain_listener;    /* SO_REUSEPORT socket on the plaintext port, fd -1 if off */
    ev_handler reader_listener;   /* SO_REUSEPORT socket on the reader port, fd -1 if off */
    uint64_t topo_version;        /* version the link table was built for */
    int nlinks;                   /* nodes the links of every ident are mapped for */
    ident *idents;                /* engine identities with links, users' and endpoint */
    ident *endpoint;              /* the endpoint's own (never freed before shutdown) */
    backend *retired;             /* links dropped from the topology, closing when idle */
    backend *flush_backends;      /* backends with bytes to write this iteration */
    session *flush_sessions;      /* sessions with bytes to write this iteration */
    session *sessions;            /* every live session */
    session *again_sessions;      /* sessions to read again without waiting */
    session *doomed;              /* sessions to close in before_sleep */
    int resub_pending;            /* a session has resub set */
    req *retry_head, *retry_tail; /* requests waiting to be resent, oldest first */
    uint64_t retry_pass;          /* counts passes over the retry queue */
    uint32_t rotation;            /* RANDOMKEY: shard to ask first, in turn */
    uint64_t gather_seq;          /* cross-slot reads started: names their temporary keys */
    req *free_reqs;               /* req pool */
    uint32_t nfree_reqs;
    conn **dead_conns; /* closed this batch, freed in before_sleep */
    int ndead, dead_cap;
    session *dead_sessions; /* freed in before_sleep */
    uint64_t next_session_id;
    _Atomic int stopping;   /* set by the control thread, read on wake (other workers wake too) */
    backend *dropped_links; /* private links let go of; destroyed in before_sleep */
    worker *peers;          /* every worker of the pool (peers[i].id == i) */
    int npeers;             /* entries in peers */
    meter_cell *meter;      /* this worker's counters, by command id (meter/meter.h) */
    meter_prefix prefixes[64]; /* ECPU by key prefix since the last flush to the cache */
    size_t nprefixes;
    uint64_t prefixes_flush_ms; /* next flush */
    uint64_t next_scan_ms;      /* next pass over every session's deadlines */
    int scan_soon;              /* a session waits on the ECPU/s limit: scan every tick */
    uint64_t accept_resume_ms;  /* out of descriptors: listeners resume then (0: listening) */
    uint64_t auth_warned_ms;    /* last warning about an engine refusing a link's user */
    uint64_t accept_warned_ms;  /* last warning about accept running out of descriptors */
    uint64_t accept_pauses;     /* accept pauses since that warning */
    req *acl_waiting;           /* ACL SETUSER/DELUSER replies waiting for the engines */
    pthread_mutex_t inbox_lock; /* guards inbox, the one structure other workers write */
    worker_msg *inbox;          /* messages from other workers (clients.c), wake to read */
};

/* worker.c */
/* The worker's identity for engine user `user` (created when new), held once more. */
ident *ident_get(worker *w, const char *user);
/* Let go of one hold of id (NULL is fine). */
void ident_put(worker *w, ident *id);
void worker_flush_session(session *s);
void worker_flush_backend(backend *b);
void worker_defer_free_conn(worker *w, conn *c);
const topology *worker_topology(worker *w);
req *req_get(worker *w);
void req_put(worker *w, req *r);
/* A request on the worker's retry list is resent no sooner than this after it failed (retries
 * leave the queue in order). */
#define RETRY_DELAY_MS 20
void worker_retry_later(worker *w, req *r);
void worker_retry_first(worker *w, req *head, req *tail);
session *req_session(const req *r);
void req_free(req *r);
/* Close s at the end of this loop iteration. */
void worker_doom_session(session *s);

/* session.c */
void session_accept(worker *w, int fd, int plaintext, int reader);
void session_reply_ready(session *s);
void session_close(session *s, const char *why);
/* Close s now for a deadline: tell it err (without "-" and CRLF; NULL: nothing) if its
 * transport is up, then close. */
void session_expire(session *s, const char *why, const char *err);
/* The per-session deadlines of the worker's scan: handshake, --auth-timeout, --idle-timeout,
 * the end of an ECPU/s wait. 1 if s is still waiting on the ECPU/s limit. */
int session_check_deadlines(session *s, uint64_t now);
void session_free_all(worker *w);
void session_process_input(session *s);
void session_read(session *s);
void session_authenticated(session *s, const acl_user *u, uint64_t version);
/* The engine user s's commands run as ("u:<name>"); before AUTH one no engine knows. */
const char *session_engine_user(const session *s);
void session_deauthenticate(session *s);
req *session_queue_req(session *s);
/* Append r's reply (data, len) to the client's output, charging its command (and, with receipts
 * on a RESP3 connection, prefixing its cost as an attribute). */
void session_append_reply(session *s, req *r, const char *data, size_t len);
/* Charge r's command with out reply bytes to the worker's meter and the session's receipt. */
void meter_charge(worker *w, req *r, size_t out);
void session_write(session *s);

/* backend.c */
/* A link to the engine at addr for proto, authenticating as engine user `user` (copied). */
backend *backend_create(worker *w, const char *addr, int proto, const char *user);
void backend_destroy(backend *b);
int backend_send(backend *b, req *r);
void backend_check_deadline(backend *b, uint64_t now);
/* The session's private link to addr under engine user `user` (created or re-created as
 * needed); NULL with *limited set when it cannot have one. */
backend *backend_private(session *s, const char *addr, int proto, const char *user, int *limited);
void backend_destroy_private(backend *b);
/* A new private link of s (not yet s->priv): NULL with *limited 1 (the cache's limit) or 3 (the
 * user's share) when it may not have one. */
backend *backend_create_private(session *s, const char *addr, int proto, const char *user,
                                int *limited);
/* The error (with "ERR", without "-") for a private link refused with *limited. */
void backend_limited_error(const session *s, int limited, char *out, size_t outlen);
int backend_idle(const backend *b);
void backend_write(backend *b);
/* Frames of a pass-through link (pub/sub) written to its owner's client; a private link let
 * go of (RESET) and its closing at the end of the iteration. */
int backend_send_passthrough(backend *b, const char *data, size_t len);
void backend_drop_private(backend *b);
void backend_reap_dropped(worker *w);

/* SCAN's cursor: the engine's cursor * SCAN_SHARD_BITS + the shard (at most 64 shards). */
#define SCAN_SHARD_BITS 64u

/* merge.c */
/* A merge: 0 with the merged reply appended to out, or -1 when a shard's reply is not what
 * the command returns (the client then gets an error). vals: the children's replies parsed
 * (NULL where one did not parse) when the row says parsed, else NULL. */
typedef int merge_fn(worker *w, req *p, resp_value **vals, buf *out);
/* One merge kind's row. */
typedef struct {
    merge_fn *fn;
    uint8_t parsed;     /* fn reads vals */
    uint8_t errors_win; /* any shard's error is the command's error, as one node reports it */
    const char *what;   /* after "while merging" in the error when fn fails */
} merge_row;
/* The row of merge kind (cmd_merge), or NULL (MERGE_NONE, MERGE_GATHER: gather.c's). */
const merge_row *merge_row_of(unsigned kind);
/* The merged reply of fan-out parent p (its children answered) appended to out. */
void merge_reply(worker *w, req *p, buf *out);
/* Merge p's children's replies, free them and deliver p's reply. */
void merge_children(worker *w, req *p);

/* request.c (the request direction), router.c (sending), reply.c (the reply direction) */
/* Send r now, or once it is the session's oldest request (a blocking command waits its turn). */
void router_queue_or_send(session *s, req *r);
/* Answer the command being dispatched with an error (a request of its own in the queue). */
void router_reply_error(session *s, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* A fan-out of argv to every shard (one_shard: the first only), merged by merge. */
req *router_fan_out(session *s, size_t argc, const char *const *argv, const size_t *lens,
                    uint8_t merge, int one_shard);
/* The slot of d's keys in *slot: 0, or -1 after answering CROSSSLOT. */
int router_keys_slot(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                     const size_t *lens, int *slot);
void router_dispatch(session *s, size_t argc, const char *const *argv, const size_t *lens,
                     const char *raw, size_t rawlen);
void router_send(worker *w, req *r);
void router_resend(worker *w, req *r);
int router_try_send(worker *w, req *r);
void router_deliver(worker *w, req *r, const char *data, size_t len);
void router_fail(worker *w, req *r, const char *fmt, ...) ATTR_PRINTF(3, 4);
void router_on_error_reply(worker *w, req *r, const char *data, size_t len);
/* A blocking command whose engine went away before answering (a failover): set its timeout
 * argument to what is left of it, so sent again to the new primary it blocks only as long as
 * the client asked for. */
void router_reblock(worker *w, req *r);
void router_deliver_final(worker *w, req *r, const char *data, size_t len);

/* pubsub.c */
int pubsub_restricted(const session *s, const cmd_def *d);
void pubsub_command(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                    const size_t *lens, const char *raw, size_t rawlen);
void pubsub_passthrough(backend *b, const char *frame, size_t len);
int pubsub_send(worker *w, req *r, const topology *t, int node);
void pubsub_release(session *s);
void pubsub_reset(session *s);
void pubsub_topology_changed(worker *w, const topology *t);
/* A pass-through link of subscriber s was lost (its engine died): 0 when its subscriptions
 * will be made again on the shard's new engine at the next tick (pubsub_resubscribe), -1 when
 * they cannot be (shard channels) and the client must be disconnected. */
int pubsub_link_lost(session *s, backend *b);
/* Subscribe again, on the current home engine, every session whose link was lost. */
void pubsub_resubscribe(worker *w);

/* diag.c: merges of the server commands (merge_fn, merge.c's table) */
int diag_child_cmd(const cmd_def *d, req *ch, size_t argc, const char *const *argv,
                   const size_t *lens);
int diag_merge_slowlog(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_slowlog_len(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_function_stats(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_latest(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_history(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_histogram(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_latency_reset(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_doctor(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_memory_stats(worker *w, req *p, resp_value **vals, buf *out);
int diag_merge_kill(worker *w, req *p, resp_value **vals, buf *out);

/* clients.c */
void clients_command(session *s, req *r, const cmd_def *d, size_t argc, const char *const *argv,
                     const size_t *lens);
void clients_info(session *s, buf *b);
/* Append the session's CLIENT INFO line without its "\n" (ACL LOG's client-info). */
void clients_info_line(session *s, buf *out);
void clients_reset(session *s);
void clients_inbox(worker *w);
void clients_drain(worker *w);
void client_job_free(client_job *job);

/* txn.c */
void txn_queue(session *s, const cmd_def *d, size_t argc, const char *const *argv,
               const size_t *lens, const char *raw, size_t rawlen);
void txn_execute(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                 const size_t *lens, const char *raw, size_t rawlen);
void txn_mark_dirty(session *s);
void txn_reset(session *s);

/* admin.c */
int admin_acl_guard(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                    const size_t *lens);
void admin_config_get(session *s, size_t argc, const char *const *argv, const size_t *lens);
void admin_config_set(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                      const size_t *lens);
void admin_config_record(worker *w, req *p);
void admin_config_filter(int proto, const char *data, size_t len, buf *out);
void admin_acl(session *s, const cmd_def *d, size_t argc, const char *const *argv,
               const size_t *lens);
/* Answer the ACL SETUSER/DELUSER of the worker whose change every engine has now (or whose
 * wait is over): the worker's tick. */
void admin_acl_waiting(worker *w, uint64_t now);
/* r got error reply frame from the engine at addr: when a script or function of its client was
 * refused a call there, the engine's ACL LOG entry is read back and logged in the cache's with
 * context "lua" and this client. 1 when it did: r's reply (the frame) is then held until that
 * entry is logged; 0 when r's reply goes on now. */
int admin_acl_engine_denial(worker *w, req *r, const char *addr, const char *frame, size_t len);
/* The reply of that read (q is the internal request; the caller frees it). */
void admin_acl_engine_fetched(worker *w, req *q, const char *frame, size_t len);
/* Record in the cache's ACL LOG that something was refused to session s running as user (its
 * CLIENT INFO line goes with it). Only on a refusal: the log's lock is shared by every worker.
 * For a redis.call() refused on an engine inside a script or function:
 *     admin_acl_log(s, ACL_LOG_COMMAND, ACL_LOG_LUA, "incr", 4, s->user_name,
 *                   strlen(s->user_name));
 * (ACL_LOG_KEY / ACL_LOG_CHANNEL with the key or channel as object; ACL_LOG_MULTI for a command
 * EXEC runs that the engine refuses). */
void admin_acl_log(session *s, acl_log_reason reason, acl_log_context context, const char *object,
                   size_t olen, const char *user, size_t ulen);
/* Check user/pass and authenticate the session: 1, or 0 after logging the failure in the ACL LOG
 * (object: cmd, the command as the client sent it). */
int admin_auth(session *s, const char *cmd, size_t cmdlen, const char *user, size_t ulen,
               const char *pass, size_t plen);
void admin_stratus_scale(session *s, size_t argc, const char *const *argv, const size_t *lens);
void admin_stratus_hibernate(session *s);
/* STRATUS COST / USAGE / RECEIPTS / RECEIPT (metering, docs/pricing.md). */
void admin_stratus_meter(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                         const size_t *lens);
/* The reply of a STRATUS COST whose command r ran to measure its reply (reply_len bytes). */
void admin_cost_reply(worker *w, req *r, const char *reply, size_t reply_len, buf *out);

/* wait.c */
void wait_dispatch(session *s, size_t argc, const char *const *argv, const size_t *lens);
int wait_continue(worker *w, req *r, const char *data, size_t len);
/* gather.c */
void gather_dispatch(session *s, size_t argc, const char *const *argv, const size_t *lens,
                     const char *raw, size_t rawlen, const uint32_t *keys, int nkeys, int writes);
void gather_merge(worker *w, req *p);

/* Whether argument a (n bytes) is word, in any case (subcommands, options, INFO sections). */
static inline int arg_is(const char *a, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(a, word, n) == 0;
}

/* info.c: INFO's sections, composed from the primaries' INFO and the endpoint's lines */
#define INFO_SERVER 0x01u
#define INFO_CLIENTS VIEW_INFO_CLIENTS
#define INFO_MEMORY 0x04u
#define INFO_PERSISTENCE 0x08u
#define INFO_STATS VIEW_INFO_STATS
#define INFO_REPLICATION 0x20u
#define INFO_CLUSTER 0x40u
#define INFO_STRATUS 0x80u
#define INFO_KEYSPACE 0x100u
#define INFO_CPU 0x200u
#define INFO_MODULES 0x400u
#define INFO_ERRORSTATS 0x800u
#define INFO_COMMANDSTATS 0x1000u
#define INFO_LATENCYSTATS 0x2000u
#define INFO_ALL 0x3fffu

/* The sections INFO's arguments ask for (none: Redis's default ones). */
uint32_t info_sections(size_t argc, const char *const *argv, const size_t *lens);
/* The sections made of the engines' lines. */
uint32_t info_engine_sections(void);
/* The INFO reply for sections, from the primaries' INFO texts (ntexts may be 0). */
void info_build(session *s, buf *b, uint32_t sections, const char *const *texts, const size_t *lens,
                int ntexts);

/* local.c */

/* Commands the endpoint answers itself: one row per cmd_local (proto/cmdtable.h), carrying its
 * handler, as Redis's command table carries each command's function. */
typedef struct {
    session *s;
    const cmd_def *d;
    size_t argc;
    const char *const *argv;
    const size_t *lens;
    const char *raw; /* the request's bytes as received, or NULL */
    size_t rawlen;
    req *r; /* answer rows: the request queued for the reply, and its reply buffer */
    buf *b;
} local_call;

/* ---- CLIENT PAUSE (pause.c) ---- */

/* Whether the command may write or replicate, as CLIENT PAUSE WRITE decides: 1, 0, or -1 when
 * only the engine knows (FCALL: the function's flags). Without lookup, an EVALSHA is not looked
 * up among the scripts the endpoint keeps (a lock and a scan): it may write. */
int pause_may_replicate(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                        const size_t *lens, int lookup);
/* 1 when a CLIENT PAUSE holds the command: it is parsed again shortly (the session waits). */
int pause_holds(session *s, const cmd_def *d, size_t argc, const char *const *argv,
                const size_t *lens);
/* Whether the command goes to the engine on the client's own link, to be paused there or not
 * (a function under CLIENT PAUSE WRITE). */
int pause_engine_decides(session *s, const cmd_def *d);
/* CLIENT PAUSE queued in MULTI: 1 when queued in the transaction as its engine's pause (the
 * endpoint's begins at EXEC), 0 when its arguments are wrong (queued as sent: the engine answers
 * the error inside EXEC's reply). */
int pause_queue(session *s, size_t argc, const char *const *argv, const size_t *lens);
/* EXEC of a transaction that queued CLIENT PAUSE: the endpoint's pause begins, and every primary
 * but the transaction's (txn_shard, which pauses at the transaction's end) pauses writes. */
void pause_after_exec(session *s, int txn_shard);
/* The session leaves: it no longer waits for a pause. */
void pause_session_gone(session *s);
/* Clients whose command waits for the pause (INFO blocked_clients adds them). */
int64_t pause_waiting_clients(const proxy_view *v);
void pause_command(const local_call *c);
void unpause_command(const local_call *c);
typedef void local_fn(const local_call *c);
typedef struct {
    local_fn *take;   /* takes the command from the router (it queues its own requests) */
    local_fn *answer; /* or: writes the reply of the request the router queued into c->b */
    uint8_t flags;    /* LOCAL_F_* */
} local_row;
#define LOCAL_F_TXN 0x01u      /* transaction control (MULTI, EXEC ...): runs even inside MULTI */
#define LOCAL_F_QUEUED 0x02u   /* may be queued inside MULTI (PING, ECHO) */
#define LOCAL_F_DEFERRED 0x04u /* the answer completes later (CLIENT LIST/KILL/UNBLOCK) */
/* The row of d, or NULL when the endpoint does not answer d itself. */
const local_row *local_row_of(const cmd_def *d);
/* Run the local command c (router_dispatch, once its checks passed). */
void local_run(const local_call *c);
/* Queue a request for c and answer it with answer (a take handler that answers at once). */
void local_answer(const local_call *c, local_fn *answer);
/* INFO answered by the endpoint alone (no engine figure needed). */
void info_answer(const local_call *c);
void local_ping(const local_call *c);
/* PING: the endpoint's PONG, or a busy primary's own answer (request.c). */
void request_ping(const local_call *c);
/* request.c's rows: SCAN, PUBSUB CHANNELS/NUMSUB/NUMPAT, INFO. */
void request_scan(const local_call *c);
void request_pubsub_query(const local_call *c);
void request_info(const local_call *c);
/* What the endpoint composes waits for the session's earlier commands: 1 when c must wait
 * (it is parsed again once they are answered), 0 when it may go now. */
int router_endpoint_turn(session *s);

#endif
