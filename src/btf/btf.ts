/**
 * BTF (BPF Type Format) reader: base BTF (vmlinux `.BTF`) and split BTF (a module's `.BTF`
 * on top of vmlinux). Authority: include/uapi/linux/btf.h, Documentation/bpf/btf.rst,
 * libbpf tools/lib/bpf/btf.c (btf_parse_hdr/btf_parse_str_sec/btf_parse_type_sec).
 *
 *   header (24 bytes, byte order given by the magic)
 *     u16 magic 0xeb9f | u8 version 1 | u8 flags | u32 hdr_len
 *     u32 type_off | u32 type_len | u32 str_off | u32 str_len   (offsets from the end of hdr_len)
 *   type section: records of  btf_type {u32 name_off; u32 info; u32 size_or_type}  + kind data
 *     info: vlen bits 0-15, kind bits 24-28, kind_flag bit 31
 *   string section: NUL-terminated strings, offset 0 = ""
 *
 * Split BTF: type ids continue after the base's last id (first own id = base type count,
 * counting void), string offsets continue after the base's string section length.
 *
 * Parsing validates the header, the string section and the extent of every type record
 * (the way libbpf does), and builds an offset index (`Uint32Array`). Types are decoded on
 * demand; names resolve through the base. Type ids and name offsets inside records are
 * *not* checked here (bpftool prints `(invalid)` for bad names); see validate.ts for the
 * kernel's rules.
 */
import { ByteReader, latin1 } from '../bytes/reader.js';
import { Elf, probeElf } from '../elf/elf.js';

export const BTF_MAGIC = 0xeb9f;
export const BTF_HEADER_SIZE = 24;
/** Largest type id the kernel accepts (BTF_MAX_TYPE). */
export const BTF_MAX_TYPE = 0xfffff;
/** Largest string offset the kernel accepts (BTF_MAX_NAME_OFFSET). */
export const BTF_MAX_NAME_OFFSET = 0xffffff;
/** Size of `struct btf_type`. */
export const BTF_TYPE_SIZE = 12;

export const BTF_KIND_INT = 1;
export const BTF_KIND_PTR = 2;
export const BTF_KIND_ARRAY = 3;
export const BTF_KIND_STRUCT = 4;
export const BTF_KIND_UNION = 5;
export const BTF_KIND_ENUM = 6;
export const BTF_KIND_FWD = 7;
export const BTF_KIND_TYPEDEF = 8;
export const BTF_KIND_VOLATILE = 9;
export const BTF_KIND_CONST = 10;
export const BTF_KIND_RESTRICT = 11;
export const BTF_KIND_FUNC = 12;
export const BTF_KIND_FUNC_PROTO = 13;
export const BTF_KIND_VAR = 14;
export const BTF_KIND_DATASEC = 15;
export const BTF_KIND_FLOAT = 16;
export const BTF_KIND_DECL_TAG = 17;
export const BTF_KIND_TYPE_TAG = 18;
export const BTF_KIND_ENUM64 = 19;
export const BTF_KIND_MAX = 19;

/** Kind names as bpftool and the kernel print them, indexed by kind number. */
export const BTF_KIND_NAMES = [
  'UNKNOWN',
  'INT',
  'PTR',
  'ARRAY',
  'STRUCT',
  'UNION',
  'ENUM',
  'FWD',
  'TYPEDEF',
  'VOLATILE',
  'CONST',
  'RESTRICT',
  'FUNC',
  'FUNC_PROTO',
  'VAR',
  'DATASEC',
  'FLOAT',
  'DECL_TAG',
  'TYPE_TAG',
  'ENUM64',
] as const;
export type BtfKindName = (typeof BTF_KIND_NAMES)[number];

export function kindName(kind: number): BtfKindName {
  return BTF_KIND_NAMES[kind <= BTF_KIND_MAX ? kind : 0]!;
}

/** Bytes of kind-specific data that follow a `btf_type` of this kind; undefined for an unknown kind. */
export function kindDataSize(kind: number, vlen: number): number | undefined {
  switch (kind) {
    case BTF_KIND_INT:
    case BTF_KIND_VAR:
    case BTF_KIND_DECL_TAG:
      return 4;
    case BTF_KIND_ARRAY:
      return 12;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
    case BTF_KIND_DATASEC:
    case BTF_KIND_ENUM64:
      return vlen * 12;
    case BTF_KIND_ENUM:
    case BTF_KIND_FUNC_PROTO:
      return vlen * 8;
    case BTF_KIND_PTR:
    case BTF_KIND_FWD:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_CONST:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_FUNC:
    case BTF_KIND_FLOAT:
    case BTF_KIND_TYPE_TAG:
      return 0;
    default:
      return undefined;
  }
}

/** The header fields, named as in `struct btf_header`. */
export interface BtfHeaderRaw {
  readonly magic: number;
  readonly version: number;
  readonly flags: number;
  readonly hdr_len: number;
  readonly type_off: number;
  readonly type_len: number;
  readonly str_off: number;
  readonly str_len: number;
}

export interface BtfMember {
  readonly name: string | undefined;
  readonly nameOff: number;
  readonly type: number;
  readonly bitsOffset: number;
  /** 0 unless the struct has kind_flag set and the member is a bitfield. */
  readonly bitfieldSize: number;
}
export interface BtfEnumValue {
  readonly name: string | undefined;
  readonly nameOff: number;
  /** ENUM: the 32-bit value (signed when the type's kind_flag is set); ENUM64: a bigint. */
  readonly val: number | bigint;
}
export interface BtfParam {
  readonly name: string | undefined;
  readonly nameOff: number;
  readonly type: number;
}
export interface BtfVarSecinfo {
  readonly type: number;
  readonly offset: number;
  readonly size: number;
}

interface BtfTypeCommon {
  readonly id: number;
  readonly kindName: BtfKindName;
  /** `undefined` when name_off points outside the string sections. */
  readonly name: string | undefined;
  readonly nameOff: number;
  readonly info: number;
  readonly vlen: number;
  readonly kflag: boolean;
  /** The raw third word (`size` or `type`). */
  readonly sizeOrType: number;
  /** Absolute offset of the record in the input. */
  readonly offset: number;
}

/** One decoded type. `kind` discriminates. */
export type BtfType = BtfTypeCommon &
  (
    | {
        readonly kind: typeof BTF_KIND_INT;
        readonly size: number;
        readonly encoding: number;
        readonly bitsOffset: number;
        readonly nrBits: number;
        readonly intData: number;
      }
    | {
        readonly kind:
          | typeof BTF_KIND_PTR
          | typeof BTF_KIND_TYPEDEF
          | typeof BTF_KIND_VOLATILE
          | typeof BTF_KIND_CONST
          | typeof BTF_KIND_RESTRICT
          | typeof BTF_KIND_TYPE_TAG;
        readonly type: number;
      }
    | {
        readonly kind: typeof BTF_KIND_ARRAY;
        readonly type: number;
        readonly indexType: number;
        readonly nelems: number;
      }
    | {
        readonly kind: typeof BTF_KIND_STRUCT | typeof BTF_KIND_UNION;
        readonly size: number;
        readonly members: readonly BtfMember[];
      }
    | {
        readonly kind: typeof BTF_KIND_ENUM | typeof BTF_KIND_ENUM64;
        readonly size: number;
        readonly signed: boolean;
        readonly values: readonly BtfEnumValue[];
      }
    | { readonly kind: typeof BTF_KIND_FWD; readonly union: boolean }
    | { readonly kind: typeof BTF_KIND_FUNC; readonly type: number; readonly linkage: number }
    | { readonly kind: typeof BTF_KIND_FUNC_PROTO; readonly type: number; readonly params: readonly BtfParam[] }
    | { readonly kind: typeof BTF_KIND_VAR; readonly type: number; readonly linkage: number }
    | { readonly kind: typeof BTF_KIND_DATASEC; readonly size: number; readonly vars: readonly BtfVarSecinfo[] }
    | { readonly kind: typeof BTF_KIND_FLOAT; readonly size: number }
    | { readonly kind: typeof BTF_KIND_DECL_TAG; readonly type: number; readonly componentIdx: number }
  );

export interface ParseBtfOptions {
  /** File name for error messages. */
  file: string;
  /** Base BTF: makes this split BTF. */
  base?: Btf;
  /** Absolute offset of `data[0]` in the file (e.g. the `.BTF` section offset), for error offsets. */
  offset?: number;
}

/** True when `data` starts with a BTF magic in either byte order. Never throws. */
export function probeBtf(data: Uint8Array): boolean {
  return data.length >= 2 && ((data[0] === 0x9f && data[1] === 0xeb) || (data[0] === 0xeb && data[1] === 0x9f));
}

/**
 * A parsed BTF blob. Holds a view of the input bytes (no copy): keep the input alive and
 * unmodified while using it.
 */
export class Btf {
  readonly file: string;
  readonly data: Uint8Array;
  readonly header: BtfHeaderRaw;
  readonly littleEndian: boolean;
  readonly base: Btf | undefined;
  /** First type id defined here: 1 for base BTF, the base's type count for split BTF. */
  readonly startId: number;
  /** First string offset defined here: 0 for base BTF, the base's string length for split BTF. */
  readonly startStrOff: number;
  /** Number of types defined here (void not counted). */
  readonly ownCount: number;
  /** Reader over `data` with the BTF's byte order; errors at absolute offsets. @internal */
  readonly r: ByteReader;
  /** Offset (in `data`) of each own type record; index = id - startId. */
  private readonly offs: Uint32Array;
  /** [start, end) of the string section in `data`. */
  private readonly strStart: number;
  private readonly strEnd: number;

  private constructor(init: {
    file: string;
    data: Uint8Array;
    header: BtfHeaderRaw;
    r: ByteReader;
    base: Btf | undefined;
    offs: Uint32Array;
    strStart: number;
    strEnd: number;
  }) {
    this.file = init.file;
    this.data = init.data;
    this.header = init.header;
    this.r = init.r;
    this.littleEndian = init.r.littleEndian;
    this.base = init.base;
    this.startId = init.base ? init.base.typeCount : 1;
    this.startStrOff = init.base ? init.base.strEndOff : 0;
    this.offs = init.offs;
    this.ownCount = init.offs.length;
    this.strStart = init.strStart;
    this.strEnd = init.strEnd;
  }

  /** Total number of type ids including void and the base's types (libbpf btf__type_cnt). */
  get typeCount(): number {
    return this.startId + this.ownCount;
  }
  /** One past the last valid string offset (base strings included). */
  get strEndOff(): number {
    return this.startStrOff + this.header.str_len;
  }

  /**
   * Parses BTF bytes (base, or split when `options.base` is given).
   * @throws FormatError E_MAGIC (no BTF magic), E_TRUNCATED, E_RANGE (sections outside the data),
   *   E_FORMAT (bad string section, unknown kind, misaligned types, byte order differs from base),
   *   E_UNSUPPORTED (version/flags), E_LIMIT (more types than BTF ids allow)
   */
  static parse(data: Uint8Array, options: ParseBtfOptions): Btf {
    const probe = new ByteReader(data, { file: options.file, format: 'btf', base: options.offset ?? 0 });
    if (data.length < 2 || !probeBtf(data)) throw probe.error('E_MAGIC', 0, 'not BTF (bad magic)');
    const r = probe.withEndian(data[0] === 0x9f);
    r.need(0, BTF_HEADER_SIZE, 'BTF header');
    const header: BtfHeaderRaw = {
      magic: r.u16(0),
      version: r.u8(2),
      flags: r.u8(3),
      hdr_len: r.u32(4),
      type_off: r.u32(8),
      type_len: r.u32(12),
      str_off: r.u32(16),
      str_len: r.u32(20),
    };
    const base = options.base;
    if (base && base.littleEndian !== r.littleEndian) {
      throw r.error('E_FORMAT', 0, 'split BTF byte order differs from its base');
    }
    if (header.version !== 1) throw r.error('E_UNSUPPORTED', 2, `unsupported BTF version ${header.version}`);
    if (header.flags !== 0) throw r.error('E_UNSUPPORTED', 3, `unsupported BTF flags 0x${header.flags.toString(16)}`);
    if (header.hdr_len < BTF_HEADER_SIZE)
      throw r.error('E_FORMAT', 4, `hdr_len ${header.hdr_len} smaller than ${BTF_HEADER_SIZE}`);
    if (header.hdr_len > data.length)
      throw r.error('E_RANGE', 4, `hdr_len ${header.hdr_len} past end of data (${data.length} bytes)`);
    const metaLeft = data.length - header.hdr_len;
    if (header.str_off + header.str_len > metaLeft) {
      throw r.error(
        'E_RANGE',
        16,
        `string section ${header.str_off}+${header.str_len} past end of data (${metaLeft} bytes after header)`,
      );
    }
    if (header.type_off + header.type_len > header.str_off) {
      throw r.error(
        'E_RANGE',
        8,
        `type section ${header.type_off}+${header.type_len} overlaps or follows the string section at ${header.str_off}`,
      );
    }
    if (header.type_off % 4 !== 0)
      throw r.error('E_FORMAT', 8, `type section offset ${header.type_off} not 4-byte aligned`);

    const strStart = header.hdr_len + header.str_off;
    const strEnd = strStart + header.str_len;
    if (!(base && header.str_len === 0)) {
      if (header.str_len === 0) throw r.error('E_FORMAT', 20, 'empty string section');
      if (header.str_len - 1 > BTF_MAX_NAME_OFFSET)
        throw r.error('E_LIMIT', 20, `string section of ${header.str_len} bytes exceeds the BTF limit`);
      if (data[strEnd - 1] !== 0) throw r.error('E_FORMAT', strEnd - 1, 'string section does not end with NUL');
      if (!base && data[strStart] !== 0)
        throw r.error('E_FORMAT', strStart, 'base BTF string section does not start with an empty string');
    }

    // Each record is at least 12 bytes: the index can never need more slots than this.
    const typeStart = header.hdr_len + header.type_off;
    const typeEnd = typeStart + header.type_len;
    const startId = base ? base.typeCount : 1;
    const maxRecords = Math.floor(header.type_len / BTF_TYPE_SIZE);
    if (startId + maxRecords - 1 > 0xffffffff) throw r.error('E_LIMIT', typeStart, 'too many types');
    const offs = new Uint32Array(maxRecords);
    let n = 0;
    let off = typeStart;
    while (off < typeEnd) {
      const id = startId + n;
      if (typeEnd - off < BTF_TYPE_SIZE) {
        throw r.error('E_TRUNCATED', off, `type [${id}]: ${typeEnd - off} bytes left, btf_type needs ${BTF_TYPE_SIZE}`);
      }
      const info = r.u32(off + 4);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      const extra = kindDataSize(kind, vlen);
      if (extra === undefined) throw r.error('E_FORMAT', off + 4, `type [${id}]: unsupported kind ${kind}`);
      if (extra > typeEnd - off - BTF_TYPE_SIZE) {
        throw r.error(
          'E_TRUNCATED',
          off,
          `type [${id}] ${kindName(kind)}: vlen ${vlen} needs ${extra} bytes, only ${typeEnd - off - BTF_TYPE_SIZE} left in ` +
            `the type section`,
        );
      }
      offs[n++] = off;
      off += BTF_TYPE_SIZE + extra;
    }
    return new Btf({ file: options.file, data, header, r, base, offs: offs.subarray(0, n), strStart, strEnd });
  }

  /** The BTF that defines `id` (this one or a base), or undefined when out of range (id 0 = void has none). */
  owner(id: number): Btf | undefined {
    if (!Number.isInteger(id) || id <= 0) return undefined;
    let b: Btf | undefined = this as Btf;
    while (b && id < b.startId) b = b.base;
    if (!b || id - b.startId >= b.ownCount) return undefined;
    return b;
  }

  /**
   * Offset in `data` (read it with `r`) of the record of a type defined here (not in a base).
   * @throws FormatError E_RANGE for any other id
   */
  recordOffset(id: number): number {
    const i = id - this.startId;
    if (!Number.isInteger(i) || i < 0 || i >= this.ownCount)
      throw this.r.error('E_RANGE', 0, `type id ${id} is not defined in this BTF`);
    return this.offs[i]!;
  }

  /** True when `id` names a type (void excluded). */
  hasType(id: number): boolean {
    return this.owner(id) !== undefined;
  }

  /** Offset in the owner's data of the record of `id`. @throws FormatError E_RANGE */
  private rec(id: number): { b: Btf; off: number } {
    const b = this.owner(id);
    if (!b) throw this.r.error('E_RANGE', 0, `type id ${id} out of range (1..${this.typeCount - 1})`);
    return { b, off: b.offs[id - b.startId]! };
  }

  /** The raw `info` word of a type. @throws FormatError E_RANGE */
  info(id: number): number {
    const { b, off } = this.rec(id);
    return b.r.u32(off + 4);
  }
  /** Kind number of a type (0 for void). @throws FormatError E_RANGE */
  kind(id: number): number {
    return id === 0 ? 0 : (this.info(id) >>> 24) & 0x1f;
  }
  /** Raw name_off of a type. */
  nameOff(id: number): number {
    const { b, off } = this.rec(id);
    return b.r.u32(off);
  }
  /** Raw size/type word of a type. */
  sizeOrType(id: number): number {
    const { b, off } = this.rec(id);
    return b.r.u32(off + 8);
  }

  /**
   * The string at a (global) string offset, resolving through the base, or undefined when
   * the offset lies outside every string section (libbpf btf__str_by_offset).
   */
  str(offset: number): string | undefined {
    if (offset < this.startStrOff) return this.base?.str(offset);
    const local = offset - this.startStrOff;
    if (local >= this.header.str_len) return undefined;
    const at = this.strStart + local;
    let i = at;
    const d = this.data;
    while (i < this.strEnd && d[i] !== 0) i++;
    return latin1(d, at, i);
  }

  /**
   * Whether a (global) string offset is where a string starts (offset 0 of a section, or just
   * after a NUL), resolving through the base. False outside every string section.
   */
  startsString(offset: number): boolean {
    if (offset < this.startStrOff) return this.base?.startsString(offset) ?? false;
    const local = offset - this.startStrOff;
    if (local >= this.header.str_len) return false;
    return local === 0 || this.data[this.strStart + local - 1] === 0;
  }

  /**
   * The bytes of the string at a (global) string offset, up to (not including) its NUL, as a
   * zero-copy view; undefined outside every string section.
   */
  strBytes(offset: number): Uint8Array | undefined {
    if (offset < this.startStrOff) return this.base?.strBytes(offset);
    const local = offset - this.startStrOff;
    if (local >= this.header.str_len) return undefined;
    const at = this.strStart + local;
    const d = this.data;
    let i = at;
    while (i < this.strEnd && d[i] !== 0) i++;
    return d.subarray(at, i);
  }

  /** Decodes a type. @throws FormatError E_RANGE for an id that is not a type */
  type(id: number): BtfType {
    const { b, off } = this.rec(id);
    const r = b.r;
    const nameOff = r.u32(off);
    const info = r.u32(off + 4);
    const sizeOrType = r.u32(off + 8);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kflag = (info & 0x80000000) !== 0;
    const common = {
      id,
      kindName: kindName(kind),
      name: this.str(nameOff),
      nameOff,
      info,
      vlen,
      kflag,
      sizeOrType,
      offset: r.base + off,
    };
    const d = off + BTF_TYPE_SIZE;
    switch (kind) {
      case BTF_KIND_INT: {
        const v = r.u32(d);
        return {
          ...common,
          kind,
          size: sizeOrType,
          intData: v,
          encoding: (v >>> 24) & 0x0f,
          bitsOffset: (v >>> 16) & 0xff,
          nrBits: v & 0xff,
        };
      }
      case BTF_KIND_PTR:
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
        return { ...common, kind, type: sizeOrType };
      case BTF_KIND_ARRAY:
        return { ...common, kind, type: r.u32(d), indexType: r.u32(d + 4), nelems: r.u32(d + 8) };
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION: {
        const members: BtfMember[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const m = d + i * 12;
          const mNameOff = r.u32(m);
          const raw = r.u32(m + 8);
          members[i] = {
            nameOff: mNameOff,
            name: this.str(mNameOff),
            type: r.u32(m + 4),
            bitsOffset: kflag ? raw & 0xffffff : raw,
            bitfieldSize: kflag ? raw >>> 24 : 0,
          };
        }
        return { ...common, kind, size: sizeOrType, members };
      }
      case BTF_KIND_ENUM: {
        const values: BtfEnumValue[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const e = d + i * 8;
          const vNameOff = r.u32(e);
          values[i] = { nameOff: vNameOff, name: this.str(vNameOff), val: kflag ? r.i32(e + 4) : r.u32(e + 4) };
        }
        return { ...common, kind, size: sizeOrType, signed: kflag, values };
      }
      case BTF_KIND_ENUM64: {
        const values: BtfEnumValue[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const e = d + i * 12;
          const vNameOff = r.u32(e);
          const u = (BigInt(r.u32(e + 8)) << 32n) | BigInt(r.u32(e + 4));
          values[i] = { nameOff: vNameOff, name: this.str(vNameOff), val: kflag ? BigInt.asIntN(64, u) : u };
        }
        return { ...common, kind, size: sizeOrType, signed: kflag, values };
      }
      case BTF_KIND_FWD:
        return { ...common, kind, union: kflag };
      case BTF_KIND_FUNC:
        return { ...common, kind, type: sizeOrType, linkage: vlen };
      case BTF_KIND_FUNC_PROTO: {
        const params: BtfParam[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const p = d + i * 8;
          const pNameOff = r.u32(p);
          params[i] = { nameOff: pNameOff, name: this.str(pNameOff), type: r.u32(p + 4) };
        }
        return { ...common, kind, type: sizeOrType, params };
      }
      case BTF_KIND_VAR:
        return { ...common, kind, type: sizeOrType, linkage: r.u32(d) };
      case BTF_KIND_DATASEC: {
        const vars: BtfVarSecinfo[] = new Array(vlen);
        for (let i = 0; i < vlen; i++) {
          const v = d + i * 12;
          vars[i] = { type: r.u32(v), offset: r.u32(v + 4), size: r.u32(v + 8) };
        }
        return { ...common, kind, size: sizeOrType, vars };
      }
      case BTF_KIND_FLOAT:
        return { ...common, kind, size: sizeOrType };
      case BTF_KIND_DECL_TAG:
        return { ...common, kind, type: sizeOrType, componentIdx: r.i32(d) };
      default:
        // parse() rejected unknown kinds
        throw r.error('E_FORMAT', off + 4, `type [${id}]: unsupported kind ${kind}`);
    }
  }

  /** Ids of the types defined in this BTF (not the base's), in order. */
  *ownIds(): Generator<number> {
    for (let i = 0; i < this.ownCount; i++) yield this.startId + i;
  }
}

/** Parses BTF bytes; see {@link Btf.parse}. */
export function parseBtf(data: Uint8Array, options: ParseBtfOptions): Btf {
  return Btf.parse(data, options);
}

/** The `.BTF` (and, when present, `.BTF.base`) section bytes of an ELF file, or undefined without `.BTF`. Zero-copy views. */
export function findElfBtf(
  elf: Elf,
): { btf: Uint8Array; btfOffset: number; distilledBase?: Uint8Array; distilledBaseOffset?: number } | undefined {
  const s = elf.findSection('.BTF');
  if (!s) return undefined;
  const out: { btf: Uint8Array; btfOffset: number; distilledBase?: Uint8Array; distilledBaseOffset?: number } = {
    btf: elf.sectionData(s),
    btfOffset: s.sh_offset,
  };
  const b = elf.findSection('.BTF.base');
  if (b) {
    out.distilledBase = elf.sectionData(b);
    out.distilledBaseOffset = b.sh_offset;
  }
  return out;
}

/**
 * Parses the `.BTF` section of an ELF (vmlinux, or a module with `base`); undefined when the
 * ELF has no `.BTF` section.
 * @throws FormatError for malformed BTF (offsets absolute in the ELF file)
 */
export function parseElfBtf(elf: Elf, base?: Btf): Btf | undefined {
  const found = findElfBtf(elf);
  if (!found) return undefined;
  return Btf.parse(found.btf, { file: elf.file, offset: found.btfOffset, ...(base ? { base } : {}) });
}

/**
 * BTF from a file's bytes: raw BTF (e.g. /sys/kernel/btf/vmlinux) or an ELF with `.BTF`
 * (vmlinux, a module), the way `bpftool btf dump file` accepts both.
 * @throws FormatError E_MAGIC (neither), E_NOTFOUND (ELF without .BTF), or any parse error
 */
export function parseBtfFile(data: Uint8Array, file: string, base?: Btf): Btf {
  if (probeBtf(data)) return Btf.parse(data, { file, ...(base ? { base } : {}) });
  if (probeElf(data)) {
    const elf = Elf.parse(data, file);
    const btf = parseElfBtf(elf, base);
    if (!btf)
      throw new ByteReader(data, { file, format: 'btf' }).error('E_NOTFOUND', 0, 'ELF file has no .BTF section');
    return btf;
  }
  throw new ByteReader(data, { file, format: 'btf' }).error('E_MAGIC', 0, 'neither raw BTF nor an ELF file');
}
