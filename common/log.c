/*
 * log.c — levelled, per-subsystem logging to stderr (see log.h).
 *
 * The thresholds are process-wide: they are configuration read once at start,
 * not state, so two nodes in one test process share them harmlessly.
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned char log_levels[SUB_COUNT] = {
	LOG_WARN, LOG_WARN, LOG_WARN, LOG_WARN, LOG_WARN, LOG_WARN, LOG_WARN,
};

static int log_node = -1;

static const char *const sub_names[SUB_COUNT] = {
	[SUB_NODE] = "node", [SUB_COH] = "coh", [SUB_VMM] = "vmm",
	[SUB_DISK] = "disk", [SUB_NET] = "net", [SUB_DESC] = "desc",
	[SUB_LAUNCH] = "launch",
};
static const char *const level_names[] = {
	"error", "warn", "info", "debug", "trace",
};

const char *log_subsys_name(enum log_subsys s)
{
	return s < SUB_COUNT ? sub_names[s] : "?";
}

static int parse_level(const char *s, size_t n)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strlen(level_names[i]) == n && !strncmp(s, level_names[i], n))
			return (int)i;
	return -1;
}

/*
 * log_init - DISCO_LOG is a comma list; a bare level sets every subsystem,
 * SUB=LEVEL sets one. Later items override earlier ones.
 */
int log_init(const char *spec)
{
	if (!spec)
		spec = getenv("DISCO_LOG");
	if (!spec || !*spec)
		return 0;
	int rc = 0;
	const char *p = spec;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		if (!eq) {
			int l = parse_level(p, len);
			if (l < 0) {
				fprintf(stderr, "disco: DISCO_LOG: unknown level '%.*s' (allowed: error, warn, info, debug, trace)\n", (int)len, p);
				rc = -EINVAL;
			} else {
				memset(log_levels, l, sizeof(log_levels));
			}
		} else {
			size_t sl = (size_t)(eq - p);
			int l = parse_level(eq + 1, len - sl - 1);
			int sub = -1;
			for (int i = 0; i < SUB_COUNT; i++)
				if (strlen(sub_names[i]) == sl && !strncmp(p, sub_names[i], sl))
					sub = i;
			if (sub < 0 || l < 0) {
				fprintf(stderr, "disco: DISCO_LOG: bad item '%.*s' (subsystems: node, coh, vmm, disk, net, desc, launch; levels: error, warn, info, debug, trace)\n", (int)len, p);
				rc = -EINVAL;
			} else {
				log_levels[sub] = (unsigned char)l;
			}
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return rc;
}

void log_set_node(int node)
{
	log_node = node;
}

void log_emit(enum log_subsys s, enum log_level l, const char *fmt, ...)
{
	char buf[1024];
	int n;
	if (log_node >= 0)
		n = snprintf(buf, sizeof(buf), "disco[node %d] %s: %s: ", log_node, log_subsys_name(s), level_names[l]);
	else
		n = snprintf(buf, sizeof(buf), "disco %s: %s: ", log_subsys_name(s), level_names[l]);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(buf))
		vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	/* one write per message so that ranks sharing a terminal do not interleave lines */
	fprintf(stderr, "%s\n", buf);
}

void log_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "disco[node %d]: BUG at %s:%d: %s\n", log_node, file, line, what);
	abort();
}
