/* common/tn_fs.h: the few file-system steps the log, snapshots and ternd
 * share: map a file read-only, make a directory path, fsync a directory (so a
 * create, rename or unlink in it is durable). */
#ifndef TN_FS_H
#define TN_FS_H

#include <stddef.h>
#include <stdint.h>

/* Map @path read-only. An empty file gives *@buf NULL and *@len 0.
 * Return 0 or -errno. Release with tn_file_unmap(). */
int tn_file_map(const char *path, const uint8_t **buf, size_t *len);
void tn_file_unmap(const uint8_t *buf, size_t len);

/* mkdir -p @dir (mode 0755). Return 0, -EINVAL (empty or too long), -errno. */
int tn_mkdir_p(const char *dir);

/* fsync the directory @dir. Return 0 or -errno. */
int tn_fsync_dir(const char *dir);

#endif
