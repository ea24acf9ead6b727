/* libmicrohttpd adapter: collects a request's body, calls the handler, sends its answer. */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

struct http_server {
    struct MHD_Daemon *d;
    http_handler handler;
    void *arg;
    int port;
};

/* A request being received: its body so far. */
typedef struct {
    buf body;
    int too_big;
} pending;

static enum MHD_Result send_reply(struct MHD_Connection *conn, const http_reply *rp, buf *out)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(buf_used(out), buf_rptr(out), MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", rp->type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (rp->extra_name)
        MHD_add_response_header(r, rp->extra_name, rp->extra_value);
    enum MHD_Result ok = MHD_queue_response(conn, rp->status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    (void)version;
    http_server *h = cls;
    pending *p = *state;
    if (!p) {
        p = xcalloc(1, sizeof(*p));
        buf_init(&p->body);
        *state = p;
        return MHD_YES;
    }
    if (*upload_size) {
        if (buf_used(&p->body) + *upload_size > HTTP_MAX_BODY)
            p->too_big = 1;
        else
            buf_append(&p->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    buf out;
    buf_init(&out);
    http_reply rp = {.status = 200, .type = "application/json"};
    if (p->too_big) {
        rp.status = 413;
        buf_appendf(&out,
                    "{\"error\":{\"code\":\"RequestTooLarge\",\"message\":\"the request body is "
                    "over %u bytes\"}}\n",
                    HTTP_MAX_BODY);
    } else {
        buf_append(&p->body, "", 1); /* NUL-terminate for the handler */
        http_request rq = {.method = method,
                           .path = url,
                           .body = buf_rptr(&p->body),
                           .body_len = buf_used(&p->body) - 1,
                           .conn = conn};
        h->handler(h->arg, &rq, &rp, &out);
    }
    enum MHD_Result ok = send_reply(conn, &rp, &out);
    buf_deinit(&out);
    return ok;
}

static void completed(void *cls, struct MHD_Connection *conn, void **state,
                      enum MHD_RequestTerminationCode why)
{
    (void)cls;
    (void)conn;
    (void)why;
    pending *p = *state;
    if (p) {
        buf_deinit(&p->body);
        xfree(p);
        *state = NULL;
    }
}

http_server *http_start(const char *what, const char *bind, int port, int threaded,
                        http_handler handler, void *arg, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "%s: cannot listen on '%s' (an IPv4 address)", what, bind);
        return NULL;
    }
    http_server *h = xcalloc(1, sizeof(*h));
    h->handler = handler;
    h->arg = arg;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (threaded)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 64u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED,
                            completed, NULL, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "%s: cannot listen on %s:%d (in use? pick another port)", what, bind,
                 port);
        xfree(h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : port;
    return h;
}

int http_port(const http_server *h)
{
    return h->port;
}

void http_stop(http_server *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    xfree(h);
}

const char *http_query(const http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_header(const http_request *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}
