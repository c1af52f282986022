/**
 * System.map: `nm -n` output of vmlinux, one `ADDRESS TYPE NAME` line per symbol, sorted by
 * address (scripts/mksysmap). Debian's linux-image packages ship a one-line placeholder
 * ("ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package").
 */
/** One System.map line: address, symbol type letter, name. */
export interface SystemMapSymbol {
  readonly address: bigint;
  readonly type: string;
  readonly name: string;
}

/** A parsed System.map. */
export interface SystemMap {
  /** Symbols in file order. */
  readonly symbols: readonly SystemMapSymbol[];
  /** First symbol of each name. */
  readonly byName: ReadonlyMap<string, SystemMapSymbol>;
}

/** Parses System.map text; malformed lines are ignored. Never throws. */
export function parseSystemMap(text: string): SystemMap {
  const symbols: SystemMapSymbol[] = [];
  const byName = new Map<string, SystemMapSymbol>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{1,16}) (\S) (\S+)/.exec(line);
    if (!m) continue;
    const sym = { address: BigInt(`0x${m[1]}`), type: m[2]!, name: m[3]! };
    symbols.push(sym);
    if (!byName.has(sym.name)) byName.set(sym.name, sym);
  }
  return { symbols, byName };
}

/** Address of the first symbol after `name` with a higher address (insert-sys-cert's area size rule). */
export function nextSymbolAddress(map: SystemMap, name: string): bigint | undefined {
  const sym = map.byName.get(name);
  if (!sym) return undefined;
  let best: bigint | undefined;
  for (const s of map.symbols)
    if (s.address > sym.address && (best === undefined || s.address < best)) best = s.address;
  return best;
}
