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
 * Arguments are checked (a bad one throws TypeError/RangeError); system errors are returned, not
 * thrown, so a caller that falls back to node:fs pays no exception.
 */
#define NAPI_VERSION 8
#define _FILE_OFFSET_BITS 64
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
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

static napi_value init(napi_env env, napi_value exports) {
  static const struct kmodseal_fn fns[] = {
    { "open", io_open }, { "size", io_size }, { "pread", io_pread }, { "close", io_close },
  };
  return kmodseal_export(env, exports, fns, sizeof fns / sizeof fns[0]);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
