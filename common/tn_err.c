#include "tn_err.h"

#include <string.h>

const char *tn_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case TN_ECORRUPT:
		return "data corrupt (CRC or framing)";
	case TN_ENOTLEADER:
		return "not the leader";
	case TN_ESTALEEPOCH:
		return "stale epoch";
	case TN_ESHUTDOWN:
		return "shutting down";
	case TN_ELIMIT:
		return "limit reached";
	default:
		return strerror(err);
	}
}
