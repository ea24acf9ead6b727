/* TLS setup for the endpoint: certificates (generated at first start or the user's own) and the
 * server context used by conn_type_tls. Implemented in conn_tls.c, the only OpenSSL file. */
#ifndef STRATUS_TLS_H
#define STRATUS_TLS_H

#include <stddef.h>
#include <stdint.h>

/* Paths of the certificate material the endpoint serves. */
typedef struct {
    char cert[4096]; /* server certificate chain (PEM) */
    char key[4096];  /* server private key (PEM) */
    char ca[4096];   /* CA certificate clients should trust (PEM) */
} tls_files;

/* Create dir/{ca.crt,ca.key,server.crt,server.key} unless they exist; fills files. 0 or -1. */
int tls_certs_ensure(const char *dir, tls_files *files, char *err, size_t errlen);
/* Load the server context from files (TLS 1.2+). Call once before workers start. 0 or -1. */
int tls_init(const tls_files *files, char *err, size_t errlen);
/* Free the server context at shutdown. */
void tls_deinit(void);
/* SHA-1 of n bytes as 40 lowercase hex digits plus NUL (script ids). OpenSSL is reached only
 * from conn_tls.c, so its digest lives there too. */
void crypto_sha1_hex(const char *p, size_t n, char out[41]);
/* SHA-256 of n bytes as 64 lowercase hex digits and a NUL (ACL password hashes, as Redis). */
void crypto_sha256_hex(const char *p, size_t n, char out[65]);
/* SHA-256 of a file's content as 64 hex digits and a NUL; its size to *size. 0 or -errno. */
int crypto_sha256_file(const char *path, char out[65], uint64_t *size);
/* HMAC-SHA256 of msg under key, as 64 lowercase hex digits and a NUL. */
void crypto_hmac_sha256_hex(const void *key, size_t klen, const void *msg, size_t mlen,
                            char out[65]);
/* nbytes (at most 64) of cryptographic randomness as 2 * nbytes hex digits and a NUL into out.
 * 0 or -1. */
int crypto_random_hex(char *out, size_t nbytes);
/* Whether a and b (n bytes each) are equal, in time independent of where they differ. */
int crypto_equal(const void *a, const void *b, size_t n);
/* A blocking TLS connection: the CLI's line to a running endpoint, and the control plane's line
 * to a host agent (both ends). */
typedef struct tls_client tls_client;
/* Connect to host:port within timeout_ms, verifying the server against the CA file ca (NULL:
 * no certificate check; the caller then authenticates the channel with tls_client_binding). NULL
 * with err when that fails. */
tls_client *tls_client_connect(const char *host, int port, const char *ca, int timeout_ms,
                               char *err, size_t errlen);
/* Server side, non-blocking: a TLS connection on the accepted socket fd (taken over, closed by
 * tls_client_close) with the context of tls_init; call tls_client_handshake when fd is
 * readable until it returns 1. NULL with err. */
tls_client *tls_client_accept(int fd, char *err, size_t errlen);
/* Advance a server handshake: 1 done, 0 wait for the socket, -1 failed. */
int tls_client_handshake(tls_client *tc);
/* The socket, for poll(). */
int tls_client_fd(const tls_client *tc);
/* Whether decrypted bytes wait to be read (poll() cannot see them). */
int tls_client_pending(const tls_client *tc);
/* 32 bytes both ends of this TLS session compute alike and a man in the middle cannot (RFC 5705
 * keying material exporter): bound into an authentication proof, it ties the proof to this
 * channel. 0 or -1. */
int tls_client_binding(tls_client *tc, unsigned char out[32]);
/* Write all n bytes. 0 or -1. */
int tls_client_write(tls_client *tc, const void *p, size_t n);
/* Read up to n bytes (blocking, with the connect timeout). Bytes read, 0 at close, -1 on error;
 * on an accepted (non-blocking) connection also -EAGAIN: nothing yet. */
long tls_client_read(tls_client *tc, void *p, size_t n);
/* Close and free; NULL is allowed. */
void tls_client_close(tls_client *tc);
/* Error (without "-" and CRLF) for each command of a plaintext client on the TLS port. */
extern const char tls_plaintext_error[];

#endif
