/* common/tn_crc32c.h: CRC32C (Castagnoli), as used by the txn log and
 * snapshots. Uses the SSE4.2 instruction when the CPU has it. */
#ifndef TN_CRC32C_H
#define TN_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend @crc (0 to start) over @len bytes at @p. */
uint32_t tn_crc32c_extend(uint32_t crc, const void *p, size_t len);

static inline uint32_t tn_crc32c(const void *p, size_t len)
{
	return tn_crc32c_extend(0, p, len);
}

#endif
