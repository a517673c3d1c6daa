/*
 * desc.c — machine descriptions: the key table, the INI reader, checks,
 * and the description written back as INI, JSON and reference text.
 *
 * One table (keys[] below) says everything about every key: its section,
 * type, default, range, unit and meaning. Parsing, defaults, desc_validate(),
 * desc_write_ini(), desc_to_json(), desc_equal(), desc_print_keys() and the
 * tables of docs/machine.md (checked by tests/unit/test_desc.c) all read
 * it, so adding a key is one line here plus its field in desc.h.
 * Defaults are stored as text and go through the same parser as a file's
 * values, so a default cannot disagree with the rules for its key.
 *
 * Reading. libinih (Debian's build, version 55) tokenises `key = value`
 * lines, but its handler gets no line number, its line buffer holds 199
 * characters and its section buffer 49. So inih reads through
 * ini_parse_stream() with our own reader, ini_read_line(), which
 *   - counts lines, so that every message names one;
 *   - skips leading blanks, so that indentation never turns a line into a
 *     continuation of the previous value (inih's multi-line rule);
 *   - handles [section] headers itself (inih tells the handler nothing
 *     about a section that has no keys, and truncates long names), then
 *     hands inih an empty line;
 *   - notes when a line is longer than inih's buffer, in which case the
 *     handler takes the value from the whole line, split by inih's rules
 *     (first '=' or ':', comment from a ';' that follows a blank).
 * The first error stops the reading: the reader then reports end of input.
 * A line inih itself rejects (no '=') comes back as ini_parse_stream()'s
 * return value, which is the first bad line, so whichever came first, ours
 * or inih's, is the one reported.
 */
#include "common/desc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#define KiB	(1ull << 10)
#define MiB	(1ull << 20)
#define TiB	(1ull << 40)
#define NS_US	1000ull
#define NS_S	1000000000ull
#define NS_H	(3600ull * NS_S)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define DESC_FILE_MAX	(1 << 20)	/* a description is text, not a disk image */

/* The description `disco run` uses when given none (examples/default.ini is a copy). */
const char desc_default_text[] =
	"# disco's built-in machine: four nodes of one processor and 256M each,\n"
	"# running two VMs of two vCPUs, one on each half of the machine.\n"
	"[machine]\n"
	"nodes = 4\n"
	"cpus = 1\n"
	"mem = 256M\n"
	"\n"
	"[vm ocean]\n"
	"cpus = 2\n"
	"mem = 64M\n"
	"nodes = 0-1\n"
	"kernel = guest:ocean\n"
	"\n"
	"[vm raytrace]\n"
	"cpus = 2\n"
	"mem = 64M\n"
	"nodes = 2-3\n"
	"kernel = guest:raytrace\n";

enum ksec { KS_MACHINE, KS_POLICY, KS_VM, KS_COUNT };
enum ktype { KT_UINT, KT_SIZE, KT_DURATION, KT_ENUM, KT_TEXT, KT_PATH, KT_IDENT, KT_NODES };

#define KF_POW2		0x1	/* a power of two */
#define KF_PAGE		0x2	/* a multiple of 4K */
#define KF_INPUT	0x4	/* a path read by disco: relative to the description's directory */
#define KF_REQUIRED	0x8	/* no usable default: desc_validate() refuses it empty */

struct desc_key {
	enum ksec sec;
	const char *name;
	enum ktype type;
	const char *def;		/* default as written in a file; "" = none */
	uint64_t min, max;		/* numbers: range, in bytes or ns for sizes and durations */
	unsigned flags;
	const char *const *choices;	/* KT_ENUM: names in enum order, NULL-terminated */
	const char *unit;		/* what a number counts, for the reference */
	const char *note;		/* a rule the range does not say, for the reference */
	size_t off, size;		/* the field in struct desc (KS_VM: in struct desc_vm) */
	const char *help;
};

static const char *const sec_names[KS_COUNT] = { "machine", "policy", "vm" };
static const char *const provider_names[] = { "auto", "shm", "tcp", "verbs", "efa", "cxi", NULL };
static const char *const policy_names[] = { "off", "migrate", "replicate", "both", NULL };
static const char *const placement_names[] = {
	"first-touch", "round-robin", "fixed", "interleave", "block", NULL };
static const char *const time_names[] = { "host", "instret", NULL };
static const char *const onoff_names[] = { "off", "on", NULL };
static const char *const disk_cache_names[] = { "off", "on", "machine", NULL };
static const char *const disk_overlay_names[] = { "none", "temp", "keep", "persistent", NULL };
static const char *const off_on_names[] = { "off", "on", NULL };
static const char *const balance_names[] = { "off", "on", "rotate", NULL };

/* Enums are stored through an unsigned. */
_Static_assert(sizeof(enum desc_provider) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum desc_policy) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum desc_placement) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum desc_time) == sizeof(unsigned), "enum size");
_Static_assert(sizeof(enum desc_disk_overlay) == sizeof(unsigned), "enum size");

#define FM(f)	offsetof(struct desc, machine.f), sizeof(((struct desc *)0)->machine.f)
#define FP(f)	offsetof(struct desc, policy.f), sizeof(((struct desc *)0)->policy.f)
#define FV(f)	offsetof(struct desc_vm, f), sizeof(((struct desc_vm *)0)->f)

static const struct desc_key keys[] = {
	/* [machine] */
	{ KS_MACHINE, "nodes", KT_UINT, "4", 1, DESC_MAX_NODES, 0, NULL, "nodes", NULL, FM(nodes),
	  "Nodes of the machine, one MPI rank each (mpirun -np must match)." },
	{ KS_MACHINE, "cpus", KT_UINT, "1", 1, DESC_MAX_CPUS, 0, NULL, "processors", NULL, FM(cpus),
	  "Physical processors per node; the node runs its vCPUs on them a quantum at a time." },
	{ KS_MACHINE, "mem", KT_SIZE, "256M", MiB, 16 * TiB, KF_PAGE, NULL, NULL, NULL, FM(mem),
	  "Machine memory per node; the whole machine has nodes x mem." },
	{ KS_MACHINE, "line", KT_SIZE, "128", 64, 4096, KF_POW2, NULL, NULL, NULL, FM(line),
	  "Coherence line: the unit the directory protocol keeps coherent (FLASH's was 128 bytes)." },
	{ KS_MACHINE, "rcache", KT_SIZE, "4M", 64, 16 * TiB, 0, NULL, NULL, "at least one line", FM(rcache),
	  "Capacity of each node's remote-line cache, which plays the secondary cache for lines homed elsewhere." },
	{ KS_MACHINE, "provider", KT_ENUM, "auto", 0, 0, 0, provider_names, NULL, NULL, FM(provider),
	  "libfabric provider that carries the coherence protocol; auto: shm when every node is on one host, tcp otherwise." },
	{ KS_MACHINE, "quantum", KT_UINT, "100000", 1, 1000000000000ull, 0, NULL, "instructions", NULL, FM(quantum),
	  "Instructions a vCPU runs before its processor turns to the next vCPU." },
	{ KS_MACHINE, "poll", KT_UINT, "5000", 1, 1000000000ull, 0, NULL, "instructions", NULL, FM(poll),
	  "Instructions run between two polls of the fabric, so that a request to a busy node waits microseconds, not a quantum." },
	{ KS_MACHINE, "time", KT_ENUM, "host", 0, 0, 0, time_names, NULL, NULL, FM(time),
	  "Guest time: host follows the host's monotonic clock, aligned across ranks; instret derives it from retired instructions (deterministic; planned)." },
	{ KS_MACHINE, "timeout", KT_DURATION, "0", 0, 365 * 24 * NS_H, 0, NULL, NULL, "0 = none", FM(timeout_ns),
	  "Wall-clock limit of the run; when it passes the run stops and reports. 0: no limit." },
	{ KS_MACHINE, "report", KT_PATH, "disco-report.json", 1, 0, 0, NULL, NULL, NULL, FM(report),
	  "Where the run's JSON report is written, relative to the working directory." },
	{ KS_MACHINE, "disk_cache_max", KT_SIZE, "0", 0, 16 * TiB, KF_PAGE, NULL, NULL, "0 = none", FM(disk_cache_max),
	  "Per node, how much of the global disk cache's blocks to keep after the last VM that mapped them let go (docs/disk.md), so that a later read maps them without I/O; the oldest go first, and they give way whenever the node's VMs need the memory. 0: a block leaves with its last mapping." },
	{ KS_MACHINE, "disk_cache", KT_ENUM, "on", 0, 0, 0, disk_cache_names, NULL, NULL, FM(disk_cache),
	  "The global disk cache (docs/disk.md): base-image blocks that VMs read whole into page-aligned guest pages are kept once in machine memory and mapped copy-on-write into the VMs that read them. on: once per node (its VMs, and the VMs spanning nodes whose home it is, share); machine: once in the machine, a VM on one node also mapping the blocks other nodes' caches hold (read through the coherence engine); off copies every read into the VM's own pages, to measure what sharing saves or costs." },
	{ KS_MACHINE, "net_mtu", KT_SIZE, "1500", 68, 65535, 0, NULL, NULL, "at most 65535: virtio-net's mtu field has 16 bits", FM(net_mtu),
	  "MTU of every virtual subnet: bytes a frame carries after its Ethernet header. Up to 64 KiB less one, for the large frames Disco's subnet carried." },
	{ KS_MACHINE, "net_queue", KT_UINT, "256", 1, 65536, 0, NULL, "frames", NULL, FM(net_queue),
	  "Frames each switch output queue (one per VM NIC) holds while the VM has no receive buffers; more are dropped at the tail and counted." },
	{ KS_MACHINE, "net_aging", KT_DURATION, "300s", 1000 * NS_US, NS_H, 0, NULL, NULL, NULL, FM(net_aging_ns),
	  "How long a subnet switch remembers the port behind a MAC address it has not seen since; unknown addresses are flooded." },
	{ KS_MACHINE, "net_port", KT_UINT, "0", 0, 65535, 0, NULL, "TCP port", "0 = off", FM(net_port),
	  "External port of the subnets, for debugging: node 0 listens on 127.0.0.1, subnet i (in the order the VMs name them) on net_port + i, in QEMU's -netdev stream framing. 0: off." },
	{ KS_MACHINE, "net_remap", KT_ENUM, "on", 0, 0, 0, onoff_names, NULL, NULL, FM(net_remap),
	  "Whether a received frame's whole page-aligned payload pages are mapped into the VM copy-on-write instead of copied (Disco's remapping); off copies everything, to measure what remapping costs or saves." },
	{ KS_MACHINE, "balance", KT_ENUM, "off", 0, 0, 0, balance_names, NULL, NULL, FM(balance),
	  "Moving vCPUs between the nodes of their VM: on moves a running vCPU from the VM's busiest node to its least busy one when their runnable vCPUs (of every VM, averaged over balance_interval) differ by balance_threshold or more; rotate moves one vCPU to the next node of its VM every interval (to test moves and measure their cost); off never moves one." },
	{ KS_MACHINE, "balance_interval", KT_DURATION, "50ms", 1000 * NS_US, NS_H, 0, NULL, NULL, NULL, FM(balance_ns),
	  "How often each node reports its load to the homes of its VMs, and how often a home may move one of its VM's vCPUs." },
	{ KS_MACHINE, "balance_threshold", KT_UINT, "2", 2, 4096, 0, NULL, "vCPUs", "at least 2: one move changes the difference by 2", FM(balance_threshold),
	  "Difference in runnable vCPUs between a VM's busiest and least busy node that makes the balancer move one vCPU." },

	/* [policy] */
	{ KS_POLICY, "policy", KT_ENUM, "both", 0, 0, 0, policy_names, NULL, NULL, FP(policy),
	  "The monitor's NUMA policy: migrate pages to the node that misses on them most, replicate read-shared pages, both, or off (to measure what the policy buys)." },
	{ KS_POLICY, "trigger", KT_UINT, "32", 1, 1000000000ull, 0, NULL, "misses", NULL, FP(trigger),
	  "Misses to a page (since the last reset) before the policy looks at it." },
	{ KS_POLICY, "dominance", KT_UINT, "60", 1, 100, 0, NULL, "percent", NULL, FP(dominance),
	  "Share of a page's misses one node must have for the page to migrate to that node." },
	{ KS_POLICY, "write_share", KT_UINT, "4", 1, 1000000000ull, 0, NULL, "writes", NULL, FP(write_share),
	  "Writes to a page (since the last reset) that mark it write-shared: such a page is neither migrated nor replicated." },
	{ KS_POLICY, "max_moves", KT_UINT, "4", 1, 1000000, 0, NULL, "moves", NULL, FP(max_moves),
	  "Migrations and replications allowed to one page between two resets." },
	{ KS_POLICY, "reset", KT_DURATION, "1s", NS_US, NS_H, 0, NULL, NULL, NULL, FP(reset_ns),
	  "How often the miss counters and move counts are reset." },
	{ KS_POLICY, "interval", KT_DURATION, "10ms", NS_US, NS_H, 0, NULL, NULL, NULL, FP(interval_ns),
	  "How often the policy examines the pages that crossed the trigger." },

	/* [vm NAME] */
	{ KS_VM, "cpus", KT_UINT, "1", 1, DESC_MAX_VCPUS, 0, NULL, "vCPUs", NULL, FV(cpus),
	  "Virtual CPUs (RISC-V harts) of the VM." },
	{ KS_VM, "mem", KT_SIZE, "64M", MiB, 16 * TiB, KF_PAGE, NULL, NULL, "fits in the machine", FV(mem),
	  "Guest-physical memory (RAM at 0x80000000). All VMs together must fit in the machine's memory." },
	{ KS_VM, "nodes", KT_NODES, "0", 0, DESC_MAX_NODES - 1, 0, NULL, NULL, "each below [machine] nodes", 0, 0,
	  "Nodes the vCPUs start on: vCPU i starts on entry i modulo the list's length, e.g. 0 (all on node 0), 0,2, 0-3 or 0-3,6." },
	{ KS_VM, "placement", KT_ENUM, "first-touch", 0, 0, 0, placement_names, NULL, NULL, FV(placement),
	  "Where guest pages get machine memory: first-touch on the node of the vCPU that touches the page first; round-robin over the VM's nodes in allocation order; fixed on the VM's first node; interleave by guest page number over the VM's nodes; block: one contiguous block per VM node." },
	{ KS_VM, "kernel", KT_PATH, "", 1, 0, KF_INPUT | KF_REQUIRED, NULL, NULL, "required", FV(kernel),
	  "Guest image (ELF or raw binary), or guest:NAME for one built with disco. Relative paths are relative to the description file." },
	{ KS_VM, "bios", KT_PATH, "", 1, 0, KF_INPUT, NULL, NULL, NULL, FV(bios),
	  "Firmware run in machine mode (e.g. OpenSBI's fw_jump.elf). None: the monitor provides SBI and starts the kernel in supervisor mode." },
	{ KS_VM, "initrd", KT_PATH, "", 1, 0, KF_INPUT, NULL, NULL, NULL, FV(initrd),
	  "Initial RAM disk loaded beside the kernel. None by default." },
	{ KS_VM, "append", KT_TEXT, "", 1, 0, 0, NULL, NULL, NULL, FV(append),
	  "Kernel command line, or the workload's arguments (the device tree's /chosen/bootargs)." },
	{ KS_VM, "disk", KT_PATH, "", 1, 0, KF_INPUT, NULL, NULL, NULL, FV(disk),
	  "Disk image, attached as a virtio-blk device and served with io_uring: a raw image or a disco overlay (docs/disk.md). None by default." },
	{ KS_VM, "disk_overlay", KT_ENUM, "none", 0, 0, 0, disk_overlay_names, NULL, NULL, FV(disk_overlay),
	  "Copy-on-write over a raw disk: none writes the image itself (an overlay image is used as it is); temp keeps the VM's writes in an overlay deleted at the end of the run; keep in a fresh overlay (disk_overlay_file) left after the run; persistent in disk_overlay_file, reused by later runs and locked to one VM at a time. The raw image is shared read-only by every VM with an overlay." },
	{ KS_VM, "disk_overlay_file", KT_PATH, "", 1, 0, 0, NULL, NULL, NULL, FV(disk_overlay_file),
	  "Overlay file of disk_overlay = keep or persistent, relative to the working directory. None: the disk's path followed by .VMNAME.ovl." },
	{ KS_VM, "disk_direct", KT_ENUM, "off", 0, 0, 0, off_on_names, NULL, NULL, FV(disk_direct),
	  "on: the disk's files are read and written with O_DIRECT, bypassing the host's page cache (the file system must support it)." },
	{ KS_VM, "disk_server", KT_TEXT, "auto", 1, 0, 0, NULL, NULL, "auto or a node number below [machine] nodes", FV(disk_server),
	  "Which node reads the base image for the VM (docs/disk.md, \"Disks across nodes\"): auto uses the file on the VM's home node if it can read it, else the lowest node that can, which serves its blocks over the fabric; a node number always has that node serve them (every node that has the file must then hold the same image). The VM's overlay stays on its home." },
	{ KS_VM, "net", KT_IDENT, "", 1, 0, 0, NULL, NULL, NULL, FV(net),
	  "Virtual subnet of the VM's virtio-net NIC; VMs on one subnet can talk. None: no NIC." },
	{ KS_VM, "mac", KT_TEXT, "", 1, 0, 0, NULL, NULL, "six hex octets, unicast", FV(mac),
	  "MAC address of the VM's NIC, e.g. 52:54:00:12:34:56. None: 52:54:00:d1:5c:N for the N-th VM of the file." },
	{ KS_VM, "console_log", KT_PATH, "", 1, 0, 0, NULL, NULL, NULL, FV(console_log),
	  "File that receives a copy of the VM's console, relative to the working directory. None by default." },
};

#define N_KEYS	ARRAY_SIZE(keys)
_Static_assert(N_KEYS <= 64, "struct desc_vm's deferred mask has a bit per key");

const char *desc_provider_name(enum desc_provider p)
{
	return (unsigned)p < ARRAY_SIZE(provider_names) - 1 ? provider_names[p] : "?";
}

const char *desc_policy_name(enum desc_policy p)
{
	return (unsigned)p < ARRAY_SIZE(policy_names) - 1 ? policy_names[p] : "?";
}

const char *desc_placement_name(enum desc_placement p)
{
	return (unsigned)p < ARRAY_SIZE(placement_names) - 1 ? placement_names[p] : "?";
}

const char *desc_time_name(enum desc_time t)
{
	return (unsigned)t < ARRAY_SIZE(time_names) - 1 ? time_names[t] : "?";
}

/* ---- helpers ---- */

static unsigned edit_distance(const char *a, const char *b)
{
	unsigned row[DESC_NAME_MAX + 1];
	size_t la = strlen(a), lb = strlen(b), i, j;

	if (la > DESC_NAME_MAX || lb > DESC_NAME_MAX)
		return UINT_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = (unsigned)i;
		for (j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* A near miss worth suggesting: a typo, not a different word. */
static bool is_near(const char *typed, const char *cand)
{
	unsigned dist = edit_distance(typed, cand);

	return dist <= 2 && 2 * dist < strlen(cand);
}

/* [a-zA-Z0-9_-] and, if dot, '.' too; 1..DESC_NAME_MAX-1 characters. */
static bool name_ok(const char *s, bool dot)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '_' && s[n] != '-' && !(dot && s[n] == '.'))
			return false;
	return n >= 1 && n < DESC_NAME_MAX;
}

static uint64_t num_load(const void *field, size_t size)
{
	if (size == sizeof(uint32_t)) {
		uint32_t v;

		memcpy(&v, field, sizeof(v));
		return v;
	} else {
		uint64_t v;

		memcpy(&v, field, sizeof(v));
		return v;
	}
}

static void num_store(void *field, size_t size, uint64_t v)
{
	if (size == sizeof(uint32_t)) {
		uint32_t v32 = (uint32_t)v;

		memcpy(field, &v32, sizeof(v32));
	} else {
		memcpy(field, &v, sizeof(v));
	}
}

/* A number in the key's own unit: "256M", "10ms", "4". */
static char *num_format(const struct desc_key *k, uint64_t v, char *buf, size_t len)
{
	if (k->type == KT_SIZE)
		return desc_format_size(v, buf, len);
	if (k->type == KT_DURATION)
		return desc_format_duration(v, buf, len);
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* Range and shape of a number. Returns 0, or -EINVAL with the reason in why. */
static int num_check(const struct desc_key *k, uint64_t v, char *why, size_t wl)
{
	char lo[32], mid[32], hi[32];

	if (k->type == KT_ENUM) {
		size_t n = 0;

		while (k->choices[n])
			n++;
		if (v >= n) {
			snprintf(why, wl, "not a valid choice (%" PRIu64 ")", v);
			return -EINVAL;
		}
		return 0;
	}
	if (v < k->min || v > k->max) {
		snprintf(why, wl, "out of range (%s..%s)", num_format(k, k->min, lo, sizeof(lo)),
			 num_format(k, k->max, hi, sizeof(hi)));
		return -EINVAL;
	}
	if ((k->flags & KF_POW2) && (v & (v - 1))) {
		snprintf(why, wl, "not a power of two (%s, %s, ..., %s)", num_format(k, k->min, lo, sizeof(lo)),
			 num_format(k, k->min * 2, mid, sizeof(mid)), num_format(k, k->max, hi, sizeof(hi)));
		return -EINVAL;
	}
	if ((k->flags & KF_PAGE) && (v % (4 * KiB))) {
		snprintf(why, wl, "not a multiple of 4K");
		return -EINVAL;
	}
	return 0;
}

/*
 * Node lists: "0", "0,2", "0-3", "0-3,6", blanks allowed around ',' and '-'.
 * With out NULL, only checks and counts. Returns 0 or -EINVAL with why.
 */
static int nodes_parse(const char *s, unsigned *out, unsigned *count, char *why, size_t wl)
{
	const char *p = s;
	unsigned n = 0;

	for (;;) {
		uint64_t a, b;
		char num[24];
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		len = strspn(p, "0123456789");
		if (!len || len >= sizeof(num))
			goto bad;
		memcpy(num, p, len);
		num[len] = '\0';
		p += len;
		if (desc_parse_uint(num, &a))
			goto bad;
		b = a;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '-') {
			p++;
			while (*p == ' ' || *p == '\t')
				p++;
			len = strspn(p, "0123456789");
			if (!len || len >= sizeof(num))
				goto bad;
			memcpy(num, p, len);
			num[len] = '\0';
			p += len;
			if (desc_parse_uint(num, &b))
				goto bad;
			if (b < a) {
				snprintf(why, wl, "range %" PRIu64 "-%" PRIu64 " runs backwards (write it low-high)", a, b);
				return -EINVAL;
			}
			while (*p == ' ' || *p == '\t')
				p++;
		}
		if (b >= DESC_MAX_NODES) {
			snprintf(why, wl, "node %" PRIu64 " is past the largest machine (nodes 0..%d)",
				 b, DESC_MAX_NODES - 1);
			return -EINVAL;
		}
		if (b - a + 1 > DESC_MAX_NODES - n) {
			snprintf(why, wl, "more than %d entries", DESC_MAX_NODES);
			return -EINVAL;
		}
		for (; a <= b; a++, n++)
			if (out)
				out[n] = (unsigned)a;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	*count = n;
	return 0;
bad:
	snprintf(why, wl, "not a node list (node numbers and ranges, e.g. 0, 0-3 or 0-3,6)");
	return -EINVAL;
}

/* Ascending runs become ranges: {0,1,2,3,6} -> "0-3,6". Returns 0 or -ENOSPC. */
static int nodes_format(const unsigned *nodes, unsigned n, char *buf, size_t len)
{
	size_t used = 0;
	unsigned i = 0;

	buf[0] = '\0';
	while (i < n) {
		unsigned j = i;
		int w;

		while (j + 1 < n && nodes[j + 1] == nodes[j] + 1)
			j++;
		if (j > i)
			w = snprintf(buf + used, len - used, "%s%u-%u", i ? "," : "", nodes[i], nodes[j]);
		else
			w = snprintf(buf + used, len - used, "%s%u", i ? "," : "", nodes[i]);
		if (w < 0 || (size_t)w >= len - used)
			return -ENOSPC;
		used += (size_t)w;
		i = j + 1;
	}
	return 0;
}

static void *key_base(const struct desc_key *k, const struct desc *d, const struct desc_vm *vm)
{
	return k->sec == KS_VM ? (void *)vm : (void *)d;
}

/*
 * path_expand - a path value with each ${NAME} replaced by the environment's
 * NAME and each $$ by '$' (docs/machine.md, "Paths"), into out. With
 * need_set false, variables are only checked for syntax (out is then
 * meaningless). Returns how many variables it named, or -EINVAL with the
 * reason in why.
 */
static int path_expand(const char *in, char *out, size_t outlen, bool need_set, char *why, size_t wl)
{
	size_t used = 0;
	int vars = 0;

	for (const char *p = in; *p;) {
		const char *piece = p, *val;
		size_t n = 1;

		if (*p == '$') {
			if (p[1] == '$') {
				p += 2;		/* $$: one '$' */
			} else if (p[1] != '{') {
				snprintf(why, wl, "a '$' that starts no ${NAME} (write $$ for a '$' in a path)");
				return -EINVAL;
			} else {
				const char *name = p + 2, *close = strchr(name, '}');
				char var[DESC_NAME_MAX + 32];
				size_t len;

				if (!close) {
					snprintf(why, wl, "'${' without a closing '}'");
					return -EINVAL;
				}
				len = (size_t)(close - name);
				if (!len || len >= sizeof(var) || !(isalpha((unsigned char)name[0]) || name[0] == '_') ||
				    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") < len) {
					snprintf(why, wl, "${%.*s}: not a variable name (letters, digits and '_', not "
						 "starting with a digit, at most %zu)", (int)(len > 40 ? 40 : len), name,
						 sizeof(var) - 1);
					return -EINVAL;
				}
				memcpy(var, name, len);
				var[len] = '\0';
				vars++;
				p = close + 1;
				if (!need_set)
					continue;
				val = getenv(var);
				if (!val || !val[0]) {
					snprintf(why, wl, "${%s} is %s in the environment (a path's ${NAME} comes from the "
						 "environment of each node that reads the description: set %s for every "
						 "node, e.g. mpirun -x %s=...)", var, val ? "empty" : "not set", var, var);
					return -EINVAL;
				}
				piece = val;
				n = strlen(val);
			}
		} else {
			p++;
		}
		if (used + n >= outlen) {
			snprintf(why, wl, "too long once its variables are expanded (at most %zu characters)", outlen - 1);
			return -EINVAL;
		}
		memcpy(out + used, piece, n);
		used += n;
	}
	out[used] = '\0';
	return vars;
}

/*
 * key_set - parse value for key k into its field under base (struct desc,
 * or struct desc_vm for [vm] keys). dir, when not NULL, is the directory
 * relative input paths are resolved against. Returns 0, -ENOMEM, or
 * -EINVAL with the reason in why (what follows "key = value: ").
 */
static int key_set(const struct desc_key *k, void *base, const char *value, const char *dir,
		   char *why, size_t wl)
{
	char *field = (char *)base + k->off;
	uint64_t v = 0;
	size_t i;
	int rc;

	switch (k->type) {
	case KT_UINT:
		rc = desc_parse_uint(value, &v);
		if (rc == -ERANGE) {
			v = UINT64_MAX;	/* num_check() gives the range */
			break;
		}
		if (rc && value[0] == '-') {
			snprintf(why, wl, "negative (%" PRIu64 "..%" PRIu64 ")", k->min, k->max);
			return -EINVAL;
		}
		if (rc) {
			snprintf(why, wl, "not a whole number (digits only, e.g. %s)", k->def);
			return -EINVAL;
		}
		break;
	case KT_SIZE:
	case KT_DURATION:
		rc = k->type == KT_SIZE ? desc_parse_size(value, &v) : desc_parse_duration(value, &v);
		if (rc == -ERANGE) {
			v = UINT64_MAX;	/* num_check() gives the range */
			break;
		}
		if (rc && value[0] == '-') {
			snprintf(why, wl, "negative (a %s cannot be)", k->type == KT_SIZE ? "size" : "duration");
			return -EINVAL;
		}
		if (rc && k->type == KT_SIZE) {
			snprintf(why, wl, "not a size (use a number with K, M, G or T, e.g. 256M)");
			return -EINVAL;
		}
		if (rc) {
			snprintf(why, wl, "not a duration (use a number with ns, us, ms, s or m, e.g. 10ms)");
			return -EINVAL;
		}
		break;
	case KT_ENUM:
		for (i = 0; k->choices[i]; i++)
			if (!strcmp(value, k->choices[i]))
				break;
		if (!k->choices[i]) {
			size_t used = (size_t)snprintf(why, wl, "not one of ");

			for (i = 0; k->choices[i] && used < wl; i++)
				used += (size_t)snprintf(why + used, wl - used, "%s%s", i ? ", " : "", k->choices[i]);
			return -EINVAL;
		}
		v = i;
		break;
	case KT_IDENT:
		if (!name_ok(value, false)) {
			snprintf(why, wl, "not a name (letters, digits, '_' and '-', at most %d)", DESC_NAME_MAX - 1);
			return -EINVAL;
		}
		/* fall through */
	case KT_TEXT:
	case KT_PATH:
		if (k->type == KT_PATH && (k->flags & KF_INPUT) && !strncmp(value, "guest:", 6)) {
			if (!name_ok(value + 6, true)) {
				snprintf(why, wl, "not a built-in image name (guest:NAME, NAME of letters, digits, '_', '.' and '-')");
				return -EINVAL;
			}
			rc = snprintf(field, k->size, "%s", value);
		} else if ((k->flags & KF_INPUT) && dir && value[0] != '/') {
			rc = snprintf(field, k->size, "%s/%s", dir, value);
		} else {
			rc = snprintf(field, k->size, "%s", value);
		}
		if (rc < 0 || (size_t)rc >= k->size) {
			field[0] = '\0';
			snprintf(why, wl, "too long (at most %zu characters%s)", k->size - 1,
				 (k->flags & KF_INPUT) && dir ? " once made absolute" : "");
			return -EINVAL;
		}
		return 0;
	case KT_NODES: {
		struct desc_vm *vm = base;
		unsigned n, *list;

		rc = nodes_parse(value, NULL, &n, why, wl);
		if (rc)
			return rc;
		list = malloc(n * sizeof(*list));
		if (!list) {
			snprintf(why, wl, "out of memory");
			return -ENOMEM;
		}
		nodes_parse(value, list, &n, why, wl);
		free(vm->nodes);
		vm->nodes = list;
		vm->n_nodes = n;
		return 0;
	}
	}
	rc = num_check(k, v, why, wl);
	if (rc)
		return rc;
	num_store(field, k->size, v);
	return 0;
}

/* key_format - the value of k under base as a file would spell it. Returns 0 or -ENOSPC. */
static int key_format(const struct desc_key *k, const void *base, char *buf, size_t len)
{
	const char *field = (const char *)base + k->off;
	uint64_t v;

	switch (k->type) {
	case KT_UINT:
	case KT_SIZE:
	case KT_DURATION:
		num_format(k, num_load(field, k->size), buf, len);
		return 0;
	case KT_ENUM:
		v = num_load(field, k->size);
		snprintf(buf, len, "%s", num_check(k, v, buf, len) ? "?" : k->choices[v]);
		return 0;
	case KT_PATH:
		if (k->sec == KS_VM && (((const struct desc_vm *)base)->deferred >> (k - keys) & 1))
			return (size_t)snprintf(buf, len, "%s", field) < len ? 0 : -ENOSPC;	/* as written */
		for (size_t o = 0;; field++) {	/* an expanded path: its '$' reads back as $$ */
			if (o + 2 >= len)
				return -ENOSPC;
			if (*field == '$')
				buf[o++] = '$';
			buf[o++] = *field;
			if (!*field)
				return 0;
		}
	case KT_TEXT:
	case KT_IDENT:
		return (size_t)snprintf(buf, len, "%s", field) < len ? 0 : -ENOSPC;
	case KT_NODES: {
		const struct desc_vm *vm = base;

		return nodes_format(vm->nodes, vm->n_nodes, buf, len);
	}
	}
	return -EINVAL;
}

/* Defaults of one section; they cannot fail (test_desc checks the table). */
static int sec_defaults(enum ksec sec, void *base)
{
	char why[256];
	size_t i;
	int rc;

	for (i = 0; i < N_KEYS; i++) {
		if (keys[i].sec != sec)
			continue;
		if (!keys[i].def[0]) {
			if (keys[i].type != KT_NODES)
				((char *)base + keys[i].off)[0] = '\0';
			continue;
		}
		rc = key_set(&keys[i], base, keys[i].def, NULL, why, sizeof(why));
		if (rc == -ENOMEM)
			return rc;
		if (rc) {
			fprintf(stderr, "desc: default %s = %s: %s\n", keys[i].name, keys[i].def, why);
			abort();
		}
	}
	return 0;
}

static struct desc *desc_new(void)
{
	struct desc *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	snprintf(d->file, sizeof(d->file), "<default>");
	if (sec_defaults(KS_MACHINE, d) || sec_defaults(KS_POLICY, d)) {
		free(d);
		return NULL;
	}
	return d;
}

void desc_free(struct desc *d)
{
	unsigned i;

	if (!d)
		return;
	for (i = 0; i < d->n_vms && i < DESC_MAX_VMS; i++)
		free(d->vms[i].nodes);
	free(d);
}

/* ---- reading ---- */

struct pstate {
	struct desc *d;
	const char *name;		/* the file, for messages */
	const char *dir;		/* base of relative input paths; NULL: keep them */
	unsigned flags;			/* DESC_DEFER_PATHS */
	const char *pos;		/* the next line to read */
	int lineno;			/* the line inih is working on */
	const char *raw;		/* that line, leading blanks skipped */
	size_t rawlen;
	bool truncated;			/* longer than inih's buffer */
	enum ksec sec;			/* KS_COUNT before the first section */
	struct desc_vm *vm;		/* the current [vm] */
	int sec_line[KS_COUNT];		/* where [machine] and [policy] began */
	int key_line[N_KEYS];		/* where each key of the current sections was set */
	char *err;
	size_t errlen;
	int err_line;			/* line of the first error; 0: none yet */
	char value[DESC_LINE_MAX + 1];	/* a long line's value */
	char expanded[DESC_LINE_MAX + 1];	/* a path's value, its ${NAME}s expanded */
};

static void perr(struct pstate *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the first error, at the current line. */
static void perr(struct pstate *ps, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->err_line)
		return;
	ps->err_line = ps->lineno;
	if (!ps->err || !ps->errlen)
		return;
	n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->name, ps->lineno);
	if (n < 0 || (size_t)n >= ps->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static void sec_label(const struct pstate *ps, char *buf, size_t len)
{
	if (ps->sec == KS_VM)
		snprintf(buf, len, "[vm %s]", ps->vm->name);
	else
		snprintf(buf, len, "[%s]", sec_names[ps->sec]);
}

/* "keys of [machine]: nodes, cpus, ..." */
static void keys_list(enum ksec sec, char *buf, size_t len)
{
	size_t used, i;
	bool first = true;

	used = (size_t)snprintf(buf, len, "keys of [%s]: ", sec == KS_VM ? "vm NAME" : sec_names[sec]);
	for (i = 0; i < N_KEYS && used < len; i++) {
		if (keys[i].sec != sec)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", first ? "" : ", ", keys[i].name);
		first = false;
	}
}

static const struct desc_key *key_find(enum ksec sec, const char *name)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (keys[i].sec == sec && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static void section_open(struct pstate *ps, const char *line, size_t len)
{
	const char *close = memchr(line, ']', len);
	const char *s, *e, *p;
	char inner[DESC_NAME_MAX + 8];
	struct desc *d = ps->d;
	struct desc_vm *vm;
	unsigned i;

	if (!close) {
		perr(ps, "%.*s: section header without ']'", (int)(len > 80 ? 80 : len), line);
		return;
	}
	for (p = close + 1; p < line + len && (*p == ' ' || *p == '\t'); p++)
		;
	if (p < line + len && *p != ';' && *p != '#') {
		perr(ps, "%.*s: text after ']' (only a ; or # comment may follow)", (int)(len > 80 ? 80 : len), line);
		return;
	}
	for (s = line + 1; s < close && (*s == ' ' || *s == '\t'); s++)
		;
	for (e = close; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	if ((size_t)(e - s) >= sizeof(inner)) {
		perr(ps, "[%.*s...]: section name too long (a VM name has at most %d characters)",
		     40, s, DESC_NAME_MAX - 1);
		return;
	}
	memcpy(inner, s, (size_t)(e - s));
	inner[e - s] = '\0';

	if (!strcmp(inner, "machine") || !strcmp(inner, "policy")) {
		enum ksec sec = inner[0] == 'm' ? KS_MACHINE : KS_POLICY;

		if (ps->sec_line[sec]) {
			perr(ps, "[%s]: section given twice (first on line %d)", inner, ps->sec_line[sec]);
			return;
		}
		ps->sec_line[sec] = ps->lineno;
		ps->sec = sec;
		return;
	}
	if (!strncmp(inner, "vm", 2) && (inner[2] == '\0' || inner[2] == ' ' || inner[2] == '\t')) {
		const char *name = inner + 2;

		while (*name == ' ' || *name == '\t')
			name++;
		if (!*name) {
			perr(ps, "[%s]: a VM section needs a name: [vm NAME]", inner);
			return;
		}
		if (!name_ok(name, true)) {
			perr(ps, "[%s]: bad VM name '%s' (1 to %d letters, digits, '_', '.' or '-')",
			     inner, name, DESC_NAME_MAX - 1);
			return;
		}
		for (i = 0; i < d->n_vms; i++) {
			if (!strcmp(d->vms[i].name, name)) {
				perr(ps, "[vm %s]: duplicate VM name (first defined on line %d)", name, d->vms[i].line);
				return;
			}
		}
		if (d->n_vms >= DESC_MAX_VMS) {
			perr(ps, "[vm %s]: too many VMs (at most %d)", name, DESC_MAX_VMS);
			return;
		}
		vm = &d->vms[d->n_vms];
		memset(vm, 0, sizeof(*vm));
		d->n_vms++;	/* counted before the defaults, so that desc_free() frees them */
		snprintf(vm->name, sizeof(vm->name), "%.*s", DESC_NAME_MAX - 1, name);
		vm->line = ps->lineno;
		if (sec_defaults(KS_VM, vm)) {
			perr(ps, "[vm %s]: out of memory", name);
			return;
		}
		for (i = 0; i < N_KEYS; i++)
			if (keys[i].sec == KS_VM)
				ps->key_line[i] = 0;
		ps->vm = vm;
		ps->sec = KS_VM;
		return;
	}
	for (i = 0; i < KS_COUNT; i++) {
		if (is_near(inner, sec_names[i]) || (i == KS_VM && !strncasecmp(inner, "vm", 2))) {
			perr(ps, "[%s]: unknown section; did you mean [%s]? (sections are [machine], [policy] and [vm NAME])",
			     inner, i == KS_VM ? "vm NAME" : sec_names[i]);
			return;
		}
	}
	perr(ps, "[%s]: unknown section (sections are [machine], [policy] and [vm NAME])", inner);
}

/*
 * ini_read_line - inih's reader: one line of ps->pos into str (see the
 * top of the file). Returns str, or NULL at the end or after an error.
 */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct pstate *ps = stream;
	const char *line = ps->pos, *nl;
	size_t len;

	if (ps->err_line || !*line)
		return NULL;
	nl = strchr(line, '\n');
	len = nl ? (size_t)(nl - line) : strlen(line);
	ps->pos = line + len + (nl ? 1 : 0);
	ps->lineno++;
	if (ps->lineno == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) {
		line += 3;
		len -= 3;
	}
	while (len && (*line == ' ' || *line == '\t' || *line == '\f' || *line == '\v')) {
		line++;
		len--;
	}
	while (len && isspace((unsigned char)line[len - 1]))
		len--;
	ps->raw = line;
	ps->rawlen = len;
	ps->truncated = false;
	str[0] = '\0';
	if (len > DESC_LINE_MAX) {
		perr(ps, "line longer than %d characters", DESC_LINE_MAX);
		return NULL;
	}
	if (len && line[0] == '[') {
		section_open(ps, line, len);
		return ps->err_line ? NULL : str;
	}
	if (len >= (size_t)num) {
		len = (size_t)num - 1;
		ps->truncated = true;
	}
	memcpy(str, line, len);
	str[len] = '\0';
	return str;
}

/*
 * First of chars in [s, end), or a ';' after a blank (an inline comment),
 * the way inih 55 finds them; end when neither.
 */
static const char *find_chars_or_comment(const char *s, const char *end, const char *chars)
{
	bool was_space = false;

	for (; s < end && !(chars && strchr(chars, *s)) && !(was_space && *s == ';'); s++)
		was_space = isspace((unsigned char)*s);
	return s;
}

/* The value of a line too long for inih, from the whole line. */
static const char *long_value(struct pstate *ps)
{
	const char *end = ps->raw + ps->rawlen;
	const char *s = find_chars_or_comment(ps->raw, end, "=:");
	const char *e;

	if (s < end)
		s++;
	e = find_chars_or_comment(s, end, NULL);
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	memcpy(ps->value, s, (size_t)(e - s));
	ps->value[e - s] = '\0';
	return ps->value;
}

/* A value as a message quotes it: at most 60 characters. */
static const char *value_quote(const char *value, char *buf, size_t len)
{
	if (strlen(value) <= 60)
		return value;
	snprintf(buf, len, "%.60s...", value);
	return buf;
}

/* inih's handler: one `name = value` of the current section. Returns 0 to stop. */
static int ini_on_key(void *user, const char *section, const char *name, const char *raw_value)
{
	struct pstate *ps = user;
	const struct desc_key *k;
	char label[DESC_NAME_MAX + 8], why[512], quoted[80];
	const char *value;
	size_t idx;
	int rc;

	(void)section;	/* ours, from the reader: inih's is truncated and misses empty sections */
	if (ps->err_line)
		return 0;
	if (ps->truncated)
		raw_value = long_value(ps);
	value = value_quote(raw_value, quoted, sizeof(quoted));
	if (ps->sec == KS_COUNT) {
		enum ksec s;

		for (s = 0; s < KS_COUNT && !key_find(s, name); s++)
			;
		perr(ps, "%s = %s: key before any section (it belongs under [%s])", name, value,
		     s < KS_COUNT ? (s == KS_VM ? "vm NAME" : sec_names[s]) : "machine], [policy] or [vm NAME");
		return 0;
	}
	sec_label(ps, label, sizeof(label));
	if (!*name) {
		perr(ps, "%s = %s: no key before the '='", label, value);
		return 0;
	}
	k = key_find(ps->sec, name);
	if (!k) {
		const struct desc_key *near = NULL, *other = NULL;
		size_t i;

		keys_list(ps->sec, why, sizeof(why));
		for (i = 0; i < N_KEYS; i++) {
			if (keys[i].sec == ps->sec && !near && is_near(name, keys[i].name))
				near = &keys[i];
			if (keys[i].sec != ps->sec && !other && !strcmp(name, keys[i].name))
				other = &keys[i];
		}
		if (other)
			perr(ps, "%s %s = %s: unknown key; %s belongs in [%s] (%s)", label, name, value, name,
			     other->sec == KS_VM ? "vm NAME" : sec_names[other->sec], why);
		else if (near)
			perr(ps, "%s %s = %s: unknown key; did you mean %s? (%s)", label, name, value, near->name, why);
		else
			perr(ps, "%s %s = %s: unknown key (%s)", label, name, value, why);
		return 0;
	}
	idx = (size_t)(k - keys);
	if (ps->key_line[idx]) {
		perr(ps, "%s %s = %s: key given twice (first on line %d)", label, name, value, ps->key_line[idx]);
		return 0;
	}
	if (!*raw_value) {
		perr(ps, "%s %s: empty value (leave the key out for its default%s%s)", label, name,
		     k->def[0] ? ", " : "", k->def[0] ? k->def : ": none");
		return 0;
	}
	if (k->type == KT_PATH) {
		/* node-local paths: ${NAME} from this process's environment, or kept for the nodes (desc.h) */
		bool defer = (ps->flags & DESC_DEFER_PATHS) && k->sec == KS_VM;

		rc = path_expand(raw_value, ps->expanded, sizeof(ps->expanded), !defer, why, sizeof(why));
		if (rc > 0 && defer) {
			char *field = (char *)ps->vm + k->off;

			if ((size_t)snprintf(field, k->size, "%s", raw_value) >= k->size) {
				field[0] = '\0';
				snprintf(why, sizeof(why), "too long (at most %zu characters)", k->size - 1);
				rc = -EINVAL;
			} else {
				ps->vm->deferred |= 1ull << idx;
				rc = 0;
			}
		} else if (rc >= 0) {
			rc = key_set(k, key_base(k, ps->d, ps->vm), ps->expanded, ps->dir, why, sizeof(why));
		}
	} else {
		rc = key_set(k, key_base(k, ps->d, ps->vm), raw_value, ps->dir, why, sizeof(why));
	}
	if (rc) {
		perr(ps, "%s %s = %s: %s%s", label, name, value, why,
		     strstr(raw_value, " #") ? " (a comment after a value starts with ';', not '#')" : "");
		return 0;
	}
	ps->key_line[idx] = ps->lineno;
	if (ps->vm && !strcmp(name, "nodes"))
		ps->vm->nodes_line = ps->lineno;
	if (ps->vm && !strcmp(name, "mem"))
		ps->vm->mem_line = ps->lineno;
	return 1;
}

/* The text of line n (1-based), for a message about a line inih refused. */
static void line_text(const char *text, int n, char *buf, size_t len)
{
	const char *e;

	while (--n > 0 && (text = strchr(text, '\n')))
		text++;
	if (!text) {
		buf[0] = '\0';
		return;
	}
	while (*text == ' ' || *text == '\t')
		text++;
	e = strchr(text, '\n');
	if (!e)
		e = text + strlen(text);
	while (e > text && isspace((unsigned char)e[-1]))
		e--;
	snprintf(buf, len, "%.*s", (int)(e - text > 80 ? 80 : e - text), text);
}

/* Checks between keys of [machine], at the line of the key that breaks them. */
static void machine_check(struct pstate *ps)
{
	const struct desc_machine *m = &ps->d->machine;
	const struct desc_key *rc = key_find(KS_MACHINE, "rcache"), *ln = key_find(KS_MACHINE, "line");
	int at_rc = ps->key_line[rc - keys], at_ln = ps->key_line[ln - keys];
	char a[32], b[32];

	if (m->rcache >= m->line)
		return;
	ps->lineno = at_rc > at_ln ? at_rc : at_ln;
	perr(ps, "[machine] rcache = %s: smaller than one line (line = %s); rcache must be at least line",
	     desc_format_size(m->rcache, a, sizeof(a)), desc_format_size(m->line, b, sizeof(b)));
}

static struct desc *parse_text(const char *text, const char *name, const char *dir, unsigned flags, char *err,
			       size_t errlen)
{
	struct pstate *ps;
	struct desc *d = NULL;
	int rc;

	ps = calloc(1, sizeof(*ps));
	if (!ps)
		goto oom;
	ps->d = desc_new();
	if (!ps->d)
		goto oom;
	snprintf(ps->d->file, sizeof(ps->d->file), "%s", name);
	ps->name = name;
	ps->dir = dir;
	ps->flags = flags;
	ps->pos = text;
	ps->sec = KS_COUNT;
	ps->err = err;
	ps->errlen = errlen;

	rc = ini_parse_stream(ini_read_line, ps, ini_on_key, ps);
	if (rc < 0)
		goto oom;
	if (rc > 0 && (!ps->err_line || rc < ps->err_line)) {
		char line[96];

		line_text(text, rc, line, sizeof(line));
		ps->err_line = 0;
		ps->lineno = rc;
		perr(ps, "%s: not a key = value line, a [section] or a comment", line);
	}
	if (!ps->err_line)
		machine_check(ps);
	if (ps->err_line)
		goto out;
	if (desc_validate(ps->d, err, errlen))
		goto out;
	d = ps->d;
	ps->d = NULL;
	goto out;
oom:
	if (err && errlen)
		snprintf(err, errlen, "%s: out of memory", name);
out:
	if (ps)
		desc_free(ps->d);
	free(ps);
	return d;
}

struct desc *desc_parse_string(const char *text, const char *name, char *err, size_t errlen)
{
	if (!err)
		errlen = 0;
	return parse_text(text, name ? name : "<string>", NULL, 0, err, errlen);
}

struct desc *desc_parse_file(const char *path, char *err, size_t errlen)
{
	return desc_parse_file_flags(path, 0, err, errlen);
}

bool desc_vm_path_deferred(const struct desc_vm *vm, const char *key)
{
	const struct desc_key *k = key_find(KS_VM, key);

	return k && k->type == KT_PATH && (vm->deferred >> (k - keys) & 1);
}

struct desc *desc_parse_file_flags(const char *path, unsigned flags, char *err, size_t errlen)
{
	char *text = NULL, *real = NULL, *slash;
	struct desc *d = NULL;
	size_t len;
	FILE *f;

	if (!err)
		errlen = 0;
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	text = malloc(DESC_FILE_MAX + 1);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	len = fread(text, 1, DESC_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	if (len > DESC_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %dK: not a machine description", path, DESC_FILE_MAX >> 10);
		goto out;
	}
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "%s: contains a NUL byte: not a text file", path);
		goto out;
	}
	text[len] = '\0';
	real = realpath(path, NULL);
	if (!real) {
		snprintf(err, errlen, "%s: cannot resolve its directory: %s", path, strerror(errno));
		goto out;
	}
	slash = strrchr(real, '/');
	if (slash == real)
		slash[1] = '\0';	/* a file in / */
	else
		*slash = '\0';
	d = parse_text(text, path, real, flags, err, errlen);
out:
	free(real);
	free(text);
	fclose(f);
	return d;
}

/* ---- whole-description checks ---- */

static int verr(char *err, size_t errlen, const struct desc *d, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int verr(char *err, size_t errlen, const struct desc *d, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return -EINVAL;
	if (line > 0)
		n = snprintf(err, errlen, "%s:%d: ", d->file, line);
	else
		n = snprintf(err, errlen, "%s: ", d->file);
	if (n < 0 || (size_t)n >= errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * Numbers and choices of one section checked against the table, for
 * descriptions built or changed in code (a parsed one passed already).
 */
static int sec_check(const struct desc *d, enum ksec sec, const struct desc_vm *vm, char *err, size_t errlen)
{
	char why[256], val[64], label[DESC_NAME_MAX + 8];
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		const struct desc_key *k = &keys[i];
		const char *field = (const char *)key_base(k, d, vm) + k->off;
		uint64_t v;

		if (k->sec != sec || k->type > KT_ENUM)
			continue;
		v = num_load(field, k->size);
		if (!num_check(k, v, why, sizeof(why)))
			continue;
		if (vm)
			snprintf(label, sizeof(label), "[vm %s]", vm->name);
		else
			snprintf(label, sizeof(label), "[%s]", sec_names[sec]);
		if (k->type == KT_ENUM)
			snprintf(val, sizeof(val), "%" PRIu64, v);
		else
			num_format(k, v, val, sizeof(val));
		return verr(err, errlen, d, vm ? vm->line : 0, "%s %s = %s: %s", label, k->name, val, why);
	}
	return 0;
}

/*
 * desc_validate - see desc.h. Refuses, naming the VM's line: a VM larger
 * than the machine, VMs that together do not fit, a node past the node
 * count, a VM without kernel; and any key out of its range.
 * A description without VMs is valid (a bare machine, for bootstrap tests).
 */
int desc_validate(const struct desc *d, char *err, size_t errlen)
{
	const struct desc_machine *m = &d->machine;
	uint64_t total, sum = 0;
	char a[32], b[32], c[32], e[32];
	unsigned i, j;
	int rc;

	rc = sec_check(d, KS_MACHINE, NULL, err, errlen);
	if (!rc)
		rc = sec_check(d, KS_POLICY, NULL, err, errlen);
	if (rc)
		return rc;
	if (m->rcache < m->line)
		return verr(err, errlen, d, 0, "[machine] rcache = %s: smaller than one line (line = %s)",
			    desc_format_size(m->rcache, a, sizeof(a)), desc_format_size(m->line, b, sizeof(b)));
	if (d->n_vms > DESC_MAX_VMS)
		return verr(err, errlen, d, 0, "%u VMs: too many (at most %d)", d->n_vms, DESC_MAX_VMS);
	total = (uint64_t)m->nodes * m->mem;
	for (i = 0; i < d->n_vms; i++) {
		const struct desc_vm *vm = &d->vms[i];

		if (!name_ok(vm->name, true))
			return verr(err, errlen, d, vm->line, "[vm %s]: bad VM name (1 to %d letters, digits, '_', '.' or '-')",
				    vm->name, DESC_NAME_MAX - 1);
		for (j = 0; j < i; j++)
			if (!strcmp(d->vms[j].name, vm->name))
				return verr(err, errlen, d, vm->line, "[vm %s]: duplicate VM name (first defined on line %d)",
					    vm->name, d->vms[j].line);
		rc = sec_check(d, KS_VM, vm, err, errlen);
		if (rc)
			return rc;
		if (!vm->kernel[0])
			return verr(err, errlen, d, vm->line, "[vm %s]: no kernel (set kernel = PATH, or kernel = guest:NAME for a built-in image)",
				    vm->name);
		if (!vm->nodes || !vm->n_nodes)
			return verr(err, errlen, d, vm->line, "[vm %s] nodes: empty node list", vm->name);
		for (j = 0; j < vm->n_nodes; j++) {
			if (vm->nodes[j] >= m->nodes) {
				char list[96];

				if (nodes_format(vm->nodes, vm->n_nodes, list, sizeof(list)))
					snprintf(list, sizeof(list), "...");
				return verr(err, errlen, d, vm->nodes_line ? vm->nodes_line : vm->line,
					    "[vm %s] nodes = %s: node %u is past the machine's %u node%s (0..%u)",
					    vm->name, list, vm->nodes[j], m->nodes, m->nodes == 1 ? "" : "s", m->nodes - 1);
			}
		}
		if (vm->mem > total)
			return verr(err, errlen, d, vm->mem_line ? vm->mem_line : vm->line,
				    "[vm %s] mem = %s: larger than the whole machine (%u nodes x %s = %s)",
				    vm->name, desc_format_size(vm->mem, a, sizeof(a)), m->nodes,
				    desc_format_size(m->mem, b, sizeof(b)), desc_format_size(total, c, sizeof(c)));
		if (vm->mac[0]) {
			uint8_t mac[6], other[6];

			if (desc_vm_mac(d, i, mac))
				return verr(err, errlen, d, vm->line,
					    "[vm %s] mac = %s: not a unicast MAC address (six hex octets such as 52:54:00:12:34:56, first octet even)",
					    vm->name, vm->mac);
			for (j = 0; j < i; j++)
				if (!desc_vm_mac(d, j, other) && !memcmp(mac, other, 6))
					return verr(err, errlen, d, vm->line, "[vm %s] mac = %s: the same address as [vm %s]",
						    vm->name, vm->mac, d->vms[j].name);
		}
		if (desc_vm_disk_server(d, i) == -EINVAL)
			return verr(err, errlen, d, vm->line,
				    "[vm %s] disk_server = %s: not auto or a node number below the machine's %u nodes",
				    vm->name, vm->disk_server, m->nodes);
		sum += vm->mem;
		if (sum > total)
			return verr(err, errlen, d, vm->line,
				    "[vm %s] mem = %s: the VMs up to this one need %s, more than the machine's %s (%u nodes x %s)",
				    vm->name, desc_format_size(vm->mem, a, sizeof(a)), desc_format_size(sum, b, sizeof(b)),
				    desc_format_size(total, c, sizeof(c)), m->nodes,
				    desc_format_size(m->mem, e, sizeof(e)));
	}
	return 0;
}

int desc_vm_disk_server(const struct desc *d, unsigned i)
{
	const char *v = d->vms[i].disk_server;
	char *end;
	unsigned long n;

	if (!v[0] || !strcmp(v, "auto"))
		return -1;
	if (!strncmp(v, "node ", 5))
		v += 5;
	if (*v < '0' || *v > '9')
		return -EINVAL;
	n = strtoul(v, &end, 10);
	return *end || n >= d->machine.nodes ? -EINVAL : (int)n;
}

int desc_vm_mac(const struct desc *d, unsigned i, uint8_t mac[6])
{
	const char *s = i < d->n_vms ? d->vms[i].mac : "";
	unsigned v[6];
	int end = 0;

	if (!s[0]) {
		const uint8_t def[6] = { 0x52, 0x54, 0x00, 0xd1, 0x5c, (uint8_t)(i + 1) };

		memcpy(mac, def, 6);
		return 0;
	}
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6 ||
	    end != 17 || s[end] || (v[0] & 1))
		return -EINVAL;
	for (int k = 0; k < 6; k++)
		mac[k] = (uint8_t)v[k];
	return 0;
}

/* ---- writing ---- */

bool desc_equal(const struct desc *a, const struct desc *b)
{
	char *va, *vb;
	bool eq = false;
	unsigned i;
	size_t k;

	if (a->n_vms != b->n_vms)
		return false;
	va = malloc(2 * (DESC_LINE_MAX + 1));
	if (!va)
		return false;
	vb = va + DESC_LINE_MAX + 1;
	for (k = 0; k < N_KEYS; k++) {
		if (keys[k].sec == KS_VM)
			continue;
		if (key_format(&keys[k], a, va, DESC_LINE_MAX + 1) ||
		    key_format(&keys[k], b, vb, DESC_LINE_MAX + 1) || strcmp(va, vb))
			goto out;
	}
	for (i = 0; i < a->n_vms; i++) {
		if (strcmp(a->vms[i].name, b->vms[i].name))
			goto out;
		for (k = 0; k < N_KEYS; k++) {
			if (keys[k].sec != KS_VM)
				continue;
			if (key_format(&keys[k], &a->vms[i], va, DESC_LINE_MAX + 1) ||
			    key_format(&keys[k], &b->vms[i], vb, DESC_LINE_MAX + 1) || strcmp(va, vb))
				goto out;
		}
	}
	eq = true;
out:
	free(va);
	return eq;
}

/* Would `key = v` read back as v? */
static bool value_writable(const char *v)
{
	size_t n = strlen(v), i;

	if (strchr(v, '\n') || strchr(v, '\r'))
		return false;
	if (n && (isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1])))
		return false;
	for (i = 1; i < n; i++)
		if (v[i] == ';' && isspace((unsigned char)v[i - 1]))
			return false;
	return true;
}

static int sec_write(FILE *out, enum ksec sec, const void *base, char *buf)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		if (keys[i].sec != sec)
			continue;
		if (key_format(&keys[i], base, buf, DESC_LINE_MAX - 64))
			return -EINVAL;
		if (!buf[0])
			continue;
		if (!value_writable(buf))
			return -EINVAL;
		fprintf(out, "%s = %s\n", keys[i].name, buf);
	}
	return 0;
}

int desc_write_ini(const struct desc *d, FILE *out)
{
	char *buf;
	unsigned i;
	int rc;

	buf = malloc(DESC_LINE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	fprintf(out, "# disco machine description, resolved from %s\n[machine]\n", d->file);
	rc = sec_write(out, KS_MACHINE, d, buf);
	if (!rc) {
		fprintf(out, "\n[policy]\n");
		rc = sec_write(out, KS_POLICY, d, buf);
	}
	for (i = 0; !rc && i < d->n_vms; i++) {
		fprintf(out, "\n[vm %s]\n", d->vms[i].name);
		rc = sec_write(out, KS_VM, &d->vms[i], buf);
	}
	free(buf);
	if (!rc && (fflush(out) || ferror(out)))
		rc = -EIO;
	return rc;
}

static json_t *key_json(const struct desc_key *k, const void *base)
{
	const char *field = (const char *)base + k->off;

	switch (k->type) {
	case KT_UINT:
	case KT_SIZE:
	case KT_DURATION:
		return json_integer((json_int_t)num_load(field, k->size));
	case KT_ENUM: {
		uint64_t v = num_load(field, k->size);
		char why[64];

		return json_string(num_check(k, v, why, sizeof(why)) ? "?" : k->choices[v]);
	}
	case KT_TEXT:
	case KT_PATH:
	case KT_IDENT:
		return json_string(field);
	case KT_NODES: {
		const struct desc_vm *vm = base;
		json_t *a = json_array();
		unsigned i;

		for (i = 0; a && i < vm->n_nodes; i++) {
			if (json_array_append_new(a, json_integer(vm->nodes[i]))) {
				json_decref(a);
				return NULL;
			}
		}
		return a;
	}
	}
	return NULL;
}

static json_t *sec_json(enum ksec sec, const void *base)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; o && i < N_KEYS; i++) {
		if (keys[i].sec != sec)
			continue;
		if (json_object_set_new(o, keys[i].name, key_json(&keys[i], base))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *desc_to_json(const struct desc *d)
{
	json_t *root, *vms, *vm;
	unsigned i;

	root = json_object();
	vms = json_array();
	if (!root || !vms)
		goto fail;
	if (json_object_set_new(root, "file", json_string(d->file)) ||
	    json_object_set_new(root, "machine", sec_json(KS_MACHINE, d)) ||
	    json_object_set_new(root, "policy", sec_json(KS_POLICY, d)))
		goto fail;
	for (i = 0; i < d->n_vms; i++) {
		vm = sec_json(KS_VM, &d->vms[i]);
		if (!vm || json_object_set_new(vm, "name", json_string(d->vms[i].name)) ||
		    json_array_append_new(vms, vm))
			goto fail;
	}
	if (json_object_set_new(root, "vms", vms))
		goto fail_root;
	return root;
fail:
	json_decref(vms);
fail_root:
	json_decref(root);
	return NULL;
}

/* ---- the reference ---- */

/* "integer (nodes)", "size", "one of" ... */
static const char *key_type_text(const struct desc_key *k, char *buf, size_t len)
{
	static const char *const names[] = {
		[KT_UINT] = "integer", [KT_SIZE] = "size", [KT_DURATION] = "duration", [KT_ENUM] = "choice",
		[KT_TEXT] = "text", [KT_PATH] = "path", [KT_IDENT] = "name", [KT_NODES] = "node list",
	};

	if (k->unit)
		snprintf(buf, len, "%s (%s)", names[k->type], k->unit);
	else
		snprintf(buf, len, "%s", names[k->type]);
	return buf;
}

/* What the key accepts, from its type, range and flags. */
static const char *key_allowed_text(const struct desc_key *k, char *buf, size_t len)
{
	char lo[32], hi[32];
	size_t used = 0, i;

	buf[0] = '\0';
	switch (k->type) {
	case KT_UINT:
	case KT_SIZE:
	case KT_DURATION:
		used = (size_t)snprintf(buf, len, "%s%s..%s%s", k->flags & KF_POW2 ? "power of two, " : "",
					num_format(k, k->min, lo, sizeof(lo)), num_format(k, k->max, hi, sizeof(hi)),
					k->flags & KF_PAGE ? ", multiple of 4K" : "");
		break;
	case KT_ENUM:
		for (i = 0; k->choices[i] && used < len; i++)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", k->choices[i]);
		break;
	case KT_PATH:
		used = (size_t)snprintf(buf, len, "%s", k->flags & KF_INPUT ? "path or guest:NAME" : "path");
		break;
	case KT_TEXT:
		used = (size_t)snprintf(buf, len, "any text; ';' after a blank starts a comment");
		break;
	case KT_IDENT:
		used = (size_t)snprintf(buf, len, "letters, digits, _ and -");
		break;
	case KT_NODES:
		used = (size_t)snprintf(buf, len, "node numbers and ranges, e.g. 0-3,6");
		break;
	}
	if (k->note && used < len)
		snprintf(buf + used, len - used, "; %s", k->note);
	return buf;
}

static const char *key_default_text(const struct desc_key *k)
{
	return k->def[0] ? k->def : "none";
}

void desc_print_keys(FILE *out)
{
	char type[64], allowed[160];
	enum ksec sec;
	size_t i;

	for (sec = 0; sec < KS_COUNT; sec++) {
		fprintf(out, "%s[%s]\n", sec ? "\n" : "", sec == KS_VM ? "vm NAME" : sec_names[sec]);
		for (i = 0; i < N_KEYS; i++) {
			const struct desc_key *k = &keys[i];

			if (k->sec != sec)
				continue;
			fprintf(out, "  %-12s %-22s default %-18s %s\n      %s\n", k->name,
				key_type_text(k, type, sizeof(type)), key_default_text(k),
				key_allowed_text(k, allowed, sizeof(allowed)), k->help);
		}
	}
	fprintf(out, "\nSizes: 4096, 4K, 256M, 1G, 2T (binary; B or iB may follow). "
		"Durations: 100ns, 500us, 10ms, 2s, 1m, 1h.\n"
		"Paths: ${NAME} is the environment variable NAME of each node that reads the description "
		"(node-local files, e.g. disk = ${SCRATCH}/base.img); $$ is a '$'.\n");
}

void desc_print_keys_markdown(FILE *out)
{
	char type[64], allowed[160];
	enum ksec sec;
	size_t i;

	for (sec = 0; sec < KS_COUNT; sec++) {
		fprintf(out, "%s### [%s]\n\n| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n",
			sec ? "\n" : "", sec == KS_VM ? "vm NAME" : sec_names[sec]);
		for (i = 0; i < N_KEYS; i++) {
			const struct desc_key *k = &keys[i];

			if (k->sec != sec)
				continue;
			fprintf(out, "| `%s` | %s | %s | %s | %s |\n", k->name, key_type_text(k, type, sizeof(type)),
				key_default_text(k), key_allowed_text(k, allowed, sizeof(allowed)), k->help);
		}
	}
}
