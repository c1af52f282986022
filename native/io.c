/*
 * kmodseal_io: plain positional file reads for the many-small-files paths (inspect, check of a
 * tree). Node's fs.openSync/readSync cost 10-20 us of bookkeeping each; a module inspected by
 * its few interesting ranges takes five such calls, which was a third of `inspect`'s time over a
 * whole tree. Only I/O here: every format is parsed in TypeScript. Optional: without this addon
 * src/node/files.ts uses node:fs (same bytes). Built by scripts/build-native.sh.
 *
 *   open(path: string) -> fd (>= 0) or -errno          O_RDONLY | O_CLOEXEC | O_NONBLOCK (a FIFO
 *                                                      must not wait for a writer)
 *   size(fd) -> bytes or -errno                         fstat; -EISDIR etc. for non-regular files
 *   pread(fd, buf: Uint8Array, at, len, pos) -> bytes read (short only at end of file) or -errno
 *   close(fd) -> 0 or -errno
 *   walk(root, prefix, exts: string[]) -> string[] or -errno
 *                                                      every file or symlink below directory
 *                                                      `root` whose name ends in one of `exts`,
 *                                                      as prefix + relative path, sorted by
 *                                                      bytes; directories are not followed
 *                                                      through symlinks (what readdir's
 *                                                      Dirent.isDirectory() says). Any error:
 *                                                      -errno, the caller walks again to say it.
 * Arguments are checked (a bad one throws TypeError/RangeError); system errors are returned, not
 * thrown, so a caller that falls back to node:fs pays no exception.
 */
#define NAPI_VERSION 8
#define _FILE_OFFSET_BITS 64
#include <node_api.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "exports.h"

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

static int int_arg(napi_env env, napi_value v, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != d || d < 0 || d > 9007199254740991.0 || (double)(int64_t)d != d) return 0;
  *out = (int64_t)d;
  return 1;
}

static napi_value io_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[4096];
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(path: string)");
    return NULL;
  }
  if (len >= sizeof path - 1) return num(env, -ENAMETOOLONG);
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); while (fd < 0 && errno == EINTR);
  return num(env, fd < 0 ? -errno : fd);
}

static napi_value io_size(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t fd;
  struct stat st;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !int_arg(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "size(fd: number)");
    return NULL;
  }
  if (fstat((int)fd, &st) != 0) return num(env, -errno);
  if (!S_ISREG(st.st_mode)) return num(env, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL);
  return num(env, (double)st.st_size);
}

static napi_value io_pread(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_typedarray_type type;
  size_t blen, boff;
  void *data;
  napi_value ab;
  int64_t fd, at, len, pos;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_typedarray_info(env, argv[1], &type, &blen, &data, &ab, &boff) != napi_ok || type != napi_uint8_array ||
      !int_arg(env, argv[0], &fd) || !int_arg(env, argv[2], &at) || !int_arg(env, argv[3], &len) || !int_arg(env, argv[4], &pos)) {
    napi_throw_type_error(env, NULL, "pread(fd: number, buf: Uint8Array, at: number, len: number, pos: number)");
    return NULL;
  }
  if ((uint64_t)at > blen || (uint64_t)len > blen - (uint64_t)at) {
    napi_throw_range_error(env, NULL, "pread: at + len past the end of buf");
    return NULL;
  }
  char *p = (char *)data + at;
  int64_t done = 0;
  while (done < len) {
    ssize_t n = pread((int)fd, p + done, (size_t)(len - done), (off_t)(pos + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return num(env, -errno);
    }
    if (n == 0) break;
    done += n;
  }
  return num(env, (double)done);
}

static napi_value io_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !int_arg(env, argv[0], &fd)) {
    napi_throw_type_error(env, NULL, "close(fd: number)");
    return NULL;
  }
  return num(env, close((int)fd) == 0 ? 0 : -errno);
}


/* ---- walk ---- */

typedef struct {
  char **v;
  size_t n, cap;
  const char **exts;
  size_t *extlen;
  size_t next;
} list;

static int has_ext(const list *l, const char *name, size_t n) {
  for (size_t i = 0; i < l->next; i++)
    if (n >= l->extlen[i] && memcmp(name + n - l->extlen[i], l->exts[i], l->extlen[i]) == 0) return 1;
  return 0;
}

static int push(list *l, const char *rel, size_t rn, const char *name, size_t nn) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 1024;
    char **v = realloc(l->v, cap * sizeof *v);
    if (!v) return -ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  char *s = malloc(rn + nn + 2);
  if (!s) return -ENOMEM;
  memcpy(s, rel, rn);
  if (rn) s[rn++] = '/';
  memcpy(s + rn, name, nn + 1);
  l->v[l->n++] = s;
  return 0;
}

/* Walks the directory open as `fd` (taken over and closed), whose path below the root is `rel`. */
static int walk_dir(list *l, int fd, char *rel, size_t rn, int depth) {
  if (depth > 64) {
    close(fd);
    return -ELOOP;
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    int e = -errno;
    close(fd);
    return e;
  }
  int rc = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      if (errno) rc = -errno;
      break;
    }
    const char *name = e->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    size_t nn = strlen(name);
    unsigned char type = e->d_type;
    if (type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        rc = -errno;
        break;
      }
      type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
    }
    if (type == DT_DIR) {
      if (rn + nn + 2 > 4096) {
        rc = -ENAMETOOLONG;
        break;
      }
      int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        rc = -errno;
        break;
      }
      size_t m = rn;
      if (m) rel[m++] = '/';
      memcpy(rel + m, name, nn + 1);
      rc = walk_dir(l, sub, rel, m + nn, depth + 1);
      rel[rn] = 0;
      if (rc) break;
    } else if ((type == DT_REG || type == DT_LNK) && has_ext(l, name, nn)) {
      if ((rc = push(l, rel, rn, name, nn))) break;
    }
  }
  closedir(d);
  return rc;
}

static int by_bytes(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static napi_value io_walk(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result = NULL;
  char root[4096], prefix[4096];
  size_t rlen, plen;
  uint32_t next = 0;
  bool isarr = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_string_utf8(env, argv[0], root, sizeof root, &rlen) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], prefix, sizeof prefix, &plen) != napi_ok ||
      napi_is_array(env, argv[2], &isarr) != napi_ok || !isarr || napi_get_array_length(env, argv[2], &next) != napi_ok || next > 16) {
    napi_throw_type_error(env, NULL, "walk(root: string, prefix: string, exts: string[])");
    return NULL;
  }
  if (rlen >= sizeof root - 1 || plen >= sizeof prefix - 1) return num(env, -ENAMETOOLONG);
  char extbuf[16][32];
  const char *exts[16];
  size_t extlen[16];
  for (uint32_t i = 0; i < next; i++) {
    napi_value x;
    if (napi_get_element(env, argv[2], i, &x) != napi_ok || napi_get_value_string_utf8(env, x, extbuf[i], sizeof extbuf[i], &extlen[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "walk: exts must be short strings");
      return NULL;
    }
    exts[i] = extbuf[i];
  }
  list l = { NULL, 0, 0, exts, extlen, next };
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  char rel[4096] = "";
  int rc = fd < 0 ? -errno : walk_dir(&l, fd, rel, 0, 0);
  if (rc == 0) {
    qsort(l.v, l.n, sizeof *l.v, by_bytes);
    if (napi_create_array_with_length(env, l.n, &result) != napi_ok) result = NULL;
    char path[8192];
    for (size_t i = 0; result && i < l.n; i++) {
      size_t n = strlen(l.v[i]);
      napi_value s;
      if (plen + n >= sizeof path) {
        result = num(env, -ENAMETOOLONG);
        break;
      }
      memcpy(path, prefix, plen);
      memcpy(path + plen, l.v[i], n);
      if (napi_create_string_utf8(env, path, plen + n, &s) != napi_ok || napi_set_element(env, result, (uint32_t)i, s) != napi_ok) result = NULL;
    }
  }
  for (size_t i = 0; i < l.n; i++) free(l.v[i]);
  free(l.v);
  if (rc) return num(env, rc);
  if (!result) napi_throw_error(env, NULL, "walk: out of memory");
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct kmodseal_fn fns[] = {
    { "open", io_open }, { "size", io_size }, { "pread", io_pread }, { "close", io_close }, { "walk", io_walk },
  };
  return kmodseal_export(env, exports, fns, sizeof fns / sizeof fns[0]);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
