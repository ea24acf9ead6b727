/* Blocking HTTP calls through libcurl (see http_client.h). */
#define ALLOC_ROOM ROOM_COMMON
#include "common/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

typedef struct {
    buf *out;
    size_t max, got;
} sink;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    size_t len = size * n;
    if (s->max && len > s->max - s->got)
        return 0; /* over max: curl ends the transfer with CURLE_WRITE_ERROR */
    buf_append(s->out, data, len);
    s->got += len;
    return len;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

/* Once per process, as libcurl asks (plain HTTP only: no TLS library to set up). */
static void init(void)
{
    init_rc = curl_global_init(CURL_GLOBAL_NOTHING);
}

/* Set up h for call c; the headers list is the caller's to free. CURLE_OK or why not. */
static CURLcode setup(CURL *h, const http_call *c, struct curl_slist *headers, sink *s, char *why)
{
    CURLcode rc;
    /* Stratus's HTTP is plain HTTP on this machine's addresses (docs/security.md): no proxy
     * from the environment, no other protocol, no redirect. */
    if ((rc = curl_easy_setopt(h, CURLOPT_URL, c->url)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http")) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_PROXY, "")) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK || /* threads: no SIGALRM */
        (rc = curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, s)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, why)) != CURLE_OK)
        return rc;
    if (c->idle_s && ((rc = curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L)) != CURLE_OK ||
                      (rc = curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->idle_s)) != CURLE_OK))
        return rc;
    if (c->body || strcmp(c->method, "POST") == 0) {
        const char *body = c->body ? c->body : "";
        if ((rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body))) != CURLE_OK ||
            (rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body)) != CURLE_OK)
            return rc;
    }
    if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "POST") != 0)
        rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    return rc;
}

int http_request(const http_call *c, long *status, buf *out, char *err, size_t errlen)
{
    pthread_once(&init_once, init);
    if (init_rc != CURLE_OK) {
        snprintf(err, errlen, "cannot start libcurl");
        return -EIO;
    }
    buf auth;
    buf_init(&auth);
    struct curl_slist *headers = NULL, *more = NULL;
    int nomem = 0;
    /* "Expect:" keeps curl from waiting for a 100 Continue before a large body. */
    const char *lines[3] = {"Expect:", "Content-Type: application/json", NULL};
    if (c->token) {
        buf_appendf(&auth, "Authorization: Bearer %s", c->token);
        buf_append(&auth, "", 1);
        lines[2] = buf_rptr(&auth);
    }
    for (size_t i = 0; i < 3 && lines[i] && !nomem; i++) {
        more = curl_slist_append(headers, lines[i]);
        if (more)
            headers = more;
        else
            nomem = 1;
    }
    char why[CURL_ERROR_SIZE] = "";
    sink s = {.out = out, .max = c->max};
    CURL *h = curl_easy_init();
    CURLcode rc = !h || nomem ? CURLE_OUT_OF_MEMORY : setup(h, c, headers, &s, why);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h);
    long os_errno = 0;
    *status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    else if (h)
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    buf_deinit(&auth);
    if (rc == CURLE_OK)
        return 0;
    int unreachable = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
    if (unreachable && os_errno)
        snprintf(err, errlen, "%s", strerror((int)os_errno));
    else if (rc == CURLE_WRITE_ERROR)
        snprintf(err, errlen, "reply over %zu bytes", c->max);
    else
        snprintf(err, errlen, "%s", why[0] ? why : curl_easy_strerror(rc));
    return unreachable ? -ENOTCONN : -EIO;
}
