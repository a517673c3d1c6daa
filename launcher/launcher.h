/*
 * launcher.h — the pieces of the `disco` command.
 */
#ifndef DISCO_LAUNCHER_H
#define DISCO_LAUNCHER_H

#include <stdio.h>

int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* report.c: print a person-readable summary of a run report; returns 0 or 1 (unreadable). */
int report_print(const char *path, FILE *out, int brief);

/* Path of a program installed beside `disco` (disco-node), or its bare name for PATH lookup. */
void launcher_sibling(const char *name, char *out, size_t len);
/* Directory of the built guest images: build/guest in a build tree, share/disco/guest installed. */
void launcher_guest_dir(char *out, size_t len);

#endif
