/* Files the control plane writes and must never tear: written to a temporary name, fsynced,
 * renamed, and the directory fsynced (the pattern Redis uses for its RDB files). */
#ifndef STRATUS_FILE_H
#define STRATUS_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

/* mkdir -p with mode for each directory created. 0 or -errno. */
int file_mkdir_p(const char *path, mode_t mode);
/* Replace path with data atomically and durably (temp, fsync, rename, fsync of the directory).
 * 0 or -errno (path is then unchanged). */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Copy src to dst atomically and durably, as file_write_atomic. 0 or -errno. */
int file_copy_atomic(const char *src, const char *dst, mode_t mode);
/* Append the whole file to out (at most max bytes). 0, -EFBIG, or -errno. */
int file_read_all(const char *path, buf *out, size_t max);
/* The first line of a small file (a secret, a token, an address) into out, without its line
 * end. 0, or -errno (out is then ""). */
int file_read_line(const char *path, char *out, size_t outlen);
/* Remove path and everything under it (no error when it does not exist). 0 or -errno. */
int file_remove_tree(const char *path);
/* Size of path in bytes, or -errno. */
int64_t file_size(const char *path);

#endif
