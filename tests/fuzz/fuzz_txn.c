/* tests/fuzz/fuzz_txn.c. Description: arbitrary bytes into txn_decode; a txn
 * that decodes must re-encode to the same bytes (the encoding is canonical)
 * and decode again to the same encoding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/tn_assert.h"
#include "store/store.h"

static uint8_t arena1[1 << 20], arena2[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tn_arena a = tn_arena_init(arena1, sizeof arena1);
	struct tn_arena b = tn_arena_init(arena2, sizeof arena2);
	struct txn t, t2;
	uint8_t *buf, *buf2;
	size_t len;

	if (txn_decode(data, size, &t, &a) != 0)
		return 0;
	len = txn_encoded_len(&t);
	TN_ASSERT(len == size); /* one encoding per txn: decode consumed all of it */
	buf = malloc(len);
	buf2 = malloc(len);
	TN_ASSERT(buf && buf2);
	TN_ASSERT(txn_encode(&t, buf, len) == (int)len);
	TN_ASSERT(memcmp(buf, data, len) == 0);
	TN_ASSERT(txn_decode(buf, len, &t2, &b) == 0);
	TN_ASSERT(txn_encoded_len(&t2) == len);
	TN_ASSERT(txn_encode(&t2, buf2, len) == (int)len);
	TN_ASSERT(memcmp(buf, buf2, len) == 0);
	free(buf);
	free(buf2);
	return 0;
}
