/**
 * Distilled base BTF relocation (Linux 6.11+), replayed offline.
 *
 * An out-of-tree module built with `pahole --btf_features=distilled_base` carries a small
 * standalone `.BTF.base` (named INT/FLOAT/ENUM/STRUCT/UNION/FWD types only) and a `.BTF` that
 * is split BTF on top of it. At load time the kernel maps every distilled type onto the
 * running vmlinux BTF by name (and size/kind rules) and rewrites the module's type ids and
 * string offsets: btf_relocate() in tools/lib/bpf/btf_relocate.c, which the kernel builds into
 * kernel/bpf/btf_relocate.c (6.12: with the embedded-type marking over all split types).
 *
 * This is that algorithm, in the same order with the same messages, over our own BTF reader.
 * Where the kernel's behaviour is undefined (ids past the last type, endless array chains) the
 * result says so instead of guessing.
 */
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
  BTF_KIND_PTR,
  BTF_KIND_RESTRICT,
  BTF_KIND_STRUCT,
  BTF_KIND_TYPEDEF,
  BTF_KIND_TYPE_TAG,
  BTF_KIND_UNION,
  BTF_KIND_VAR,
  BTF_KIND_VOLATILE,
  BTF_TYPE_SIZE,
  kindName,
  Btf,
  findElfBtf,
} from './btf.js';
import { ByteReader } from '../bytes/reader.js';
import { KmodsealError } from '../bytes/errors.js';
import type { Elf } from '../elf/elf.js';

const EINVAL = 22;
const ENOENT = 2;
/** BTF_IS_EMBEDDED: a temporary id_map mark for distilled composites embedded by value. */
const EMBEDDED = 0xffffffff;

/** One distilled base type and the vmlinux type it maps to. */
export interface DistilledMapping {
  /** Id in `.BTF.base`. */
  readonly id: number;
  readonly kind: string;
  readonly name: string;
  /** size (0 for FWD) */
  readonly size: number;
  /** Whether a module composite embeds it by value (then its size had to match). */
  readonly embedded: boolean;
  /** Id in the target vmlinux BTF. */
  readonly targetId: number;
  readonly targetKind: string;
}

export interface RelocationResult {
  /** 'ok': relocated; 'fail': btf_relocate() fails with `err`; 'undefined': the kernel's behaviour is undefined here. */
  readonly status: 'ok' | 'fail' | 'undefined';
  /** 0, or the negative errno btf_relocate() returns. */
  readonly err: number;
  /** The kernel's message (pr_warn) for a failure, or what is undefined. */
  readonly reason?: string;
  /** Distilled base id (or split id for string failures) the failure concerns. */
  readonly typeId?: number;
  /** Type count of `.BTF.base` including void, and of the target. */
  readonly distilledTypes: number;
  readonly targetTypes: number;
  /** Split type ids move by this much; split string offsets by `strShift`. */
  readonly idShift: number;
  readonly strShift: number;
  /** Every distilled type's mapping (on success; up to the failure otherwise). */
  readonly mappings: readonly DistilledMapping[];
  /** The module's `.BTF` rewritten onto the target (a copy; on success only): split BTF on the target. */
  readonly relocated?: Uint8Array;
}

interface NameInfo {
  name: string;
  size: number;
  id: number;
}

/** strcmp() on latin1-decoded bytes: code units equal bytes, so `<` orders like unsigned bytes. */
function strcmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** cmp_btf_name_size(): by name; by size descending when both sides need the size. */
function cmp(a: NameInfo & { needsSize: boolean }, b: NameInfo, bNeedsSize: boolean): number {
  const d = strcmp(a.name, b.name);
  if (d === 0 && a.needsSize && bNeedsSize) return b.size - a.size;
  return d;
}

const isComposite = (k: number): boolean => k === BTF_KIND_STRUCT || k === BTF_KIND_UNION;

/** btf_int_encoding() */
function intEncoding(b: Btf, id: number): number {
  const t = b.type(id);
  return t.kind === BTF_KIND_INT ? t.encoding : -1;
}

/**
 * Offsets (relative to the record) of the type-id fields and string-offset fields of one type
 * record, as btf_field_iter_init() enumerates them (BTF_FIELD_ITER_IDS / _STRS).
 */
function fields(kind: number, vlen: number): { ids: number[]; strs: number[] } {
  const ids: number[] = [];
  const strs: number[] = [0];
  const d = BTF_TYPE_SIZE;
  switch (kind) {
    case BTF_KIND_INT:
    case BTF_KIND_FLOAT:
      break;
    case BTF_KIND_ENUM:
      for (let i = 0; i < vlen; i++) strs.push(d + i * 8);
      break;
    case BTF_KIND_ENUM64:
      for (let i = 0; i < vlen; i++) strs.push(d + i * 12);
      break;
    case BTF_KIND_FWD:
    case BTF_KIND_CONST:
    case BTF_KIND_VOLATILE:
    case BTF_KIND_RESTRICT:
    case BTF_KIND_PTR:
    case BTF_KIND_TYPEDEF:
    case BTF_KIND_FUNC:
    case BTF_KIND_VAR:
    case BTF_KIND_DECL_TAG:
    case BTF_KIND_TYPE_TAG:
      ids.push(8);
      break;
    case BTF_KIND_ARRAY:
      ids.push(d, d + 4);
      break;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      for (let i = 0; i < vlen; i++) {
        ids.push(d + i * 12 + 4);
        strs.push(d + i * 12);
      }
      break;
    case BTF_KIND_FUNC_PROTO:
      ids.push(8);
      for (let i = 0; i < vlen; i++) {
        ids.push(d + i * 8 + 4);
        strs.push(d + i * 8);
      }
      break;
    case BTF_KIND_DATASEC:
      for (let i = 0; i < vlen; i++) ids.push(d + i * 12);
      break;
    default:
      break;
  }
  return { ids, strs };
}

/**
 * btf_relocate(split, target): maps the distilled base of `split` (its `base`, parsed from
 * `.BTF.base`) onto `target` (vmlinux BTF) and rewrites a copy of the split BTF.
 * Pure; bounded by the sizes of the three inputs.
 * @param split the module's `.BTF`, parsed with the distilled base as its base
 * @param target the running kernel's vmlinux BTF
 */
export function relocateDistilledBtf(split: Btf, target: Btf): RelocationResult {
  const dist = split.base;
  if (!dist || dist.base)
    throw new TypeError('relocateDistilledBtf: split BTF must sit on a standalone distilled base');
  const nrTypes = split.typeCount;
  const nrDist = dist.typeCount;
  const nrBase = target.typeCount;
  const distStrLen = dist.header.str_len;
  const baseStrLen = target.header.str_len;
  const idShift = nrBase - nrDist;
  const strShift = baseStrLen - distStrLen;
  const mappings: DistilledMapping[] = [];
  const common = { distilledTypes: nrDist, targetTypes: nrBase, idShift, strShift };
  const fail = (err: number, reason: string, typeId?: number): RelocationResult => ({
    status: 'fail',
    err: -err,
    reason,
    ...(typeId !== undefined ? { typeId } : {}),
    ...common,
    mappings,
  });
  const undef = (reason: string, typeId: number): RelocationResult => ({
    status: 'undefined',
    err: 0,
    reason,
    typeId,
    ...common,
    mappings,
  });

  // 1. btf_relocate_validate_distilled_base()
  for (let i = 1; i < nrDist; i++) {
    const kind = dist.kind(i);
    switch (kind) {
      case BTF_KIND_INT:
      case BTF_KIND_FLOAT:
      case BTF_KIND_ENUM:
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
      case BTF_KIND_FWD:
        if (dist.nameOff(i)) break;
        return fail(EINVAL, `type [${i}], kind [${kind}] is invalid for distilled base BTF; it is anonymous`, i);
      default:
        return fail(EINVAL, `type [${i}] in distilled based BTF has unexpected kind [${kind}]`, i);
    }
  }

  const idMap = new Uint32Array(nrTypes);
  for (let id = nrDist; id < nrTypes; id++) idMap[id] = id + idShift;
  const strMap = new Uint32Array(distStrLen);

  // 2. btf_relocate_map_distilled_base(): distilled types sorted by (name, size descending)
  const info: NameInfo[] = new Array(nrDist);
  for (let id = 0; id < nrDist; id++) {
    info[id] = {
      name: id === 0 ? '' : (dist.str(dist.nameOff(id)) ?? ''),
      size: id === 0 ? 0 : dist.sizeOrType(id) & 0x7fffffff,
      id,
    };
  }
  // The kernel sorts with heapsort (unstable), libbpf with qsort: equal (name, size) entries
  // keep id order here; their order only changes which of two conflicting ids an error names.
  info.sort((a, b) => strcmp(a.name, b.name) || b.size - a.size || a.id - b.id);

  // 2a. mark distilled composites embedded by value in split composites (6.12: every split type)
  const typeAt = (id: number): { kind: number; next: number } | undefined => {
    if (id >= nrTypes) return undefined;
    const t = split.owner(id);
    if (!t) return undefined;
    const kind = split.kind(id);
    if (kind === BTF_KIND_ARRAY) {
      const t = split.type(id);
      return { kind, next: t.kind === BTF_KIND_ARRAY ? t.type : 0 };
    }
    return { kind, next: split.sizeOrType(id) };
  };
  for (let id = nrDist; id < nrTypes; id++) {
    if (!isComposite(split.kind(id))) continue;
    const t = split.type(id);
    if (t.kind !== BTF_KIND_STRUCT && t.kind !== BTF_KIND_UNION) continue;
    for (const m of t.members) {
      let next = m.type;
      let steps = 0;
      while (next) {
        if (++steps > nrTypes)
          return undef(
            `type [${id}]: a member's array/modifier chain never ends; the kernel's btf_relocate() would loop forever`,
            id,
          );
        const n = typeAt(next);
        if (!n)
          return undef(
            `type [${id}]: a member refers to type id ${next}, past the last type; the kernel's btf_relocate() dereferences NULL`,
            id,
          );
        switch (n.kind) {
          case BTF_KIND_CONST:
          case BTF_KIND_RESTRICT:
          case BTF_KIND_VOLATILE:
          case BTF_KIND_TYPEDEF:
          case BTF_KIND_TYPE_TAG:
          case BTF_KIND_ARRAY:
            next = n.next;
            break;
          case BTF_KIND_STRUCT:
          case BTF_KIND_UNION:
            if (next < nrDist) idMap[next] = EMBEDDED;
            next = 0;
            break;
          default:
            next = 0;
        }
      }
    }
  }

  // 2b. composite name counts in the target (by name offset, saturating at 255)
  const nameCnt = new Uint8Array(baseStrLen);
  for (let id = 1; id < nrBase; id++) {
    if (!isComposite(target.kind(id))) continue;
    const off = target.nameOff(id);
    if (off && off < baseStrLen && nameCnt[off]! < 255) nameCnt[off]!++;
  }

  // 2c. walk the target's types, looking up distilled equivalents
  const lowerBound = (key: NameInfo & { needsSize: boolean }): number => {
    let lo = 0;
    let hi = info.length - 1;
    let ret = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const d = cmp(key, info[mid]!, true);
      if (d === 0) ret = mid;
      if (d <= 0) hi = mid - 1;
      else lo = mid + 1;
    }
    return ret;
  };
  for (let id = 1; id < nrBase; id++) {
    const nameOff = target.nameOff(id);
    if (!nameOff) continue;
    const baseKind = target.kind(id);
    const baseSize = target.sizeOrType(id);
    let needsSize: boolean;
    switch (baseKind) {
      case BTF_KIND_INT:
      case BTF_KIND_FLOAT:
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64:
        needsSize = true;
        break;
      case BTF_KIND_FWD:
        needsSize = false;
        break;
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
        needsSize = nameOff < baseStrLen && nameCnt[nameOff]! > 1;
        break;
      default:
        continue;
    }
    const key = { name: target.str(nameOff) ?? '', size: needsSize ? baseSize & 0x7fffffff : 0, id, needsSize };
    const first = lowerBound(key);
    if (first < 0) continue;
    for (let i = first; i < info.length && cmp(key, info[i]!, true) === 0; i++) {
      const di = info[i]!;
      if (!di.id || di.id >= nrDist)
        return fail(EINVAL, `base BTF id [${id}] maps to invalid distilled base BTF id [${di.id}]`, di.id);
      const distKind = dist.kind(di.id);
      const distKflag = (dist.info(di.id) & 0x80000000) !== 0;
      const baseKflag = (target.info(id) & 0x80000000) !== 0;
      let ok: boolean;
      switch (distKind) {
        case BTF_KIND_FWD:
          ok =
            baseKind === BTF_KIND_FWD
              ? distKflag === baseKflag
              : baseKind === BTF_KIND_STRUCT
                ? !baseKflag
                : baseKind === BTF_KIND_UNION
                  ? baseKflag
                  : false;
          break;
        case BTF_KIND_INT:
          ok = baseKind === BTF_KIND_INT && intEncoding(target, id) === intEncoding(dist, di.id);
          break;
        case BTF_KIND_FLOAT:
          ok = baseKind === BTF_KIND_FLOAT;
          break;
        case BTF_KIND_ENUM:
          ok = baseKind === BTF_KIND_ENUM || baseKind === BTF_KIND_ENUM64;
          break;
        case BTF_KIND_STRUCT:
        case BTF_KIND_UNION:
          ok = !(idMap[di.id] === EMBEDDED && baseSize !== dist.sizeOrType(di.id));
          break;
        default:
          ok = false;
      }
      if (!ok) continue;
      if (idMap[di.id] && idMap[di.id] !== EMBEDDED) {
        return fail(
          EINVAL,
          `distilled base BTF type '${key.name}' [${di.id}], size ${baseSize} has multiple candidates of the same size (ids ` +
            `[${id}, ${idMap[di.id]}]) in base BTF`,
          di.id,
        );
      }
      const embedded = idMap[di.id] === EMBEDDED;
      idMap[di.id] = id;
      strMap[dist.nameOff(di.id)] = nameOff;
      mappings.push({
        id: di.id,
        kind: kindName(distKind),
        name: di.name,
        size: distKind === BTF_KIND_FWD ? 0 : dist.sizeOrType(di.id),
        embedded,
        targetId: id,
        targetKind: kindName(baseKind),
      });
    }
  }
  for (let id = 1; id < nrDist; id++) {
    if (idMap[id] && idMap[id] !== EMBEDDED) continue;
    return fail(
      EINVAL,
      `distilled base BTF type '${dist.str(dist.nameOff(id)) ?? ''}' [${id}] is not mapped to base BTF id`,
      id,
    );
  }
  mappings.sort((a, b) => a.id - b.id);

  // 3. rewrite the split types' ids, then their string offsets, in a copy
  const out = new Uint8Array(split.data);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const le = split.littleEndian;
  const base = split.r.base;
  const recs: { off: number; ids: number[]; strs: number[] }[] = [];
  for (let id = nrDist; id < nrTypes; id++) {
    const t = split.type(id);
    recs.push({ off: t.offset - base, ...fields(split.kind(id), t.vlen) });
  }
  for (let i = 0; i < recs.length; i++) {
    const { off, ids } = recs[i]!;
    for (const f of ids) {
      const v = view.getUint32(off + f, le);
      if (v >= nrTypes)
        return undef(
          `type [${nrDist + i}] refers to type id ${v}, past the last type; the kernel's btf_relocate() reads past its id map`,
          nrDist + i,
        );
      view.setUint32(off + f, idMap[v]!, le);
    }
  }
  for (let i = 0; i < recs.length; i++) {
    const { off, strs } = recs[i]!;
    for (const f of strs) {
      const v = view.getUint32(off + f, le);
      if (!v) continue;
      if (v >= distStrLen) view.setUint32(off + f, (v + strShift) >>> 0, le);
      else {
        const m = strMap[v]!;
        // the kernel prints the string at offset 0 here (always ''), not the unmapped one
        if (!m) return { ...fail(ENOENT, `string '' [offset ${v}] is not mapped to base BTF`, nrDist + i), mappings };
        view.setUint32(off + f, m, le);
      }
    }
  }
  return { status: 'ok', err: 0, ...common, mappings, relocated: out };
}

/**
 * The BTF of a module ELF as libbpf (≥ 1.5) opens it: without `.BTF.base`, `.BTF` on `base`;
 * with `.BTF.base` and no `base`, `.BTF` on its distilled base; with both, `.BTF` relocated
 * onto `base` (btf__parse_split() semantics).
 * @throws FormatError for unreadable BTF; KmodsealError E_FORMAT when relocation fails
 */
export function openModuleBtf(elf: Elf, base?: Btf): Btf {
  const found = findElfBtf(elf);
  if (!found)
    throw new ByteReader(elf.data, { file: elf.file, format: 'btf' }).error(
      'E_NOTFOUND',
      0,
      'ELF file has no .BTF section',
    );
  if (!found.distilledBase)
    return Btf.parse(found.btf, { file: elf.file, offset: found.btfOffset, ...(base ? { base } : {}) });
  const dist = Btf.parse(found.distilledBase, { file: elf.file, offset: found.distilledBaseOffset ?? 0 });
  const split = Btf.parse(found.btf, { file: elf.file, offset: found.btfOffset, base: dist });
  if (!base) return split;
  const r = relocateDistilledBtf(split, base);
  if (r.status !== 'ok' || !r.relocated) {
    throw new KmodsealError(
      'E_FORMAT',
      `${elf.file}: .BTF.base does not relocate onto ${base.file}: ${r.reason ?? 'relocation failed'}`,
    );
  }
  return Btf.parse(r.relocated, { file: elf.file, offset: found.btfOffset, base });
}
