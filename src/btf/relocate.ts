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
import { ByteReader, ByteWriter } from '../bytes/reader.js';
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

/** One relocation's inputs, sizes and maps, shared by its steps. */
interface Relocation {
  readonly split: Btf;
  readonly dist: Btf;
  readonly target: Btf;
  readonly nrTypes: number;
  readonly nrDist: number;
  readonly nrBase: number;
  readonly distStrLen: number;
  readonly baseStrLen: number;
  readonly idShift: number;
  readonly strShift: number;
  /** split and distilled id -> target id (EMBEDDED: a distilled composite embedded by value, not mapped yet) */
  readonly idMap: Uint32Array;
  /** distilled string offset -> target string offset */
  readonly strMap: Uint32Array;
  readonly mappings: DistilledMapping[];
}

/** btf_relocate() fails with `err`. */
function fail(c: Relocation, err: number, reason: string, typeId?: number): RelocationResult {
  return {
    status: 'fail',
    err: -err,
    reason,
    ...(typeId !== undefined ? { typeId } : {}),
    ...common(c),
    mappings: c.mappings,
  };
}

/** The kernel's behaviour is undefined here. */
function undef(c: Relocation, reason: string, typeId: number): RelocationResult {
  return { status: 'undefined', err: 0, reason, typeId, ...common(c), mappings: c.mappings };
}

function common(c: Relocation): Pick<RelocationResult, 'distilledTypes' | 'targetTypes' | 'idShift' | 'strShift'> {
  return { distilledTypes: c.nrDist, targetTypes: c.nrBase, idShift: c.idShift, strShift: c.strShift };
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
  const c: Relocation = {
    split,
    dist,
    target,
    nrTypes,
    nrDist,
    nrBase,
    distStrLen,
    baseStrLen,
    idShift,
    strShift: baseStrLen - distStrLen,
    idMap: new Uint32Array(nrTypes),
    strMap: new Uint32Array(distStrLen),
    mappings: [],
  };
  const invalid = validateDistilledBase(c);
  if (invalid) return invalid;
  for (let id = nrDist; id < nrTypes; id++) c.idMap[id] = id + idShift;
  const info = sortedDistilledNames(c);
  const endless = markEmbedded(c);
  if (endless) return endless;
  const unmapped = mapDistilledBase(c, info);
  if (unmapped) return unmapped;
  c.mappings.sort((a, b) => a.id - b.id);
  return rewriteSplit(c);
}

/** 1. btf_relocate_validate_distilled_base(): named INT, FLOAT, ENUM, STRUCT, UNION and FWD types only. */
function validateDistilledBase(c: Relocation): RelocationResult | undefined {
  const { dist } = c;
  for (let i = 1; i < c.nrDist; i++) {
    const kind = dist.kind(i);
    switch (kind) {
      case BTF_KIND_INT:
      case BTF_KIND_FLOAT:
      case BTF_KIND_ENUM:
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION:
      case BTF_KIND_FWD:
        if (dist.nameOff(i)) break;
        return fail(c, EINVAL, `type [${i}], kind [${kind}] is invalid for distilled base BTF; it is anonymous`, i);
      default:
        return fail(c, EINVAL, `type [${i}] in distilled based BTF has unexpected kind [${kind}]`, i);
    }
  }
  return undefined;
}

/** 2. btf_relocate_map_distilled_base(), first: the distilled types sorted by (name, size descending). */
function sortedDistilledNames(c: Relocation): NameInfo[] {
  const { dist } = c;
  const info: NameInfo[] = new Array(c.nrDist);
  for (let id = 0; id < c.nrDist; id++) {
    info[id] = {
      name: id === 0 ? '' : (dist.str(dist.nameOff(id)) ?? ''),
      size: id === 0 ? 0 : dist.sizeOrType(id) & 0x7fffffff,
      id,
    };
  }
  // The kernel sorts with heapsort (unstable), libbpf with qsort: equal (name, size) entries
  // keep id order here; their order only changes which of two conflicting ids an error names.
  info.sort((a, b) => strcmp(a.name, b.name) || b.size - a.size || a.id - b.id);
  return info;
}

/** 2a. Marks the distilled composites embedded by value in split composites (6.12: every split type). */
function markEmbedded(c: Relocation): RelocationResult | undefined {
  const { split, nrTypes, nrDist, idMap } = c;
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
            c,
            `type [${id}]: a member's array/modifier chain never ends; the kernel's btf_relocate() would loop forever`,
            id,
          );
        const n = typeAt(next);
        if (!n)
          return undef(
            c,
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
  return undefined;
}

/** 2b. Composite name counts in the target (by name offset, saturating at 255). */
function targetCompositeNameCounts(c: Relocation): Uint8Array {
  const { target, baseStrLen } = c;
  const nameCnt = new Uint8Array(baseStrLen);
  for (let id = 1; id < c.nrBase; id++) {
    if (!isComposite(target.kind(id))) continue;
    const off = target.nameOff(id);
    if (off && off < baseStrLen && nameCnt[off]! < 255) nameCnt[off]!++;
  }
  return nameCnt;
}

/** The first index of `info` (sorted) equal to `key`, or -1. */
function lowerBound(info: readonly NameInfo[], key: NameInfo & { needsSize: boolean }): number {
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
}

/** Whether a target type of `baseKind` needs the size to match (undefined: not a kind distilled types map onto). */
function targetNeedsSize(c: Relocation, nameCnt: Uint8Array, baseKind: number, nameOff: number): boolean | undefined {
  switch (baseKind) {
    case BTF_KIND_INT:
    case BTF_KIND_FLOAT:
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      return true;
    case BTF_KIND_FWD:
      return false;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      return nameOff < c.baseStrLen && nameCnt[nameOff]! > 1;
    default:
      return undefined;
  }
}

/** Whether distilled type `distId` is compatible with target type `id` (kinds, kflags, encodings, embedded sizes). */
function compatible(c: Relocation, distId: number, id: number, baseKind: number, baseSize: number): boolean {
  const { dist, target } = c;
  const distKind = dist.kind(distId);
  const distKflag = (dist.info(distId) & 0x80000000) !== 0;
  const baseKflag = (target.info(id) & 0x80000000) !== 0;
  switch (distKind) {
    case BTF_KIND_FWD:
      return baseKind === BTF_KIND_FWD
        ? distKflag === baseKflag
        : baseKind === BTF_KIND_STRUCT
          ? !baseKflag
          : baseKind === BTF_KIND_UNION
            ? baseKflag
            : false;
    case BTF_KIND_INT:
      return baseKind === BTF_KIND_INT && intEncoding(target, id) === intEncoding(dist, distId);
    case BTF_KIND_FLOAT:
      return baseKind === BTF_KIND_FLOAT;
    case BTF_KIND_ENUM:
      return baseKind === BTF_KIND_ENUM || baseKind === BTF_KIND_ENUM64;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      return !(c.idMap[distId] === EMBEDDED && baseSize !== dist.sizeOrType(distId));
    default:
      return false;
  }
}

/** 2c. Walks the target's types, looking up distilled equivalents; then every distilled type must be mapped. */
function mapDistilledBase(c: Relocation, info: readonly NameInfo[]): RelocationResult | undefined {
  const { dist, target, idMap, strMap, nrDist } = c;
  const nameCnt = targetCompositeNameCounts(c);
  for (let id = 1; id < c.nrBase; id++) {
    const nameOff = target.nameOff(id);
    if (!nameOff) continue;
    const baseKind = target.kind(id);
    const baseSize = target.sizeOrType(id);
    const needsSize = targetNeedsSize(c, nameCnt, baseKind, nameOff);
    if (needsSize === undefined) continue;
    const key = { name: target.str(nameOff) ?? '', size: needsSize ? baseSize & 0x7fffffff : 0, id, needsSize };
    const first = lowerBound(info, key);
    if (first < 0) continue;
    for (let i = first; i < info.length && cmp(key, info[i]!, true) === 0; i++) {
      const di = info[i]!;
      if (!di.id || di.id >= nrDist)
        return fail(c, EINVAL, `base BTF id [${id}] maps to invalid distilled base BTF id [${di.id}]`, di.id);
      if (!compatible(c, di.id, id, baseKind, baseSize)) continue;
      if (idMap[di.id] && idMap[di.id] !== EMBEDDED) {
        return fail(
          c,
          EINVAL,
          `distilled base BTF type '${key.name}' [${di.id}], size ${baseSize} has multiple candidates of the same size (ids ` +
            `[${id}, ${idMap[di.id]}]) in base BTF`,
          di.id,
        );
      }
      const distKind = dist.kind(di.id);
      const embedded = idMap[di.id] === EMBEDDED;
      idMap[di.id] = id;
      strMap[dist.nameOff(di.id)] = nameOff;
      c.mappings.push({
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
      c,
      EINVAL,
      `distilled base BTF type '${dist.str(dist.nameOff(id)) ?? ''}' [${id}] is not mapped to base BTF id`,
      id,
    );
  }
  return undefined;
}

/** 3. Rewrites the split types' ids, then their string offsets, in a copy. */
function rewriteSplit(c: Relocation): RelocationResult {
  const { split, nrDist, nrTypes, distStrLen, strShift, idMap, strMap } = c;
  const out = new Uint8Array(split.data);
  const w = new ByteWriter(out, {
    file: split.r.file,
    format: 'btf',
    base: split.r.base,
    littleEndian: split.littleEndian,
  });
  const base = split.r.base;
  const recs: { off: number; ids: number[]; strs: number[] }[] = [];
  for (let id = nrDist; id < nrTypes; id++) {
    const t = split.type(id);
    recs.push({ off: t.offset - base, ...fields(split.kind(id), t.vlen) });
  }
  for (let i = 0; i < recs.length; i++) {
    const { off, ids } = recs[i]!;
    for (const f of ids) {
      const v = w.u32(off + f, 'type id');
      if (v >= nrTypes)
        return undef(
          c,
          `type [${nrDist + i}] refers to type id ${v}, past the last type; the kernel's btf_relocate() reads past its id map`,
          nrDist + i,
        );
      w.setU32(off + f, idMap[v]!, 'type id');
    }
  }
  for (let i = 0; i < recs.length; i++) {
    const { off, strs } = recs[i]!;
    for (const f of strs) {
      const v = w.u32(off + f, 'string offset');
      if (!v) continue;
      if (v >= distStrLen) w.setU32(off + f, (v + strShift) >>> 0, 'string offset');
      else {
        const m = strMap[v]!;
        // the kernel prints the string at offset 0 here (always ''), not the unmapped one
        if (!m)
          return {
            ...fail(c, ENOENT, `string '' [offset ${v}] is not mapped to base BTF`, nrDist + i),
            mappings: c.mappings,
          };
        w.setU32(off + f, m, 'string offset');
      }
    }
  }
  return { status: 'ok', err: 0, ...common(c), mappings: c.mappings, relocated: out };
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
