/* Logging goes to stderr with a wall-clock timestamp. This is the one place in
 * common/ that reads the real clock: log lines are for people, not for state. */
#include "tn_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

static _Atomic int log_level = TN_LOG_INFO;
static const char *const names[] = { "DEBUG", "INFO ", "WARN ", "ERROR" };

void tn_log_set_level(enum tn_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum tn_log_level tn_log_get_level(void)
{
	return (enum tn_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int tn_log_parse_level(const char *s, enum tn_log_level *out)
{
	static const char *const lower[] = { "debug", "info", "warn", "error" };
	for (int i = 0; i < 4; i++) {
		if (strcasecmp(s, lower[i]) == 0) {
			*out = (enum tn_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void tn_log(enum tn_log_level level, const char *mod, const char *fmt, ...)
{
	if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	struct timespec ts;
	struct tm tm;
	char line[1024];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, names[level], mod);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line); /* one fprintf: lines from threads do not interleave */
}
