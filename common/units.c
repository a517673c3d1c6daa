/*
 * units.c — the numbers of machine descriptions: plain integers, sizes and
 * durations, read and written back (see desc.h).
 *
 * Every parser is strict: digits only (no sign, no hex, no spaces, no
 * fraction), an optional unit, nothing after it, and overflow is an error,
 * never a wrap. strtoull is not used because it accepts "-1" (and wraps it),
 * leading spaces and "+4"; a description that says something odd should be
 * refused, not reinterpreted.
 *
 * The formatters give the shortest exact spelling (268435456 -> "256M",
 * 100000000 ns -> "100ms"), which the parsers read back to the same value:
 * desc_write_ini() relies on that round trip.
 */
#include "common/desc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>

/* Leading decimal digits of s into *out; *end is set past them. */
static int digits_parse(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	*end = p;
	return 0;
}

/*
 * desc_parse_uint - a plain decimal integer: digits and nothing else.
 * Returns 0, -EINVAL (not a number, sign, junk) or -ERANGE (overflow).
 */
int desc_parse_uint(const char *s, uint64_t *out)
{
	const char *end;
	uint64_t v;
	int rc;

	rc = digits_parse(s, &v, &end);
	if (rc)
		return rc;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

static const struct unit_mult {
	const char *name;
	uint64_t mult;
} size_units[] = {
	{ "", 1 }, { "b", 1 },
	{ "k", 1ull << 10 }, { "kb", 1ull << 10 }, { "kib", 1ull << 10 },
	{ "m", 1ull << 20 }, { "mb", 1ull << 20 }, { "mib", 1ull << 20 },
	{ "g", 1ull << 30 }, { "gb", 1ull << 30 }, { "gib", 1ull << 30 },
	{ "t", 1ull << 40 }, { "tb", 1ull << 40 }, { "tib", 1ull << 40 },
}, duration_units[] = {
	{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
	{ "s", 1000000000ull }, { "m", 60000000000ull }, { "min", 60000000000ull },
	{ "h", 3600000000000ull },
};

static int unit_parse(const char *s, const struct unit_mult *u, size_t n, uint64_t *out)
{
	const char *end;
	uint64_t v;
	size_t i;
	int rc;

	rc = digits_parse(s, &v, &end);
	if (rc)
		return rc;
	for (i = 0; i < n; i++) {
		if (strcasecmp(end, u[i].name))
			continue;
		if (v > UINT64_MAX / u[i].mult)
			return -ERANGE;
		*out = v * u[i].mult;
		return 0;
	}
	return -EINVAL;
}

/*
 * desc_parse_size - bytes: 4096, 4K, 256M, 1G, 2T; K/M/G/T are binary
 * multiples, optionally followed by B or iB, in any case (4kib, 256MB).
 * Returns 0, -EINVAL or -ERANGE (does not fit 64 bits).
 */
int desc_parse_size(const char *s, uint64_t *out)
{
	return unit_parse(s, size_units, sizeof(size_units) / sizeof(size_units[0]), out);
}

/*
 * desc_parse_duration - nanoseconds: 100ns, 500us, 10ms, 2s, 1m (minute),
 * 1h. A duration needs its unit; the one exception is a bare 0.
 * Returns 0, -EINVAL or -ERANGE.
 */
int desc_parse_duration(const char *s, uint64_t *out_ns)
{
	if (!strcmp(s, "0")) {
		*out_ns = 0;
		return 0;
	}
	return unit_parse(s, duration_units, sizeof(duration_units) / sizeof(duration_units[0]), out_ns);
}

/* desc_format_size - shortest exact spelling: 268435456 -> "256M", 100 -> "100". */
char *desc_format_size(uint64_t v, char *buf, size_t len)
{
	static const char sfx[] = "TGMK";
	unsigned i;

	for (i = 0; i < 4 && v; i++) {
		unsigned shift = 10 * (4 - i);

		if (!(v & ((1ull << shift) - 1))) {
			snprintf(buf, len, "%" PRIu64 "%c", v >> shift, sfx[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* desc_format_duration - shortest exact spelling: 100000000 -> "100ms", 0 -> "0". */
char *desc_format_duration(uint64_t ns, char *buf, size_t len)
{
	static const struct unit_mult fmt[] = {
		{ "h", 3600000000000ull }, { "m", 60000000000ull }, { "s", 1000000000ull },
		{ "ms", 1000000 }, { "us", 1000 }, { "ns", 1 },
	};
	unsigned i;

	if (!ns) {
		snprintf(buf, len, "0");
		return buf;
	}
	for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		if (ns % fmt[i].mult == 0) {
			snprintf(buf, len, "%" PRIu64 "%s", ns / fmt[i].mult, fmt[i].name);
			break;
		}
	}
	return buf;
}
