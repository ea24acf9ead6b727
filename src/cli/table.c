/* Values and columns the CLI prints (see table.h). */
#include "cli/table.h"

#include <stdio.h>
#include <string.h>

const char *cli_cell_text(const cli_cell *c)
{
    return c->str ? c->str : c->own;
}

void cli_cell_str(cli_cell *c, const char *s)
{
    c->str = s;
}

void cli_cell_int(cli_cell *c, long long v)
{
    c->str = NULL;
    snprintf(c->own, sizeof(c->own), "%lld", v);
}

void cli_cell_real(cli_cell *c, double v, int decimals)
{
    c->str = NULL;
    snprintf(c->own, sizeof(c->own), "%.*f", decimals, v);
}

void cli_cell_bytes(cli_cell *c, double bytes)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) {
        bytes /= 1024;
        i++;
    }
    c->str = NULL;
    /* Whole bytes need no decimal; a larger unit shows one. */
    snprintf(c->own, sizeof(c->own), "%.*f %s", i ? 1 : 0, bytes, units[i]);
}

void cli_cell_address(cli_cell *c, const char *host, const char *port)
{
    int v6 = strchr(host, ':') != NULL;
    c->str = NULL;
    snprintf(c->own, sizeof(c->own), "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

void cli_table_put(buf *out, const cli_col *col, const char *text, int first)
{
    buf_appendf(out, col->left ? "%s%-*s" : "%s%*s", first ? "" : " ", col->width, text);
}
