/*
 * kmodseal_modinfo: `kmodseal inspect`'s text for plain (uncompressed) .ko files, on all cores.
 *
 * Why it exists: modinfo is a small C program; inspecting a tree of 4,000 modules in
 * TypeScript costs about 0.1 ms per module on one thread, plus Node's start-up, which kept
 * `inspect` 1.6x slower than modinfo on plain .ko. This addon reads and renders the common case,
 * a well-formed module with a kernel-style PKCS#7 signature (or none), on several threads at
 * once; everything else is handed back to the TypeScript path (src/modinfo, src/modsig), which
 * stays the reference and produces every error message. So the rule here is: when in doubt,
 * FALL BACK. Each check below accepts a subset of what the TypeScript reader accepts, and what
 * it accepts it renders exactly as src/report/modinfo-text.ts renders it (kmod 30's
 * tools/modinfo.c); test/node/native-modinfo.test.ts holds the two paths to each other and to modinfo.
 *
 *   texts(paths: string[], displays: string[], threads: number)
 *     -> { out: Buffer, lens: Int32Array }
 *   lens[i] is the byte length of module i's text in `out` (texts are concatenated in order),
 *   or -1 when module i must go through the TypeScript path.
 *
 * The PKCS#7 recogniser is deliberately narrow (one signer identified by issuer and serial, no
 * certificates, CRLs or attributes, detached content, canonical DER, printable names): that is
 * what sign-file and kmodseal write; anything else is decoded by @peculiar's ASN.1 library.
 */
#define NAPI_VERSION 8
#define _FILE_OFFSET_BITS 64
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "exports.h"

/* Bytes read at the start and (at least) at the end of a module: the ELF header; the section
 * headers and the signature. Copying is most of the cost here (4 KiB each: a third less time
 * over a tree than 16 KiB); the name table and .modinfo, when outside, cost one read each. */
#define SPARSE_HEAD 4096
#define SPARSE_TAIL 4096
/* Larger files (and anything odd) are the TypeScript path's: it knows the limits' messages. */
#define MAX_FILE (64 << 20)
/* More distinct parameters than this: the TypeScript path (a linear merge here). */
#define MAX_PARAMS 512
#define MAX_RANGES 8

/* ---- output buffer ---- */

typedef struct {
  char *p;
  size_t n, cap;
  int oom;
} obuf;

static void ob_put(obuf *b, const void *s, size_t n) {
  if (b->oom) return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

static void ob_spaces(obuf *b, size_t n) {
  static const char sp[16] = "                ";
  while (n > 0) {
    size_t k = n < sizeof sp ? n : sizeof sp;
    ob_put(b, sp, k);
    n -= k;
  }
}

/* kmod's "key:%-*s value" line: |15 - keylen| spaces (a negative width left-justifies). */
static void ob_line(obuf *b, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn) {
  ob_put(b, k, kn);
  ob_put(b, ":", 1);
  ob_spaces(b, kn > 15 ? kn - 15 : 15 - kn);
  ob_put(b, v, vn);
  ob_put(b, "\n", 1);
}

/* kmod's hex: "AB:CD:..." upper case, "\n\t\t" after every 20 bytes. */
static void ob_hexline(obuf *b, const char *key, const uint8_t *d, size_t n) {
  static const char hx[] = "0123456789ABCDEF";
  size_t kn = strlen(key);
  ob_put(b, key, kn);
  ob_put(b, ":", 1);
  ob_spaces(b, 15 - kn);
  for (size_t i = 0; i < n; i++) {
    char c[6];
    size_t m = 0;
    c[m++] = hx[d[i] >> 4];
    c[m++] = hx[d[i] & 15];
    if (i < n - 1) {
      c[m++] = ':';
      if ((i + 1) % 20 == 0) {
        c[m++] = '\n';
        c[m++] = '\t';
        c[m++] = '\t';
      }
    }
    ob_put(b, c, m);
  }
  ob_put(b, "\n", 1);
}

/* ---- sparse file image: only the ranges read are valid ---- */

typedef struct {
  int fd;
  uint64_t size;
  uint8_t *buf;
  size_t cap;
  uint64_t r[MAX_RANGES][2];
  int nr;
} image;

/* The bytes [off, off+len), read when not yet read; NULL on any failure (fall back). */
static const uint8_t *ensure(image *im, uint64_t off, uint64_t len) {
  if (off > im->size || len > im->size - off) return NULL;
  for (int i = 0; i < im->nr; i++)
    if (off >= im->r[i][0] && off + len <= im->r[i][1]) return im->buf + off;
  if (im->nr == MAX_RANGES) return NULL;
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = pread(im->fd, im->buf + off + done, (size_t)(len - done), (off_t)(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return NULL;
    done += (uint64_t)n;
  }
  im->r[im->nr][0] = off;
  im->r[im->nr][1] = off + len;
  im->nr++;
  return im->buf + off;
}

/* ---- canonical DER, narrowly ---- */

typedef struct {
  const uint8_t *p;
  size_t n;
} span;

/* The next TLV of `s` (single-byte tag, minimal definite length); 0 when there is none. */
static int tlv(span *s, uint8_t *tag, span *c) {
  if (s->n < 2 || (s->p[0] & 0x1f) == 0x1f) return 0;
  size_t len, hdr;
  uint8_t l = s->p[1];
  if (l < 0x80) {
    len = l;
    hdr = 2;
  } else {
    size_t k = l & 0x7f;
    if (k == 0 || k > 3 || s->n < 2 + k || s->p[2] == 0) return 0;
    len = 0;
    for (size_t i = 0; i < k; i++) len = len << 8 | s->p[2 + i];
    if (len < 0x80) return 0;
    hdr = 2 + k;
  }
  if (len > s->n - hdr) return 0;
  *tag = s->p[0];
  c->p = s->p + hdr;
  c->n = len;
  s->p += hdr + len;
  s->n -= hdr + len;
  return 1;
}

static int expect(span *s, uint8_t want, span *c) {
  uint8_t t;
  span save = *s;
  if (!tlv(s, &t, c) || t != want) {
    *s = save;
    return 0;
  }
  return 1;
}

static int peek(const span *s) {
  return s->n ? s->p[0] : -1;
}

/* An OBJECT IDENTIFIER's contents as a decoder reads them: no 0x80 padding, last byte final. */
static int oid_ok(span o) {
  if (o.n == 0 || o.n > 64 || (o.p[o.n - 1] & 0x80)) return 0;
  for (size_t i = 0; i < o.n; i++)
    if (o.p[i] == 0x80 && (i == 0 || !(o.p[i - 1] & 0x80))) return 0;
  return 1;
}

/* AlgorithmIdentifier: SEQUENCE { OID, one optional parameter }. */
static int algorithm(span *s, span *oid) {
  span seq, par;
  uint8_t t;
  if (!expect(s, 0x30, &seq) || !expect(&seq, 0x06, oid) || !oid_ok(*oid)) return 0;
  if (seq.n && !tlv(&seq, &t, &par)) return 0;
  return seq.n == 0;
}

/* An INTEGER a decoder takes: non-empty. */
static int integer(span *s, span *v) {
  return expect(s, 0x02, v) && v->n > 0 && v->n <= 64;
}

static int printable(span v) {
  for (size_t i = 0; i < v.n; i++)
    if (v.p[i] < 0x20 || v.p[i] > 0x7e) return 0;
  return 1;
}

static const uint8_t OID_SIGNED_DATA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02 };
static const uint8_t OID_DATA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01 };
static const uint8_t OID_CN[] = { 0x55, 0x04, 0x03 };

/* Digest OIDs (contents) and OpenSSL's names for them, as src/modsig/signature.ts has them. */
static const struct {
  uint8_t n;
  uint8_t oid[10];
  const char *name;
} DIGESTS[] = {
  { 5, { 0x2b, 0x0e, 0x03, 0x02, 0x1a }, "sha1" },
  { 9, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01 }, "sha256" },
  { 9, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02 }, "sha384" },
  { 9, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03 }, "sha512" },
  { 9, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04 }, "sha224" },
  { 9, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08 }, "sha3-256" },
  { 9, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x09 }, "sha3-384" },
  { 9, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x0a }, "sha3-512" },
  { 8, { 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11 }, "sm3" },
};

static int same(span s, const uint8_t *p, size_t n) {
  return s.n == n && memcmp(s.p, p, n) == 0;
}

typedef struct {
  span cn;     /* first CN's value; n = 0 and p = NULL when the issuer has none */
  span serial; /* magnitude, no leading zeros */
  const char *hash;
  span sig;
} sigfields;

/* Name: SEQUENCE OF SET OF { OID, printable string }; the first CN's value. */
static int name(span *s, span *cn) {
  span rdns, rdn, atv, oid, val;
  uint8_t t;
  if (!expect(s, 0x30, &rdns)) return 0;
  cn->p = NULL;
  cn->n = 0;
  while (rdns.n) {
    if (!expect(&rdns, 0x31, &rdn) || rdn.n == 0) return 0;
    while (rdn.n) {
      if (!expect(&rdn, 0x30, &atv) || !expect(&atv, 0x06, &oid) || !oid_ok(oid) || !tlv(&atv, &t, &val) || atv.n) return 0;
      if (t != 0x0c && t != 0x13 && t != 0x16 && t != 0x14) return 0;
      if (!printable(val)) return 0;
      if (!cn->p && same(oid, OID_CN, sizeof OID_CN)) *cn = val;
    }
  }
  return 1;
}

/* The fields modinfo shows, from a PKCS#7 SignedData of the one narrow shape; 0: fall back. */
static int pkcs7(span blob, sigfields *f) {
  span ci, oid, ex, sd, v, set, eci, sis, si, ias, dig, sal;
  if (!expect(&blob, 0x30, &ci) || blob.n) return 0;
  if (!expect(&ci, 0x06, &oid) || !same(oid, OID_SIGNED_DATA, sizeof OID_SIGNED_DATA)) return 0;
  if (!expect(&ci, 0xa0, &ex) || ci.n || !expect(&ex, 0x30, &sd) || ex.n) return 0;
  if (!integer(&sd, &v) || v.n != 1) return 0;
  if (!expect(&sd, 0x31, &set)) return 0;
  while (set.n)
    if (!algorithm(&set, &oid)) return 0;
  if (!expect(&sd, 0x30, &eci) || !expect(&eci, 0x06, &oid) || !same(oid, OID_DATA, sizeof OID_DATA) || eci.n) return 0;
  if (!expect(&sd, 0x31, &sis) || sd.n) return 0; /* certificates, CRLs: fall back */
  if (!expect(&sis, 0x30, &si) || sis.n) return 0;  /* exactly one signer */
  if (!integer(&si, &v) || v.n != 1) return 0;
  if (!expect(&si, 0x30, &ias) || !name(&ias, &f->cn) || !integer(&ias, &f->serial) || ias.n) return 0;
  if (f->serial.p[0] & 0x80) return 0; /* negative */
  while (f->serial.n && f->serial.p[0] == 0) {
    f->serial.p++;
    f->serial.n--;
  }
  if (f->serial.n == 0) return 0;
  if (!algorithm(&si, &dig)) return 0;
  if (peek(&si) == 0xa0) return 0; /* signed attributes */
  if (!algorithm(&si, &sal)) return 0;
  if (!expect(&si, 0x04, &f->sig) || si.n) return 0; /* unsigned attributes */
  f->hash = NULL;
  for (size_t i = 0; i < sizeof DIGESTS / sizeof DIGESTS[0]; i++)
    if (same(dig, DIGESTS[i].oid, DIGESTS[i].n)) f->hash = DIGESTS[i].name;
  return f->hash != NULL;
}

/* ---- one module ---- */

typedef struct {
  const uint8_t *name, *param, *type;
  size_t nn, pn, tn;
  int has_param, has_type;
} param;

typedef struct {
  image im;
  obuf out;
  param *params;
} worker_state;

static uint64_t rd(const uint8_t *p, int bytes, int le) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = v << 8 | p[le ? bytes - 1 - i : i];
  return v;
}

#define SAFE(x) ((x) <= 0x1fffffffffffffULL) /* what the TypeScript reader takes as a number */

/* The module signature trailer (struct module_signature, then this magic): a C copy of
 * findSignatureTrailer() in src/modsig/trailer.ts, the one finder every TypeScript reader uses.
 * This fast path reads the same fields and falls back to TypeScript whenever in doubt. */
static const char MAGIC[] = "~Module signature appended~\n";

/* Renders one module onto w->out; 0 when the TypeScript path must do it (the caller then drops
 * whatever was written). */
static int render(worker_state *w, const char *path, const char *display, size_t dn) {
  image *im = &w->im;
  int ok = 0;
  im->nr = 0;
  do im->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); while (im->fd < 0 && errno == EINTR);
  if (im->fd < 0) return 0;
  struct stat st;
  if (fstat(im->fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 64 || st.st_size > MAX_FILE) goto done;
  im->size = (uint64_t)st.st_size;
  if (im->size > im->cap) {
    uint8_t *b = realloc(im->buf, im->size);
    if (!b) goto done;
    im->buf = b;
    im->cap = im->size;
  }
  const uint8_t *h = ensure(im, 0, im->size < SPARSE_HEAD ? im->size : SPARSE_HEAD);
  if (!h || memcmp(h, "\177ELF", 4) != 0 || (h[4] != 1 && h[4] != 2) || (h[5] != 1 && h[5] != 2)) goto done;
  int is64 = h[4] == 2, le = h[5] == 1, wb = is64 ? 8 : 4;
  uint64_t phoff = rd(h + 24 + wb, wb, le), shoff = rd(h + 24 + 2 * wb, wb, le);
  int hb = 24 + 3 * wb;
  unsigned shentsize = (unsigned)rd(h + hb + 10, 2, le), shnum = (unsigned)rd(h + hb + 12, 2, le), shstrndx = (unsigned)rd(h + hb + 14, 2, le);
  if (!SAFE(phoff) || !SAFE(shoff) || shnum == 0 || shentsize != (is64 ? 64u : 40u) || shoff == 0 || shstrndx >= shnum) goto done;
  if (shoff + (uint64_t)shnum * shentsize > im->size) goto done;
  /* Modules keep the name table and the section headers at the end, then the signature. */
  uint64_t tail = im->size <= SPARSE_TAIL ? 0 : (shoff < im->size - SPARSE_TAIL ? shoff : im->size - SPARSE_TAIL);
  if (!ensure(im, tail, im->size - tail)) goto done;
  const uint8_t *sh = ensure(im, shoff, (uint64_t)shnum * shentsize);
  if (!sh) goto done;
  /* Every section as the TypeScript reader checks it: 53-bit fields, data inside the file. */
  uint64_t str_off = 0, str_size = 0, mi_off = 0, mi_size = 0;
  int mi = -1;
  for (unsigned i = 0; i < shnum; i++) {
    const uint8_t *s = sh + (uint64_t)i * shentsize;
    uint32_t type = (uint32_t)rd(s + 4, 4, le);
    uint64_t off, size;
    if (is64) {
      uint64_t fl = rd(s + 8, 8, le), al = rd(s + 48, 8, le), es = rd(s + 56, 8, le);
      off = rd(s + 24, 8, le);
      size = rd(s + 32, 8, le);
      if (!SAFE(fl) || !SAFE(off) || !SAFE(size) || !SAFE(al) || !SAFE(es)) goto done;
    } else {
      off = rd(s + 16, 4, le);
      size = rd(s + 20, 4, le);
    }
    if (type != 8 && type != 0 && off + size > im->size) goto done;
    if (i == shstrndx) {
      str_off = off;
      str_size = size;
    }
  }
  const uint8_t *str = ensure(im, str_off, str_size);
  if (!str || (str_size > 0 && str[str_size - 1] != 0)) goto done;
  for (unsigned i = 1; i < shnum; i++) {
    const uint8_t *s = sh + (uint64_t)i * shentsize;
    uint32_t nm = (uint32_t)rd(s, 4, le);
    if ((uint64_t)nm + 8 >= str_size || memcmp(str + nm, ".modinfo", 9) != 0) continue;
    if (rd(s + 4, 4, le) != 8) {
      mi_off = rd(s + (is64 ? 24 : 16), wb, le);
      mi_size = rd(s + (is64 ? 32 : 20), wb, le);
    }
    mi = (int)i;
    break;
  }
  const uint8_t *modinfo = mi < 0 ? NULL : ensure(im, mi_off, mi_size);
  if (mi >= 0 && !modinfo) goto done;

  /* The signature: the narrow, common shape, or the TypeScript path. */
  sigfields sig;
  int signed_ = 0;
  const uint8_t *m = ensure(im, im->size - 28, 28);
  if (!m) goto done;
  if (memcmp(m, MAGIC, 28) == 0) {
    if (im->size < 40) goto done;
    uint64_t t = im->size - 40;
    const uint8_t *ms = ensure(im, t, 12);
    if (!ms) goto done;
    uint32_t sig_len = (uint32_t)rd(ms + 8, 4, 0);
    if (ms[0] >= 2 || ms[1] >= 9 || ms[2] != 2 || sig_len == 0 || (uint64_t)sig_len + ms[3] + ms[4] > t) goto done;
    const uint8_t *blob = ensure(im, t - sig_len, sig_len);
    if (!blob || !pkcs7((span){ blob, sig_len }, &sig)) goto done;
    signed_ = 1;
  }

  /* modinfo's text: filename, the .modinfo strings but parameters, signature, parameters. */
  ob_put(&w->out, "filename:       ", 16);
  ob_put(&w->out, display, dn);
  ob_put(&w->out, "\n", 1);
  size_t np = 0;
  if (modinfo && mi_size > 0) {
    /* kmod_elf_get_strings: leading NULs skipped, NUL runs separate, a last unterminated string counts */
    size_t a = 0, n = (size_t)mi_size;
    while (a < n - 1 && modinfo[a] == 0) a++;
    if (n - a > 1) {
      for (size_t i = a; i < n;) {
        size_t j = i;
        while (j < n && modinfo[j] != 0) j++;
        if (j > i) {
          const uint8_t *kv = modinfo + i;
          size_t len = j - i;
          const uint8_t *eq = memchr(kv, '=', len);
          size_t kn = eq ? (size_t)(eq - kv) : len;
          const uint8_t *v = eq ? eq + 1 : kv;
          size_t vn = eq ? len - kn - 1 : len;
          int isparm = kn == 4 && memcmp(kv, "parm", 4) == 0, istype = kn == 8 && memcmp(kv, "parmtype", 8) == 0;
          if (!isparm && !istype) ob_line(&w->out, kv, kn, v, vn);
          else {
            const uint8_t *colon = memchr(v, ':', vn);
            if (colon) {
              size_t nn = (size_t)(colon - v), k;
              for (k = 0; k < np; k++)
                if (w->params[k].nn == nn && memcmp(w->params[k].name, v, nn) == 0) break;
              if (k == np) {
                if (np == MAX_PARAMS) goto done;
                w->params[np++] = (param){ v, NULL, NULL, nn, 0, 0, 0, 0 };
              }
              if (isparm) {
                w->params[k].param = colon + 1;
                w->params[k].pn = vn - nn - 1;
                w->params[k].has_param = 1;
              } else {
                w->params[k].type = colon + 1;
                w->params[k].tn = vn - nn - 1;
                w->params[k].has_type = 1;
              }
            }
          }
        }
        i = j + 1;
      }
    }
  }
  if (signed_) {
    ob_put(&w->out, "sig_id:         PKCS#7\n", 23);
    ob_line(&w->out, (const uint8_t *)"signer", 6, sig.cn.p ? sig.cn.p : (const uint8_t *)"", sig.cn.n);
    ob_hexline(&w->out, "sig_key", sig.serial.p, sig.serial.n);
    ob_line(&w->out, (const uint8_t *)"sig_hashalgo", 12, (const uint8_t *)sig.hash, strlen(sig.hash));
    ob_hexline(&w->out, "signature", sig.sig.p, sig.sig.n);
  }
  /* kmod pushes new parameter names at the head of a list: last first */
  for (size_t k = np; k-- > 0;) {
    param *p = &w->params[k];
    ob_put(&w->out, "parm:           ", 16);
    ob_put(&w->out, p->name, p->nn);
    ob_put(&w->out, ":", 1);
    if (!p->has_param) {
      if (p->has_type) ob_put(&w->out, p->type, p->tn);
    } else {
      ob_put(&w->out, p->param, p->pn);
      if (p->has_type) {
        ob_put(&w->out, " (", 2);
        ob_put(&w->out, p->type, p->tn);
        ob_put(&w->out, ")", 1);
      }
    }
    ob_put(&w->out, "\n", 1);
  }
  ok = !w->out.oom;
done:
  close(im->fd);
  return ok;
}

/* ---- threads ---- */

typedef struct {
  char **paths, **displays;
  size_t *dlens;
  size_t n;
  size_t next; /* atomic */
  size_t *off; /* per module: offset in its worker's output */
  int *who;    /* per module: worker index, -1 = fall back */
  int32_t *len;
  worker_state *ws;
} job;

typedef struct {
  job *j;
  int index;
} worker_arg;

static void *work(void *arg) {
  worker_arg *a = arg;
  job *j = a->j;
  worker_state *w = &j->ws[a->index];
  for (;;) {
    size_t i = __atomic_fetch_add(&j->next, 1, __ATOMIC_RELAXED);
    if (i >= j->n) break;
    size_t before = w->out.n;
    if (render(w, j->paths[i], j->displays[i], j->dlens[i]) && w->out.n - before <= INT32_MAX) {
      j->off[i] = before;
      j->who[i] = a->index;
      j->len[i] = (int32_t)(w->out.n - before);
    } else {
      w->out.n = before;
      j->who[i] = -1;
      j->len[i] = -1;
    }
  }
  return NULL;
}

static char *utf8(napi_env env, napi_value v, size_t *len) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return NULL;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, n + 1, &n);
  if (len) *len = n;
  return s;
}

static napi_value texts(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], result = NULL;
  uint32_t n = 0, n2 = 0;
  int32_t threads = 1;
  bool isarr = false, isarr2 = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || napi_is_array(env, argv[0], &isarr) != napi_ok || !isarr ||
      napi_is_array(env, argv[1], &isarr2) != napi_ok || !isarr2 || napi_get_array_length(env, argv[0], &n) != napi_ok ||
      napi_get_array_length(env, argv[1], &n2) != napi_ok || n != n2 || napi_get_value_int32(env, argv[2], &threads) != napi_ok) {
    napi_throw_type_error(env, NULL, "texts(paths: string[], displays: string[], threads: number)");
    return NULL;
  }
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  if ((uint32_t)threads > n) threads = n ? (int32_t)n : 1;
  job j = { 0 };
  j.n = n;
  j.paths = calloc(n ? n : 1, sizeof *j.paths);
  j.displays = calloc(n ? n : 1, sizeof *j.displays);
  j.dlens = calloc(n ? n : 1, sizeof *j.dlens);
  j.off = calloc(n ? n : 1, sizeof *j.off);
  j.who = calloc(n ? n : 1, sizeof *j.who);
  j.ws = calloc((size_t)threads, sizeof *j.ws);
  napi_value lens_ab;
  void *lens_data;
  int failed = !j.paths || !j.displays || !j.dlens || !j.off || !j.who || !j.ws;
  if (!failed && napi_create_arraybuffer(env, (size_t)n * 4, &lens_data, &lens_ab) != napi_ok) failed = 1;
  for (uint32_t i = 0; !failed && i < n; i++) {
    napi_value p, d;
    if (napi_get_element(env, argv[0], i, &p) != napi_ok || napi_get_element(env, argv[1], i, &d) != napi_ok ||
        !(j.paths[i] = utf8(env, p, NULL)) || !(j.displays[i] = utf8(env, d, &j.dlens[i])))
      failed = 1;
  }
  for (int t = 0; !failed && t < threads; t++)
    if (!(j.ws[t].params = malloc(MAX_PARAMS * sizeof(param)))) failed = 1;
  if (failed) {
    napi_throw_type_error(env, NULL, "texts: paths and displays must be strings (or out of memory)");
    goto out;
  }
  j.len = lens_data;
  pthread_t tid[64];
  worker_arg args[64];
  int started = 0;
  for (int t = 1; t < threads; t++) {
    args[t] = (worker_arg){ &j, t };
    if (pthread_create(&tid[t], NULL, work, &args[t]) != 0) break;
    started = t;
  }
  args[0] = (worker_arg){ &j, 0 };
  work(&args[0]);
  for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
  size_t total = 0;
  for (uint32_t i = 0; i < n; i++)
    if (j.len[i] > 0) total += (size_t)j.len[i];
  void *outp;
  napi_value outb;
  if (napi_create_buffer(env, total, &outp, &outb) != napi_ok) {
    napi_throw_range_error(env, NULL, "texts: cannot allocate the output");
    goto out;
  }
  size_t at = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (j.len[i] <= 0) continue;
    memcpy((char *)outp + at, j.ws[j.who[i]].out.p + j.off[i], (size_t)j.len[i]);
    at += (size_t)j.len[i];
  }
  napi_value lens;
  napi_create_typedarray(env, napi_int32_array, n, lens_ab, 0, &lens);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "out", outb);
  napi_set_named_property(env, result, "lens", lens);
out:
  for (uint32_t i = 0; i < n; i++) {
    if (j.paths) free(j.paths[i]);
    if (j.displays) free(j.displays[i]);
  }
  for (int t = 0; j.ws && t < threads; t++) {
    free(j.ws[t].im.buf);
    free(j.ws[t].out.p);
    free(j.ws[t].params);
  }
  free(j.paths);
  free(j.displays);
  free(j.dlens);
  free(j.off);
  free(j.who);
  free(j.ws);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct kmodseal_fn fns[] = { { "texts", texts } };
  return kmodseal_export(env, exports, fns, sizeof fns / sizeof fns[0]);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
