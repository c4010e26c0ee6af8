/* common/tn_log.h: leveled logging to stderr, one line per call:
 * "2026-11-22T02:48:02.123Z WARN  cfg: unknown key foo (line 7)". */
#ifndef TN_LOG_H
#define TN_LOG_H

enum tn_log_level { TN_LOG_DEBUG, TN_LOG_INFO, TN_LOG_WARN, TN_LOG_ERROR };

void tn_log_set_level(enum tn_log_level level);
enum tn_log_level tn_log_get_level(void);
/* Parse "debug|info|warn|error" (case-insensitive). Return 0 or -EINVAL. */
int tn_log_parse_level(const char *s, enum tn_log_level *out);
void tn_log(enum tn_log_level level, const char *mod, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define TN_DEBUG(mod, ...) tn_log(TN_LOG_DEBUG, mod, __VA_ARGS__)
#define TN_INFO(mod, ...) tn_log(TN_LOG_INFO, mod, __VA_ARGS__)
#define TN_WARN(mod, ...) tn_log(TN_LOG_WARN, mod, __VA_ARGS__)
#define TN_ERROR(mod, ...) tn_log(TN_LOG_ERROR, mod, __VA_ARGS__)

#endif
