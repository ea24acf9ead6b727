/* How the CLI lays out what it prints: values as text (each cell owns the text of a number it
 * shows) and rows of cells in fixed-width columns, as printf's "%-20s" and "%9s" would. Pure:
 * no I/O, no JSON, so the layout is unit-tested. */
#ifndef STRATUS_CLI_TABLE_H
#define STRATUS_CLI_TABLE_H

#include <stddef.h>

#include "common/buf.h"

/* One value to print. Invariant: its text is str when str is set (a string borrowed from a
 * parsed reply that outlives the printing), else own (a number, a size or an address formatted
 * into the cell itself). Cells never share a buffer, so any number of them fit one printf. */
typedef struct {
    const char *str; /* borrowed text, or NULL */
    char own[96];    /* the text when str is NULL */
} cli_cell;

/* One column: its header, its width (a longer text widens its cell), its side. */
typedef struct {
    const char *header;
    int width;
    int left; /* 1: left-aligned (words), 0: right-aligned (numbers) */
} cli_col;

/* The text c shows. */
const char *cli_cell_text(const cli_cell *c);
/* Show s, borrowed: it must outlive c's use. */
void cli_cell_str(cli_cell *c, const char *s);
/* Show an integer ("42"). */
void cli_cell_int(cli_cell *c, long long v);
/* Show a number with decimals digits after the point ("150.5"). */
void cli_cell_real(cli_cell *c, double v, int decimals);
/* Show a byte count for people: "512 B", "6.5 KB", "1.2 GB" (units of 1024). */
void cli_cell_bytes(cli_cell *c, double bytes);
/* Show host:port, an IPv6 host in brackets ("[::1]:8379"). */
void cli_cell_address(cli_cell *c, const char *host, const char *port);

/* Append text to out laid out in col: after one space unless first, padded to col's width. */
void cli_table_put(buf *out, const cli_col *col, const char *text, int first);

#endif
