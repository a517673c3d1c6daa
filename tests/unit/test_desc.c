/*
 * test_desc.c — machine descriptions (common/desc.c, common/units.c).
 *
 * Good files parse to the values they say (defaults where they say
 * nothing); every bad file gets one message that names the file, the line,
 * the section and key, and what is allowed; desc_write_ini() reads back
 * equal; the units parse strictly. The reference tables of docs/machine.md
 * and examples/ are checked against the key table when the source tree is
 * found (DISCO_SRC, else the path this file was compiled from).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/desc.h"

#define T_M	(1ull << 20)
#define T_G	(1ull << 30)

static struct desc *t_parse_ok(const char *text)
{
	char err[512] = "";
	struct desc *d = desc_parse_string(text, "m.ini", err, sizeof(err));

	if (!d)
		fail_msg("unexpected error: %s", err);
	return d;
}

/* Parse text that must fail at line with a message containing every needle. */
static void t_parse_bad(const char *text, int line, const char *needle1, const char *needle2)
{
	char err[1024] = "", prefix[32];
	struct desc *d = desc_parse_string(text, "m.ini", err, sizeof(err));

	if (d) {
		desc_free(d);
		fail_msg("parsed, but should fail at line %d:\n%s", line, text);
	}
	snprintf(prefix, sizeof(prefix), "m.ini:%d: ", line);
	if (strncmp(err, prefix, strlen(prefix)))
		fail_msg("message does not start with '%s': %s", prefix, err);
	if (needle1 && !strstr(err, needle1))
		fail_msg("message lacks '%s': %s", needle1, err);
	if (needle2 && !strstr(err, needle2))
		fail_msg("message lacks '%s': %s", needle2, err);
	assert_null(strchr(err, '\n'));
}

/* Where the source tree is: DISCO_SRC, else from this file's path; NULL if neither works. */
static const char *t_src_dir(char *buf, size_t len)
{
	const char *env = getenv("DISCO_SRC");
	const char *me = __FILE__, *tail = "tests/unit/test_desc.c";
	size_t n = strlen(me), t = strlen(tail);
	struct stat st;

	if (env && *env) {
		snprintf(buf, len, "%s", env);
	} else if (me[0] == '/' && n > t && !strcmp(me + n - t, tail)) {
		snprintf(buf, len, "%.*s", (int)(n - t - 1), me);
	} else {
		return NULL;
	}
	return stat(buf, &st) == 0 ? buf : NULL;
}

static char *t_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = calloc(1, 1 << 20);
	assert_non_null(buf);
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- good descriptions ---- */

static void t_default(void **state)
{
	struct desc *d = t_parse_ok(desc_default_text);
	const struct desc_machine *m = &d->machine;
	const struct desc_policy_cfg *p = &d->policy;

	assert_int_equal(m->nodes, 4);
	assert_int_equal(m->cpus, 1);
	assert_int_equal(m->mem, 256 * T_M);
	assert_int_equal(m->line, 128);
	assert_int_equal(m->rcache, 4 * T_M);
	assert_int_equal(m->provider, PROV_AUTO);
	assert_int_equal(m->quantum, 100000);
	assert_int_equal(m->poll, 5000);
	assert_int_equal(m->time, TIME_HOST);
	assert_int_equal(m->timeout_ns, 0);
	assert_string_equal(m->report, "disco-report.json");
	assert_int_equal(p->policy, POLICY_BOTH);
	assert_int_equal(p->trigger, 32);
	assert_int_equal(p->dominance, 60);
	assert_int_equal(p->write_share, 4);
	assert_int_equal(p->max_moves, 4);
	assert_int_equal(p->reset_ns, 1000000000ull);
	assert_int_equal(p->interval_ns, 10000000ull);

	assert_int_equal(d->n_vms, 2);
	assert_string_equal(d->vms[0].name, "ocean");
	assert_int_equal(d->vms[0].cpus, 2);
	assert_int_equal(d->vms[0].mem, 64 * T_M);
	assert_int_equal(d->vms[0].n_nodes, 2);
	assert_int_equal(d->vms[0].nodes[0], 0);
	assert_int_equal(d->vms[0].nodes[1], 1);
	assert_string_equal(d->vms[0].kernel, "guest:ocean");
	assert_int_equal(d->vms[0].placement, PLACE_FIRST_TOUCH);
	assert_string_equal(d->vms[0].bios, "");
	assert_string_equal(d->vms[0].disk, "");
	assert_string_equal(d->vms[0].net, "");
	assert_string_equal(d->vms[1].name, "raytrace");
	assert_int_equal(d->vms[1].nodes[0], 2);
	assert_int_equal(d->vms[1].nodes[1], 3);
	assert_string_equal(d->vms[1].kernel, "guest:raytrace");
	assert_true(d->vms[1].line > d->vms[0].line);
	desc_free(d);
}

static const char t_every_key[] =
	"[machine]\n"
	"nodes = 8\n"
	"cpus = 2\n"
	"mem = 1G\n"
	"line = 256\n"
	"rcache = 8M\n"
	"provider = tcp\n"
	"quantum = 50000\n"
	"poll = 500\n"
	"time = instret\n"
	"timeout = 60s\n"
	"report = out/r.json\n"
	"[policy]\n"
	"policy = migrate\n"
	"trigger = 128\n"
	"dominance = 75\n"
	"write_share = 8\n"
	"max_moves = 2\n"
	"reset = 1s\n"
	"interval = 500us\n"
	"[vm big.one]\n"
	"cpus = 4\n"
	"mem = 512M\n"
	"nodes = 0-3,6\n"
	"placement = interleave\n"
	"kernel = /boot/vmlinux\n"
	"bios = /usr/lib/riscv64-linux-gnu/opensbi/generic/fw_jump.elf\n"
	"initrd = /boot/initrd.img\n"
	"append = console=ttyS0 root=/dev/vda rw\n"
	"disk = /var/disks/base.img\n"
	"net = lan-0\n"
	"console_log = big.log\n"
	"[vm small]\n"
	"kernel = guest:hello\n";

static void t_every_key_set(void **state)
{
	struct desc *d = t_parse_ok(t_every_key);
	const struct desc_vm *vm = &d->vms[0];

	assert_int_equal(d->machine.nodes, 8);
	assert_int_equal(d->machine.cpus, 2);
	assert_int_equal(d->machine.mem, T_G);
	assert_int_equal(d->machine.line, 256);
	assert_int_equal(d->machine.rcache, 8 * T_M);
	assert_int_equal(d->machine.provider, PROV_TCP);
	assert_int_equal(d->machine.quantum, 50000);
	assert_int_equal(d->machine.poll, 500);
	assert_int_equal(d->machine.time, TIME_INSTRET);
	assert_int_equal(d->machine.timeout_ns, 60000000000ull);
	assert_string_equal(d->machine.report, "out/r.json");
	assert_int_equal(d->policy.policy, POLICY_MIGRATE);
	assert_int_equal(d->policy.trigger, 128);
	assert_int_equal(d->policy.dominance, 75);
	assert_int_equal(d->policy.write_share, 8);
	assert_int_equal(d->policy.max_moves, 2);
	assert_int_equal(d->policy.reset_ns, 1000000000ull);
	assert_int_equal(d->policy.interval_ns, 500000ull);

	assert_int_equal(d->n_vms, 2);
	assert_string_equal(vm->name, "big.one");
	assert_int_equal(vm->line, 21);
	assert_int_equal(vm->cpus, 4);
	assert_int_equal(vm->mem, 512 * T_M);
	assert_int_equal(vm->n_nodes, 5);
	assert_int_equal(vm->nodes[3], 3);
	assert_int_equal(vm->nodes[4], 6);
	assert_int_equal(vm->placement, PLACE_INTERLEAVE);
	assert_string_equal(vm->kernel, "/boot/vmlinux");
	assert_string_equal(vm->initrd, "/boot/initrd.img");
	assert_string_equal(vm->append, "console=ttyS0 root=/dev/vda rw");
	assert_string_equal(vm->disk, "/var/disks/base.img");
	assert_string_equal(vm->net, "lan-0");
	assert_string_equal(vm->console_log, "big.log");
	/* the second VM has its defaults */
	assert_int_equal(d->vms[1].cpus, 1);
	assert_int_equal(d->vms[1].mem, 64 * T_M);
	assert_int_equal(d->vms[1].n_nodes, 1);
	assert_int_equal(d->vms[1].nodes[0], 0);
	assert_string_equal(d->vms[1].kernel, "guest:hello");
	desc_free(d);
}

static void t_comments_whitespace(void **state)
{
	struct desc *d = t_parse_ok(
		"\xEF\xBB\xBF# a comment\r\n"
		"; another comment\r\n"
		"\r\n"
		"   [machine]   ; trailing comment\r\n"
		"\tnodes=2\r\n"
		"    cpus   :   2   \r\n"
		"\tmem = 128M ; inline comment\r\n"
		"\n"
		"  [ vm   a ]  # comment\n"
		"  cpus = 1\n"
		"  kernel = guest:a\n"
		"  nodes =  0 , 1 \n"
		"  append = x;y z ; comment\n");

	assert_int_equal(d->machine.nodes, 2);
	assert_int_equal(d->machine.cpus, 2);
	assert_int_equal(d->machine.mem, 128 * T_M);
	assert_int_equal(d->n_vms, 1);
	assert_string_equal(d->vms[0].name, "a");
	assert_int_equal(d->vms[0].line, 9);
	assert_int_equal(d->vms[0].n_nodes, 2);
	assert_string_equal(d->vms[0].append, "x;y z");
	desc_free(d);
}

static void t_node_lists(void **state)
{
	static const struct {
		const char *list;
		unsigned n, last;
	} cases[] = {
		{ "0", 1, 0 }, { "0,2", 2, 2 }, { "0-3", 4, 3 }, { "0-3,6", 5, 6 },
		{ "7-7", 1, 7 }, { "1,1", 2, 1 }, { "3,2,1", 3, 1 }, { "0 - 2 , 5", 4, 5 },
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct desc *d;

		snprintf(text, sizeof(text), "[machine]\nnodes = 8\n[vm a]\nkernel = k\nnodes = %s\n", cases[i].list);
		d = t_parse_ok(text);
		assert_int_equal(d->vms[0].n_nodes, cases[i].n);
		assert_int_equal(d->vms[0].nodes[cases[i].n - 1], cases[i].last);
		desc_free(d);
	}
}

static void t_bare_machine(void **state)
{
	struct desc *d = t_parse_ok("[machine]\nnodes = 2\n");

	assert_int_equal(d->n_vms, 0);
	assert_int_equal(d->machine.nodes, 2);
	desc_free(d);
	d = t_parse_ok("");
	assert_int_equal(d->n_vms, 0);
	assert_int_equal(d->machine.nodes, 4);
	desc_free(d);
	d = t_parse_ok("# nothing but a comment\n[policy]\n");
	assert_int_equal(d->policy.policy, POLICY_BOTH);
	desc_free(d);
}

static void t_long_lines(void **state)
{
	char *text = malloc(8192), *append = malloc(2048), *path = malloc(2048);
	struct desc *d;

	memset(append, 'a', 1000);
	strcpy(append + 1000, " end");
	path[0] = '/';
	memset(path + 1, 'p', 900);
	path[901] = '\0';
	snprintf(text, 8192, "[vm %s]\nkernel = %s\nappend = %s ; a comment\nmem = 2M\n",
		 "n23456789012345678901234567890123456789012345678901234567890123", path, append);
	d = t_parse_ok(text);
	assert_string_equal(d->vms[0].name, "n23456789012345678901234567890123456789012345678901234567890123");
	assert_string_equal(d->vms[0].kernel, path);
	assert_string_equal(d->vms[0].append, append);
	assert_int_equal(d->vms[0].mem, 2 * T_M);
	desc_free(d);

	/* past DESC_PATH_MAX */
	memset(append, 'a', 1100);
	append[1100] = '\0';
	snprintf(text, 8192, "[vm a]\nkernel = guest:a\nappend = %s\n", append);
	t_parse_bad(text, 3, "[vm a] append = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...: ",
		    "too long (at most 1023 characters)");
	/* past the reader's limit */
	free(text);
	text = malloc(DESC_LINE_MAX + 64);
	strcpy(text, "[machine]\nreport = ");
	memset(text + strlen(text), 'r', DESC_LINE_MAX);
	text[19 + DESC_LINE_MAX] = '\0';
	strcat(text, "\n");
	t_parse_bad(text, 2, "line longer than 32768 characters", NULL);
	free(text);
	free(append);
	free(path);
}

/* The file path now holds text alone. */
static void t_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A description holding text, as m.ini in a new directory made from the template dir; its path in path. */
static void t_desc_file(char *dir, char *path, size_t len, const char *text)
{
	assert_non_null(mkdtemp(dir));
	snprintf(path, len, "%s/m.ini", dir);
	t_write(path, text);
}

static void t_file_paths(void **state)
{
	char dir[] = "/tmp/test_desc.XXXXXX", path[256], err[512], want[512];
	struct desc *d;
	FILE *f;

	t_desc_file(dir, path, sizeof(path), "[machine]\nreport = r.json\n[vm a]\nkernel = vmlinux\ndisk = ../d.img\n"
		    "initrd = /abs/i.img\nbios = guest:sbi\nconsole_log = a.log\n");
	d = desc_parse_file(path, err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_string_equal(d->file, path);
	snprintf(want, sizeof(want), "%s/vmlinux", dir);
	assert_string_equal(d->vms[0].kernel, want);
	snprintf(want, sizeof(want), "%s/../d.img", dir);
	assert_string_equal(d->vms[0].disk, want);
	assert_string_equal(d->vms[0].initrd, "/abs/i.img");
	assert_string_equal(d->vms[0].bios, "guest:sbi");
	assert_string_equal(d->vms[0].console_log, "a.log");
	assert_string_equal(d->machine.report, "r.json");
	desc_free(d);

	/* a bad file names itself as given */
	t_write(path, "[machine]\n\nnodes = four\n");
	assert_null(desc_parse_file(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:3: [machine] nodes = four: not a whole number", path);
	assert_non_null(strstr(err, want));

	/* not text */
	f = fopen(path, "w");
	assert_non_null(f);
	fwrite("[machine]\0\n", 1, 11, f);
	fclose(f);
	assert_null(desc_parse_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, "m.ini: contains a NUL byte: not a text file"));
	f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 70000; i++)
		fputs("; a long comment line\n", f);
	fclose(f);
	assert_null(desc_parse_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, "m.ini: larger than 1024K: not a machine description"));
	unlink(path);
	rmdir(dir);
}

static struct desc *t_round_trip(const struct desc *d);

/* ${NAME} in paths: each node's own environment (docs/machine.md, "Paths"). */
static void t_path_variables(void **state)
{
	char dir[] = "/tmp/test_desc_env.XXXXXX", path[256], err[1024], want[512];
	struct desc *d, *back;
	FILE *f;

	(void)state;
	setenv("DISCO_T_SCRATCH", "/scratch/node7", 1);
	setenv("DISCO_T_SUB", "imgs", 1);
	setenv("DISCO_T_EMPTY", "", 1);
	unsetenv("DISCO_T_UNSET");

	d = t_parse_ok("[machine]\nreport = ${DISCO_T_SCRATCH}/r.json\n[vm a]\nkernel = guest:hello\n"
		       "disk = ${DISCO_T_SCRATCH}/${DISCO_T_SUB}/base.img\ndisk_overlay_file = ${DISCO_T_SCRATCH}/a$$1.ovl\n"
		       "console_log = $${DISCO_T_SUB}.log\n");
	assert_string_equal(d->machine.report, "/scratch/node7/r.json");
	assert_string_equal(d->vms[0].disk, "/scratch/node7/imgs/base.img");
	assert_string_equal(d->vms[0].disk_overlay_file, "/scratch/node7/a$1.ovl");
	assert_string_equal(d->vms[0].console_log, "${DISCO_T_SUB}.log");	/* $$ is a '$', not a variable */
	assert_false(desc_vm_path_deferred(&d->vms[0], "disk"));
	/* written back, a '$' of an expanded path reads back as itself */
	back = t_round_trip(d);
	assert_true(desc_equal(d, back));
	assert_string_equal(back->vms[0].console_log, "${DISCO_T_SUB}.log");
	desc_free(back);
	desc_free(d);

	/* text keys are not paths: a '$' there is text */
	d = t_parse_ok("[vm a]\nkernel = guest:hello\nappend = x=$HOME ${DISCO_T_UNSET}\n");
	assert_string_equal(d->vms[0].append, "x=$HOME ${DISCO_T_UNSET}");
	desc_free(d);

	/* what is wrong, the key, the line and the variable */
	t_parse_bad("[vm a]\nkernel = guest:hello\ndisk = ${DISCO_T_UNSET}/base.img\n", 3,
		    "[vm a] disk = ${DISCO_T_UNSET}/base.img: ${DISCO_T_UNSET} is not set in the environment", "mpirun -x");
	t_parse_bad("[vm a]\nkernel = guest:hello\n\ninitrd = ${DISCO_T_EMPTY}/i\n", 4, "initrd", "${DISCO_T_EMPTY} is empty");
	t_parse_bad("[vm a]\nkernel = ${DISCO_T_SCRATCH/vmlinux\n", 2, "kernel", "'${' without a closing '}'");
	t_parse_bad("[vm a]\nkernel = guest:hello\nbios = ${}/fw\n", 3, "bios = ${}/fw", "${}: not a variable name");
	t_parse_bad("[vm a]\nkernel = guest:hello\ndisk = ${1X}\n", 3, "${1X}: not a variable name", NULL);
	t_parse_bad("[vm a]\nkernel = guest:hello\ndisk = ${A-B}\n", 3, "${A-B}: not a variable name", NULL);
	t_parse_bad("[vm a]\nkernel = $HOME/vmlinux\n", 2, "kernel = $HOME/vmlinux", "write $$ for a '$'");
	t_parse_bad("[vm a]\nkernel = guest:hello\ndisk = x$\n", 3, "a '$' that starts no ${NAME}", NULL);
	t_parse_bad("[machine]\nreport = ${DISCO_T_UNSET}.json\n", 2, "[machine] report", "${DISCO_T_UNSET} is not set");

	/* a file: relative once expanded is relative to the description's directory */
	t_desc_file(dir, path, sizeof(path), "[machine]\nnodes = 2\n[vm a]\nkernel = ${DISCO_T_SUB}/vmlinux\n"
		    "disk = ${DISCO_T_UNSET}/base.img\ndisk_overlay_file = ${DISCO_T_SCRATCH}/a.ovl\n");
	/* a node without the variable: refused, naming it */
	assert_null(desc_parse_file(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:5: [vm a] disk = ${DISCO_T_UNSET}/base.img: ${DISCO_T_UNSET} is not set", path);
	if (!strstr(err, want))
		fail_msg("%s", err);
	/* the launcher defers the VM paths that name a variable to the nodes, as written */
	d = desc_parse_file_flags(path, DESC_DEFER_PATHS, err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	assert_string_equal(d->vms[0].kernel, "${DISCO_T_SUB}/vmlinux");
	assert_string_equal(d->vms[0].disk, "${DISCO_T_UNSET}/base.img");
	assert_true(desc_vm_path_deferred(&d->vms[0], "kernel"));
	assert_true(desc_vm_path_deferred(&d->vms[0], "disk"));
	assert_false(desc_vm_path_deferred(&d->vms[0], "initrd"));
	assert_false(desc_vm_path_deferred(&d->vms[0], "append"));
	{	/* written back as written: still the nodes' to expand */
		char *buf = NULL;
		size_t len = 0;

		f = open_memstream(&buf, &len);
		assert_non_null(f);
		assert_int_equal(desc_write_ini(d, f), 0);
		fclose(f);
		assert_non_null(strstr(buf, "\ndisk = ${DISCO_T_UNSET}/base.img\n"));
		assert_non_null(strstr(buf, "\ndisk_overlay_file = ${DISCO_T_SCRATCH}/a.ovl\n"));
		free(buf);
	}
	desc_free(d);
	/* a node that has it */
	setenv("DISCO_T_UNSET", "/local", 1);
	d = desc_parse_file(path, err, sizeof(err));
	if (!d)
		fail_msg("%s", err);
	snprintf(want, sizeof(want), "%s/imgs/vmlinux", dir);
	assert_string_equal(d->vms[0].kernel, want);
	assert_string_equal(d->vms[0].disk, "/local/base.img");
	desc_free(d);
	unsetenv("DISCO_T_UNSET");
	/* deferring checks the syntax all the same, and report is the launcher's own */
	t_write(path, "[vm a]\nkernel = guest:hello\ndisk = ${DISCO_T_UNSET/base.img\n");
	assert_null(desc_parse_file_flags(path, DESC_DEFER_PATHS, err, sizeof(err)));
	assert_non_null(strstr(err, ":3: [vm a] disk = ${DISCO_T_UNSET/base.img: '${' without a closing '}'"));
	t_write(path, "[machine]\nreport = ${DISCO_T_UNSET}/r.json\n");
	assert_null(desc_parse_file_flags(path, DESC_DEFER_PATHS, err, sizeof(err)));
	assert_non_null(strstr(err, ":2: [machine] report = ${DISCO_T_UNSET}/r.json: ${DISCO_T_UNSET} is not set"));
	unlink(path);
	rmdir(dir);
}

static void t_missing_file(void **state)
{
	char err[512];

	assert_null(desc_parse_file("/nonexistent/m.ini", NULL, 0));
	assert_null(desc_parse_string("[machin]\n", "m.ini", NULL, 0));

	assert_null(desc_parse_file("/nonexistent/m.ini", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/m.ini: cannot open: No such file or directory");
	assert_null(desc_parse_file("/tmp", err, sizeof(err)));
	assert_non_null(strstr(err, "/tmp: cannot read: Is a directory"));
}

/* ---- bad descriptions: one message naming the line, the key and what is allowed ---- */

static void t_bad_exact(void **state)
{
	char err[512];

	assert_null(desc_parse_string("[vm a]\nkernel = guest:a\n\n\n\n\nmem = 12Q\n", "m.ini", err, sizeof(err)));
	assert_string_equal(err, "m.ini:7: [vm a] mem = 12Q: not a size (use a number with K, M, G or T, e.g. 256M)");
}

static void t_bad_numbers(void **state)
{
	t_parse_bad("[machine]\nmem = 12Q\n", 2, "[machine] mem = 12Q", "not a size");
	t_parse_bad("[machine]\nmem = 256 M\n", 2, "[machine] mem = 256 M", "not a size");
	t_parse_bad("[machine]\nmem = 1.5G\n", 2, "mem = 1.5G", "not a size");
	t_parse_bad("[machine]\nmem = 1025K\n", 2, "mem = 1025K", "not a multiple of 4K");
	t_parse_bad("[machine]\nmem = 512K\n", 2, "mem = 512K", "out of range (1M..16T)");
	t_parse_bad("[machine]\nmem = 99999999999999T\n", 2, "mem = 99999999999999T", "out of range (1M..16T)");
	t_parse_bad("[machine]\nmem = -256M\n", 2, "mem = -256M", "negative");
	t_parse_bad("[machine]\nline = 96\n", 2, "[machine] line = 96", "not a power of two (64, 128, ..., 4K)");
	t_parse_bad("[machine]\nline = 8K\n", 2, "line = 8K", "out of range (64..4K)");
	t_parse_bad("[machine]\nline = 32\n", 2, "line = 32", "out of range (64..4K)");
	t_parse_bad("[machine]\nnodes = 0\n", 2, "[machine] nodes = 0", "out of range (1..4096)");
	t_parse_bad("[machine]\nnodes = 5000\n", 2, "nodes = 5000", "out of range (1..4096)");
	t_parse_bad("[machine]\nnodes = -1\n", 2, "nodes = -1", "negative (1..4096)");
	t_parse_bad("[machine]\nnodes = 4x\n", 2, "nodes = 4x", "not a whole number (digits only, e.g. 4)");
	t_parse_bad("[machine]\nnodes = +4\n", 2, "nodes = +4", "not a whole number");
	t_parse_bad("[machine]\nnodes = 0x10\n", 2, "nodes = 0x10", "not a whole number");
	t_parse_bad("[machine]\nquantum = 99999999999999999999999\n", 2, "quantum = 9999", "out of range (1..1000000000000)");
	t_parse_bad("[machine]\ntimeout = 60\n", 2, "timeout = 60", "not a duration (use a number with ns, us, ms, s or m");
	t_parse_bad("[machine]\ntimeout = 60 s\n", 2, "timeout = 60 s", "not a duration");
	t_parse_bad("[machine]\ntimeout = 10parsecs\n", 2, "timeout = 10parsecs", "not a duration");
	t_parse_bad("[machine]\ntimeout = -1s\n", 2, "timeout = -1s", "negative");
	t_parse_bad("[policy]\nreset = 10x\n", 2, "[policy] reset = 10x", "not a duration");
	t_parse_bad("[policy]\nreset = 0\n", 2, "reset = 0", "out of range (1us..1h)");
	t_parse_bad("[policy]\ninterval = 2h\n", 2, "interval = 2h", "out of range (1us..1h)");
	t_parse_bad("[policy]\ndominance = 0\n", 2, "dominance = 0", "out of range (1..100)");
	t_parse_bad("[policy]\ndominance = 101\n", 2, "dominance = 101", "out of range (1..100)");
	t_parse_bad("[vm a]\nkernel = k\ncpus = 0\n", 3, "[vm a] cpus = 0", "out of range (1..512)");
}

static void t_bad_choices_and_names(void **state)
{
	t_parse_bad("[machine]\nprovider = ib\n", 2, "[machine] provider = ib",
		    "not one of auto, shm, tcp, verbs, efa, cxi");
	t_parse_bad("[machine]\ntime = wall\n", 2, "time = wall", "not one of host, instret");
	t_parse_bad("[policy]\npolicy = Both\n", 2, "policy = Both", "not one of off, migrate, replicate, both");
	t_parse_bad("[vm a]\nkernel = k\nplacement = random\n", 3, "placement = random",
		    "first-touch, round-robin, fixed, interleave, block");
	t_parse_bad("[vm a]\nkernel = k\nnet = a b\n", 3, "net = a b", "not a name");
	t_parse_bad("[vm a]\nkernel = guest:\n", 2, "kernel = guest:", "guest:NAME");
	t_parse_bad("[vm a]\nkernel = guest:a/b\n", 2, "kernel = guest:a/b", "guest:NAME");
	t_parse_bad("[vm]\nkernel = k\n", 1, "[vm]", "needs a name: [vm NAME]");
	t_parse_bad("[vm a b]\n", 1, "[vm a b]", "bad VM name 'a b'");
	t_parse_bad("[vm n234567890123456789012345678901234567890123456789012345678901234]\n", 1,
		    "bad VM name", "1 to 63 letters");
	t_parse_bad("[vm n234567890123456789012345678901234567890123456789012345678901234567890]\n", 1,
		    "section name too long", NULL);
}

static void t_bad_structure(void **state)
{
	t_parse_bad("[machine]\nnodez = 4\n", 2, "[machine] nodez = 4: unknown key; did you mean nodes?",
		    "keys of [machine]: nodes, cpus, mem, line, rcache, provider, quantum, poll, time, timeout, report");
	t_parse_bad("[machine]\nfrobnicate = 4\n", 2, "[machine] frobnicate = 4: unknown key (keys of [machine]:", NULL);
	t_parse_bad("[machine]\ntrigger = 4\n", 2, "unknown key; trigger belongs in [policy]", NULL);
	t_parse_bad("[vm a]\nkernel = k\nprovider = tcp\n", 3, "[vm a] provider = tcp: unknown key; provider belongs in [machine]",
		    "keys of [vm NAME]:");
	t_parse_bad("[vm a]\nkernel = k\nconsolelog = x\n", 3, "did you mean console_log?", NULL);
	t_parse_bad("[machin]\nnodes = 4\n", 1, "[machin]: unknown section; did you mean [machine]?",
		    "sections are [machine], [policy] and [vm NAME]");
	t_parse_bad("[polcy]\n", 1, "did you mean [policy]?", NULL);
	t_parse_bad("[VM a]\n", 1, "did you mean [vm NAME]?", NULL);
	t_parse_bad("# x\n[disks]\n", 2, "[disks]: unknown section (sections are", NULL);
	t_parse_bad("nodes = 4\n[machine]\n", 1, "nodes = 4: key before any section (it belongs under [machine])", NULL);
	t_parse_bad("[machine]\nnodes = 4\ncpus = 1\nnodes = 8\n", 4, "[machine] nodes = 8: key given twice (first on line 2)", NULL);
	t_parse_bad("[machine]\n[policy]\n[machine]\n", 3, "[machine]: section given twice (first on line 1)", NULL);
	t_parse_bad("[vm a]\nkernel = k\n[vm b]\nkernel = k\n[vm a]\nkernel = k\n", 5,
		    "[vm a]: duplicate VM name (first defined on line 1)", NULL);
	t_parse_bad("[machine]\nmem =\n", 2, "[machine] mem: empty value (leave the key out for its default, 256M)", NULL);
	t_parse_bad("[vm a]\nkernel = k\ndisk = ; nothing\n", 3, "[vm a] disk: empty value", "none");
	t_parse_bad("[machine]\n= 4\n", 2, "[machine] = 4: no key before the '='", NULL);
	t_parse_bad("[machine]\nnodes = 4 # four\n", 2, "nodes = 4 # four: not a whole number",
		    "a comment after a value starts with ';', not '#'");
	t_parse_bad("[machine]\nnodes 4\n", 2, "nodes 4: not a key = value line, a [section] or a comment", NULL);
	t_parse_bad("[machine\nnodes = 4\n", 1, "[machine: section header without ']'", NULL);
	t_parse_bad("[machine] nodes = 4\n", 1, "text after ']'", NULL);
	/* the first error wins, whoever finds it */
	t_parse_bad("[machine]\nnodes 4\nmem = 12Q\n", 2, "not a key = value line", NULL);
	t_parse_bad("[machine]\nmem = 12Q\nnodes 4\n", 2, "mem = 12Q", NULL);
	t_parse_bad("[machine]\nmem = 12Q\nnodes = x\n", 2, "mem = 12Q", NULL);
}

static void t_bad_whole(void **state)
{
	char *text = malloc(64 * 1024);
	size_t used = 0;
	int i;

	/* whole-description errors name the key's line */
	t_parse_bad("[machine]\nnodes = 4\n[vm a]\ncpus = 2\nnodes = 0-7\nkernel = k\n", 5,
		    "[vm a] nodes = 0-7: node 4 is past the machine's 4 nodes (0..3)", NULL);
	t_parse_bad("[vm a]\nnodes = 9\nkernel = k\n", 2, "node 9 is past the machine's 4 nodes", NULL);
	t_parse_bad("[machine]\nnodes = 1\n[vm a]\nnodes = 1\nkernel = k\n", 4, "past the machine's 1 node (0..0)", NULL);
	t_parse_bad("[machine]\nmem = 256M\n[vm a]\nmem = 2G\nkernel = k\n", 4,
		    "[vm a] mem = 2G: larger than the whole machine (4 nodes x 256M = 1G)", NULL);
	t_parse_bad("[vm a]\nkernel = k\nmem = 512M\n[vm b]\nkernel = k\nmem = 768M\n", 4,
		    "[vm b] mem = 768M: the VMs up to this one need 1280M, more than the machine's 1G", NULL);
	t_parse_bad("[vm a]\ncpus = 2\n", 1, "[vm a]: no kernel (set kernel = PATH", NULL);
	t_parse_bad("[vm a]\nkernel = k\nnodes = 3-1\n", 3, "nodes = 3-1: range 3-1 runs backwards", NULL);
	t_parse_bad("[vm a]\nkernel = k\nnodes = 0,,1\n", 3, "nodes = 0,,1: not a node list", "e.g. 0, 0-3 or 0-3,6");
	t_parse_bad("[vm a]\nkernel = k\nnodes = 0-\n", 3, "not a node list", NULL);
	t_parse_bad("[vm a]\nkernel = k\nnodes = -1\n", 3, "not a node list", NULL);
	t_parse_bad("[vm a]\nkernel = k\nnodes = 4096\n", 3, "node 4096 is past the largest machine (nodes 0..4095)", NULL);
	t_parse_bad("[machine]\nline = 256\nrcache = 128\n", 3,
		    "[machine] rcache = 128: smaller than one line (line = 256)", NULL);
	t_parse_bad("[machine]\nrcache = 64\n\nline = 4K\n", 4, "rcache = 64: smaller than one line", NULL);

	/* one VM past the limit: the message names its header */
	used += (size_t)snprintf(text, 64 * 1024, "[machine]\nmem = 16G\n");
	for (i = 0; i <= DESC_MAX_VMS; i++)
		used += (size_t)snprintf(text + used, 64 * 1024 - used, "[vm v%d]\nkernel = k\nmem = 1M\n", i);
	t_parse_bad(text, 3 + 3 * DESC_MAX_VMS, "[vm v64]: too many VMs (at most 64)", NULL);
	free(text);
}

static void t_validate_in_code(void **state)
{
	struct desc *d = t_parse_ok(desc_default_text);
	char err[512];

	assert_int_equal(desc_validate(d, err, sizeof(err)), 0);
	d->machine.nodes = 2;
	assert_int_equal(desc_validate(d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "m.ini:17: [vm raytrace] nodes = 2-3: node 2 is past the machine's 2 nodes"));
	d->machine.nodes = DESC_MAX_NODES + 1;
	assert_int_equal(desc_validate(d, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "m.ini: [machine] nodes = 4097: out of range (1..4096)");
	d->machine.nodes = 4;
	d->policy.dominance = 0;
	assert_int_equal(desc_validate(d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[policy] dominance = 0: out of range (1..100)"));
	d->policy.dominance = 60;
	d->vms[0].kernel[0] = '\0';
	assert_int_equal(desc_validate(d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "m.ini:8: [vm ocean]: no kernel"));
	strcpy(d->vms[0].kernel, "guest:ocean");
	strcpy(d->vms[1].name, "ocean");
	assert_int_equal(desc_validate(d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "duplicate VM name"));
	strcpy(d->vms[1].name, "raytrace");
	d->machine.line = 100;
	assert_int_equal(desc_validate(d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[machine] line = 100: not a power of two"));
	d->machine.line = 128;
	d->machine.provider = 17;
	assert_int_equal(desc_validate(d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[machine] provider = 17: not a valid choice"));
	d->machine.provider = PROV_SHM;
	assert_int_equal(desc_validate(d, err, sizeof(err)), 0);
	desc_free(d);
}

/* ---- writing back ---- */

static struct desc *t_round_trip(const struct desc *d)
{
	char *buf = NULL, err[512];
	size_t len = 0;
	struct desc *back;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(desc_write_ini(d, f), 0);
	fclose(f);
	back = desc_parse_string(buf, "written.ini", err, sizeof(err));
	if (!back)
		fail_msg("%s\n--\n%s", err, buf);
	free(buf);
	return back;
}

static void t_write_ini_round_trip(void **state)
{
	const char *texts[] = { desc_default_text, t_every_key, "", "[machine]\nnodes=1\n" };
	char path[] = "/tmp/test_desc_rt.XXXXXX", err[512];
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct desc *d = t_parse_ok(texts[i]), *back = t_round_trip(d), *again;

		assert_true(desc_equal(d, back));
		again = t_round_trip(back);
		assert_true(desc_equal(d, again));
		desc_free(again);
		desc_free(back);
		desc_free(d);
	}

	/* through a file, as the launcher hands it to the ranks */
	{
		struct desc *d = t_parse_ok(t_every_key), *back;
		int fd = mkstemp(path);
		FILE *f;

		assert_true(fd >= 0);
		f = fdopen(fd, "w");
		assert_non_null(f);
		assert_int_equal(desc_write_ini(d, f), 0);
		fclose(f);
		back = desc_parse_file(path, err, sizeof(err));
		if (!back)
			fail_msg("%s", err);
		/* relative input paths would move with the file; these are absolute or guest: */
		assert_true(desc_equal(d, back));
		desc_free(back);
		desc_free(d);
		unlink(path);
	}
}

static void t_equal_and_unwritable(void **state)
{
	struct desc *a = t_parse_ok(t_every_key), *b = t_parse_ok(t_every_key);
	FILE *f = fopen("/dev/null", "w");

	assert_true(desc_equal(a, b));
	b->vms[0].nodes[4] = 7;
	assert_false(desc_equal(a, b));
	b->vms[0].nodes[4] = 6;
	b->policy.interval_ns++;
	assert_false(desc_equal(a, b));
	b->policy.interval_ns--;
	strcpy(b->vms[1].name, "other");
	assert_false(desc_equal(a, b));
	strcpy(b->vms[1].name, "small");
	assert_true(desc_equal(a, b));

	/* values that would not read back the same */
	strcpy(b->vms[0].append, "a ;b");
	assert_int_equal(desc_write_ini(b, f), -EINVAL);
	strcpy(b->vms[0].append, "a\nb");
	assert_int_equal(desc_write_ini(b, f), -EINVAL);
	strcpy(b->vms[0].append, " a");
	assert_int_equal(desc_write_ini(b, f), -EINVAL);
	strcpy(b->vms[0].append, "a;b");
	assert_int_equal(desc_write_ini(b, f), 0);
	fclose(f);
	desc_free(a);
	desc_free(b);
}

static void t_json(void **state)
{
	struct desc *d = t_parse_ok(t_every_key);
	json_t *j = desc_to_json(d), *vm;

	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "file")), "m.ini");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "machine"), "nodes")), 8);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "machine"), "mem")), T_G);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "machine"), "provider")), "tcp");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "machine"), "timeout")), 60000000000ll);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "policy"), "policy")), "migrate");
	assert_int_equal(json_array_size(json_object_get(j, "vms")), 2);
	vm = json_array_get(json_object_get(j, "vms"), 0);
	assert_string_equal(json_string_value(json_object_get(vm, "name")), "big.one");
	assert_int_equal(json_array_size(json_object_get(vm, "nodes")), 5);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(vm, "nodes"), 4)), 6);
	assert_string_equal(json_string_value(json_object_get(vm, "placement")), "interleave");
	assert_string_equal(json_string_value(json_object_get(vm, "net")), "lan-0");
	/* every key is there, defaults included */
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "vms"), 1), "disk")), "");
	assert_int_equal(json_object_size(json_object_get(j, "machine")), 21);
	assert_int_equal(json_object_size(json_object_get(j, "policy")), 7);
	assert_int_equal(json_object_size(vm), 17);
	json_decref(j);
	desc_free(d);
}

/* ---- units ---- */

static void t_sizes(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
		{ "0", 0, 0 }, { "4096", 0, 4096 }, { "4K", 0, 4096 }, { "4k", 0, 4096 }, { "4KB", 0, 4096 },
		{ "4KiB", 0, 4096 }, { "4kib", 0, 4096 }, { "256M", 0, 256ull << 20 }, { "256mb", 0, 256ull << 20 },
		{ "1G", 0, 1ull << 30 }, { "1GiB", 0, 1ull << 30 }, { "2T", 0, 2ull << 40 }, { "16B", 0, 16 },
		{ "16b", 0, 16 }, { "007", 0, 7 },
		{ "18446744073709551615", 0, UINT64_MAX }, { "16777215T", 0, 16777215ull << 40 },
		{ "18446744073709551616", -ERANGE, 0 }, { "16777216T", -ERANGE, 0 }, { "99999999999999999999K", -ERANGE, 0 },
		{ "", -EINVAL, 0 }, { "K", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "+4", -EINVAL, 0 },
		{ " 4", -EINVAL, 0 }, { "4 ", -EINVAL, 0 }, { "4 K", -EINVAL, 0 }, { "4KK", -EINVAL, 0 },
		{ "4iB", -EINVAL, 0 }, { "4P", -EINVAL, 0 }, { "0x10", -EINVAL, 0 }, { "1.5G", -EINVAL, 0 },
		{ "4Kx", -EINVAL, 0 }, { "4KiBs", -EINVAL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int rc = desc_parse_size(cases[i].s, &v);

		if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
			fail_msg("desc_parse_size(\"%s\") = %d, %llu", cases[i].s, rc, (unsigned long long)v);
	}
}

static void t_durations(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
		{ "0", 0, 0 }, { "100ns", 0, 100 }, { "500us", 0, 500000 }, { "10ms", 0, 10000000 },
		{ "2s", 0, 2000000000ull }, { "1m", 0, 60000000000ull }, { "1min", 0, 60000000000ull },
		{ "1h", 0, 3600000000000ull }, { "10MS", 0, 10000000 }, { "0s", 0, 0 },
		{ "18446744073709551615ns", 0, UINT64_MAX }, { "18446744073709551615s", -ERANGE, 0 },
		{ "10", -EINVAL, 0 }, { "", -EINVAL, 0 }, { "ms", -EINVAL, 0 }, { "-1s", -EINVAL, 0 },
		{ "1.5s", -EINVAL, 0 }, { "10 ms", -EINVAL, 0 }, { "10mss", -EINVAL, 0 }, { "1d", -EINVAL, 0 },
		{ "00", -EINVAL, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int rc = desc_parse_duration(cases[i].s, &v);

		if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
			fail_msg("desc_parse_duration(\"%s\") = %d, %llu", cases[i].s, rc, (unsigned long long)v);
	}
}

static void t_uints(void **state)
{
	uint64_t v;

	assert_int_equal(desc_parse_uint("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(desc_parse_uint("42", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(desc_parse_uint("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(desc_parse_uint("18446744073709551616", &v), -ERANGE);
	assert_int_equal(desc_parse_uint("", &v), -EINVAL);
	assert_int_equal(desc_parse_uint("-1", &v), -EINVAL);
	assert_int_equal(desc_parse_uint("+1", &v), -EINVAL);
	assert_int_equal(desc_parse_uint("1 ", &v), -EINVAL);
	assert_int_equal(desc_parse_uint("1x", &v), -EINVAL);
	assert_int_equal(desc_parse_uint("1K", &v), -EINVAL);
}

static void t_formats(void **state)
{
	char buf[32];
	uint64_t v;

	assert_string_equal(desc_format_size(0, buf, sizeof(buf)), "0");
	assert_string_equal(desc_format_size(100, buf, sizeof(buf)), "100");
	assert_string_equal(desc_format_size(1536, buf, sizeof(buf)), "1536");
	assert_string_equal(desc_format_size(4096, buf, sizeof(buf)), "4K");
	assert_string_equal(desc_format_size(256ull << 20, buf, sizeof(buf)), "256M");
	assert_string_equal(desc_format_size(3ull << 30, buf, sizeof(buf)), "3G");
	assert_string_equal(desc_format_size(1ull << 50, buf, sizeof(buf)), "1024T");
	assert_string_equal(desc_format_duration(0, buf, sizeof(buf)), "0");
	assert_string_equal(desc_format_duration(100000000, buf, sizeof(buf)), "100ms");
	assert_string_equal(desc_format_duration(1500000000, buf, sizeof(buf)), "1500ms");
	assert_string_equal(desc_format_duration(90000000000ull, buf, sizeof(buf)), "90s");
	assert_string_equal(desc_format_duration(120000000000ull, buf, sizeof(buf)), "2m");
	assert_string_equal(desc_format_duration(7200000000000ull, buf, sizeof(buf)), "2h");
	assert_string_equal(desc_format_duration(1, buf, sizeof(buf)), "1ns");
	/* and they read back */
	for (v = 1; v < (1ull << 62); v = v * 3 + 1) {
		uint64_t back;

		assert_int_equal(desc_parse_size(desc_format_size(v, buf, sizeof(buf)), &back), 0);
		assert_true(back == v);
		assert_int_equal(desc_parse_duration(desc_format_duration(v, buf, sizeof(buf)), &back), 0);
		assert_true(back == v);
	}
}

static void t_names(void **state)
{
	assert_string_equal(desc_provider_name(PROV_TCP), "tcp");
	assert_string_equal(desc_provider_name(PROV_CXI), "cxi");
	assert_string_equal(desc_policy_name(POLICY_REPLICATE), "replicate");
	assert_string_equal(desc_placement_name(PLACE_ROUND_ROBIN), "round-robin");
	assert_string_equal(desc_time_name(TIME_INSTRET), "instret");
	assert_string_equal(desc_provider_name((enum desc_provider)99), "?");
}

/* ---- the reference, the docs and the examples ---- */

static void t_print_keys(void **state)
{
	static const char *const all[] = {
		"[machine]", "[policy]", "[vm NAME]", "nodes", "cpus", "mem", "line", "rcache", "provider",
		"quantum", "poll", "time", "timeout", "report", "policy", "trigger", "dominance",
		"write_share", "max_moves", "reset", "interval", "placement", "kernel", "bios", "initrd",
		"append", "disk", "net", "console_log",
	};
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	desc_print_keys(f);
	fclose(f);
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strstr(buf, all[i]))
			fail_msg("desc_print_keys lacks %s", all[i]);
	free(buf);
}

static void t_docs_agree(void **state)
{
	char src[1024], path[1200];
	char *docs, *md = NULL, *line, *save = NULL;
	size_t len = 0;
	unsigned rows = 0;
	FILE *f;

	if (!t_src_dir(src, sizeof(src)))
		skip();
	snprintf(path, sizeof(path), "%s/docs/machine.md", src);
	docs = t_slurp(path);
	if (!docs)
		fail_msg("%s: cannot read", path);
	f = open_memstream(&md, &len);
	assert_non_null(f);
	desc_print_keys_markdown(f);
	fclose(f);
	/* every row and heading of the generated tables is in the docs, verbatim */
	for (line = strtok_r(md, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(docs, line))
			fail_msg("docs/machine.md lacks this line of desc_print_keys_markdown():\n%s", line);
		rows += line[0] == '|' && line[2] == '`';
	}
	assert_int_equal(rows, 44);
	free(md);
	free(docs);
}

static void t_examples(void **state)
{
	static const char *const files[] = { "default.ini", "two-vms.ini", "bare.ini", "every-key.ini" };
	char src[1024], path[1200], err[512];
	size_t i;

	if (!t_src_dir(src, sizeof(src)))
		skip();
	snprintf(path, sizeof(path), "%s/examples/default.ini", src);
	{
		char *text = t_slurp(path);

		if (!text)
			fail_msg("%s: cannot read", path);
		assert_string_equal(text, desc_default_text);
		free(text);
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct desc *d;

		snprintf(path, sizeof(path), "%s/examples/%s", src, files[i]);
		d = desc_parse_file(path, err, sizeof(err));
		if (!d)
			fail_msg("%s", err);
		desc_free(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_default),
		cmocka_unit_test(t_every_key_set),
		cmocka_unit_test(t_comments_whitespace),
		cmocka_unit_test(t_node_lists),
		cmocka_unit_test(t_bare_machine),
		cmocka_unit_test(t_long_lines),
		cmocka_unit_test(t_file_paths),
		cmocka_unit_test(t_path_variables),
		cmocka_unit_test(t_missing_file),
		cmocka_unit_test(t_bad_exact),
		cmocka_unit_test(t_bad_numbers),
		cmocka_unit_test(t_bad_choices_and_names),
		cmocka_unit_test(t_bad_structure),
		cmocka_unit_test(t_bad_whole),
		cmocka_unit_test(t_validate_in_code),
		cmocka_unit_test(t_write_ini_round_trip),
		cmocka_unit_test(t_equal_and_unwritable),
		cmocka_unit_test(t_json),
		cmocka_unit_test(t_sizes),
		cmocka_unit_test(t_durations),
		cmocka_unit_test(t_uints),
		cmocka_unit_test(t_formats),
		cmocka_unit_test(t_names),
		cmocka_unit_test(t_print_keys),
		cmocka_unit_test(t_docs_agree),
		cmocka_unit_test(t_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
