/* sha256.h - SHA-256 (FIPS 180-4), for the snapshot checksum.
 *
 * None of the linked libraries exports SHA-256 publicly, and it is small
 * enough to own. Not constant-time; used only for content fingerprints. */
#ifndef GAZETTE_SHA256_H
#define GAZETTE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t total;          /* bytes hashed so far */
    unsigned char blk[64];
    size_t used;             /* bytes in blk */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, unsigned char out[32]);
/* One-shot: hex digest (64 lowercase chars + NUL) of data. */
void sha256_hex(const void *data, size_t n, char hex[65]);

#endif
