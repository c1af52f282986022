/**
 * The kernel's load-time validation of a module's split BTF, replayed offline.
 * Authority: kernel/bpf/btf.c (6.1 and 6.12): btf_module_notify() → btf_parse_module() →
 * btf_parse_hdr() (+ btf_check_sec_info()), btf_parse_str_sec(), btf_check_all_metas()
 * (btf_check_meta() + each kind's check_meta), btf_check_type_tags(). For module BTF the
 * kernel does NOT run btf_check_all_types() (no size/type resolution), so this does not either.
 *
 * Messages are produced the way the kernel prints them: with log level BPF_LOG_KERNEL every
 * bpf_verifier_vlog() call becomes its own `pr_err("BPF: %s")` line, so one
 * btf_verifier_log_type() call prints e.g.
 *
 *   BPF: [40566] STRUCT foo         ("[%u] %s %s%s": id, kind, name, " " before details)
 *   BPF: size=8 vlen=2              (the kind's log_details)
 *   BPF:                            (" ")
 *   BPF: Invalid name               (the message)
 *   BPF:                            ("\n")
 *
 * Version differences handled: DATASEC names (6.1 identifier rule, 6.12 any printable
 * characters), 6.12's CONFIG_MODULE_ALLOW_BTF_MISMATCH suppression of per-type and
 * per-member lines, and 6.12's distilled base: a module with a `.BTF.base` section has that
 * section parsed as a standalone base (btf_parse_base()), its `.BTF` validated on top of it,
 * then relocated onto vmlinux (btf_relocate(), see relocate.ts). 6.1 ignores `.BTF.base`.
 */
import { ByteReader } from '../bytes/reader.js';
import { relocateDistilledBtf, type DistilledMapping } from './relocate.js';
import {
  BTF_KIND_ARRAY,
  BTF_KIND_CONST,
  BTF_KIND_DATASEC,
  BTF_KIND_DECL_TAG,
  BTF_KIND_ENUM,
  BTF_KIND_ENUM64,
  BTF_KIND_FLOAT,
  BTF_KIND_FUNC,
  BTF_KIND_FUNC_PROTO,
  BTF_KIND_FWD,
  BTF_KIND_INT,
  BTF_KIND_MAX,
  BTF_KIND_PTR,
  BTF_KIND_RESTRICT,
  BTF_KIND_STRUCT,
  BTF_KIND_TYPEDEF,
  BTF_KIND_TYPE_TAG,
  BTF_KIND_UNION,
  BTF_KIND_VAR,
  BTF_KIND_VOLATILE,
  BTF_MAGIC,
  BTF_MAX_NAME_OFFSET,
  BTF_MAX_TYPE,
  kindName,
  Btf,
} from './btf.js';
import type { KernelSeries } from '../kernel/series.js';
import { errnoName, errnoNumber } from '../bytes/errno.js';

export const EINVAL = errnoNumber('EINVAL');
export const E2BIG = errnoNumber('E2BIG');
export const ELOOP = errnoNumber('ELOOP');
/** Kernel-internal ENOTSUPP (not EOPNOTSUPP). */
export const ENOTSUPP = errnoNumber('ENOTSUPP');
export const ENOENT = errnoNumber('ENOENT');

/** KSYM_NAME_LEN (512 in 6.1 and 6.12): names must be shorter. */
const KSYM_NAME_LEN = 512;
const BTF_INFO_MASK = 0x9f00ffff;
const BTF_INT_MASK = 0x0fffffff;
/** btf_check_type_tags(): at most this many modifier hops. */
const MAX_CHAIN = 32;

/** Options of {@link checkModuleBtf}: which kernel's rules apply and how the module is named in its log lines. */
export interface ModuleBtfCheckOptions {
  /** Kernel series whose rules apply. */
  kernel: KernelSeries;
  /** CONFIG_MODULE_ALLOW_BTF_MISMATCH of the target kernel (Debian: y; the test kernel: n). */
  allowMismatch: boolean;
  /** Module name for `failed to validate module [NAME] BTF: ...`. */
  moduleName: string;
  /** The target's byte order (the module ELF's EI_DATA); default: the base's. */
  littleEndian?: boolean;
  /** File name and absolute offset of the `.BTF` bytes, for `offset` in the result. */
  file?: string;
  offset?: number;
  /**
   * The module's `.BTF.base` section when the module has one (even empty): 6.12 parses it as
   * the base of `.BTF` and relocates onto vmlinux; 6.1 ignores it.
   */
  distilledBase?: Uint8Array;
  /** Absolute offset of the `.BTF.base` bytes, for `offset` in the result. */
  distilledBaseOffset?: number;
}

/** The btf_parse_module() step a failure comes from: header, strings, type metadata, type tags, or (6.12) distilled base relocation. */
export type BtfCheckStage = 'hdr' | 'str' | 'meta' | 'type_tags' | 'relocate';

/** What 6.12 did with a module's distilled base (present when the module has `.BTF.base` and the rules are 6.12's). */
export interface DistilledBaseOutcome {
  /** Types in `.BTF.base` (void included) and in the target's vmlinux BTF. */
  readonly distilledTypes: number;
  readonly targetTypes: number;
  /** Every distilled type mapped onto the target (all of them when relocation succeeded). */
  readonly mappings: readonly DistilledMapping[];
  /** The module's `.BTF` relocated onto the target (split BTF on vmlinux), on success. */
  readonly relocated?: Uint8Array;
}

/**
 * The kernel's verdict on a module's BTF (see {@link checkModuleBtf}): ok, the first failure with its
 * errno and log lines, or not predictable.
 */
export interface ModuleBtfCheckResult {
  /** 'ok': the kernel accepts the BTF; 'fail': btf_parse_module() fails; 'unsupported': not predictable here. */
  readonly status: 'ok' | 'fail' | 'unsupported';
  /**
   * Negative errno btf_parse_module() returns (0 when ok). When `loads` is false this is also
   * what finit_module() fails with (observed: -40 ELOOP for a modifier cycle, not -22).
   */
  readonly err: number;
  readonly errName?: string;
  readonly stage?: BtfCheckStage;
  /** The type id the failure is reported for (env->log_type_id), when it concerns a type. */
  readonly typeId?: number;
  /** The specific message, e.g. "Invalid name", "Invalid magic", "Max chain length or cycle detected". */
  readonly reason?: string;
  /** Absolute offset of the offending bytes (type record, member, header field) when known. */
  readonly offset?: number;
  /** Every line the kernel prints for this module's BTF, in order (`BPF: ...` lines, then the verdict line). */
  readonly kernelLog: readonly string[];
  /** Whether the module load goes on (true when ok, or when a mismatch is allowed). */
  readonly loads: boolean;
  /** Which section the failure is in: the module's `.BTF`, or (6.12) its `.BTF.base`. */
  readonly section?: '.BTF' | '.BTF.base';
  /** 6.12 with `.BTF.base`: the relocation onto vmlinux. */
  readonly distilled?: DistilledBaseOutcome;
}

/** Per base BTF: 0 unknown, 1 a valid identifier, 2 not (indexed by string offset). */
const baseIdentifierMemo = new WeakMap<object, Uint8Array>();

/** The parts of a base BTF the checks consult. */
type BaseView = Pick<Btf, 'typeCount' | 'strEndOff' | 'strBytes' | 'kind' | 'sizeOrType' | 'littleEndian'>;

/** No base: a standalone BTF (vmlinux, or a module's `.BTF.base`) starts at id 1 and string offset 0. */
function noBase(littleEndian: boolean): BaseView {
  return { typeCount: 1, strEndOff: 0, strBytes: () => undefined, kind: () => 0, sizeOrType: () => 0, littleEndian };
}

class Fail {
  constructor(
    readonly err: number,
    readonly stage: BtfCheckStage,
    readonly reason: string,
    readonly typeId: number | undefined,
    readonly at: number | undefined,
  ) {}
}

// Kernel lib/ctype.c classes for bytes 0x80-0xff (Latin-1): letters are alpha, 0xa0-0xff printable.
function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0xc0 && c <= 0xff && c !== 0xd7 && c !== 0xf7);
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isPrint(c: number): boolean {
  return (c >= 0x20 && c <= 0x7e) || c >= 0xa0;
}
/** __btf_name_char_ok() with '.' allowed (6.1 Debian tree and 6.12). */
function nameCharOk(c: number, first: boolean): boolean {
  return (first ? isAlpha(c) : isAlpha(c) || isDigit(c)) || c === 0x5f || c === 0x2e;
}

/** nameCharOk() as a table: bit 1 allowed first, bit 2 allowed after the first. */
const NAME_CHAR = Uint8Array.from(
  { length: 256 },
  (_, c) => (nameCharOk(c, true) ? 1 : 0) | (nameCharOk(c, false) ? 2 : 0),
);

/** A string the kernel would read at a valid offset: the bytes up to NUL. */
type StrBytes = Uint8Array;

class Env {
  readonly log: string[] = [];
  readonly r: ByteReader;
  readonly startId: number;
  readonly startStrOff: number;
  /** Header as the kernel sees it (fields past hdr_len are 0). */
  hdr = { magic: 0, version: 0, flags: 0, hdr_len: 0, type_off: 0, type_len: 0, str_off: 0, str_len: 0 };
  strStart = 0;
  logTypeId = 0;
  /** Offsets of the module's own types, filled by checkAllMetas. */
  readonly offs: number[] = [];
  readonly suppressTypeLines: boolean;

  constructor(
    readonly data: Uint8Array,
    readonly base: BaseView,
    readonly opts: ModuleBtfCheckOptions,
    /** btf_parse_base() rules (no base_btf) instead of split rules. */
    readonly standalone = false,
  ) {
    this.r = new ByteReader(data, {
      file: opts.file ?? opts.moduleName,
      format: 'btf',
      base: opts.offset ?? 0,
      littleEndian: opts.littleEndian ?? base.littleEndian,
    });
    this.startId = base.typeCount;
    this.startStrOff = base.strEndOff;
    this.suppressTypeLines = opts.kernel === '6.12' && opts.allowMismatch;
  }

  vlog(text: string): void {
    this.log.push('BPF: ' + (text.endsWith('\n') ? text.slice(0, -1) : text));
  }

  fail(err: number, stage: BtfCheckStage, reason: string, typeId?: number, at?: number): Fail {
    return new Fail(err, stage, reason, typeId, at === undefined ? undefined : this.r.base + at);
  }

  // --- strings -------------------------------------------------------------------------

  /** btf_name_offset_valid() */
  nameOffsetValid(off: number): boolean {
    if (off > BTF_MAX_NAME_OFFSET) return false;
    if (off < this.startStrOff) return off < this.base.strEndOff;
    return off - this.startStrOff < this.hdr.str_len;
  }

  /** btf_str_by_offset(): bytes up to NUL, or undefined for an invalid offset. */
  strAt(off: number): StrBytes | undefined {
    if (off < this.startStrOff) return this.base.strBytes(off);
    const local = off - this.startStrOff;
    if (local >= this.hdr.str_len) return undefined;
    const at = this.strStart + local;
    const end = this.strStart + this.hdr.str_len;
    let i = at;
    while (i < end && this.data[i] !== 0) i++;
    return this.data.subarray(at, i);
  }

  /** __btf_name_by_offset(): "(anon)", the name, or "(invalid-name-offset)". */
  nameForLog(off: number): string {
    if (off === 0) return '(anon)';
    const s = this.strAt(off);
    return s === undefined ? '(invalid-name-offset)' : Buffer.from(s.buffer, s.byteOffset, s.length).toString('latin1');
  }

  /** btf_name_valid_identifier() (offset already known valid). */
  validIdentifier(off: number): boolean {
    if (off >= this.startStrOff) return this.identifierAt(off);
    // Base (vmlinux) names recur in every module: each verdict is worked out once per base.
    let memo = this.baseIdentMemo;
    if (!memo) {
      memo = baseIdentifierMemo.get(this.base);
      if (!memo) baseIdentifierMemo.set(this.base, (memo = new Uint8Array(this.startStrOff)));
      this.baseIdentMemo = memo;
    }
    const known = memo[off]!;
    if (known !== 0) return known === 1;
    const ok = this.identifierAt(off);
    memo[off] = ok ? 1 : 2;
    return ok;
  }

  private baseIdentMemo: Uint8Array | undefined;

  private identifierAt(off: number): boolean {
    let d: Uint8Array, at: number, end: number;
    if (off < this.startStrOff) {
      const s = this.base.strBytes(off);
      if (!s) return false;
      d = s;
      at = 0;
      end = s.length;
    } else {
      // in place: no view per name (this runs for every name of every module)
      const local = off - this.startStrOff;
      if (local >= this.hdr.str_len) return false;
      d = this.data;
      at = this.strStart + local;
      end = this.strStart + this.hdr.str_len;
    }
    if (at >= end || (NAME_CHAR[d[at]!]! & 1) === 0) return false; // NUL is not allowed first
    const limit = Math.min(end, at + KSYM_NAME_LEN);
    let i = at + 1;
    for (; i < limit; i++) {
      const c = d[i]!;
      if (c === 0) return true;
      if ((NAME_CHAR[c]! & 2) === 0) return false;
    }
    // the kernel's `return !*src` after at most KSYM_NAME_LEN characters
    return i >= end || d[i] === 0;
  }

  /** btf_name_valid_section(): 6.12 allows any printable character; 6.1 uses the identifier rule. */
  validSection(off: number): boolean {
    if (this.opts.kernel === '6.1') return this.validIdentifier(off);
    const s = this.strAt(off);
    if (!s || s.length === 0 || s.length > KSYM_NAME_LEN) return false;
    for (let i = 0; i < s.length; i++) if (!isPrint(s[i]!)) return false;
    return true;
  }

  // --- logging helpers mirroring __btf_verifier_log_type / btf_verifier_log_member / _vsi ---

  logType(off: number, logDetails: boolean, msg: string): void {
    if (this.suppressTypeLines) return;
    const info = this.r.u32(off + 4);
    const kind = (info >>> 24) & 0x1f;
    this.vlog(`[${this.logTypeId}] ${kindName(kind)} ${this.nameForLog(this.r.u32(off))}${logDetails ? ' ' : ''}`);
    if (logDetails) for (const line of this.details(off, kind, info)) this.vlog(line);
    if (msg) {
      this.vlog(' ');
      this.vlog(msg);
    }
    this.vlog('\n');
  }

  logMember(structOff: number, m: number, msg: string): void {
    if (this.suppressTypeLines) return;
    const kflag = (this.r.u32(structOff + 4) & 0x80000000) !== 0;
    const nameOff = this.r.u32(m);
    const type = this.r.u32(m + 4);
    const offset = this.r.u32(m + 8);
    const name = this.nameForLog(nameOff);
    this.vlog(
      kflag
        ? `\t${name} type_id=${type} bitfield_size=${offset >>> 24} bits_offset=${offset & 0xffffff}`
        : `\t${name} type_id=${type} bits_offset=${offset}`,
    );
    this.vlog(' ');
    this.vlog(msg);
    this.vlog('\n');
  }

  logVsi(v: number, msg: string): void {
    this.vlog(`\t type_id=${this.r.u32(v)} offset=${this.r.u32(v + 4)} size=${this.r.u32(v + 8)}`);
    this.vlog(' ');
    this.vlog(msg);
    this.vlog('\n');
  }

  /** Each kind's log_details(), one entry per bpf_verifier_vlog() call. */
  details(off: number, kind: number, info: number): string[] {
    const r = this.r;
    const sizeOrType = r.u32(off + 8);
    const vlen = info & 0xffff;
    const d = off + 12;
    switch (kind) {
      case BTF_KIND_INT: {
        const v = r.u32(d);
        const enc = (v >>> 24) & 0x0f;
        const encStr = enc === 0 ? '(none)' : enc === 1 ? 'SIGNED' : enc === 2 ? 'CHAR' : enc === 4 ? 'BOOL' : 'UNKN';
        return [`size=${sizeOrType} bits_offset=${(v >>> 16) & 0xff} nr_bits=${v & 0xff} encoding=${encStr}`];
      }
      case BTF_KIND_PTR:
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
      case BTF_KIND_FUNC:
        return [`type_id=${sizeOrType}`];
      case BTF_KIND_ARRAY:
        return [`type_id=${r.u32(d)} index_type_id=${r.u32(d + 4)} nr_elems=${r.u32(d + 8)}`];
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64:
      case BTF_KIND_DATASEC:
        return [`size=${sizeOrType} vlen=${vlen}`];
      case BTF_KIND_FWD:
        return [(info & 0x80000000) !== 0 ? 'union' : 'struct'];
      case BTF_KIND_FUNC_PROTO: {
        // btf_func_proto_log(): only called once the params are known to fit
        const out = [`return=${sizeOrType} args=(`];
        const arg = (i: number): { type: number; name: string } => ({
          type: r.u32(d + i * 8 + 4),
          name: this.nameForLog(r.u32(d + i * 8)),
        });
        if (vlen === 0) out.push('void');
        else if (vlen === 1 && arg(0).type === 0) out.push('vararg');
        else {
          const a0 = arg(0);
          out.push(`${a0.type} ${a0.name}`);
          for (let i = 1; i < vlen - 1; i++) {
            const a = arg(i);
            out.push(`, ${a.type} ${a.name}`);
          }
          if (vlen > 1) {
            const last = arg(vlen - 1);
            out.push(last.type ? `, ${last.type} ${last.name}` : ', vararg');
          }
        }
        out.push(')');
        return out;
      }
      case BTF_KIND_VAR:
        return [`type_id=${sizeOrType} linkage=${r.u32(d)}`];
      case BTF_KIND_FLOAT:
        return [`size=${sizeOrType}`];
      case BTF_KIND_DECL_TAG:
        return [`type=${sizeOrType} component_idx=${r.i32(d)}`];
      default:
        return [];
    }
  }
}

/** Throw helpers keep each check a single line, in kernel order. */
function typeFail(env: Env, off: number, msg: string, err = EINVAL, logDetails = true): Fail {
  env.logType(off, logDetails, msg);
  return env.fail(-err, 'meta', msg, env.logTypeId, off);
}

function parseHdr(env: Env): void {
  const { r, data } = env;
  const size = data.length;
  const plain = (msg: string, err: number, at: number): Fail => {
    env.vlog(msg);
    return env.fail(-err, 'hdr', msg, undefined, at);
  };
  if (size < 8) throw plain('hdr_len not found', EINVAL, 0);
  const hdrLen = r.u32(4);
  if (size < hdrLen) throw plain('btf_header not found', EINVAL, 4);
  if (hdrLen > 24) {
    for (let i = 24; i < hdrLen; i++) if (data[i] !== 0) throw plain('Unsupported btf_header', E2BIG, i);
  }
  // memcpy(min(hdr_len, 24)): fields past hdr_len read as 0
  const field = (o: number, n: 1 | 2 | 4): number =>
    o + n > hdrLen ? 0 : n === 1 ? r.u8(o) : n === 2 ? r.u16(o) : r.u32(o);
  const h = env.hdr;
  h.magic = field(0, 2);
  h.version = field(2, 1);
  h.flags = field(3, 1);
  h.hdr_len = hdrLen;
  h.type_off = field(8, 4);
  h.type_len = field(12, 4);
  h.str_off = field(16, 4);
  h.str_len = field(20, 4);
  if (h.magic !== BTF_MAGIC) throw plain('Invalid magic', EINVAL, 0);
  if (h.version !== 1) throw plain('Unsupported version', ENOTSUPP, 2);
  if (h.flags) throw plain('Unsupported flags', ENOTSUPP, 3);
  if (env.standalone && size === hdrLen) throw plain('No data', EINVAL, 4);
  // btf_check_sec_info(): the two sections sorted by (int)(off diff) then (int)(len diff)
  const secs = [
    { off: h.type_off, len: h.type_len, at: 8 },
    { off: h.str_off, len: h.str_len, at: 16 },
  ];
  const cmp = (x: { off: number; len: number }, y: { off: number; len: number }): number =>
    (x.off - y.off) | 0 || (x.len - y.len) | 0;
  if (cmp(secs[0]!, secs[1]!) > 0) secs.reverse();
  let total = 0;
  const expected = (size - hdrLen) >>> 0;
  for (const s of secs) {
    if (expected < s.off) throw plain('Invalid section offset', EINVAL, s.at);
    if (total < s.off) throw plain('Unsupported section found', EINVAL, s.at);
    if (total > s.off) throw plain('Section overlap found', EINVAL, s.at);
    if (expected - total < s.len) throw plain('Total section length too long', EINVAL, s.at + 4);
    total += s.len;
  }
  if (expected !== total) throw plain('Unsupported section found', EINVAL, 8);
}

function parseStrSec(env: Env): void {
  const h = env.hdr;
  const start = h.hdr_len + h.str_off;
  const end = start + h.str_len;
  const plain = (msg: string, at: number): Fail => {
    env.vlog(msg);
    return env.fail(-EINVAL, 'str', msg, undefined, at);
  };
  if (end !== env.data.length) throw plain('String section is not at the end', 16);
  env.strStart = start;
  if (!env.standalone && h.str_len === 0) return; // allowed for split BTF
  if (h.str_len === 0 || h.str_len - 1 > BTF_MAX_NAME_OFFSET || env.data[end - 1] !== 0)
    throw plain('Invalid string section', Math.max(start, end - 1));
  if (env.standalone && env.data[start] !== 0) throw plain('Invalid string section', start);
}

/** One kind's check_meta; returns the kind data size. */
/** A type record's common fields, read once for its kind's meta check. */
interface TypeMeta {
  readonly env: Env;
  /** Offset of the type record. */
  readonly off: number;
  readonly kind: number;
  readonly nameOff: number;
  readonly vlen: number;
  readonly kflag: boolean;
  readonly sizeOrType: number;
  /** Offset of the kind's data after the record. */
  readonly d: number;
  /** Bytes of type section left after the record. */
  readonly metaLeft: number;
}

/** btf_check_meta()'s per-kind step (the kernel's `check_meta` operations): the kind's bytes of meta data, or a failure thrown. */
function checkKindMeta(env: Env, off: number, kind: number, metaLeft: number): number {
  const r = env.r;
  const nameOff = r.u32(off);
  const info = r.u32(off + 4);
  const sizeOrType = r.u32(off + 8);
  const t: TypeMeta = {
    env,
    off,
    kind,
    nameOff,
    vlen: info & 0xffff,
    kflag: (info & 0x80000000) !== 0,
    sizeOrType,
    d: off + 12,
    metaLeft,
  };
  switch (kind) {
    case BTF_KIND_INT:
      return checkIntMeta(t);
    case BTF_KIND_PTR:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_TYPE_TAG:
      return checkRefMeta(t);
    case BTF_KIND_ARRAY:
      return checkArrayMeta(t);
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      return checkMembersMeta(t);
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      return checkEnumMeta(t);
    case BTF_KIND_FWD:
      return checkFwdMeta(t);
    case BTF_KIND_FUNC:
      return checkFuncMeta(t);
    case BTF_KIND_FUNC_PROTO:
      return checkFuncProtoMeta(t);
    case BTF_KIND_VAR:
      return checkVarMeta(t);
    case BTF_KIND_DATASEC:
      return checkDatasecMeta(t);
    case BTF_KIND_FLOAT:
      return checkFloatMeta(t);
    case BTF_KIND_DECL_TAG:
      return checkDeclTagMeta(t);
    default:
      // btf_check_meta() rejected other kinds
      return 0;
  }
}

function needMeta(t: TypeMeta, needed: number): void {
  if (t.metaLeft < needed) throw typeFail(t.env, t.off, `meta_left:${t.metaLeft} meta_needed:${needed}`, EINVAL, false);
}

function validId(id: number): boolean {
  return id <= BTF_MAX_TYPE;
}

/** btf_int_check_meta() */
function checkIntMeta(t: TypeMeta): number {
  const { env, off, vlen, kflag, sizeOrType, d } = t;
  const r = t.env.r;
  needMeta(t, 4);
  if (vlen) throw typeFail(env, off, 'vlen != 0');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  const v = r.u32(d);
  if ((v & ~BTF_INT_MASK) !== 0) throw typeFail(env, off, `Invalid int_data:${v.toString(16)}`, EINVAL, false);
  const nrBits = (v & 0xff) + ((v >>> 16) & 0xff);
  if (nrBits > 128) throw typeFail(env, off, 'nr_bits exceeds 128');
  if ((nrBits >>> 3) + (nrBits & 7 ? 1 : 0) > sizeOrType) throw typeFail(env, off, 'nr_bits exceeds type_size');
  const enc = (v >>> 24) & 0x0f;
  if (enc && enc !== 1 && enc !== 2 && enc !== 4) throw typeFail(env, off, 'Unsupported encoding', ENOTSUPP);
  return 4;
}

/** btf_ref_type_check_meta(): PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG */
function checkRefMeta(t: TypeMeta): number {
  const { env, off, kind, nameOff, vlen, kflag, sizeOrType } = t;
  if (vlen) throw typeFail(env, off, 'vlen != 0');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  if (!validId(sizeOrType)) throw typeFail(env, off, 'Invalid type_id');
  if (kind === BTF_KIND_TYPEDEF) {
    if (!nameOff || !env.validIdentifier(nameOff)) throw typeFail(env, off, 'Invalid name');
  } else if (kind === BTF_KIND_TYPE_TAG) {
    const v = env.strAt(nameOff);
    if (!v || v.length === 0) throw typeFail(env, off, 'Invalid name');
  } else if (nameOff) throw typeFail(env, off, 'Invalid name');
  return 0;
}

/** btf_array_check_meta() */
function checkArrayMeta(t: TypeMeta): number {
  const { env, off, nameOff, vlen, kflag, sizeOrType, d } = t;
  const r = t.env.r;
  needMeta(t, 12);
  if (nameOff) throw typeFail(env, off, 'Invalid name');
  if (vlen) throw typeFail(env, off, 'vlen != 0');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  if (sizeOrType) throw typeFail(env, off, 'size != 0');
  const elem = r.u32(d);
  const index = r.u32(d + 4);
  if (!elem || !validId(elem)) throw typeFail(env, off, 'Invalid elem');
  if (!index || !validId(index)) throw typeFail(env, off, 'Invalid index');
  return 12;
}

/** btf_struct_check_meta(): STRUCT and UNION members */
function checkMembersMeta(t: TypeMeta): number {
  const { env, off, kind, nameOff, vlen, kflag, sizeOrType, d } = t;
  const r = t.env.r;
  const needed = vlen * 12;
  needMeta(t, needed);
  if (nameOff && !env.validIdentifier(nameOff)) throw typeFail(env, off, 'Invalid name');
  const isUnion = kind === BTF_KIND_UNION;
  let last = 0;
  for (let i = 0; i < vlen; i++) {
    const m = d + i * 12;
    const memberFail = (msg: string): Fail => {
      env.logMember(off, m, msg);
      return env.fail(-EINVAL, 'meta', msg, env.logTypeId, m);
    };
    const mName = r.u32(m);
    if (!env.nameOffsetValid(mName)) throw memberFail(`Invalid member name_offset:${mName}`);
    if (mName && !env.validIdentifier(mName)) throw memberFail('Invalid name');
    const mType = r.u32(m + 4);
    if (!mType || !validId(mType)) throw memberFail('Invalid type_id');
    const raw = r.u32(m + 8);
    const bitOff = kflag ? raw & 0xffffff : raw;
    if (isUnion && bitOff) throw memberFail('Invalid member bits_offset');
    if (last > bitOff) throw memberFail('Invalid member bits_offset');
    if ((bitOff >>> 3) + (bitOff & 7 ? 1 : 0) > sizeOrType)
      throw memberFail('Member bits_offset exceeds its struct size');
    last = bitOff;
  }
  return needed;
}

/** btf_enum_check_meta() and btf_enum64_check_meta() */
function checkEnumMeta(t: TypeMeta): number {
  const { env, off, kind, nameOff, vlen, sizeOrType, d } = t;
  const r = t.env.r;
  const esz = kind === BTF_KIND_ENUM ? 8 : 12;
  const needed = vlen * esz;
  needMeta(t, needed);
  if (sizeOrType > 8 || sizeOrType === 0 || (sizeOrType & (sizeOrType - 1)) !== 0)
    throw typeFail(env, off, 'Unexpected size');
  if (nameOff && !env.validIdentifier(nameOff)) throw typeFail(env, off, 'Invalid name');
  for (let i = 0; i < vlen; i++) {
    const e = d + i * esz;
    const eName = r.u32(e);
    if (!env.nameOffsetValid(eName)) {
      const msg = `\tInvalid name_offset:${eName}`;
      env.vlog(msg);
      throw env.fail(-EINVAL, 'meta', `Invalid name_offset:${eName}`, env.logTypeId, e);
    }
    if (!eName || !env.validIdentifier(eName)) {
      env.logType(off, true, 'Invalid name');
      throw env.fail(-EINVAL, 'meta', 'Invalid name', env.logTypeId, e);
    }
  }
  return needed;
}

/** btf_fwd_check_meta() */
function checkFwdMeta(t: TypeMeta): number {
  const { env, off, nameOff, vlen, sizeOrType } = t;
  if (vlen) throw typeFail(env, off, 'vlen != 0');
  if (sizeOrType) throw typeFail(env, off, 'type != 0');
  if (!nameOff || !env.validIdentifier(nameOff)) throw typeFail(env, off, 'Invalid name');
  return 0;
}

/** btf_func_check_meta() */
function checkFuncMeta(t: TypeMeta): number {
  const { env, off, nameOff, vlen, kflag } = t;
  if (!nameOff || !env.validIdentifier(nameOff)) throw typeFail(env, off, 'Invalid name');
  if (vlen > 1) throw typeFail(env, off, 'Invalid func linkage');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  return 0;
}

/** btf_func_proto_check_meta() */
function checkFuncProtoMeta(t: TypeMeta): number {
  const { env, off, nameOff, vlen, kflag } = t;
  const needed = vlen * 8;
  needMeta(t, needed);
  if (nameOff) throw typeFail(env, off, 'Invalid name');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  return needed;
}

/** btf_var_check_meta() */
function checkVarMeta(t: TypeMeta): number {
  const { env, off, nameOff, vlen, kflag, sizeOrType, d } = t;
  const r = t.env.r;
  needMeta(t, 4);
  if (vlen) throw typeFail(env, off, 'vlen != 0');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  if (!nameOff || !env.validIdentifier(nameOff)) throw typeFail(env, off, 'Invalid name');
  if (!sizeOrType || !validId(sizeOrType)) throw typeFail(env, off, 'Invalid type_id');
  const linkage = r.u32(d);
  if (linkage !== 0 && linkage !== 1) throw typeFail(env, off, 'Linkage not supported');
  return 4;
}

/** btf_datasec_check_meta(): the variables of a section */
function checkDatasecMeta(t: TypeMeta): number {
  const { env, off, nameOff, vlen, kflag, sizeOrType, d } = t;
  const r = t.env.r;
  const needed = vlen * 12;
  needMeta(t, needed);
  if (!sizeOrType) throw typeFail(env, off, 'size == 0');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  if (!nameOff || !env.validSection(nameOff)) throw typeFail(env, off, 'Invalid name');
  let lastEnd = 0;
  let sum = 0;
  for (let i = 0; i < vlen; i++) {
    const v = d + i * 12;
    const vsiFail = (msg: string): Fail => {
      env.logVsi(v, msg);
      return env.fail(-EINVAL, 'meta', msg, env.logTypeId, v);
    };
    const vType = r.u32(v);
    const vOff = r.u32(v + 4);
    const vSize = r.u32(v + 8);
    if (!vType || !validId(vType)) throw vsiFail('Invalid type_id');
    if (vOff < lastEnd || vOff >= sizeOrType) throw vsiFail('Invalid offset');
    if (!vSize || vSize > sizeOrType) throw vsiFail('Invalid size');
    lastEnd = vOff + vSize;
    if (lastEnd > sizeOrType) throw vsiFail('Invalid offset+size');
    sum += vSize;
  }
  if (sizeOrType < sum) throw typeFail(env, off, 'Invalid btf_info size');
  return needed;
}

/** btf_float_check_meta() */
function checkFloatMeta(t: TypeMeta): number {
  const { env, off, vlen, kflag, sizeOrType } = t;
  if (vlen) throw typeFail(env, off, 'vlen != 0');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  if (![2, 4, 8, 12, 16].includes(sizeOrType)) throw typeFail(env, off, 'Invalid type_size');
  return 0;
}

/** btf_decl_tag_check_meta() */
function checkDeclTagMeta(t: TypeMeta): number {
  const { env, off, nameOff, vlen, kflag, d } = t;
  const r = t.env.r;
  needMeta(t, 4);
  const v = env.strAt(nameOff);
  if (!v || v.length === 0) throw typeFail(env, off, 'Invalid value');
  if (vlen) throw typeFail(env, off, 'vlen != 0');
  if (kflag) throw typeFail(env, off, 'Invalid btf_info kind_flag');
  if (r.i32(d) < -1) throw typeFail(env, off, 'Invalid component_idx');
  return 4;
}

function checkAllMetas(env: Env): void {
  const h = env.hdr;
  let cur = h.hdr_len + h.type_off;
  const end = cur + h.type_len;
  env.logTypeId = env.startId;
  const r = env.r;
  while (cur < end) {
    const metaLeft = end - cur;
    const id = env.logTypeId;
    const plain = (msg: string, at: number): Fail => {
      env.vlog(`[${id}] ${msg}`);
      return env.fail(-EINVAL, 'meta', msg, id, at);
    };
    if (metaLeft < 12) throw plain(`meta_left:${metaLeft} meta_needed:12`, cur);
    const info = r.u32(cur + 4);
    if ((info & ~BTF_INFO_MASK) !== 0) throw plain(`Invalid btf_info:${info.toString(16)}`, cur + 4);
    const kind = (info >>> 24) & 0x1f;
    if (kind > BTF_KIND_MAX || kind === 0) throw plain(`Invalid kind:${kind}`, cur + 4);
    const nameOff = r.u32(cur);
    if (!env.nameOffsetValid(nameOff)) throw plain(`Invalid name_offset:${nameOff}`, cur);
    const extra = checkKindMeta(env, cur, kind, metaLeft - 12);
    // btf_add_type(): the kernel stops near BTF_MAX_TYPE ids; its exact trigger depends on how
    // its type array grew, which is not modelled (needs > 1M types, i.e. > 12 MB of BTF)
    if (id >= BTF_MAX_TYPE) {
      env.vlog('Exceeded max num of types');
      throw env.fail(-E2BIG, 'meta', 'Exceeded max num of types', id, cur);
    }
    env.offs.push(cur);
    cur += 12 + extra;
    env.logTypeId++;
  }
}

function checkTypeTags(env: Env): void {
  const r = env.r;
  const start = env.startId;
  const total = start + env.offs.length;
  // btf_type_by_id(): kind of any id, or undefined past the end (id 0 = void, kind 0)
  const kindOf = (id: number): number | undefined => {
    if (id >= total) return undefined;
    if (id < start) return env.base.kind(id);
    return (r.u32(env.offs[id - start]! + 4) >>> 24) & 0x1f;
  };
  const nextOf = (id: number): number => (id < start ? env.base.sizeOrType(id) : r.u32(env.offs[id - start]! + 8));
  const isModifier = (k: number): boolean =>
    k === BTF_KIND_TYPEDEF ||
    k === BTF_KIND_VOLATILE ||
    k === BTF_KIND_CONST ||
    k === BTF_KIND_RESTRICT ||
    k === BTF_KIND_TYPE_TAG;
  let goodId = start - 1;
  for (let i = start; i < total; i++) {
    let k = kindOf(i)!;
    if (!isModifier(k)) continue;
    let inTags = k === BTF_KIND_TYPE_TAG;
    let chain = MAX_CHAIN;
    let cur = i;
    while (isModifier(k)) {
      if (!chain--) {
        env.vlog('Max chain length or cycle detected');
        throw env.fail(-ELOOP, 'type_tags', 'Max chain length or cycle detected', i, env.offs[i - start]);
      }
      if (k === BTF_KIND_TYPE_TAG) {
        if (!inTags) {
          env.vlog("Type tags don't precede modifiers");
          throw env.fail(-EINVAL, 'type_tags', "Type tags don't precede modifiers", i, env.offs[i - start]);
        }
      } else if (inTags) inTags = false;
      if (cur <= goodId) break;
      cur = nextOf(cur);
      const nk = kindOf(cur);
      // the kernel returns -EINVAL here without a log line
      if (nk === undefined)
        throw env.fail(-EINVAL, 'type_tags', `referenced type id ${cur} does not exist`, i, env.offs[i - start]);
      k = nk;
    }
    goodId = i;
  }
}

/** The kernel's parse of one BTF blob, in its order; the first failure, or undefined. */
function parseAll(env: Env): Fail | undefined {
  try {
    parseHdr(env);
    parseStrSec(env);
    checkAllMetas(env);
    checkTypeTags(env);
    return undefined;
  } catch (e) {
    if (!(e instanceof Fail)) throw e;
    return e;
  }
}

/**
 * Predicts what the kernel does with a module's `.BTF` on top of `base` (the target's vmlinux
 * BTF): btf_parse_module()'s first failure (errno, message, type id, and every log line), or ok.
 * With 6.12 rules and `opts.distilledBase`, `.BTF` sits on that distilled base and is then
 * relocated onto `base` (the result's `distilled` says how each distilled type mapped).
 * Pure; never throws for malformed BTF (that is a result), only for programming errors.
 * Work is bounded by the size of `data` (each loop advances by at least 12 bytes; modifier
 * chains stop after 32 hops).
 */
export function checkModuleBtf(data: Uint8Array, base: Btf, opts: ModuleBtfCheckOptions): ModuleBtfCheckResult {
  const le = opts.littleEndian ?? base.littleEndian;
  const failed = (
    e: Fail,
    log: readonly string[],
    section: '.BTF' | '.BTF.base',
    distilled?: DistilledBaseOutcome,
  ): ModuleBtfCheckResult => {
    const out = [...log];
    let loads: boolean;
    if (opts.kernel === '6.1') {
      out.push(`failed to validate module [${opts.moduleName}] BTF: ${e.err}`);
      loads = opts.allowMismatch;
    } else if (opts.allowMismatch) {
      out.push('Kernel module BTF mismatch detected, BTF debug info may be unavailable for some modules');
      loads = true;
    } else {
      out.push(`failed to validate module [${opts.moduleName}] BTF: ${e.err}`);
      loads = false;
    }
    return {
      status: 'fail',
      err: e.err,
      errName: errnoName(-e.err) ?? `E${-e.err}`,
      stage: e.stage,
      ...(e.typeId !== undefined ? { typeId: e.typeId } : {}),
      reason: e.reason,
      ...(e.at !== undefined ? { offset: e.at } : {}),
      kernelLog: out,
      loads,
      section,
      ...(distilled ? { distilled } : {}),
    };
  };
  const unsupported = (reason: string): ModuleBtfCheckResult => ({
    status: 'unsupported',
    err: 0,
    reason,
    kernelLog: [],
    loads: true,
  });

  // 6.12 with .BTF.base: btf_parse_base(".BTF.base") first; it becomes the base of .BTF
  let splitBase: Btf = base;
  let dist: Btf | undefined;
  if (opts.kernel === '6.12' && opts.distilledBase !== undefined) {
    const denv = new Env(opts.distilledBase, noBase(le), { ...opts, offset: opts.distilledBaseOffset ?? 0 }, true);
    const e = parseAll(denv);
    if (e) return failed(e, denv.log, '.BTF.base');
    // the kernel counts void only once a type was added: an empty base has 0 types, and split
    // ids would then start at 0, colliding with void; no real producer writes that
    if (denv.offs.length === 0)
      return unsupported(
        "the .BTF.base section has no types: the kernel would number the module's types from 0 (colliding with void)",
      );
    try {
      dist = Btf.parse(opts.distilledBase, {
        file: opts.file ?? opts.moduleName,
        offset: opts.distilledBaseOffset ?? 0,
      });
    } catch (e) {
      return unsupported(
        `the kernel accepts this .BTF.base but kmodseal's BTF reader does not: ${(e as Error).message}`,
      );
    }
    splitBase = dist;
  }

  const env = new Env(data, splitBase, opts);
  const e = parseAll(env);
  if (e) return failed(e, env.log, '.BTF');
  if (!dist) return { status: 'ok', err: 0, kernelLog: [], loads: true };

  // btf_relocate() onto vmlinux
  let split: Btf;
  try {
    split = Btf.parse(data, { file: opts.file ?? opts.moduleName, offset: opts.offset ?? 0, base: dist });
  } catch (e) {
    return unsupported(`the kernel accepts this .BTF but kmodseal's BTF reader does not: ${(e as Error).message}`);
  }
  const rel = relocateDistilledBtf(split, base);
  const distilled: DistilledBaseOutcome = {
    distilledTypes: rel.distilledTypes,
    targetTypes: rel.targetTypes,
    mappings: rel.mappings,
    ...(rel.relocated ? { relocated: rel.relocated } : {}),
  };
  if (rel.status === 'undefined')
    return { ...unsupported(rel.reason ?? 'undefined behaviour in btf_relocate()'), distilled };
  if (rel.status === 'fail') {
    // btf_relocate() reports with pr_warn(): a plain line, printed even when the mismatch is allowed
    const e = new Fail(rel.err, 'relocate', rel.reason ?? 'relocation failed', rel.typeId, undefined);
    return failed(e, [rel.reason ?? ''], '.BTF.base', distilled);
  }
  return { status: 'ok', err: 0, kernelLog: [], loads: true, distilled };
}
