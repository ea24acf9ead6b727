/* The CLI's calls to the control plane's API (`stratus cache`, `stratus snapshot`, `stratus
 * usage`). Exit codes: 0 done, 1 refused or failed, 2 bad usage, 3 not found, 4 conflict, 5 the
 * API cannot be reached. */
#ifndef STRATUS_CLI_API_CLIENT_H
#define STRATUS_CLI_API_CLIENT_H

/* stratus cache create|list|describe|modify|delete|hibernate|wake ... */
int cli_cache(int argc, char **argv);
/* stratus snapshot create|list|describe|delete|restore|export|import ... */
int cli_snapshot(int argc, char **argv);
/* stratus usage CACHE */
int cli_usage(int argc, char **argv);

#endif
