/* `stratus bill`: a cache's usage records priced by a sheet, printed for people. */
#ifndef STRATUS_CLI_BILL_H
#define STRATUS_CLI_BILL_H

/* `stratus bill [CACHE] [--since T] [--until T] [--prices FILE|redis-oss|valkey]
 * [--min-storage GB] [--data-dir D]`. Exit code (2: usage, 1: no records or store). */
int cmd_bill(int argc, char **argv);

#endif
