/* common/tn_err.h: error codes. Functions return >= 0 on success and -errno on
 * failure; tern's own codes live above TN_EBASE and are returned negated too. */
#ifndef TN_ERR_H
#define TN_ERR_H

enum {
	TN_EBASE = 4096,
	TN_ECORRUPT,     /* on-disk data failed a CRC or framing check */
	TN_ENOTLEADER,   /* this server cannot order writes */
	TN_ESTALEEPOCH,  /* a message from an older epoch */
	TN_ESHUTDOWN,    /* the component is stopping */
	TN_ELIMIT,       /* a configured limit was hit */
	TN_EEND          /* first unused code */
};

/* Text for @err, which may be -errno or -TN_E*; never NULL. */
const char *tn_strerror(int err);

#endif
