/* The Stratus version, printed by `stratus version` and reported in INFO. */
#ifndef STRATUS_VERSION_H
#define STRATUS_VERSION_H

#define STRATUS_VERSION "0.1.0"

#endif
