/*
 * paths.c — where disco finds its own files (see paths.h).
 */
#include "common/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void disco_guest_dir(char *out, size_t len)
{
	const char *env = getenv("DISCO_GUEST_DIR");
	if (env) {
		snprintf(out, len, "%s", env);
		return;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(out, len, ".");
		return;
	}
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	snprintf(out, len, "%s/../guest", exe);
	if (access(out, R_OK) == 0)
		return;
	snprintf(out, len, "%s/../share/disco/guest", exe);
}
