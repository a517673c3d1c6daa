/*
 * log.h — one logging macro with a level and a subsystem.
 *
 * The level comes from the environment: DISCO_LOG=LEVEL[,SUBSYS=LEVEL...],
 * e.g. DISCO_LOG=info,coh=debug. Levels: error, warn, info, debug, trace.
 * The default is warn. Arguments are not evaluated when the level is off,
 * so a LOG() in a hot path costs one load and one compare.
 *
 * Messages go to stderr, prefixed with the node (rank) when one is set:
 *   disco[node 2] coh: warn: dropped message with a wrong job key
 */
#ifndef DISCO_LOG_H
#define DISCO_LOG_H

#include <stdint.h>
#include <time.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

enum log_subsys {
	SUB_NODE,	/* bootstrap, event loop, reports */
	SUB_COH,	/* transport and coherence protocol */
	SUB_VMM,	/* monitor, vCPUs, devices */
	SUB_DISK,	/* vdisk */
	SUB_NET,	/* vnet */
	SUB_DESC,	/* machine descriptions */
	SUB_LAUNCH,	/* the disco command */
	SUB_COUNT
};

/* Per-subsystem threshold; read once by log_init(), thereafter only read. */
extern unsigned char log_levels[SUB_COUNT];

/*
 * log_init - parse DISCO_LOG (spec may be NULL: the environment is used).
 * Returns 0, or -EINVAL after printing what was wrong (logging still works
 * with the default level).
 */
int log_init(const char *spec);
void log_set_node(int node);
const char *log_subsys_name(enum log_subsys s);
void log_emit(enum log_subsys s, enum log_level l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define LOG_ON(sub, lvl) ((lvl) <= log_levels[(sub)])
#define LOG(sub, lvl, ...) do { \
	if (LOG_ON(sub, lvl)) log_emit((sub), (lvl), __VA_ARGS__); \
} while (0)

/*
 * LOG_RATELIMITED - for per-event warnings (a guest's bad request, a
 * malformed message): at most `burst` messages per second per call site.
 */
#define LOG_RATELIMITED(sub, lvl, ...) do { \
	static time_t lr_sec_; static unsigned lr_n_; \
	if (LOG_ON(sub, lvl)) { \
		time_t lr_now_ = time(NULL); \
		if (lr_now_ != lr_sec_) { lr_sec_ = lr_now_; lr_n_ = 0; } \
		if (lr_n_++ < 5) log_emit((sub), (lvl), __VA_ARGS__); \
	} \
} while (0)

/* BUG_ON - an impossible internal state: abort with where and why. */
#define BUG_ON(cond) do { \
	if (__builtin_expect(!!(cond), 0)) \
		log_bug(__FILE__, __LINE__, #cond); \
} while (0)
void log_bug(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
