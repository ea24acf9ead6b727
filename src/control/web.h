/* The web console's static files, embedded in the binary (web/, turned into web_gen.c by
 * scripts/embed-web.py), so the control plane serves its console with no files to install. */
#ifndef STRATUS_WEB_H
#define STRATUS_WEB_H

#include <stddef.h>

/* One embedded file. data is followed by a NUL byte that len does not count. */
typedef struct {
    const char *path;          /* URL path, e.g. "/console.js" */
    const char *type;          /* content type, e.g. "application/javascript" */
    const unsigned char *data; /* the file's bytes */
    size_t len;                /* their count */
} web_file;

/* The file served at path ("/" is "/index.html"), or NULL. */
const web_file *web_find(const char *path);

#endif
