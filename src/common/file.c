/* Durable file helpers (see file.h). */
#define ALLOC_ROOM ROOM_COMMON
#include "common/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int file_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, mode) == -1 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, mode) == -1 && errno != EEXIST)
        return -errno;
    return 0;
}

static int sync_dir_of(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -errno;
    int rc = fsync(fd) == -1 ? -errno : 0;
    close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Open path's temporary sibling for writing. */
static int open_tmp(const char *path, char *tmp, size_t tmplen, mode_t mode)
{
    snprintf(tmp, tmplen, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    return fd == -1 ? -errno : fd;
}

/* fsync and close fd, rename tmp over path, fsync the directory. */
static int finish_tmp(int fd, const char *tmp, const char *path)
{
    if (fsync(fd) == -1 || close(fd) == -1 || rename(tmp, path) == -1) {
        int e = -errno;
        unlink(tmp);
        return e;
    }
    return sync_dir_of(path);
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[4200];
    int fd = open_tmp(path, tmp, sizeof(tmp), mode);
    if (fd < 0)
        return fd;
    int rc = write_all(fd, data, len);
    if (rc != 0) {
        close(fd);
        unlink(tmp);
        return rc;
    }
    return finish_tmp(fd, tmp, path);
}

int file_copy_atomic(const char *src, const char *dst, mode_t mode)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in == -1)
        return -errno;
    char tmp[4200];
    int fd = open_tmp(dst, tmp, sizeof(tmp), mode);
    if (fd < 0) {
        close(in);
        return fd;
    }
    char chunk[65536];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, chunk, sizeof(chunk));
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n == -1 ? -errno : 0;
            break;
        }
        if ((rc = write_all(fd, chunk, (size_t)n)) != 0)
            break;
    }
    close(in);
    if (rc != 0) {
        close(fd);
        unlink(tmp);
        return rc;
    }
    return finish_tmp(fd, tmp, dst);
}

int file_read_all(const char *path, buf *out, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -errno;
    size_t got = 0;
    int rc = 0;
    for (;;) {
        buf_reserve(out, 65536);
        ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n == -1 ? -errno : 0;
            break;
        }
        out->len += (size_t)n;
        got += (size_t)n;
        if (got > max) {
            rc = -EFBIG;
            break;
        }
    }
    close(fd);
    return rc;
}

int file_read_line(const char *path, char *out, size_t outlen)
{
    buf b;
    buf_init(&b);
    int rc = file_read_all(path, &b, 65536);
    snprintf(out, outlen, "%.*s", rc == 0 ? (int)buf_used(&b) : 0, rc == 0 ? buf_rptr(&b) : "");
    out[strcspn(out, "\r\n")] = '\0';
    buf_deinit(&b);
    return rc;
}

int file_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == -1)
        return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -errno;
        struct dirent *de;
        int rc = 0;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char sub[4200];
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            int r = file_remove_tree(sub);
            if (r != 0)
                rc = r;
        }
        closedir(d);
        if (rc != 0)
            return rc;
        return rmdir(path) == -1 ? -errno : 0;
    }
    return unlink(path) == -1 && errno != ENOENT ? -errno : 0;
}

int64_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) == -1)
        return -errno;
    return (int64_t)st.st_size;
}
