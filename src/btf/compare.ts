/**
 * "Semantic mismatch" between the vmlinux a module was built against and a target vmlinux.
 *
 * A module's split BTF refers to base types by id. The kernel accepts any split BTF that is
 * structurally valid (validate.ts), even when the ids now name different types; this finds
 * that case offline: every base id the module references is compared, as a type, between the
 * build base and the target base — kind, name, size, vlen, encoding, and members / params /
 * element types recursively (by structure, so renumbered-but-identical nested types match).
 *
 * Work is bounded: each (build id, target id) pair is compared once (a pair under comparison
 * counts as equal, which also ends cycles), and at most MAX_PAIRS pairs are visited.
 */
import { ByteReader } from '../bytes/reader.js';
import {
  BTF_KIND_ARRAY,
  BTF_KIND_DATASEC,
  BTF_KIND_DECL_TAG,
  BTF_KIND_ENUM,
  BTF_KIND_ENUM64,
  BTF_KIND_FLOAT,
  BTF_KIND_FUNC,
  BTF_KIND_FUNC_PROTO,
  BTF_KIND_FWD,
  BTF_KIND_INT,
  BTF_KIND_STRUCT,
  BTF_KIND_UNION,
  BTF_KIND_VAR,
  type Btf,
  type BtfType,
} from './btf.js';

/** Upper bound on compared type pairs (E_LIMIT beyond). */
export const MAX_PAIRS = 2_000_000;

/** One base type the module references that differs between the build base and the target. */
export interface BaseTypeMismatch {
  /** The base type id the module references. */
  readonly id: number;
  /** One-line descriptions, e.g. `STRUCT 'sk_buff' size=232 vlen=30`, or `(none)` past the end. */
  readonly build: string;
  readonly target: string;
  /** Where the first difference is, from the referenced type down, e.g. `STRUCT 'a'.b -> PTR -> STRUCT 'c'`. */
  readonly path: string;
  /** What differs at the end of `path`, e.g. `size 8 != 16`, `name 'x' != 'y'`, `member count 3 != 4`. */
  readonly reason: string;
  /** The pair of types at the end of `path` (where `reason` holds), by id and description in each base. */
  readonly differsAt: {
    readonly buildId: number;
    readonly targetId: number;
    readonly build: string;
    readonly target: string;
  };
}

/** What {@link compareModuleBase} found: how many base types the module references and the ones that differ. */
export interface BaseCompareResult {
  /** Distinct base ids the module's own types reference. */
  readonly referenced: number;
  /** Mismatching referenced ids, lowest id first, at most `limit`. */
  readonly mismatches: readonly BaseTypeMismatch[];
  /** True when more mismatches exist than were reported. */
  readonly truncated: boolean;
}

/** Type ids a type refers to (members, params, element/index types, targets). */
export function referencedIds(t: BtfType): number[] {
  switch (t.kind) {
    case BTF_KIND_INT:
    case BTF_KIND_FWD:
    case BTF_KIND_FLOAT:
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      return [];
    case BTF_KIND_ARRAY:
      return [t.type, t.indexType];
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      return t.members.map((m) => m.type);
    case BTF_KIND_FUNC_PROTO:
      return [t.type, ...t.params.map((p) => p.type)];
    case BTF_KIND_DATASEC:
      return t.vars.map((v) => v.type);
    default:
      return [t.type];
  }
}

/** `KIND 'name' size=… vlen=…` for reports. */
export function describeType(btf: Btf, id: number): string {
  if (id === 0) return 'void';
  if (!btf.hasType(id)) return '(none)';
  const t = btf.type(id);
  let s = `${t.kindName} '${t.nameOff === 0 ? '(anon)' : (t.name ?? '(invalid)')}'`;
  if ('size' in t) s += ` size=${t.size}`;
  if (
    t.kind === BTF_KIND_STRUCT ||
    t.kind === BTF_KIND_UNION ||
    t.kind === BTF_KIND_ENUM ||
    t.kind === BTF_KIND_ENUM64 ||
    t.kind === BTF_KIND_FUNC_PROTO ||
    t.kind === BTF_KIND_DATASEC
  )
    s += ` vlen=${t.vlen}`;
  return s;
}

interface Diff {
  path: string[];
  reason: string;
  /** The (build, target) type ids where `reason` holds; set by diff() for a difference found at its own pair. */
  at?: readonly [number, number];
}

class Comparer {
  private readonly done = new Map<string, Diff | null>();
  private pairs = 0;
  constructor(
    private readonly a: Btf,
    private readonly b: Btf,
    private readonly file: string,
  ) {}

  private label(t: BtfType): string {
    return t.nameOff ? `${t.kindName} '${t.name ?? '(invalid)'}'` : t.kindName;
  }

  labelOf(id: number): string {
    return id === 0 ? 'void' : this.a.hasType(id) ? this.label(this.a.type(id)) : `[${id}]`;
  }

  /** The first difference between a's `ia` and b's `ib`, or null. */
  diff(ia: number, ib: number): Diff | null {
    const key = `${ia}:${ib}`;
    const known = this.done.get(key);
    if (known !== undefined) return known;
    if (++this.pairs > MAX_PAIRS)
      throw new ByteReader(new Uint8Array(0), { file: this.file, format: 'btf' }).error(
        'E_LIMIT',
        0,
        `more than ${MAX_PAIRS} type pairs compared`,
      );
    this.done.set(key, null); // in progress: equal unless shown otherwise (ends cycles)
    const found = this.compute(ia, ib);
    const d = found && !found.at ? { ...found, at: [ia, ib] as const } : found;
    this.done.set(key, d);
    return d;
  }

  private compute(ia: number, ib: number): Diff | null {
    const { a, b } = this;
    if (a === b && ia === ib) return null;
    if (ia === 0 || ib === 0)
      return ia === ib
        ? null
        : {
            path: [],
            reason: `${ia === 0 ? 'void' : describeType(a, ia)} != ${ib === 0 ? 'void' : describeType(b, ib)}`,
          };
    if (!a.hasType(ia) || !b.hasType(ib)) {
      return a.hasType(ia) === b.hasType(ib)
        ? null
        : { path: [], reason: `type ${a.hasType(ia) ? ib : ia} does not exist` };
    }
    const ta = a.type(ia);
    const tb = b.type(ib);
    if (ta.kind !== tb.kind) return { path: [], reason: `kind ${ta.kindName} != ${tb.kindName}` };
    if ((ta.name ?? null) !== (tb.name ?? null))
      return { path: [], reason: `name '${ta.name ?? '(invalid)'}' != '${tb.name ?? '(invalid)'}'` };
    if (ta.kflag !== tb.kflag && ta.kind !== BTF_KIND_FUNC)
      return { path: [], reason: `kind_flag ${+ta.kflag} != ${+tb.kflag}` };
    const here = this.label(ta);
    const sub = (x: number, y: number, step: string): Diff | null => {
      const d = this.diff(x, y);
      return d
        ? {
            path: [step ? `${here}.${step}` : here, ...(d.path.length ? d.path : [this.labelOf(x)])],
            reason: d.reason,
            at: d.at,
          }
        : null;
    };
    switch (ta.kind) {
      case BTF_KIND_INT: {
        const o = tb as typeof ta;
        if (ta.size !== o.size) return { path: [], reason: `size ${ta.size} != ${o.size}` };
        if (ta.intData !== o.intData)
          return { path: [], reason: `int encoding/bits 0x${ta.intData.toString(16)} != 0x${o.intData.toString(16)}` };
        return null;
      }
      case BTF_KIND_FLOAT: {
        const o = tb as typeof ta;
        return ta.size === o.size ? null : { path: [], reason: `size ${ta.size} != ${o.size}` };
      }
      case BTF_KIND_FWD:
        return null;
      case BTF_KIND_ENUM:
      case BTF_KIND_ENUM64: {
        const o = tb as typeof ta;
        if (ta.size !== o.size) return { path: [], reason: `size ${ta.size} != ${o.size}` };
        if (ta.values.length !== o.values.length)
          return { path: [], reason: `value count ${ta.values.length} != ${o.values.length}` };
        for (let i = 0; i < ta.values.length; i++) {
          const x = ta.values[i]!;
          const y = o.values[i]!;
          if (x.name !== y.name || x.val !== y.val)
            return { path: [], reason: `value #${i} ${x.name}=${x.val} != ${y.name}=${y.val}` };
        }
        return null;
      }
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION: {
        const o = tb as typeof ta;
        if (ta.size !== o.size) return { path: [], reason: `size ${ta.size} != ${o.size}` };
        if (ta.members.length !== o.members.length)
          return { path: [], reason: `member count ${ta.members.length} != ${o.members.length}` };
        for (let i = 0; i < ta.members.length; i++) {
          const x = ta.members[i]!;
          const y = o.members[i]!;
          const mname = x.nameOff ? (x.name ?? '(invalid)') : `#${i}`;
          if (x.name !== y.name) return { path: [], reason: `member #${i} name '${x.name}' != '${y.name}'` };
          if (x.bitsOffset !== y.bitsOffset || x.bitfieldSize !== y.bitfieldSize) {
            return {
              path: [],
              reason:
                `member ${mname} at bit ${x.bitsOffset}${x.bitfieldSize ? `:${x.bitfieldSize}` : ''} != ` +
                `${y.bitsOffset}${y.bitfieldSize ? `:${y.bitfieldSize}` : ''}`,
            };
          }
          const d = sub(x.type, y.type, mname);
          if (d) return d;
        }
        return null;
      }
      case BTF_KIND_ARRAY: {
        const o = tb as typeof ta;
        if (ta.nelems !== o.nelems) return { path: [], reason: `nr_elems ${ta.nelems} != ${o.nelems}` };
        return sub(ta.type, o.type, '') ?? sub(ta.indexType, o.indexType, '[index]');
      }
      case BTF_KIND_FUNC_PROTO: {
        const o = tb as typeof ta;
        if (ta.params.length !== o.params.length)
          return { path: [], reason: `param count ${ta.params.length} != ${o.params.length}` };
        const r = sub(ta.type, o.type, '(return)');
        if (r) return r;
        for (let i = 0; i < ta.params.length; i++) {
          const d = sub(ta.params[i]!.type, o.params[i]!.type, `(arg ${i + 1})`);
          if (d) return d;
        }
        return null;
      }
      case BTF_KIND_DATASEC: {
        const o = tb as typeof ta;
        if (ta.size !== o.size || ta.vars.length !== o.vars.length)
          return { path: [], reason: `size/vlen ${ta.size}/${ta.vars.length} != ${o.size}/${o.vars.length}` };
        for (let i = 0; i < ta.vars.length; i++) {
          const x = ta.vars[i]!;
          const y = o.vars[i]!;
          if (x.offset !== y.offset || x.size !== y.size)
            return { path: [], reason: `entry #${i} ${x.offset}+${x.size} != ${y.offset}+${y.size}` };
          const d = sub(x.type, y.type, `#${i}`);
          if (d) return d;
        }
        return null;
      }
      case BTF_KIND_FUNC:
      case BTF_KIND_VAR: {
        const o = tb as typeof ta;
        if (ta.linkage !== o.linkage) return { path: [], reason: `linkage ${ta.linkage} != ${o.linkage}` };
        return sub(ta.type, o.type, '');
      }
      case BTF_KIND_DECL_TAG: {
        const o = tb as typeof ta;
        if (ta.componentIdx !== o.componentIdx)
          return { path: [], reason: `component_idx ${ta.componentIdx} != ${o.componentIdx}` };
        return sub(ta.type, o.type, '');
      }
      default: {
        // PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
        const o = tb as typeof ta & { type: number };
        return sub((ta as { type: number }).type, o.type, '');
      }
    }
  }
}

/**
 * Compares every base type `module` (split BTF parsed on `buildBase`) references with the type
 * of the same id in `targetBase`.
 * @param limit most mismatches to report (default 10)
 * @throws FormatError E_LIMIT when the comparison would visit more than MAX_PAIRS type pairs
 */
export function compareModuleBase(module: Btf, buildBase: Btf, targetBase: Btf, limit = 10): BaseCompareResult {
  const refs = new Set<number>();
  for (const id of module.ownIds()) {
    for (const r of referencedIds(module.type(id))) if (r > 0 && r < module.startId) refs.add(r);
  }
  const ids = [...refs].sort((x, y) => x - y);
  const cmp = new Comparer(buildBase, targetBase, module.file);
  const mismatches: BaseTypeMismatch[] = [];
  let truncated = false;
  for (const id of ids) {
    const d = cmp.diff(id, id);
    if (!d) continue;
    if (mismatches.length >= limit) {
      truncated = true;
      break;
    }
    const path = (d.path.length ? d.path : [cmp.labelOf(id)]).join(' -> ');
    const [bi, ti] = d.at ?? [id, id];
    mismatches.push({
      id,
      build: describeType(buildBase, id),
      target: describeType(targetBase, id),
      path,
      reason: d.reason,
      differsAt: {
        buildId: bi,
        targetId: ti,
        build: bi === 0 ? 'void' : describeType(buildBase, bi),
        target: ti === 0 ? 'void' : describeType(targetBase, ti),
      },
    });
  }
  return { referenced: ids.length, mismatches, truncated };
}

/** What `baseReferenceEvidence` found: signs that split BTF was built against another base. */
export interface BaseEvidence {
  /** Name offsets into the base string section that were checked. */
  readonly namesChecked: number;
  /** References to base type ids that were checked. */
  readonly refsChecked: number;
  /** Name offsets that land inside a base string instead of at its start (first few). */
  readonly misplacedNames: readonly { readonly id: number; readonly nameOff: number; readonly reads: string }[];
  /** References to base types of a kind that cannot be referenced that way (first few). */
  readonly badKinds: readonly {
    readonly id: number;
    readonly ref: number;
    readonly kind: string;
    readonly from: string;
  }[];
  readonly misplacedNameCount: number;
  readonly badKindCount: number;
}

const KIND = {
  INT: 1,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  ENUM64: 19,
} as const;
const NOT_A_TYPE = new Set<number>([KIND.FUNC, KIND.VAR, KIND.DATASEC, KIND.DECL_TAG]);

/**
 * Without the base a module was built against, the evidence its split BTF carries of having
 * been built against a different one (a heuristic, unlike {@link compareModuleBase}): name
 * offsets below the base's string length must start a string of this base, and references to
 * base ids must name kinds that can be referenced that way (a member, pointer or parameter
 * cannot be a FUNC, VAR, DATASEC or DECL_TAG; a FUNC's type is a FUNC_PROTO).
 */
export function baseReferenceEvidence(module: Btf, limit = 5): BaseEvidence {
  const base = module.base;
  const misplacedNames: { id: number; nameOff: number; reads: string }[] = [];
  const badKinds: { id: number; ref: number; kind: string; from: string }[] = [];
  let namesChecked = 0;
  let refsChecked = 0;
  let misplacedNameCount = 0;
  let badKindCount = 0;
  if (!base) return { namesChecked, refsChecked, misplacedNames, badKinds, misplacedNameCount, badKindCount };
  const name = (id: number, off: number): void => {
    if (off === 0 || off >= module.startStrOff) return;
    namesChecked++;
    if (base.startsString(off)) return;
    misplacedNameCount++;
    if (misplacedNames.length < limit) misplacedNames.push({ id, nameOff: off, reads: base.str(off) ?? '' });
  };
  // straight from the records (decoding every type with its member names costs seconds on a tree)
  const r = module.r;
  const refs: number[] = [];
  for (let id = module.startId; id < module.typeCount; id++) {
    const off = module.recordOffset(id);
    const info = r.u32(off + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const d = off + 12;
    name(id, r.u32(off));
    refs.length = 0;
    switch (kind) {
      case KIND.INT:
      case KIND.FWD:
      case KIND.FLOAT:
        break;
      case KIND.ENUM:
        for (let i = 0; i < vlen; i++) name(id, r.u32(d + i * 8));
        break;
      case KIND.ENUM64:
        for (let i = 0; i < vlen; i++) name(id, r.u32(d + i * 12));
        break;
      case KIND.STRUCT:
      case KIND.UNION:
        for (let i = 0; i < vlen; i++) name(id, r.u32(d + i * 12));
        for (let i = 0; i < vlen; i++) refs.push(r.u32(d + i * 12 + 4));
        break;
      case KIND.FUNC_PROTO:
        for (let i = 0; i < vlen; i++) name(id, r.u32(d + i * 8));
        refs.push(r.u32(off + 8));
        for (let i = 0; i < vlen; i++) refs.push(r.u32(d + i * 8 + 4));
        break;
      case KIND.ARRAY:
        refs.push(r.u32(d), r.u32(d + 4));
        break;
      case KIND.DATASEC:
        for (let i = 0; i < vlen; i++) refs.push(r.u32(d + i * 12));
        break;
      default:
        refs.push(r.u32(off + 8));
    }
    for (const ref of refs) {
      if (ref === 0 || ref >= module.startId || !base.hasType(ref)) continue;
      refsChecked++;
      const k = base.kind(ref);
      const bad =
        kind === KIND.FUNC
          ? k !== KIND.FUNC_PROTO
          : kind === KIND.DATASEC
            ? k !== KIND.VAR
            : kind === KIND.DECL_TAG
              ? false
              : NOT_A_TYPE.has(k);
      if (!bad) continue;
      badKindCount++;
      if (badKinds.length < limit)
        badKinds.push({ id, ref, kind: describeType(base, ref), from: describeType(module, id) });
    }
  }
  return { namesChecked, refsChecked, misplacedNames, badKinds, misplacedNameCount, badKindCount };
}
