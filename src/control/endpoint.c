/* A cache's endpoint file and admin calls (see endpoint.h). */
#define ALLOC_ROOM ROOM_CONTROL
#include "control/endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/file.h"
#include "net/tls.h"
#include "proto/resp.h"

int endpoint_write(const char *dir, const char *host, int port, const char *ca, int metrics_port)
{
    char path[4300], text[4500];
    snprintf(path, sizeof(path), "%s/endpoint", dir);
    int n = snprintf(text, sizeof(text), "host %s\nport %d\nca %s\nmetrics %d\n", host, port, ca,
                     metrics_port);
    return file_write_atomic(path, text, (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1,
                             0600);
}

int endpoint_read(const char *dir, char *host, size_t hostlen, int *port, char *ca, size_t calen,
                  int *metrics_port)
{
    char path[4300], line[4400];
    snprintf(path, sizeof(path), "%s/endpoint", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return -ENOENT;
    *port = 0;
    *metrics_port = -1;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "host ", 5) == 0)
            snprintf(host, hostlen, "%s", line + 5);
        else if (strncmp(line, "port ", 5) == 0)
            *port = atoi(line + 5);
        else if (strncmp(line, "ca ", 3) == 0)
            snprintf(ca, calen, "%s", line + 3);
        else if (strncmp(line, "metrics ", 8) == 0)
            *metrics_port = atoi(line + 8);
    }
    fclose(f);
    return *port > 0 ? 0 : -ENOENT;
}

/* Send argv to the endpoint as the default user; the reply (a line of text) to out. 0 when
 * the command succeeded, 1 when the cache refused it (out holds why), -1 with err. */
int endpoint_call(const char *dir, size_t argc, const char *const *argv, char *out, size_t outlen,
                  char *err, size_t errlen)
{
    char path[4300], host[256] = "", ca[4096] = "", password[128] = "";
    int port = 0, metrics = -1;
    if (endpoint_read(dir, host, sizeof(host), &port, ca, sizeof(ca), &metrics) != 0) {
        snprintf(err, errlen, "the cache is not running (no %s/endpoint)", dir);
        return -1;
    }
    FILE *f;
    snprintf(path, sizeof(path), "%s/password", dir);
    f = fopen(path, "re");
    if (!f || !fgets(password, sizeof(password), f)) {
        if (f)
            fclose(f);
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    fclose(f);
    password[strcspn(password, "\r\n")] = '\0';
    tls_client *tc = tls_client_connect(host, port, ca, 10000, err, errlen);
    if (!tc) {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, " (is the cache running?)");
        return -1;
    }
    buf b;
    buf_init(&b);
    const char *auth[] = {"AUTH", "default", password};
    const size_t alens[] = {4, 7, strlen(password)};
    resp_add_command(&b, 3, auth, alens);
    size_t *lens = xmalloc(argc * sizeof(size_t));
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    resp_add_command(&b, argc, argv, lens);
    xfree(lens);
    int rc = -1;
    if (tls_client_write(tc, buf_rptr(&b), buf_used(&b)) != 0) {
        snprintf(err, errlen, "cannot send the command to %s:%d", host, port);
        goto out;
    }
    buf_consume(&b, buf_used(&b));
    /* Two replies: AUTH's, then the command's. */
    resp_value *v = NULL;
    for (int got = 0; got < 2;) {
        size_t consumed;
        int r =
            buf_used(&b) ? resp_value_parse(buf_rptr(&b), buf_used(&b), &v, &consumed) : RESP_AGAIN;
        if (r == RESP_DONE) {
            got++;
            if (v->type == RESP_T_ERROR || got == 2) {
                snprintf(out, outlen, "%.*s", (int)v->len, v->str ? v->str : "");
                rc = v->type == RESP_T_ERROR ? 1 : 0;
                if (v->type == RESP_T_ERROR && got == 1)
                    got = 2; /* AUTH refused: the data dir's password does not match */
            }
            resp_value_free(v);
            buf_consume(&b, consumed);
            continue;
        }
        if (r == RESP_ERR) {
            snprintf(err, errlen, "protocol error from %s:%d", host, port);
            rc = -1;
            break;
        }
        buf_reserve(&b, 4096);
        long n = tls_client_read(tc, b.data + b.len, b.cap - b.len);
        if (n <= 0) {
            snprintf(err, errlen, "%s:%d closed the connection", host, port);
            rc = -1;
            break;
        }
        b.len += (size_t)n;
    }
out:
    buf_deinit(&b);
    tls_client_close(tc);
    return rc;
}
