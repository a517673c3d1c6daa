/*
 * desc.h — machine descriptions: what machine to emulate and what to run on it.
 *
 * A description is an INI file (libinih) in the spirit of fio job files:
 *
 *   [machine]      the CC-NUMA machine: nodes, processors, memory, fabric
 *   [policy]       the monitor's NUMA policy and its thresholds
 *   [vm NAME]      one virtual machine (any number of these, names unique)
 *
 * Every key has a default, a unit where it has one (256M, 4K, 10ms) and a
 * documented meaning (docs/machine.md is the reference; `disco check --keys`
 * prints it from the table in desc.c, so the two cannot drift).
 *
 * desc_parse_*() checks each key as it is read (syntax, unit, range);
 * desc_validate() then checks the whole (a VM larger than the machine, a
 * node list past the node count, ...); the parsers call it before they
 * return, and code that changes a description calls it again. Both report
 * one message naming the file, the line, the key and what is allowed, e.g.
 *   m.ini:7: [vm a] mem = 12Q: not a size (use a number with K, M, G or T, e.g. 256M)
 */
#ifndef DISCO_DESC_H
#define DISCO_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define DESC_NAME_MAX	64
#define DESC_PATH_MAX	1024
#define DESC_MAX_VMS	64
#define DESC_MAX_NODES	4096
#define DESC_MAX_CPUS	1024	/* physical processors per node */
#define DESC_MAX_VCPUS	512	/* vCPUs per VM */
#define DESC_LINE_MAX	32768	/* longest line of a description file */

enum desc_provider { PROV_AUTO, PROV_SHM, PROV_TCP, PROV_VERBS, PROV_EFA, PROV_CXI };
enum desc_policy { POLICY_OFF, POLICY_MIGRATE, POLICY_REPLICATE, POLICY_BOTH };
enum desc_placement { PLACE_FIRST_TOUCH, PLACE_ROUND_ROBIN, PLACE_FIXED, PLACE_INTERLEAVE, PLACE_BLOCK };
enum desc_time { TIME_HOST, TIME_INSTRET };
/* [vm] disk_overlay (docs/disk.md) */
enum desc_disk_overlay { DISK_OVL_NONE, DISK_OVL_TEMP, DISK_OVL_KEEP, DISK_OVL_PERSISTENT };

struct desc_machine {
	unsigned nodes;			/* ranks; default 4 */
	unsigned cpus;			/* physical processors per node; default 1 */
	uint64_t mem;			/* machine memory per node, bytes; default 256M */
	unsigned line;			/* coherence line, bytes, power of two 64..4096; default 128 */
	uint64_t rcache;		/* remote-line cache capacity per node, bytes; default 4M */
	enum desc_provider provider;	/* default auto: shm on one host, tcp across hosts */
	uint64_t quantum;		/* instructions a vCPU runs before the next one; default 100000 */
	uint64_t poll;			/* instructions between fabric polls; default 5000 */
	enum desc_time time;		/* host (default) or instret (deterministic, later) */
	uint64_t timeout_ns;		/* wall-clock limit of the run, 0 = none; default 0 */
	char report[DESC_PATH_MAX];	/* report path; default "disco-report.json" */
	uint64_t disk_cache_max;	/* disk cache pages kept after their last mapping, bytes per node; default 0 */
	unsigned disk_cache;		/* 0 off, 1 on (per node), 2 machine (across nodes); default 1 */
	unsigned net_mtu;		/* subnets' MTU, bytes after the Ethernet header, 68..65535; default 1500 */
	unsigned net_queue;		/* frames per switch output queue; default 256 */
	uint64_t net_aging_ns;		/* MAC learning aging time; default 300s */
	unsigned net_port;		/* external port of subnet i on 127.0.0.1:net_port+i (node 0), 0 = off */
	unsigned net_remap;		/* 1: map received payload pages copy-on-write instead of copying; default 1 */
	unsigned balance;		/* vCPU balancing: 0 off (default), 1 on, 2 rotate */
	uint64_t balance_ns;		/* how often it looks; default 50ms */
	unsigned balance_threshold;	/* runnable vCPUs between the busiest and least busy node; default 2 */
};

struct desc_policy_cfg {
	enum desc_policy policy;	/* default both */
	uint64_t trigger;		/* misses to a page before the policy looks at it; default 32 */
	unsigned dominance;		/* percent of a page's misses one node needs to migrate it; default 60 */
	uint64_t write_share;		/* writes that mark a page write-shared (left alone); default 4 */
	unsigned max_moves;		/* moves per page per reset interval; default 4 */
	uint64_t reset_ns;		/* counter reset interval; default 1s */
	uint64_t interval_ns;		/* how often the policy runs; default 10ms */
};

struct desc_vm {
	char name[DESC_NAME_MAX];
	int line;			/* line of its [vm NAME] header, for messages */
	int nodes_line, mem_line;	/* lines of its nodes and mem keys (0: defaulted), for messages */
	unsigned cpus;			/* vCPUs; default 1 */
	uint64_t mem;			/* guest-physical memory, bytes; default 64M */
	unsigned *nodes;		/* nodes its vCPUs start on (vCPU i on nodes[i % n_nodes]) */
	unsigned n_nodes;		/* default: one entry, node 0 */
	enum desc_placement placement;	/* default first-touch */
	char kernel[DESC_PATH_MAX];	/* guest image (ELF or raw); "guest:NAME" names a built-in one */
	char bios[DESC_PATH_MAX];	/* firmware run in M mode, "" = none (built-in SBI) */
	char initrd[DESC_PATH_MAX];
	char append[DESC_PATH_MAX];	/* kernel command line / workload arguments */
	char disk[DESC_PATH_MAX];	/* disk image, "" = none */
	enum desc_disk_overlay disk_overlay;	/* default none: the image as it is */
	char disk_overlay_file[DESC_PATH_MAX];	/* keep, persistent: the overlay, "" = DISK.VMNAME.ovl */
	unsigned disk_direct;		/* O_DIRECT: 0 off (default), 1 on */
	char disk_server[DESC_NAME_MAX];	/* node serving the base image: "auto" (default) or a node number */
	char net[DESC_NAME_MAX];	/* subnet name, "" = no NIC */
	char mac[DESC_NAME_MAX];	/* NIC address "52:54:00:12:34:56", "" = derived from the VM's index */
	char console_log[DESC_PATH_MAX];	/* copy of the console to a file, "" = none */
	uint64_t deferred;		/* DESC_DEFER_PATHS: bit k set when the k-th key of desc.c's table holds a
					   path with ${NAME} kept as written, for each node to expand */
};

struct desc {
	char file[DESC_PATH_MAX];	/* where it came from ("<default>" when embedded) */
	struct desc_machine machine;
	struct desc_policy_cfg policy;
	struct desc_vm vms[DESC_MAX_VMS];
	unsigned n_vms;
};

/* The description used when none is given (`disco run` with no file). */
extern const char desc_default_text[];

/*
 * desc_parse_file - read and check a description: every key as it is read,
 * then the whole with desc_validate(). Relative input paths (kernel, bios,
 * initrd, disk) are made absolute against the file's directory; output
 * paths (report, console_log) and "guest:NAME" images are kept as written.
 * Returns a new description, or NULL with a one-line message in err.
 */
struct desc *desc_parse_file(const char *path, char *err, size_t errlen);

/*
 * Paths are node-local: ${NAME} in a path value (kernel, bios, initrd,
 * disk, disk_overlay_file, console_log, report) is replaced by the
 * environment variable NAME of the process that reads the description,
 * and $$ by one '$'; any other '$', a malformed ${, or a variable unset or
 * empty there is an error naming the key, the line and the variable.
 * Each node reads the description itself, so `disk = ${SCRATCH}/base.img`
 * names every host's own file.
 *
 * DESC_DEFER_PATHS (the launcher, which checks the description before the
 * nodes start, on a host whose environment may differ): a [vm] path that
 * names a variable is checked for syntax only and kept as written (not made
 * absolute); desc_vm_path_deferred() says which. `report` is expanded all
 * the same: the launcher itself uses it.
 */
#define DESC_DEFER_PATHS	0x1
struct desc *desc_parse_file_flags(const char *path, unsigned flags, char *err, size_t errlen);
bool desc_vm_path_deferred(const struct desc_vm *vm, const char *key);

/*
 * desc_parse_string - the same on text in memory; name is used in messages
 * and relative paths are kept as written.
 */
struct desc *desc_parse_string(const char *text, const char *name, char *err, size_t errlen);

/*
 * desc_validate - whole-description checks that need every key read: VM
 * memory against the machine's, node lists against the node count, vCPUs
 * against processors where that matters. Returns 0 or -EINVAL with err set.
 */
int desc_validate(const struct desc *d, char *err, size_t errlen);

void desc_free(struct desc *d);

/*
 * desc_vm_mac - the MAC address of VM index i of d: its mac key, or
 * 52:54:00:d1:5c:<i+1> (QEMU's locally administered prefix). Returns 0, or
 * -EINVAL when the key is not six hex octets of a unicast address.
 */
int desc_vm_mac(const struct desc *d, unsigned i, uint8_t mac[6]);
/* The node that serves VM index i's base image: its disk_server key, -1 for auto, -EINVAL when not auto or a node of the machine. */
int desc_vm_disk_server(const struct desc *d, unsigned i);

/* Names for reports and messages. */
const char *desc_provider_name(enum desc_provider p);
const char *desc_policy_name(enum desc_policy p);
const char *desc_placement_name(enum desc_placement p);
const char *desc_time_name(enum desc_time t);

/* desc_print_keys - the reference table of every key (for `disco check --keys`). */
void desc_print_keys(FILE *out);

/*
 * desc_print_keys_markdown - the same table as Markdown, one table per
 * section: the tables of docs/machine.md are this output (a unit test checks).
 */
void desc_print_keys_markdown(FILE *out);

/*
 * desc_to_json - the resolved description (every key, defaults filled in)
 * for the run report: {"file", "machine": {...}, "policy": {...},
 * "vms": [{"name", ...}]}. Sizes are bytes, durations nanoseconds, node
 * lists arrays. Returns a new reference, or NULL when out of memory.
 */
json_t *desc_to_json(const struct desc *d);

/*
 * desc_write_ini - write d back as a description file that parses to an
 * equal description (every key of [machine] and [policy], every non-empty
 * key of each [vm]). Returns 0, -EINVAL when a value cannot be written so
 * that it reads back the same (a newline, or " ;" which would start a
 * comment), or -EIO when the stream fails.
 */
int desc_write_ini(const struct desc *d, FILE *out);

/*
 * desc_equal - same machine, policy and VMs, key by key. The file name
 * and the line numbers kept for messages are not compared.
 */
bool desc_equal(const struct desc *a, const struct desc *b);

/*
 * Units. desc_parse_size accepts 4096, 4K, 256M, 1G, 2T (binary multiples,
 * optional trailing B/iB, any case); desc_parse_duration accepts 100ns,
 * 500us, 10ms, 2s, 1m (minute), 1h, and a bare 0; desc_parse_uint accepts
 * digits only. All refuse signs, spaces and junk after the number.
 * Return 0, -EINVAL (not that kind of number) or -ERANGE (over 64 bits).
 */
int desc_parse_size(const char *s, uint64_t *out);
int desc_parse_duration(const char *s, uint64_t *out_ns);
int desc_parse_uint(const char *s, uint64_t *out);

/* Shortest exact spellings, read back by the parsers: "256M", "100ms". Return buf. */
char *desc_format_size(uint64_t bytes, char *buf, size_t len);
char *desc_format_duration(uint64_t ns, char *buf, size_t len);

#endif
