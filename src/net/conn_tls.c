/* TLS transport and certificate generation: the only file that includes OpenSSL.
 *
 * The server handshake first peeks at one byte. A TLS client always opens with a handshake
 * record (0x16); anything else is a plaintext client (seed 000: ioredis without `tls: {}`), which
 * gets a plaintext -ERR naming TLS at once, instead of a silent wait for a ClientHello. */
#define ALLOC_ROOM ROOM_NET
#include "net/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/compiler.h"
#include "common/log.h"
#include "net/conn.h"
#include "net/sock.h"

const char tls_plaintext_error[] =
    "ERR this endpoint requires TLS: connect with rediss:// (redis-cli --tls, ioredis "
    "tls: {}, redis-py ssl=True), or use the plaintext port if one is enabled";

#define TLS_READ_WANTS_WRITE 1u
#define TLS_WRITE_WANTS_READ 2u

static SSL_CTX *server_ctx;

/* The TLS 1.2 cipher suites of every context, server and client: ECDHE key exchange (forward
 * secrecy) with an AEAD cipher, for ECDSA certificates (the generated ones) and RSA ones (a
 * user's --tls-cert); no CBC mode, no SHA-1 MAC, no static RSA key exchange. The order is the
 * server's preference. TLS 1.3's suites are all AEAD and stay at OpenSSL's defaults. */
static const char tls12_ciphers[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

static void ssl_errstr(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char msg[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, msg, sizeof(msg));
    snprintf(err, errlen, "%s: %s", what, msg);
    ERR_clear_error();
}

void crypto_sha1_hex(const char *p, size_t n, char out[41])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)p, n, md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void crypto_sha256_hex(const char *p, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)p, n, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int crypto_sha256_file(const char *path, char out[65], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -errno;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int rc = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
    unsigned char chunk[65536];
    *size = 0;
    while (rc == 0) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n == -1 ? -errno : 0;
            break;
        }
        *size += (uint64_t)n;
        if (EVP_DigestUpdate(ctx, chunk, (size_t)n) != 1)
            rc = -EIO;
    }
    close(fd);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (rc == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
        rc = -EIO;
    EVP_MD_CTX_free(ctx);
    if (rc == 0)
        for (unsigned i = 0; i < mdlen && i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", md[i]);
    return rc;
}

void crypto_hmac_sha256_hex(const void *key, size_t klen, const void *msg, size_t mlen,
                            char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, md, &mdlen))
        mdlen = 0;
    out[0] = '\0';
    for (unsigned int i = 0; i < mdlen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int crypto_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
        return -1;
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

int crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* ---- certificates ---- */

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return -1;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, long days)
{
    X509 *cert = X509_new();
    if (!cert)
        return NULL;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto fail;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
        goto fail;
    if (!X509_set_version(cert, 2) || !X509_gmtime_adj(X509_getm_notBefore(cert), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400L) || !X509_set_pubkey(cert, key))
        goto fail;
    X509_NAME *name = X509_get_subject_name(cert);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Stratus", -1,
                                    -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0))
        goto fail;
    X509 *iss = issuer ? issuer : cert;
    if (!X509_set_issuer_name(cert, X509_get_subject_name(iss)))
        goto fail;
    BN_free(bn);
    bn = NULL;
    if (add_ext(cert, iss, NID_subject_key_identifier, "hash") != 0)
        goto fail;
    if (issuer && add_ext(cert, iss, NID_authority_key_identifier, "keyid:always") != 0)
        goto fail;
    return cert;
fail:
    BN_free(bn);
    X509_free(cert);
    return NULL;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, key ? 0600 : 0644);
    if (fd == -1)
        return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok =
        key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_X509(f, cert);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        ok = 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) == -1) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int file_exists(const char *p)
{
    return access(p, R_OK) == 0;
}

int tls_certs_ensure(const char *dir, tls_files *files, char *err, size_t errlen)
{
    char ca_key[4200];
    snprintf(files->ca, sizeof(files->ca), "%s/ca.crt", dir);
    snprintf(files->cert, sizeof(files->cert), "%s/server.crt", dir);
    snprintf(files->key, sizeof(files->key), "%s/server.key", dir);
    snprintf(ca_key, sizeof(ca_key), "%s/ca.key", dir);
    if (file_exists(files->ca) && file_exists(files->cert) && file_exists(files->key))
        return 0;
    if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    EVP_PKEY *cakey = EVP_EC_gen("P-256"), *srvkey = EVP_EC_gen("P-256");
    X509 *ca = NULL, *srv = NULL;
    int rc = -1;
    if (!cakey || !srvkey) {
        ssl_errstr(err, errlen, "key generation");
        goto out;
    }
    ca = make_cert(cakey, "Stratus local CA", NULL, 3650);
    if (!ca || add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE") != 0 ||
        add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign") != 0 ||
        !X509_sign(ca, cakey, EVP_sha256())) {
        ssl_errstr(err, errlen, "CA certificate");
        goto out;
    }
    char host[256] = "localhost", san[512];
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
             strcmp(host, "localhost") ? ",DNS:" : "", strcmp(host, "localhost") ? host : "");
    srv = make_cert(srvkey, "localhost", ca, 825);
    if (!srv || add_ext(srv, ca, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
        add_ext(srv, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") != 0 ||
        add_ext(srv, ca, NID_ext_key_usage, "serverAuth") != 0 ||
        add_ext(srv, ca, NID_subject_alt_name, san) != 0 || !X509_sign(srv, cakey, EVP_sha256())) {
        ssl_errstr(err, errlen, "server certificate");
        goto out;
    }
    if (write_pem(ca_key, NULL, cakey) != 0 || write_pem(files->key, NULL, srvkey) != 0 ||
        write_pem(files->ca, ca, NULL) != 0 || write_pem(files->cert, srv, NULL) != 0) {
        snprintf(err, errlen, "cannot write certificates under %s: %s", dir, strerror(errno));
        goto out;
    }
    log_info("tls: generated a CA and a server certificate in %s", dir);
    rc = 0;
out:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(srvkey);
    return rc;
}

int tls_init(const tls_files *files, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_errstr(err, errlen, "SSL_CTX_new");
        return -1;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        ssl_errstr(err, errlen, "TLS protocol versions and ciphers");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, files->cert) != 1) {
        ssl_errstr(err, errlen, "TLS certificate");
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, files->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_errstr(err, errlen, "TLS private key");
        goto fail;
    }
    server_ctx = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return -1;
}

void tls_deinit(void)
{
    SSL_CTX_free(server_ctx);
    server_ctx = NULL;
}

/* ---- transport ---- */

static void tls_set_flag(conn *c, uint32_t flag, int on)
{
    if (on)
        c->tls_flags |= flag;
    else
        c->tls_flags &= ~flag;
}

static int tls_has_flag(const conn *c, uint32_t flag)
{
    return (c->tls_flags & flag) != 0;
}

static void tls_recompute(conn *c)
{
    uint32_t want = 0;
    if (tls_has_flag(c, TLS_READ_WANTS_WRITE))
        want |= EV_WRITE;
    if (tls_has_flag(c, TLS_WRITE_WANTS_READ))
        want |= EV_READ;
    c->tls_want = want;
    conn_update_interest(c);
}

static ssize_t tls_io_result(conn *c, int r, int is_read)
{
    int e = SSL_get_error(c->tls, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        if (!is_read) {
            tls_set_flag(c, TLS_WRITE_WANTS_READ, 1);
            tls_recompute(c);
        }
        return -EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        if (is_read) {
            tls_set_flag(c, TLS_READ_WANTS_WRITE, 1);
            tls_recompute(c);
        }
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        if (errno == 0 || errno == EPIPE || errno == ECONNRESET)
            return is_read ? 0 : -EPIPE;
        c->err = -errno;
        return -errno;
    default:
        ERR_clear_error();
        c->err = -EIO;
        return -EIO;
    }
}

static ssize_t tls_read(conn *c, void *p, size_t n)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(c->tls, p, (int)MIN(n, (size_t)1 << 30));
    if (r > 0) {
        if (tls_has_flag(c, TLS_READ_WANTS_WRITE)) {
            tls_set_flag(c, TLS_READ_WANTS_WRITE, 0);
            tls_recompute(c);
        }
        return r;
    }
    return tls_io_result(c, r, 1);
}

static ssize_t tls_write(conn *c, const void *p, size_t n)
{
    ERR_clear_error();
    errno = 0;
    int r = SSL_write(c->tls, p, (int)MIN(n, (size_t)1 << 30));
    if (r > 0) {
        if (tls_has_flag(c, TLS_WRITE_WANTS_READ)) {
            tls_set_flag(c, TLS_WRITE_WANTS_READ, 0);
            tls_recompute(c);
        }
        return r;
    }
    return tls_io_result(c, r, 0);
}

static void tls_fail_handshake(conn *c, int err)
{
    c->err = err;
    conn_close(c);
    c->ready_handler(c);
}

static void tls_do_handshake(conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->tls);
    if (r == 1) {
        c->state = CONN_CONNECTED;
        c->tls_want = 0;
        conn_update_interest(c);
        c->ready_handler(c);
        return;
    }
    int e = SSL_get_error(c->tls, r);
    if (e == SSL_ERROR_WANT_READ) {
        c->tls_want = EV_READ;
    } else if (e == SSL_ERROR_WANT_WRITE) {
        c->tls_want = EV_WRITE;
    } else {
        unsigned long le = ERR_peek_last_error();
        char msg[200] = "connection closed";
        if (le)
            ERR_error_string_n(le, msg, sizeof(msg));
        ERR_clear_error();
        log_debug("tls: handshake failed: %s", msg);
        tls_fail_handshake(c, -EPROTO);
        return;
    }
    conn_update_interest(c);
}

static void tls_sniff(conn *c)
{
    unsigned char first;
    ssize_t r = recv(c->h.fd, &first, 1, MSG_PEEK);
    if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (r <= 0) {
        tls_fail_handshake(c, r == 0 ? -ECONNRESET : -errno);
        return;
    }
    if (first != 0x16) {
        /* A plaintext client: hand it over as plain TCP, marked, so the session answers each
         * of its commands with an error naming TLS and then closes. One error line alone is
         * not enough: clients pipeline setup commands (ioredis: CLIENT SETINFO, whose errors
         * it ignores), and closing while they still write resets the connection before they
         * read the line. */
        log_debug("tls: plaintext client on the TLS port");
        c->type = &conn_type_tcp;
        c->plaintext_on_tls = 1;
        c->state = CONN_CONNECTED;
        c->tls_want = 0;
        conn_update_interest(c);
        c->ready_handler(c);
        return;
    }
    c->tls = SSL_new(server_ctx);
    if (!c->tls || SSL_set_fd(c->tls, c->h.fd) != 1) {
        ERR_clear_error();
        tls_fail_handshake(c, -ENOMEM);
        return;
    }
    SSL_set_accept_state(c->tls);
    tls_do_handshake(c);
}

static void tls_event(conn *c, uint32_t events)
{
    if (c->state == CONN_HANDSHAKE) {
        if (!c->tls)
            tls_sniff(c);
        else
            tls_do_handshake(c);
        return;
    }
    int rd = (events & EV_READ) || ((events & EV_WRITE) && tls_has_flag(c, TLS_READ_WANTS_WRITE));
    int wr = (events & EV_WRITE) || ((events & EV_READ) && tls_has_flag(c, TLS_WRITE_WANTS_READ));
    if (rd && c->read_handler)
        c->read_handler(c);
    if (wr && c->write_handler && c->state == CONN_CONNECTED)
        c->write_handler(c);
}

static void tls_handshake_start(conn *c)
{
    c->tls_want = EV_READ;
    conn_update_interest(c);
}

static int tls_has_pending(const conn *c)
{
    return c->tls && SSL_pending(c->tls) > 0;
}

static void tls_release(conn *c)
{
    if (c->tls) {
        if (c->state == CONN_CONNECTED)
            SSL_shutdown(c->tls);
        SSL_free(c->tls);
        c->tls = NULL;
    }
}

const conn_type conn_type_tls = {
    .name = "tls",
    .read = tls_read,
    .write = tls_write,
    .event = tls_event,
    .handshake = tls_handshake_start,
    .has_pending = tls_has_pending,
    .release = tls_release,
};

/* ---- blocking client ---- */

struct tls_client {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    int nonblocking; /* accepted by tls_client_accept: reads may say "not yet" */
};

void tls_client_close(tls_client *tc)
{
    if (!tc)
        return;
    if (tc->ssl) {
        SSL_shutdown(tc->ssl);
        SSL_free(tc->ssl);
    }
    if (tc->ctx)
        SSL_CTX_free(tc->ctx);
    if (tc->fd != -1)
        close(tc->fd);
    xfree(tc);
}

tls_client *tls_client_connect(const char *host, int port, const char *ca, int timeout_ms,
                               char *err, size_t errlen)
{
    tls_client *tc = xcalloc(1, sizeof(*tc));
    tc->fd = -1;
    char addr[300];
    snprintf(addr, sizeof(addr), "%s:%d", host, port);
    int in_progress = 0;
    int fd = sock_connect(addr, &in_progress);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", addr, strerror(-fd));
        goto fail;
    }
    tc->fd = fd;
    struct pollfd pfd = {.fd = tc->fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (in_progress && (poll(&pfd, 1, timeout_ms) != 1 ||
                        getsockopt(tc->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr)) {
        snprintf(err, errlen, "cannot connect to %s: %s", addr,
                 soerr ? strerror(soerr) : "timed out");
        goto fail;
    }
    /* Blocking from here, with the timeout on every read and write. */
    int fl = fcntl(tc->fd, F_GETFL);
    fcntl(tc->fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(tc->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(tc->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    tc->ctx = SSL_CTX_new(TLS_client_method());
    if (!tc->ctx || SSL_CTX_set_min_proto_version(tc->ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(tc->ctx, tls12_ciphers) != 1) {
        ssl_errstr(err, errlen, "TLS protocol versions and ciphers");
        goto fail;
    }
    if (ca && SSL_CTX_load_verify_locations(tc->ctx, ca, NULL) != 1) {
        ssl_errstr(err, errlen, "CA file");
        goto fail;
    }
    /* Without a CA the caller authenticates the channel itself (tls_client_binding). */
    SSL_CTX_set_verify(tc->ctx, ca ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    tc->ssl = SSL_new(tc->ctx);
    if (!tc->ssl || SSL_set_fd(tc->ssl, tc->fd) != 1 || SSL_connect(tc->ssl) != 1) {
        ssl_errstr(err, errlen, "TLS handshake");
        goto fail;
    }
    return tc;
fail:
    tls_client_close(tc);
    return NULL;
}

tls_client *tls_client_accept(int fd, char *err, size_t errlen)
{
    tls_client *tc = xcalloc(1, sizeof(*tc));
    tc->fd = fd;
    tc->nonblocking = 1;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    if (!server_ctx) {
        snprintf(err, errlen, "TLS is not initialised");
        goto fail;
    }
    tc->ssl = SSL_new(server_ctx);
    if (!tc->ssl || SSL_set_fd(tc->ssl, fd) != 1) {
        ssl_errstr(err, errlen, "TLS");
        goto fail;
    }
    SSL_set_accept_state(tc->ssl);
    return tc;
fail:
    tls_client_close(tc);
    return NULL;
}

int tls_client_handshake(tls_client *tc)
{
    int r = SSL_do_handshake(tc->ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(tc->ssl, r);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

int tls_client_fd(const tls_client *tc)
{
    return tc->fd;
}

int tls_client_pending(const tls_client *tc)
{
    return SSL_pending(tc->ssl) > 0;
}

int tls_client_binding(tls_client *tc, unsigned char out[32])
{
    static const char label[] = "EXPORTER-stratus-channel-binding";
    return SSL_export_keying_material(tc->ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) == 1
               ? 0
               : -1;
}

int tls_client_write(tls_client *tc, const void *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t w;
        if (SSL_write_ex(tc->ssl, (const char *)p + done, n - done, &w) != 1)
            return -1;
        done += w;
    }
    return 0;
}

long tls_client_read(tls_client *tc, void *p, size_t n)
{
    size_t r;
    if (SSL_read_ex(tc->ssl, p, n, &r) == 1)
        return (long)r;
    int e = SSL_get_error(tc->ssl, 0);
    ERR_clear_error();
    if (tc->nonblocking && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE))
        return -EAGAIN;
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}
