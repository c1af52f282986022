/**
 * `bpftool btf dump file FILE [-B BASE] format raw` (bpftool 7.1, tools/bpf/bpftool/btf.c
 * dump_btf_type()), in text and in bpftool's `-j` JSON, byte for byte.
 *
 * For split BTF only the types defined by the split part are dumped (ids from the base's
 * type count on), as bpftool does. Strings are returned one char per byte (latin1): write
 * them with `Buffer.from(s, 'latin1')` to reproduce bpftool's bytes.
 */
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
  kindName,
  type Btf,
  type BtfType,
} from './btf.js';

function intEncoding(enc: number): string {
  switch (enc) {
    case 0:
      return '(none)';
    case 1:
      return 'SIGNED';
    case 2:
      return 'CHAR';
    case 4:
      return 'BOOL';
    default:
      return 'UNKN';
  }
}

/** VAR linkage (bpftool btf_var_linkage_str). */
function varLinkage(l: number): string {
  return l === 0 ? 'static' : l === 1 ? 'global' : l === 2 ? 'extern' : '(unknown)';
}
/** FUNC linkage, from vlen (bpftool btf_func_linkage_str). */
function funcLinkage(l: number): string {
  return l === 0 ? 'static' : l === 1 ? 'global' : l === 2 ? 'extern' : '(unknown)';
}

/** bpftool btf_str(): "(anon)" for offset 0, "(invalid)" for an offset outside the strings. */
function nameOf(btf: Btf, off: number, resolved?: string): string {
  if (off === 0) return '(anon)';
  return resolved ?? btf.str(off) ?? '(invalid)';
}

/** The raw-format text of one type, without the trailing newline (may contain `\n\t` member lines). */
export function formatBtfType(btf: Btf, t: BtfType): string {
  let s = `[${t.id}] ${t.kindName} '${nameOf(btf, t.nameOff, t.name)}'`;
  switch (t.kind) {
    case BTF_KIND_INT:
      s += ` size=${t.size} bits_offset=${t.bitsOffset} nr_bits=${t.nrBits} encoding=${intEncoding(t.encoding)}`;
      break;
    case BTF_KIND_ARRAY:
      s += ` type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
      break;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      s += ` size=${t.size} vlen=${t.vlen}`;
      for (const m of t.members) {
        s += `\n\t'${nameOf(btf, m.nameOff, m.name)}' type_id=${m.type} bits_offset=${m.bitsOffset}`;
        if (m.bitfieldSize) s += ` bitfield_size=${m.bitfieldSize}`;
      }
      break;
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64: {
      s += ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.vlen}`;
      const suffix = t.kind === BTF_KIND_ENUM64 ? (t.signed ? 'LL' : 'ULL') : '';
      for (const v of t.values) s += `\n\t'${nameOf(btf, v.nameOff, v.name)}' val=${v.val}${suffix}`;
      break;
    }
    case BTF_KIND_FWD:
      s += ` fwd_kind=${t.union ? 'union' : 'struct'}`;
      break;
    case BTF_KIND_FUNC:
      s += ` type_id=${t.type} linkage=${funcLinkage(t.linkage)}`;
      break;
    case BTF_KIND_FUNC_PROTO:
      s += ` ret_type_id=${t.type} vlen=${t.vlen}`;
      for (const p of t.params) s += `\n\t'${nameOf(btf, p.nameOff, p.name)}' type_id=${p.type}`;
      break;
    case BTF_KIND_VAR:
      s += ` type_id=${t.type}, linkage=${varLinkage(t.linkage)}`;
      break;
    case BTF_KIND_DATASEC:
      s += ` size=${t.size} vlen=${t.vlen}`;
      for (const v of t.vars) {
        s += `\n\ttype_id=${v.type} offset=${v.offset} size=${v.size}`;
        // bpftool annotates entries whose type id exists (void included)
        if (v.type < btf.typeCount)
          s += ` (${kindName(btf.kind(v.type))} '${v.type === 0 ? '(anon)' : nameOf(btf, btf.nameOff(v.type))}')`;
      }
      break;
    case BTF_KIND_FLOAT:
      s += ` size=${t.size}`;
      break;
    case BTF_KIND_DECL_TAG:
      s += ` type_id=${t.type} component_idx=${t.componentIdx}`;
      break;
    default:
      // PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
      s += ` type_id=${t.type}`;
  }
  return s;
}

/**
 * Writes the raw dump in chunks (one chunk per type, each ending in "\n") to `out`.
 * @throws FormatError only if the BTF index is inconsistent (cannot happen for a parsed Btf)
 */
export function writeBtfRaw(btf: Btf, out: (chunk: string) => void): void {
  for (const id of btf.ownIds()) out(formatBtfType(btf, btf.type(id)) + '\n');
}

/** The whole raw dump as one string (bpftool ... format raw). */
export function dumpBtfRaw(btf: Btf): string {
  const parts: string[] = [];
  writeBtfRaw(btf, (c) => parts.push(c));
  return parts.join('');
}

/**
 * bpftool's json_writer string escaping: \t \n \r \f \b and " are escaped, other bytes pass
 * through; a backslash comes out as the two characters `\n` (a bpftool 7.1 json_writer bug,
 * reproduced for byte parity).
 */
function jsonStr(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    switch (c) {
      case '\t':
        out += '\\t';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\f':
        out += '\\f';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\\':
        out += '\\n';
        break;
      case '"':
        out += '\\"';
        break;
      default:
        out += c;
    }
  }
  return out + '"';
}

/**
 * bpftool 7.1 passes ENUM's `__s32 val` to jsonw_uint_field(), which sign-extends it to 64 bits:
 * an unsigned enumerator >= 2^31 prints as 2^64 - (2^32 - val). Reproduced for byte parity.
 */
function jsonEnumVal(kind: number, signed: boolean, val: number | bigint): string {
  if (kind === BTF_KIND_ENUM && !signed && typeof val === 'number' && val >= 0x80000000) {
    return BigInt.asUintN(64, BigInt(val | 0)).toString();
  }
  return val.toString();
}

/** One type as bpftool -j prints it (compact JSON object). */
export function formatBtfTypeJson(btf: Btf, t: BtfType): string {
  const f: string[] = [
    `"id":${t.id}`,
    `"kind":${jsonStr(t.kindName)}`,
    `"name":${jsonStr(nameOf(btf, t.nameOff, t.name))}`,
  ];
  switch (t.kind) {
    case BTF_KIND_INT:
      f.push(
        `"size":${t.size}`,
        `"bits_offset":${t.bitsOffset}`,
        `"nr_bits":${t.nrBits}`,
        `"encoding":${jsonStr(intEncoding(t.encoding))}`,
      );
      break;
    case BTF_KIND_ARRAY:
      f.push(`"type_id":${t.type}`, `"index_type_id":${t.indexType}`, `"nr_elems":${t.nelems}`);
      break;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
      f.push(
        `"size":${t.size}`,
        `"vlen":${t.vlen}`,
        `"members":[${t.members
          .map(
            (m) =>
              `{"name":${jsonStr(nameOf(btf, m.nameOff, m.name))},"type_id":${m.type},"bits_offset":${m.bitsOffset}` +
              `${m.bitfieldSize ? `,"bitfield_size":${m.bitfieldSize}` : ''}}`,
          )
          .join(',')}]`,
      );
      break;
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      f.push(
        `"encoding":${jsonStr(t.signed ? 'SIGNED' : 'UNSIGNED')}`,
        `"size":${t.size}`,
        `"vlen":${t.vlen}`,
        `"values":[${t.values
          .map(
            (v) => `{"name":${jsonStr(nameOf(btf, v.nameOff, v.name))},"val":${jsonEnumVal(t.kind, t.signed, v.val)}}`,
          )
          .join(',')}]`,
      );
      break;
    case BTF_KIND_FWD:
      f.push(`"fwd_kind":${jsonStr(t.union ? 'union' : 'struct')}`);
      break;
    case BTF_KIND_FUNC:
      f.push(`"type_id":${t.type}`, `"linkage":${jsonStr(funcLinkage(t.linkage))}`);
      break;
    case BTF_KIND_FUNC_PROTO:
      f.push(
        `"ret_type_id":${t.type}`,
        `"vlen":${t.vlen}`,
        `"params":[${t.params
          .map((p) => `{"name":${jsonStr(nameOf(btf, p.nameOff, p.name))},"type_id":${p.type}}`)
          .join(',')}]`,
      );
      break;
    case BTF_KIND_VAR:
      f.push(`"type_id":${t.type}`, `"linkage":${jsonStr(varLinkage(t.linkage))}`);
      break;
    case BTF_KIND_DATASEC:
      f.push(
        `"size":${t.size}`,
        `"vlen":${t.vlen}`,
        `"vars":[${t.vars.map((v) => `{"type_id":${v.type},"offset":${v.offset},"size":${v.size}}`).join(',')}]`,
      );
      break;
    case BTF_KIND_FLOAT:
      f.push(`"size":${t.size}`);
      break;
    case BTF_KIND_DECL_TAG:
      f.push(`"type_id":${t.type}`, `"component_idx":${t.componentIdx}`);
      break;
    default:
      f.push(`"type_id":${t.type}`);
  }
  return `{${f.join(',')}}`;
}

/** Writes bpftool's `-j btf dump ... format raw` output (`{"types":[...]}` plus a newline) in chunks. */
export function writeBtfJson(btf: Btf, out: (chunk: string) => void): void {
  out('{"types":[');
  let first = true;
  for (const id of btf.ownIds()) {
    out((first ? '' : ',') + formatBtfTypeJson(btf, btf.type(id)));
    first = false;
  }
  out(']}\n');
}

/** The whole JSON dump as one string. */
export function dumpBtfJson(btf: Btf): string {
  const parts: string[] = [];
  writeBtfJson(btf, (c) => parts.push(c));
  return parts.join('');
}
