/**
 * Test-only BTF builder: readable code in, BTF bytes out (like the kernel selftests'
 * BTF_*_ENC macros). Each add* call returns the new type id; the test writes `/* [n] *\/`
 * next to it.
 */
export interface BuildOptions {
  littleEndian?: boolean;
  /** For split BTF: the base's type count (first own id) and string section length. */
  split?: { typeCount: number; strLen: number };
  /** Header overrides applied after layout (for hostile fixtures). */
  header?: Partial<{
    magic: number;
    version: number;
    flags: number;
    hdr_len: number;
    type_off: number;
    type_len: number;
    str_off: number;
    str_len: number;
  }>;
}

export class BtfBuilder {
  private readonly words: number[] = [];
  private readonly strs: number[] = [];
  private readonly strIndex = new Map<string, number>();
  private count = 0;

  constructor(
    private readonly firstId = 1,
    private readonly strBase = 0,
    withEmpty = true,
  ) {
    if (withEmpty) this.strs.push(0);
    if (withEmpty) this.strIndex.set('', 0);
  }

  /** The (global) offset of a string, adding it once. Bytes are latin1. */
  str(s: string): number {
    const known = this.strIndex.get(s);
    if (known !== undefined) return known + (s === '' ? 0 : this.strBase);
    const off = this.strs.length;
    for (let i = 0; i < s.length; i++) this.strs.push(s.charCodeAt(i) & 0xff);
    this.strs.push(0);
    this.strIndex.set(s, off);
    return off + this.strBase;
  }

  private name(n: string | number): number {
    return typeof n === 'number' ? n : n === '' ? 0 : this.str(n);
  }

  /** A raw record: btf_type plus trailing u32 words. */
  raw(nameOff: number, kind: number, vlen: number, kflag: boolean, sizeOrType: number, extra: number[] = []): number {
    this.words.push(
      nameOff >>> 0,
      ((kflag ? 0x80000000 : 0) | ((kind & 0x1f) << 24) | (vlen & 0xffff)) >>> 0,
      sizeOrType >>> 0,
      ...extra.map((w) => w >>> 0),
    );
    return this.firstId + this.count++;
  }

  int(name: string | number, size: number, nrBits: number, encoding = 0, bitsOffset = 0): number {
    return this.raw(this.name(name), 1, 0, false, size, [
      ((encoding & 0xf) << 24) | ((bitsOffset & 0xff) << 16) | (nrBits & 0xff),
    ]);
  }
  ref(
    kind: 'PTR' | 'TYPEDEF' | 'VOLATILE' | 'CONST' | 'RESTRICT' | 'TYPE_TAG',
    type: number,
    name: string | number = '',
  ): number {
    const k = { PTR: 2, TYPEDEF: 8, VOLATILE: 9, CONST: 10, RESTRICT: 11, TYPE_TAG: 18 }[kind];
    return this.raw(this.name(name), k, 0, false, type);
  }
  array(elem: number, index: number, nelems: number): number {
    return this.raw(0, 3, 0, false, 0, [elem, index, nelems]);
  }
  struct(
    name: string | number,
    size: number,
    members: { name: string | number; type: number; bitsOffset: number; bitfieldSize?: number }[],
    union = false,
  ): number {
    const kflag = members.some((m) => m.bitfieldSize !== undefined);
    const extra: number[] = [];
    for (const m of members)
      extra.push(this.name(m.name), m.type, kflag ? ((m.bitfieldSize ?? 0) << 24) | m.bitsOffset : m.bitsOffset);
    return this.raw(this.name(name), union ? 5 : 4, members.length, kflag, size, extra);
  }
  enumType(
    name: string | number,
    size: number,
    values: { name: string | number; val: number }[],
    signed = false,
  ): number {
    const extra: number[] = [];
    for (const v of values) extra.push(this.name(v.name), v.val);
    return this.raw(this.name(name), 6, values.length, signed, size, extra);
  }
  enum64(
    name: string | number,
    size: number,
    values: { name: string | number; val: bigint }[],
    signed = false,
  ): number {
    const extra: number[] = [];
    for (const v of values) {
      const u = BigInt.asUintN(64, v.val);
      extra.push(this.name(v.name), Number(u & 0xffffffffn), Number(u >> 32n));
    }
    return this.raw(this.name(name), 19, values.length, signed, size, extra);
  }
  fwd(name: string | number, union = false): number {
    return this.raw(this.name(name), 7, 0, union, 0);
  }
  func(name: string | number, proto: number, linkage = 0): number {
    return this.raw(this.name(name), 12, linkage, false, proto);
  }
  funcProto(ret: number, params: { name: string | number; type: number }[]): number {
    const extra: number[] = [];
    for (const p of params) extra.push(this.name(p.name), p.type);
    return this.raw(0, 13, params.length, false, ret, extra);
  }
  variable(name: string | number, type: number, linkage = 0): number {
    return this.raw(this.name(name), 14, 0, false, type, [linkage]);
  }
  datasec(name: string | number, size: number, vars: { type: number; offset: number; size: number }[]): number {
    const extra: number[] = [];
    for (const v of vars) extra.push(v.type, v.offset, v.size);
    return this.raw(this.name(name), 15, vars.length, false, size, extra);
  }
  float(name: string | number, size: number): number {
    return this.raw(this.name(name), 16, 0, false, size);
  }
  declTag(value: string | number, type: number, componentIdx: number): number {
    return this.raw(this.name(value), 17, 0, false, type, [componentIdx]);
  }

  /** The BTF bytes: 24-byte header, types, strings. */
  build(opts: BuildOptions = {}): Uint8Array {
    const le = opts.littleEndian ?? true;
    const typeLen = this.words.length * 4;
    const h = {
      magic: 0xeb9f,
      version: 1,
      flags: 0,
      hdr_len: 24,
      type_off: 0,
      type_len: typeLen,
      str_off: typeLen,
      str_len: this.strs.length,
      ...opts.header,
    };
    const out = new Uint8Array(24 + typeLen + this.strs.length);
    const dv = new DataView(out.buffer);
    dv.setUint16(0, h.magic, le);
    dv.setUint8(2, h.version);
    dv.setUint8(3, h.flags);
    dv.setUint32(4, h.hdr_len, le);
    dv.setUint32(8, h.type_off, le);
    dv.setUint32(12, h.type_len, le);
    dv.setUint32(16, h.str_off, le);
    dv.setUint32(20, h.str_len, le);
    this.words.forEach((w, i) => dv.setUint32(24 + i * 4, w, le));
    out.set(this.strs, 24 + typeLen);
    return out;
  }
}

/**
 * A builder for split BTF on top of a base with `typeCount` ids and `strLen` string bytes
 * (own strings start at strLen; no leading "" needed).
 */
export function splitBuilder(base: { typeCount: number; strEndOff: number }): BtfBuilder {
  return new BtfBuilder(base.typeCount, base.strEndOff, false);
}
