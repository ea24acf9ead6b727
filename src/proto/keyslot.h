/* Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its hash tag, modulo 16384. The
 * router uses it to pick the shard that owns a key, exactly as the engines compute it. */
#ifndef STRATUS_KEYSLOT_H
#define STRATUS_KEYSLOT_H

#include <stddef.h>
#include <stdint.h>

/* Number of hash slots in a Redis Cluster. */
#define KEYSLOT_COUNT 16384u

/* CRC16-CCITT/XMODEM (poly 0x1021, init 0) of n bytes, as Redis Cluster defines it. */
uint16_t crc16_xmodem(const char *p, size_t n);
/* Hash slot of a key: the CRC of its first non-empty {tag} if any, else of the whole key. */
unsigned keyslot(const char *key, size_t len);
/* The bytes keyslot hashes: the first non-empty {tag}'s content, else the whole key (*n bytes). */
const char *keyslot_hashed(const char *key, size_t len, size_t *n);
/* The smallest number whose decimal text hashes to slot (a short hash tag for any slot). */
uint32_t keyslot_number(unsigned slot);

#endif
