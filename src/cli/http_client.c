/* The CLI's calls over HTTP, through libcurl (see http_client.h). A call may wait: creating a
 * cache, a snapshot or a restore takes a while, so only an API silent for 10 minutes is given
 * up on. */
#define ALLOC_ROOM ROOM_CLI
#include "cli/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    buf_append(arg, data, size * n);
    return size * n;
}

/* Set up h for one call; the headers list is the caller's to free. CURLE_OK or why not. */
static CURLcode setup(CURL *h, const char *method, const char *url, const char *body,
                      struct curl_slist *headers, buf *out, char *why)
{
    CURLcode rc;
    /* The API is plain HTTP on this machine's addresses (docs/security.md): no proxy from the
     * environment, no other protocol, no redirect. */
    if ((rc = curl_easy_setopt(h, CURLOPT_URL, url)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http")) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_PROXY, "")) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 600L)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_WRITEDATA, out)) != CURLE_OK ||
        (rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, why)) != CURLE_OK)
        return rc;
    if (body || strcmp(method, "POST") == 0) {
        if ((rc = curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0))) !=
                CURLE_OK ||
            (rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "")) != CURLE_OK)
            return rc;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    return rc;
}

int cli_http_call(const char *method, const char *url, const char *token, const char *body,
                  long *status, buf *out, char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "cannot start libcurl");
        return -EIO;
    }
    buf auth;
    buf_init(&auth);
    buf_appendf(&auth, "Authorization: Bearer %s", token);
    buf_append(&auth, "", 1);
    struct curl_slist *headers = NULL, *more = NULL;
    /* "Expect:" keeps curl from waiting for a 100 Continue before a large body. */
    const char *const lines[] = {buf_rptr(&auth), "Content-Type: application/json", "Expect:"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        more = curl_slist_append(headers, lines[i]);
        if (!more)
            break;
        headers = more;
    }
    char why[CURL_ERROR_SIZE] = "";
    CURL *h = curl_easy_init();
    CURLcode rc =
        !h || !more ? CURLE_OUT_OF_MEMORY : setup(h, method, url, body, headers, out, why);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h);
    long os_errno = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    else if (h)
        curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    buf_deinit(&auth);
    curl_global_cleanup();
    if (rc == CURLE_OK)
        return 0;
    /* The system's word for a refused connection, as `stratus` has always said it. */
    int unreachable = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
    if (unreachable && os_errno)
        snprintf(err, errlen, "%s", strerror((int)os_errno));
    else
        snprintf(err, errlen, "%s", why[0] ? why : curl_easy_strerror(rc));
    return unreachable ? -ENOTCONN : -EIO;
}
