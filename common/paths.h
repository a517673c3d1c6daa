/*
 * paths.h — where disco finds its own files from where its programs are.
 */
#ifndef DISCO_PATHS_H
#define DISCO_PATHS_H

#include <stddef.h>

/*
 * disco_guest_dir - the directory of the built guest images ("guest:NAME"
 * in a description is NAME.elf there): $DISCO_GUEST_DIR if set, else
 * guest/ beside the program's folder in a build tree (build/node,
 * build/launcher -> build/guest), else share/disco/guest of an install.
 */
void disco_guest_dir(char *out, size_t len);

#endif
