/*
 * kmodseal's native signer: module signatures made by the system libcrypto (Debian's
 * libssl3, the library sign-file links), not by the OpenSSL copy bundled into node. Built a
 * second time as kmodseal_crypto_new with KMODSEAL_LIBCRYPTO, the absolute path of the newer
 * OpenSSL scripts/build-openssl.sh built from Debian's source, which that copy opens instead
 * (ECDSA P-384 signing about 3.5x as fast; src/keys uses it for EC keys, the system's for RSA,
 * where it is no faster). Each copy has its own library and function table.
 * Optional: when this addon is not built, src/keys/node-signer.ts signs with node:crypto.
 * Built by scripts/build-native.sh. No cryptography here: OpenSSL's EVP API does it all.
 *
 *   version() -> { version: string, library: string }   the libcrypto in use and its file
 *   loadKey(der: Uint8Array) -> handle                   a private key (DER PKCS#8 from JS; never
 *                                                        a file), freed when the handle is collected
 *   keyType(handle) -> "rsa" | "ec"; keySize(handle) -> bytes of the largest signature
 *   sign(handle, hash, digest) -> Buffer                 EVP_PKEY_sign over a precomputed digest:
 *                                                        RSA PKCS#1 v1.5 over the DigestInfo of
 *                                                        `hash`, ECDSA as DER SEQUENCE { r, s }
 *   signContent(handle, hash, content) -> Buffer         EVP_DigestSign over the content (same values)
 *   loadPublicKey(spki: Uint8Array) -> handle            a public key (DER SubjectPublicKeyInfo)
 *   verifyContent(handle, hash, content, sig) -> boolean EVP_DigestVerify (RSA PKCS#1 v1.5, or ECDSA
 *                                                        with a DER signature); false for a signature
 *                                                        that does not verify or cannot be parsed
 *   failures throw Error with .code = "E_CRYPTO" and OpenSSL's error string.
 *
 * Why dlopen: node exports its own bundled OpenSSL's symbols (EVP_PKEY_sign and ~870 more,
 * unversioned) from the executable, and the dynamic linker looks there first, so an addon
 * linked with -lcrypto silently calls node's copy. libcrypto.so.3 is therefore opened here
 * with RTLD_DEEPBIND (its own internal calls stay inside it too) and the few functions used
 * are taken from it by name; version() reports which file they come from.
 *
 * Context-aware (NAPI_MODULE_INIT): loaded once per worker thread; the library is opened once
 * per process. A handle belongs to the thread that created it (N-API values cannot cross
 * threads), so its cached EVP_PKEY_CTX is never used concurrently.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "exports.h"

/* Function pointers typed from the headers themselves: a signature mismatch fails to compile. */
#define CRYPTO_FUNCTIONS(X) \
  X(OpenSSL_version) X(ERR_get_error) X(ERR_error_string_n) X(ERR_clear_error) \
  X(d2i_AutoPrivateKey) X(EVP_PKEY_free) X(EVP_PKEY_get_base_id) X(EVP_PKEY_get_size) \
  X(EVP_PKEY_CTX_new) X(EVP_PKEY_CTX_free) X(EVP_PKEY_sign_init) X(EVP_PKEY_sign) \
  X(EVP_PKEY_CTX_set_rsa_padding) X(EVP_PKEY_CTX_set_signature_md) \
  X(EVP_MD_fetch) X(EVP_MD_free) X(EVP_MD_get_size) \
  X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_MD_CTX_reset) X(EVP_DigestSignInit_ex) X(EVP_DigestSign) \
  X(d2i_PUBKEY) X(EVP_DigestVerifyInit_ex) X(EVP_DigestVerify)
#define DECLARE(name) static __typeof__(&name) f_##name;
CRYPTO_FUNCTIONS(DECLARE)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static char load_error[512];
static char library_path[512];

static void load_library(void) {
  void *h = NULL;
#ifdef KMODSEAL_LIBCRYPTO
  /* kmodseal_crypto_new: the newer libcrypto scripts/build-openssl.sh built (src/keys decides
   * when to use this copy); the system's if that file is gone */
  h = dlopen(KMODSEAL_LIBCRYPTO, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
  if (!h) h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
  if (!h) {
    snprintf(load_error, sizeof load_error, "cannot open the system libcrypto: %s", dlerror());
    return;
  }
#define RESOLVE(name) \
  if (!(f_##name = (__typeof__(&name))dlsym(h, #name))) { \
    snprintf(load_error, sizeof load_error, "libcrypto.so.3 has no %s", #name); \
    return; \
  }
  CRYPTO_FUNCTIONS(RESOLVE)
  Dl_info info;
  if (dladdr((void *)f_EVP_PKEY_sign, &info) && info.dli_fname) snprintf(library_path, sizeof library_path, "%s", info.dli_fname);
}

/* Every public failure: an Error with code (E_CRYPTO unless said) and OpenSSL's reason, queue emptied. */
static napi_value throw_crypto(napi_env env, const char *code, const char *what) {
  char msg[768], reason[256] = "";
  unsigned long e, last = 0;
  if (f_ERR_get_error) {
    while ((e = f_ERR_get_error()) != 0) last = e; /* the innermost reason is the last queued */
    if (last) f_ERR_error_string_n(last, reason, sizeof reason);
  }
  snprintf(msg, sizeof msg, "%s%s%s", what, reason[0] ? ": " : "", reason);
  napi_value m, c, err;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code ? code : "E_CRYPTO", NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &err);
  napi_throw(env, err);
  return NULL;
}

static int ensure_loaded(napi_env env) {
  pthread_once(&load_once, load_library);
  if (load_error[0]) {
    throw_crypto(env, "E_UNSUPPORTED", load_error);
    return 0;
  }
  return 1;
}

#define MAX_HASH_NAME 16

typedef struct {
  EVP_PKEY *pkey;
  int type;               /* EVP_PKEY_RSA or EVP_PKEY_EC */
  /* sign(): one EVP_PKEY_CTX initialised for the last digest used (init and MD fetch once) */
  EVP_PKEY_CTX *pctx;
  EVP_MD *md;
  char md_name[MAX_HASH_NAME];
  /* signContent(): one EVP_MD_CTX reused (reset) between calls */
  EVP_MD_CTX *mctx;
} signing_key;

static void free_key(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  signing_key *k = data;
  if (k->pctx) f_EVP_PKEY_CTX_free(k->pctx);
  if (k->md) f_EVP_MD_free(k->md);
  if (k->mctx) f_EVP_MD_CTX_free(k->mctx);
  f_EVP_PKEY_free(k->pkey); /* EVP_PKEY_free clears the private key material */
  free(k);
}

static int u8_arg(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  return napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) == napi_ok && type == napi_uint8_array;
}

static napi_value usage(napi_env env, const char *msg) {
  napi_value m, c, err;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, "E_USAGE", NAPI_AUTO_LENGTH, &c);
  napi_create_type_error(env, c, m, &err);
  napi_throw(env, err);
  return NULL;
}

static signing_key *key_arg(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* A digest name argument ("sha256", ...), copied into buf. */
static int name_arg(napi_env env, napi_value v, char *buf, size_t size) {
  size_t n;
  return napi_get_value_string_utf8(env, v, buf, size, &n) == napi_ok && n > 0 && n < size - 1;
}

static napi_value version(napi_env env, napi_callback_info info) {
  (void)info;
  if (!ensure_loaded(env)) return NULL;
  napi_value o, v, l;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, f_OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &v);
  napi_create_string_utf8(env, library_path, NAPI_AUTO_LENGTH, &l);
  napi_set_named_property(env, o, "version", v);
  napi_set_named_property(env, o, "library", l);
  return o;
}

/* loadKey / loadPublicKey: one DER argument (PKCS#8 private key, or SubjectPublicKeyInfo), wrapped in a handle. */
static napi_value load_der_key(napi_env env, napi_callback_info info, int public_key) {
  size_t argc = 1;
  napi_value argv[1];
  void *der;
  size_t len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !u8_arg(env, argv[0], &der, &len))
    return usage(env, public_key ? "loadPublicKey(spki: Uint8Array)" : "loadKey(der: Uint8Array)");
  if (!ensure_loaded(env)) return NULL;
  f_ERR_clear_error();
  const unsigned char *p = der;
  EVP_PKEY *pkey = public_key ? f_d2i_PUBKEY(NULL, &p, (long)len) : f_d2i_AutoPrivateKey(NULL, &p, (long)len);
  if (!pkey) return throw_crypto(env, "E_FORMAT", public_key ? "not a public key (DER SubjectPublicKeyInfo)" : "not a private key (DER PKCS#8)");
  int type = f_EVP_PKEY_get_base_id(pkey);
  if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
    f_EVP_PKEY_free(pkey);
    return throw_crypto(env, "E_UNSUPPORTED", public_key ? "key type cannot verify modules (RSA or ECDSA only)" : "key type cannot sign modules (RSA or ECDSA only)");
  }
  signing_key *k = calloc(1, sizeof *k);
  if (!k) {
    f_EVP_PKEY_free(pkey);
    return throw_crypto(env, NULL, "out of memory");
  }
  k->pkey = pkey;
  k->type = type;
  napi_value handle;
  if (napi_create_external(env, k, free_key, NULL, &handle) != napi_ok) {
    free_key(env, k, NULL);
    return throw_crypto(env, NULL, "cannot create the key handle");
  }
  return handle;
}

static napi_value load_key(napi_env env, napi_callback_info info) { return load_der_key(env, info, 0); }
static napi_value load_public_key(napi_env env, napi_callback_info info) { return load_der_key(env, info, 1); }

static napi_value key_type(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  signing_key *k;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !(k = key_arg(env, argv[0])))
    return usage(env, "keyType(handle)");
  napi_create_string_utf8(env, k->type == EVP_PKEY_RSA ? "rsa" : "ec", NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value key_size(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  signing_key *k;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !(k = key_arg(env, argv[0])))
    return usage(env, "keySize(handle)");
  napi_create_int32(env, f_EVP_PKEY_get_size(k->pkey), &r);
  return r;
}

/* The signature bytes as a new Buffer (a copy of the stack/heap scratch). */
static napi_value to_buffer(napi_env env, const unsigned char *sig, size_t len) {
  napi_value r;
  void *dst;
  if (napi_create_buffer_copy(env, len, sig, &dst, &r) != napi_ok) return throw_crypto(env, NULL, "cannot allocate the signature");
  return r;
}

/* The EVP_PKEY_CTX for sign() with `hash`: reused while the digest stays the same. */
static EVP_PKEY_CTX *sign_ctx(signing_key *k, const char *hash) {
  if (k->pctx && strcmp(k->md_name, hash) == 0) return k->pctx;
  if (k->pctx) f_EVP_PKEY_CTX_free(k->pctx);
  if (k->md) f_EVP_MD_free(k->md);
  k->pctx = NULL;
  k->md = NULL;
  k->md_name[0] = 0;
  EVP_MD *md = f_EVP_MD_fetch(NULL, hash, NULL);
  if (!md) return NULL;
  EVP_PKEY_CTX *ctx = f_EVP_PKEY_CTX_new(k->pkey, NULL);
  if (!ctx || f_EVP_PKEY_sign_init(ctx) <= 0
      || (k->type == EVP_PKEY_RSA && f_EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)
      || f_EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0) {
    if (ctx) f_EVP_PKEY_CTX_free(ctx);
    f_EVP_MD_free(md);
    return NULL;
  }
  k->pctx = ctx;
  k->md = md;
  snprintf(k->md_name, sizeof k->md_name, "%s", hash);
  return ctx;
}

static napi_value sign(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  signing_key *k;
  char hash[MAX_HASH_NAME];
  void *digest;
  size_t dlen;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !(k = key_arg(env, argv[0]))
      || !name_arg(env, argv[1], hash, sizeof hash) || !u8_arg(env, argv[2], &digest, &dlen))
    return usage(env, "sign(handle, hash: string, digest: Uint8Array)");
  f_ERR_clear_error();
  EVP_PKEY_CTX *ctx = sign_ctx(k, hash);
  if (!ctx) return throw_crypto(env, NULL, "cannot set up the signature");
  if ((int)dlen != f_EVP_MD_get_size(k->md)) return usage(env, "the digest length does not match the hash");
  unsigned char stack[1024], *sig = stack;
  size_t siglen = (size_t)f_EVP_PKEY_get_size(k->pkey);
  if (siglen > sizeof stack && !(sig = malloc(siglen))) return throw_crypto(env, NULL, "out of memory");
  napi_value r;
  if (f_EVP_PKEY_sign(ctx, sig, &siglen, digest, dlen) <= 0) r = throw_crypto(env, NULL, "EVP_PKEY_sign failed");
  else r = to_buffer(env, sig, siglen);
  if (sig != stack) free(sig);
  return r;
}

/*
 * k's EVP_MD_CTX (made once, reset for each use) set up to sign (verify = 0) or verify content
 * hashed with `hash`; RSA keys with PKCS#1 v1.5 padding. 1 when ready, 0 when OpenSSL refused
 * (its reasons queued), -1 out of memory.
 */
static int digest_init(signing_key *k, const char *hash, int verify) {
  if (!k->mctx && !(k->mctx = f_EVP_MD_CTX_new())) return -1;
  f_EVP_MD_CTX_reset(k->mctx);
  EVP_PKEY_CTX *pctx = NULL;
  int r = verify ? f_EVP_DigestVerifyInit_ex(k->mctx, &pctx, hash, NULL, NULL, k->pkey, NULL)
                 : f_EVP_DigestSignInit_ex(k->mctx, &pctx, hash, NULL, NULL, k->pkey, NULL);
  return r > 0 && (k->type != EVP_PKEY_RSA || f_EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0);
}

static napi_value sign_content(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  signing_key *k;
  char hash[MAX_HASH_NAME];
  void *content;
  size_t clen;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || !(k = key_arg(env, argv[0]))
      || !name_arg(env, argv[1], hash, sizeof hash) || !u8_arg(env, argv[2], &content, &clen))
    return usage(env, "signContent(handle, hash: string, content: Uint8Array)");
  f_ERR_clear_error();
  int set = digest_init(k, hash, 0);
  if (set <= 0) return throw_crypto(env, NULL, set < 0 ? "out of memory" : "cannot set up the signature");
  unsigned char stack[1024], *sig = stack;
  size_t siglen = (size_t)f_EVP_PKEY_get_size(k->pkey);
  if (siglen > sizeof stack && !(sig = malloc(siglen))) return throw_crypto(env, NULL, "out of memory");
  napi_value r;
  if (f_EVP_DigestSign(k->mctx, sig, &siglen, content, clen) <= 0) r = throw_crypto(env, NULL, "EVP_DigestSign failed");
  else r = to_buffer(env, sig, siglen);
  if (sig != stack) free(sig);
  return r;
}

static napi_value verify_content(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char name[MAX_HASH_NAME];
  void *content, *sig;
  size_t clen, slen;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || !name_arg(env, argv[1], name, sizeof name)
      || !u8_arg(env, argv[2], &content, &clen) || !u8_arg(env, argv[3], &sig, &slen))
    return usage(env, "verifyContent(handle, hash: string, content: Uint8Array, signature: Uint8Array)");
  signing_key *k = key_arg(env, argv[0]);
  if (!k) return usage(env, "verifyContent: not a key handle");
  f_ERR_clear_error();
  int set = digest_init(k, name, 1);
  if (set <= 0) return throw_crypto(env, NULL, set < 0 ? "out of memory" : "cannot set up the verification");
  int ok = f_EVP_DigestVerify(k->mctx, sig, slen, content, clen);
  f_ERR_clear_error(); /* a bad signature queues reasons: not an error here */
  napi_value r;
  napi_get_boolean(env, ok == 1, &r);
  return r;
}

NAPI_MODULE_INIT() {
  static const struct kmodseal_fn fns[] = {
    {"version", version}, {"loadKey", load_key}, {"keyType", key_type}, {"keySize", key_size},
    {"sign", sign}, {"signContent", sign_content}, {"loadPublicKey", load_public_key}, {"verifyContent", verify_content},
  };
  return kmodseal_export(env, exports, fns, sizeof fns / sizeof fns[0]);
}
