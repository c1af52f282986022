/**
 * A module directory (/lib/modules/RELEASE) and kmod's lookups in it: the file edge over the
 * parsers of src/modinfo/depmod.ts.
 */
import path from 'node:path';
import { KmodsealError } from '../bytes/errors.js';
import { absolutePath, isDirectory, readTextOptional } from '../io/files.js';
import type { ModinfoEntry } from '../modinfo/modinfo.js';
import {
  fnmatch,
  normalizeAlias,
  normalizeModname,
  parseBuiltinModinfo,
  parseModulesAlias,
  parseModulesBuiltin,
  parseModulesDep,
} from '../modinfo/depmod.js';

export type ModuleLookup =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'builtin'; readonly name: string; readonly modinfo: readonly ModinfoEntry[] };

/**
 * A module directory (/lib/modules/RELEASE) and kmod's lookups in it. Uses the text indexes
 * depmod writes next to its .bin files (same content).
 */
export class ModuleDirectory {
  readonly dir: string;
  private dep?: Map<string, string>;
  private aliases?: { pattern: string; module: string }[];
  private builtin?: Set<string>;
  private builtinInfo?: Map<string, ModinfoEntry[]>;

  constructor(dir: string) {
    this.dir = dir;
  }

  exists(): boolean {
    return isDirectory(this.dir);
  }

  private readText(name: string): string | undefined {
    return readTextOptional(path.join(this.dir, name));
  }

  private depIndex(): Map<string, string> {
    if (this.dep) return this.dep;
    const text = this.readText('modules.dep');
    if (text === undefined) {
      this.dep = new Map(); // as before: a later lookup finds nothing rather than failing again
      throw new KmodsealError(
        'E_NOTFOUND',
        `${this.dir}/modules.dep: missing; run depmod for this module directory first`,
      );
    }
    this.dep = parseModulesDep(text, this.dir);
    return this.dep;
  }

  private aliasIndex(): { pattern: string; module: string }[] {
    if (this.aliases) return this.aliases;
    this.aliases = parseModulesAlias(this.readText('modules.alias') ?? '');
    return this.aliases;
  }

  private builtinIndex(): Set<string> {
    if (this.builtin) return this.builtin;
    this.builtin = parseModulesBuiltin(this.readText('modules.builtin') ?? '');
    return this.builtin;
  }

  /** modinfo of built-in modules, from modules.builtin.modinfo ("name.key=value\0" records). */
  builtinModinfo(name: string): ModinfoEntry[] {
    this.builtinInfo ??= parseBuiltinModinfo(this.readText('modules.builtin.modinfo') ?? '');
    return this.builtinInfo.get(name) ?? [];
  }

  /** Looks a name or alias up like kmod_module_new_from_lookup (modules.dep, aliases, built-ins). */
  lookup(alias: string): ModuleLookup[] {
    const name = normalizeAlias(alias);
    const dep = this.depIndex();
    const direct = dep.get(name);
    if (direct) return [{ kind: 'file', path: direct }];
    const seen = new Set<string>();
    const out: ModuleLookup[] = [];
    for (const a of this.aliasIndex()) {
      if (seen.has(a.module) || !fnmatch(normalizeAlias(a.pattern), name)) continue;
      seen.add(a.module);
      const p = dep.get(normalizeModname(a.module));
      if (p) out.push({ kind: 'file', path: p });
      else if (this.builtinIndex().has(normalizeModname(a.module)))
        out.push({ kind: 'builtin', name: a.module, modinfo: this.builtinModinfo(a.module) });
    }
    if (out.length) return out;
    if (this.builtinIndex().has(name)) return [{ kind: 'builtin', name, modinfo: this.builtinModinfo(name) }];
    return [];
  }

  /** Looks up a module by name only (modinfo -m). */
  lookupName(name: string): ModuleLookup | undefined {
    const n = normalizeModname(name);
    const p = this.depIndex().get(n);
    if (p) return { kind: 'file', path: p };
    if (this.builtinIndex().has(n)) return { kind: 'builtin', name: n, modinfo: this.builtinModinfo(n) };
    return undefined;
  }
}

/** The module directory kmod would use: BASEDIR/lib/modules/RELEASE. */
export function moduleDirectory(release: string, basedir = ''): ModuleDirectory {
  // kmod_new() makes the directory absolute against the cwd, unnormalised
  return new ModuleDirectory(absolutePath(`${basedir}/lib/modules/${release}`));
}
