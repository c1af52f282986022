/**
 * Test-only builder of minimal ELF files: a header, the given sections, .shstrtab, and the
 * section header table. Enough for the readers in src/kernel (no program headers, no symtab).
 */
export interface SectionSpec {
  name: string;
  data: Uint8Array;
  addr?: bigint;
  type?: number; // SHT_PROGBITS by default
  flags?: number; // SHF_ALLOC by default
}

export function buildElf(opts: {
  class: 32 | 64;
  littleEndian: boolean;
  machine: number;
  sections: SectionSpec[];
}): Uint8Array {
  const is64 = opts.class === 64;
  const le = opts.littleEndian;
  const ehsize = is64 ? 64 : 52;
  const shentsize = is64 ? 64 : 40;
  const names = ['', ...opts.sections.map((s) => s.name), '.shstrtab'];
  const nameOff: number[] = [];
  let shstr = '';
  for (const n of names) {
    nameOff.push(shstr.length);
    shstr += `${n}\0`;
  }
  const datas = [new Uint8Array(0), ...opts.sections.map((s) => s.data), new TextEncoder().encode(shstr)];
  const offsets: number[] = [];
  let p = ehsize;
  for (const d of datas) {
    p = (p + 7) & ~7;
    offsets.push(p);
    p += d.length;
  }
  const shoff = (p + 7) & ~7;
  const out = new Uint8Array(shoff + names.length * shentsize);
  const v = new DataView(out.buffer);
  const w = (off: number, val: number | bigint): void =>
    is64 ? v.setBigUint64(off, BigInt(val), le) : v.setUint32(off, Number(val), le);
  out.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, le ? 1 : 2, 1]);
  v.setUint16(16, 2, le); // ET_EXEC
  v.setUint16(18, opts.machine, le);
  v.setUint32(20, 1, le);
  const o = is64 ? 8 : 4;
  w(24 + 2 * o, shoff);
  v.setUint16(24 + 3 * o + 4, ehsize, le);
  v.setUint16(24 + 3 * o + 10, shentsize, le);
  v.setUint16(24 + 3 * o + 12, names.length, le);
  v.setUint16(24 + 3 * o + 14, names.length - 1, le);
  datas.forEach((d, i) => {
    out.set(d, offsets[i]!);
    if (i === 0) return;
    const spec = opts.sections[i - 1];
    const h = shoff + i * shentsize;
    v.setUint32(h, nameOff[i]!, le);
    v.setUint32(h + 4, spec ? (spec.type ?? 1) : 3, le);
    if (is64) {
      v.setBigUint64(h + 8, BigInt(spec ? (spec.flags ?? 2) : 0), le);
      v.setBigUint64(h + 16, spec?.addr ?? 0n, le);
      v.setBigUint64(h + 24, BigInt(offsets[i]!), le);
      v.setBigUint64(h + 32, BigInt(d.length), le);
      v.setBigUint64(h + 48, 1n, le);
    } else {
      v.setUint32(h + 8, spec ? (spec.flags ?? 2) : 0, le);
      v.setUint32(h + 12, Number(spec?.addr ?? 0n), le);
      v.setUint32(h + 16, offsets[i]!, le);
      v.setUint32(h + 20, d.length, le);
      v.setUint32(h + 32, 1, le);
    }
  });
  return out;
}
