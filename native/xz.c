/*
 * kmodseal's fast path for .xz: one-shot decode of a whole buffer with the system liblzma
 * (Debian's liblzma5, the same library kmod's modinfo uses). Optional: when this addon is
 * not built, src/compress falls back to lzma-native. Built by scripts/build-native.sh.
 *
 * Built twice: kmodseal_xz (everything, system liblzma: the encoder must write the bytes
 * Debian's xz 5.4 writes) and, with KMODSEAL_DECODE_ONLY, kmodseal_unxz: the decoder alone,
 * linked statically against a newer liblzma (scripts/build-liblzma.sh; its decoder is about
 * 1.5x as fast, and decoding is exact whatever the version).
 *
 *   decode(input: Uint8Array, maxOutput: number, sizeHint?: number, threads?: number) -> Buffer
 *     threads > 1: liblzma's multi-threaded decoder (5.4+), which decodes the blocks of a
 *     multi-block stream (xz -T, dpkg-deb) in parallel; same bytes, same errors
 *   decodeInto(input, output) -> number; encode(input, dictSize) -> Buffer;
 *   encodeAsync(input, dictSize) -> Promise<Buffer> (the encoder on the libuv thread pool)
 *   throws Error with .code = "E_COMPRESS" (corrupt, with .offset = input bytes consumed)
 *   or "E_LIMIT" (output would exceed maxOutput).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

static napi_value throw_code(napi_env env, const char *code, const char *msg, size_t offset) {
  napi_value m, c, err, off;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &err);
  napi_create_double(env, (double)offset, &off);
  napi_set_named_property(env, err, "offset", off);
  napi_throw(env, err);
  return NULL;
}

static void free_buf(napi_env env, void *data, void *hint) { (void)env; (void)hint; free(data); }

/* A decoder failure as a typed error: E_LIMIT for the memory limit, else E_COMPRESS. */
static napi_value throw_decoder(napi_env env, lzma_ret ret, size_t at) {
  const char *msg = ret == LZMA_FORMAT_ERROR ? "not an xz stream"
    : ret == LZMA_OPTIONS_ERROR ? "unsupported xz options"
    : ret == LZMA_DATA_ERROR ? "corrupt xz data"
    : ret == LZMA_MEMLIMIT_ERROR ? "xz dictionary exceeds the memory limit"
    : "xz decoder error";
  return throw_code(env, ret == LZMA_MEMLIMIT_ERROR ? "E_LIMIT" : "E_COMPRESS", msg, at);
}

/* The bytes of a Uint8Array argument; false when it is not one. */
static int u8_arg(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  return napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) == napi_ok && type == napi_uint8_array;
}

static napi_value decode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2)
    return throw_code(env, "E_USAGE", "decode(input, maxOutput)", 0);
  size_t in_len;
  void *in_data;
  if (!u8_arg(env, argv[0], &in_data, &in_len)) return throw_code(env, "E_USAGE", "input must be a Uint8Array", 0);
  double maxd;
  if (napi_get_value_double(env, argv[1], &maxd) != napi_ok || maxd < 1)
    return throw_code(env, "E_USAGE", "maxOutput must be a positive number", 0);
  size_t max_out = (size_t)maxd;
  double hint = 0, threads = 1;
  if (argc >= 3) napi_get_value_double(env, argv[2], &hint);
  if (argc >= 4) napi_get_value_double(env, argv[3], &threads);

  lzma_stream s = LZMA_STREAM_INIT;
  /* memlimit bounds the dictionary a hostile header can demand */
  lzma_ret init;
  if (threads >= 2) {
    lzma_mt mt;
    memset(&mt, 0, sizeof mt);
    mt.flags = LZMA_CONCATENATED;
    mt.threads = threads > 64 ? 64 : (uint32_t)threads;
    /* above this much memory for its threads the decoder quietly goes single-threaded */
    mt.memlimit_threading = 512u << 20;
    mt.memlimit_stop = 256u << 20;
    init = lzma_stream_decoder_mt(&s, &mt);
  } else {
    init = lzma_stream_decoder(&s, 256u << 20, LZMA_CONCATENATED);
  }
  if (init != LZMA_OK)
    return throw_code(env, "E_COMPRESS", "cannot initialise the xz decoder", 0);
  /* the xz index tells the exact size: one allocation, no copying; +1 to see the end */
  size_t cap = hint >= 1 ? (size_t)hint + 1 : in_len * 6 + 4096;
  /* an index can claim any size: the first allocation stays within 16x the input (+1 MiB);
     output that really is larger grows the buffer as it comes */
  if (cap > in_len * 16 + (1u << 20)) cap = in_len * 16 + (1u << 20);
  if (cap > max_out) cap = max_out;
  unsigned char *out = malloc(cap);
  if (!out) { lzma_end(&s); return throw_code(env, "E_LIMIT", "out of memory", 0); }
  s.next_in = in_data; s.avail_in = in_len;
  s.next_out = out; s.avail_out = cap;
  for (;;) {
    lzma_ret ret = lzma_code(&s, LZMA_FINISH);
    if (ret == LZMA_STREAM_END) break;
    if (ret == LZMA_OK || ret == LZMA_BUF_ERROR) {
      if (s.avail_out == 0) {
        if (cap >= max_out) {
          size_t at = in_len - s.avail_in;
          free(out); lzma_end(&s);
          return throw_code(env, "E_LIMIT", "decompressed size exceeds the limit", at);
        }
        size_t used = cap;
        size_t ncap = cap * 2 > max_out ? max_out : cap * 2;
        unsigned char *n = realloc(out, ncap);
        if (!n) { free(out); lzma_end(&s); return throw_code(env, "E_LIMIT", "out of memory", 0); }
        out = n; cap = ncap;
        s.next_out = out + used; s.avail_out = cap - used;
        continue;
      }
      /* the threaded decoder may return with all input taken while its threads still work:
         only liblzma's LZMA_BUF_ERROR (no progress twice in a row) says the input ended early */
      if (ret == LZMA_BUF_ERROR || (s.avail_in == 0 && threads < 2)) {
        size_t at = in_len - s.avail_in;
        free(out); lzma_end(&s);
        return throw_code(env, "E_TRUNCATED", "xz stream ends early", at);
      }
      continue;
    }
    size_t at = in_len - s.avail_in;
    free(out); lzma_end(&s);
    return throw_decoder(env, ret, at);
  }
  size_t n = (size_t)s.total_out;
  lzma_end(&s);
  napi_value result;
  if (napi_create_external_buffer(env, n, out, free_buf, NULL, &result) != napi_ok) {
    /* some runtimes forbid external buffers: copy instead */
    void *copy;
    napi_create_buffer_copy(env, n, out, &copy, &result);
    free(out);
  }
  return result;
}

/*
 * decodeInto(input: Uint8Array, output: Uint8Array) -> number
 * Decodes into a caller-owned buffer (reused across calls: no allocation, no fresh pages).
 * Throws E_LIMIT when the output does not fit.
 */
static napi_value decode_into(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2)
    return throw_code(env, "E_USAGE", "decodeInto(input, output)", 0);
  size_t in_len, out_len;
  void *in_data, *out_data;
  if (!u8_arg(env, argv[0], &in_data, &in_len) || !u8_arg(env, argv[1], &out_data, &out_len))
    return throw_code(env, "E_USAGE", "input and output must be Uint8Arrays", 0);
  lzma_stream s = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&s, 256u << 20, LZMA_CONCATENATED) != LZMA_OK)
    return throw_code(env, "E_COMPRESS", "cannot initialise the xz decoder", 0);
  s.next_in = in_data; s.avail_in = in_len;
  s.next_out = out_data; s.avail_out = out_len;
  lzma_ret ret;
  do ret = lzma_code(&s, LZMA_FINISH); while (ret == LZMA_OK && s.avail_out > 0 && s.avail_in > 0);
  if (ret == LZMA_OK && s.avail_out > 0 && s.avail_in == 0) ret = lzma_code(&s, LZMA_FINISH);
  size_t at = in_len - s.avail_in;
  size_t n = (size_t)s.total_out;
  lzma_end(&s);
  if (ret == LZMA_STREAM_END) {
    napi_value result;
    napi_create_double(env, (double)n, &result);
    return result;
  }
  if ((ret == LZMA_OK || ret == LZMA_BUF_ERROR) && s.avail_out == 0)
    return throw_code(env, "E_LIMIT", "decompressed size exceeds the output buffer", at);
  if (ret == LZMA_OK || ret == LZMA_BUF_ERROR)
    return throw_code(env, "E_TRUNCATED", "xz stream ends early", at);
  return throw_decoder(env, ret, at);
}

#ifndef KMODSEAL_DECODE_ONLY
/*
 * `xz --check=crc32 --lzma2=dict=DICT` (preset 6 otherwise) of in[0..in_len) into a malloc'd
 * buffer; NULL on success, else what failed (nothing is left allocated then).
 * Thread-safe: no N-API calls (runs on the libuv pool for encodeAsync).
 */
static const char *xz_encode_buf(const unsigned char *in, size_t in_len, uint32_t dict, unsigned char **out, size_t *out_len) {
  lzma_options_lzma opt;
  if (lzma_lzma_preset(&opt, 6)) return "cannot set preset 6";
  opt.dict_size = dict;
  lzma_filter filters[2] = { { LZMA_FILTER_LZMA2, &opt }, { LZMA_VLI_UNKNOWN, NULL } };
  /* the stream encoder, as the xz tool uses single-threaded: no sizes in the block header */
  lzma_stream st = LZMA_STREAM_INIT;
  if (lzma_stream_encoder(&st, filters, LZMA_CHECK_CRC32) != LZMA_OK) return "cannot initialise the xz encoder";
  size_t cap = lzma_stream_buffer_bound(in_len);
  unsigned char *buf = malloc(cap ? cap : 1);
  if (!buf) { lzma_end(&st); return "out of memory"; }
  st.next_in = in; st.avail_in = in_len;
  st.next_out = buf; st.avail_out = cap;
  lzma_ret ret;
  do ret = lzma_code(&st, LZMA_FINISH); while (ret == LZMA_OK);
  *out_len = (size_t)st.total_out;
  lzma_end(&st);
  if (ret != LZMA_STREAM_END) { free(buf); return "xz encoder error"; }
  *out = buf;
  return NULL;
}

/* The (input, dictSize) arguments of encode/encodeAsync; NULL (with an exception pending) when bad. */
static napi_value encode_args(napi_env env, napi_callback_info info, const char *usage, void **in, size_t *in_len, uint32_t *dict) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2)
    return throw_code(env, "E_USAGE", usage, 0);
  if (!u8_arg(env, argv[0], in, in_len)) return throw_code(env, "E_USAGE", "input must be a Uint8Array", 0);
  double d;
  if (napi_get_value_double(env, argv[1], &d) != napi_ok || d < 4096 || d > (1u << 30))
    return throw_code(env, "E_USAGE", "dictSize out of range", 0);
  *dict = (uint32_t)d;
  return argv[0];
}

/*
 * encode(input: Uint8Array, dictSize: number) -> Buffer
 * What `xz --check=crc32 --lzma2=dict=SIZE` writes (preset 6 otherwise), which is how the
 * kernel's modules_install compresses modules: same library as the xz tool, same bytes.
 */
static napi_value encode(napi_env env, napi_callback_info info) {
  void *in;
  size_t in_len, out_len;
  uint32_t dict;
  if (!encode_args(env, info, "encode(input, dictSize)", &in, &in_len, &dict)) return NULL;
  unsigned char *out;
  const char *err = xz_encode_buf(in, in_len, dict, &out, &out_len);
  if (err) return throw_code(env, strcmp(err, "out of memory") ? "E_COMPRESS" : "E_LIMIT", err, 0);
  napi_value result;
  void *copy;
  napi_create_buffer_copy(env, out_len, out, &copy, &result);
  free(out);
  return result;
}

/*
 * encodeAsync(input: Uint8Array, dictSize: number) -> Promise<Buffer>
 * encode() on the libuv thread pool, so that callers encoding many modules (detach, attach)
 * use every core from one thread. The input must not change until the promise settles.
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref input_ref;
  const unsigned char *in;
  size_t in_len;
  uint32_t dict;
  unsigned char *out;
  size_t out_len;
  const char *error;
} encode_job;

static void encode_execute(napi_env env, void *data) {
  (void)env;
  encode_job *j = data;
  j->error = xz_encode_buf(j->in, j->in_len, j->dict, &j->out, &j->out_len);
}

static void encode_complete(napi_env env, napi_status status, void *data) {
  encode_job *j = data;
  napi_value v;
  if (status == napi_ok && !j->error) {
    /* hand the malloc'd output to a Buffer without a copy; freed with it */
    if (napi_create_external_buffer(env, j->out_len, j->out, free_buf, NULL, &v) != napi_ok) {
      void *copy;
      napi_create_buffer_copy(env, j->out_len, j->out, &copy, &v);
      free(j->out);
    }
    napi_resolve_deferred(env, j->deferred, v);
  } else {
    napi_value m, c;
    free(j->out);
    napi_create_string_utf8(env, j->error ? j->error : "xz encoder cancelled", NAPI_AUTO_LENGTH, &m);
    napi_create_string_utf8(env, "E_COMPRESS", NAPI_AUTO_LENGTH, &c);
    napi_create_error(env, c, m, &v);
    napi_reject_deferred(env, j->deferred, v);
  }
  napi_delete_reference(env, j->input_ref);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value encode_async(napi_env env, napi_callback_info info) {
  void *in_data;
  size_t in_len;
  uint32_t dict;
  napi_value input = encode_args(env, info, "encodeAsync(input, dictSize)", &in_data, &in_len, &dict);
  if (!input) return NULL;
  encode_job *j = calloc(1, sizeof(*j));
  if (!j) return throw_code(env, "E_LIMIT", "out of memory", 0);
  j->in = in_data; j->in_len = in_len; j->dict = dict;
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_reference(env, input, 1, &j->input_ref);
  napi_create_string_utf8(env, "kmodseal:xz-encode", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, encode_execute, encode_complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

#endif /* KMODSEAL_DECODE_ONLY */

/* version() -> the liblzma version string this addon runs with, e.g. "5.8.1" */
static napi_value version(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_string_utf8(env, lzma_version_string(), NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
#ifndef KMODSEAL_DECODE_ONLY
  napi_create_function(env, "encodeAsync", NAPI_AUTO_LENGTH, encode_async, NULL, &fn);
  napi_set_named_property(env, exports, "encodeAsync", fn);
  napi_create_function(env, "encode", NAPI_AUTO_LENGTH, encode, NULL, &fn);
  napi_set_named_property(env, exports, "encode", fn);
#endif
  napi_create_function(env, "version", NAPI_AUTO_LENGTH, version, NULL, &fn);
  napi_set_named_property(env, exports, "version", fn);
  napi_create_function(env, "decodeInto", NAPI_AUTO_LENGTH, decode_into, NULL, &fn);
  napi_set_named_property(env, exports, "decodeInto", fn);
  napi_create_function(env, "decode", NAPI_AUTO_LENGTH, decode, NULL, &fn);
  napi_set_named_property(env, exports, "decode", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
