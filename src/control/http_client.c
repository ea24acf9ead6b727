/* libcurl adapter (see http_client.h). */
#include "control/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    buf *out;
    size_t max, got;
} sink;

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    sink *s = arg;
    size_t len = size * n;
    if (len > s->max - s->got)
        return 0; /* over max: curl ends the transfer with CURLE_WRITE_ERROR */
    buf_append(s->out, p, len);
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

int http_client_get(const char *host, int port, const char *path, long timeout_ms, size_t max,
                    buf *out, char *err, size_t errlen)
{
    pthread_once(&init_once, init);
    CURL *h = init_rc == CURLE_OK ? curl_easy_init() : NULL;
    if (!h) {
        snprintf(err, errlen, "GET %s: cannot set up libcurl", path);
        return -EIO;
    }
    char url[512];
    snprintf(url, sizeof(url), "http://%s%s%s:%d%s", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port, path);
    sink s = {.out = out, .max = max};
    char why[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    /* The address is this machine's: an http_proxy in the environment must not catch it. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for timeouts */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, why);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "GET %s: %s", url,
                 rc == CURLE_WRITE_ERROR ? "reply over the size limit"
                 : why[0]                ? why
                                         : curl_easy_strerror(rc));
        return -EIO;
    }
    if (status != 200) {
        snprintf(err, errlen, "GET %s: HTTP status %ld", url, status);
        return -EIO;
    }
    return 0;
}
