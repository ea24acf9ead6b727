/* RESP2/RESP3 wire protocol: the incremental request parser (client -> proxy), the reply frame
 * scanner (engine -> proxy), a tree-building value parser for merging fan-out replies and the
 * control plane, and the reply/command writers. Both hot-path parsers keep offsets, never
 * pointers, so the caller may move its buffer between calls, and both resume where they stopped. */
#ifndef STRATUS_RESP_H
#define STRATUS_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/compiler.h"

#define RESP_DONE 1   /* a complete frame was parsed */
#define RESP_AGAIN 0  /* need more bytes */
#define RESP_ERR (-1) /* protocol error; message in parser->err */

/* Default request limits after AUTH (Redis: 1M args, proto-max-bulk-len 512 MB, 64 KB inline). */
#define RESP_LIMIT_ARGS 1048576u
#define RESP_LIMIT_BULK (512u * 1024u * 1024u)
#define RESP_LIMIT_INLINE (64u * 1024u)
/* Stricter limits before AUTH (Redis since CVE-2021-32675). */
#define RESP_LIMIT_ARGS_NOAUTH 10u
#define RESP_LIMIT_BULK_NOAUTH 16384u
/* Deepest nesting of aggregates (attributes included) the reply scanner and value parser accept. */
#define RESP_MAX_DEPTH 128

/* One argument's bytes: [off, off+len) relative to a base (the caller's data, or the parser's
 * inline buffer when the command was inline). */
typedef struct {
    size_t off; /* first byte */
    size_t len; /* byte count */
} resp_span;

/* Request limits; a value over a limit is a protocol error. */
typedef struct {
    size_t max_args;     /* multibulk count limit (1048576 after AUTH, 10 before) */
    size_t max_bulk;     /* single bulk length limit (512 MB after AUTH, 16 KB before) */
    size_t max_inline;   /* inline line, and multibulk/bulk count line, limit (64 KB) */
    int unauthenticated; /* 1: over-limit counts are reported as Redis does before AUTH */
} resp_limits;

/* Incremental request parser. Between calls it remembers how far it has scanned into the
 * current command (as offsets from the command's first byte) and the argument spans found so
 * far. After RESP_DONE it is ready for the next command; argv/argc/is_inline stay valid until
 * the next call. Fields marked private are the parser's own. */
typedef struct resp_req_parser {
    resp_limits limits; /* may be changed by the caller between commands */
    int state;          /* private: where in the command grammar we are */
    size_t pos;         /* private: next byte to examine, relative to data */
    size_t line_start;  /* private: first byte of the header line being scanned */
    size_t args_left;   /* private: bulk arguments still expected */
    size_t bulk_len;    /* private: payload length of the bulk being read */
    size_t argv_cap;    /* private: spans allocated in argv */
    buf inline_buf;     /* private: unescaped inline arguments, which inline spans refer to */
    resp_span *argv;    /* argc spans of the last complete command */
    size_t argc;        /* argument count of the last complete command (0: ignore it) */
    int is_inline;      /* 1 when the last command was inline */
    char err[160];      /* "Protocol error: ..." (or an out-of-memory message) on RESP_ERR */
} resp_req_parser;

/* Reply frame scanner state: a stack of children still expected per open aggregate. */
typedef struct {
    size_t pos;                         /* private: next byte to examine, relative to data */
    size_t line_start;                  /* private: first byte of the header line */
    size_t blob_end;                    /* private: offset of the CRLF closing the blob */
    int in_blob;                        /* private: 1 while waiting for a blob's payload */
    unsigned depth;                     /* private: open aggregates */
    uint64_t left[RESP_MAX_DEPTH];      /* private: children still expected per level */
    unsigned char attr[RESP_MAX_DEPTH]; /* private: 1 when the level is an attribute map */
    const char *err;                    /* static description of the last RESP_ERR */
} resp_reply_scanner;

/* Types of a parsed reply value. */
typedef enum {
    RESP_T_SIMPLE,   /* +str */
    RESP_T_ERROR,    /* -str */
    RESP_T_INTEGER,  /* :n */
    RESP_T_BULK,     /* $n blob */
    RESP_T_ARRAY,    /* *n */
    RESP_T_NULL,     /* _, $-1, *-1 (raw tells which) */
    RESP_T_MAP,      /* %n: 2n elements k,v,k,v */
    RESP_T_SET,      /* ~n */
    RESP_T_PUSH,     /* >n */
    RESP_T_DOUBLE,   /* ,text */
    RESP_T_BOOL,     /* #t / #f */
    RESP_T_BIGNUM,   /* (digits */
    RESP_T_VERBATIM, /* =n fmt:text; str is the text after "fmt:", the format is at str-4 */
    RESP_T_BLOBERR,  /* !n blob */
    RESP_T_ATTR      /* |n: never produced; attributes are skipped by resp_value_parse */
} resp_type;

/* A parsed reply. Strings and raw point into the parsed input, which must outlive the tree.
 * raw of a value preceded by attributes starts at the first attribute. */
typedef struct resp_value {
    resp_type type;
    long long integer;       /* INTEGER, BOOL (0/1) */
    const char *str;         /* SIMPLE/ERROR/BULK/DOUBLE/BIGNUM/VERBATIM/BLOBERR payload */
    size_t len;              /* payload length */
    const char *raw;         /* the whole frame's bytes of this value */
    size_t raw_len;          /* length of raw */
    size_t nelem;            /* aggregates: element count (maps: 2 * pairs) */
    struct resp_value *elem; /* aggregates: nelem values */
} resp_value;

/* Initialise a request parser with lim (NULL: the after-AUTH defaults). */
void resp_req_parser_init(resp_req_parser *p, const resp_limits *lim);
/* Release the parser's memory. */
void resp_req_parser_deinit(resp_req_parser *p);
/* Parse the command starting at data (len bytes available, kept by the caller until DONE). */
int resp_req_parse(resp_req_parser *p, const char *data, size_t len, size_t *consumed);
/* Pointer to argument i of the last complete command, given the same data pointer. */
const char *resp_req_arg(const resp_req_parser *p, const char *data, size_t i);

/* Initialise a reply scanner. */
void resp_reply_scanner_init(resp_reply_scanner *s);
/* Scan the frame at data; RESP_DONE sets *frame_len. Resets itself after DONE/ERR. */
int resp_reply_scan(resp_reply_scanner *s, const char *data, size_t len, size_t *frame_len);

/* Parse one complete frame at data into an xmalloc'd tree *out, attributes skipped. */
int resp_value_parse(const char *data, size_t len, resp_value **out, size_t *consumed);
/* Free a tree returned by resp_value_parse; NULL is allowed. */
void resp_value_free(resp_value *v);

/* Append +s\r\n (s must not contain CR or LF). */
void resp_add_simple(buf *b, const char *s);
/* Append -message\r\n; CR/LF in the message become spaces. The caller writes the code ("ERR"). */
void resp_add_error(buf *b, const char *fmt, ...) ATTR_PRINTF(2, 3);
/* Append :v\r\n. */
void resp_add_int(buf *b, long long v);
/* Append a bulk string of n bytes. */
void resp_add_bulk(buf *b, const char *p, size_t n);
/* Append a bulk string holding the C string s. */
void resp_add_cstr(buf *b, const char *s);
/* Append a null: $-1 for proto 2, _ for proto 3. */
void resp_add_null(buf *b, int proto);
/* Append an array header of n elements. */
void resp_add_array(buf *b, size_t n);
/* Append a map header of n pairs: %n for proto 3, *2n for proto 2. */
void resp_add_map(buf *b, size_t n, int proto);
/* Append a set header of n elements: ~n for proto 3, *n for proto 2. */
void resp_add_set(buf *b, size_t n, int proto);
/* Append text as a verbatim string "txt:..." for proto 3, a bulk string for proto 2. */
void resp_add_verbatim(buf *b, const char *p, size_t n, int proto);
/* Append a double as Redis's addReplyDouble does ("%.17g"): a RESP3 double, a RESP2 bulk string. */
void resp_add_double(buf *b, double d, int proto);
/* Append a multibulk request of argc arguments. */
void resp_add_command(buf *b, size_t argc, const char *const *argv, const size_t *lens);

#endif
