/**
 * `diff`: are two builds the same modulo module signatures and embedded ephemeral certificates?
 *
 * Inputs are directory trees, .deb packages (their data.tar) or kernel images, in any pairing
 * of tree and .deb. Every other difference is listed by path, and for ELF files by section.
 *
 * Unlike openSUSE build-compare (#33: signed .ko files reported identical) nothing is hidden:
 * differences that are only signatures/certificates are listed in `ignored`, and `identical`
 * stays false for them (the diffoscope maintainers' stance, anchors §1.12).
 *
 * Modules are compared by content: decompressed, signature stripped. A module whose content is
 * equal while its compressed bytes are not produces a `compression` difference (encoder settings
 * or version), which is *not* covered by "modulo signatures".
 */
import fs from 'node:fs';
import path from 'node:path';
import { KmodsealError, isKmodsealError } from '../bytes/errors.js';
import { probeAr } from '../deb/ar.js';
import { parseDeb, readDebData } from '../deb/deb.js';
import { decompressModule, type Compression } from '../compress/index.js';
import { probeElf } from '../elf/elf.js';
import { probeKernelImage } from '../kernel/image.js';
import { findModuleSignature, probeModuleSignature } from '../modsig/signature.js';
import { hasModuleExtension, openRegularFile, readFileBytes } from '../io/files.js';
import { probePe } from '../pe/pe.js';
import { stripModuleSignature } from '../sign/cms.js';
import { compressionSettings } from './compression-settings.js';
import { diffElfSections, type SectionDifference } from './elf-diff.js';
import { diffKernelImages, type KernelDiff } from './kernel-diff.js';
import { bytesEqual, signerId } from './module-parts.js';

/** What a {@link diff} input is: a module tree, a .deb, a kernel image, or another file. */
export type InputKind = 'tree' | 'deb' | 'kernel' | 'file';
/** The file type of a {@link diff} entry. */
export type EntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

/** A difference that is not explained by signatures or certificates. */
export type DiffEntry =
  | { readonly path: string; readonly kind: 'only-in-a' | 'only-in-b'; readonly type: EntryType }
  | { readonly path: string; readonly kind: 'type'; readonly a: EntryType; readonly b: EntryType }
  | { readonly path: string; readonly kind: 'mode'; readonly a: string; readonly b: string }
  | { readonly path: string; readonly kind: 'link-target'; readonly a: string; readonly b: string }
  | {
      readonly path: string;
      readonly kind: 'content';
      /** What was compared: raw bytes, or the unsigned decompressed module. */
      readonly compared: 'bytes' | 'module-content';
      readonly sizeA: number;
      readonly sizeB: number;
      /** First differing offset in the compared bytes. */
      readonly firstDifference: number;
      /** For ELF files: the differing sections. */
      readonly sections: readonly SectionDifference[] | undefined;
    }
  | {
      readonly path: string;
      readonly kind: 'compression';
      readonly a: Compression;
      readonly b: Compression;
      readonly detail: string;
    }
  | { readonly path: string; readonly kind: 'kernel'; readonly kernel: KernelDiff }
  | { readonly path: string; readonly kind: 'error'; readonly detail: string };

/** A difference explained by signatures or embedded certificates only. */
export type IgnoredEntry =
  | {
      readonly path: string;
      readonly kind: 'signature';
      /** 'signer' (different keys), 'value' (same signer, other bytes), 'presence' (signed on one side only). */
      readonly change: 'signer' | 'value' | 'presence';
      readonly signerA: string | undefined;
      readonly signerB: string | undefined;
    }
  | { readonly path: string; readonly kind: 'kernel-certificates'; readonly kernel: KernelDiff };

/** What {@link diff} found: the differences not explained by signatures or certificates, and those that are. */
export interface DiffResult {
  readonly a: string;
  readonly b: string;
  readonly kindA: InputKind;
  readonly kindB: InputKind;
  /** Byte for byte (every entry, type and mode). */
  readonly identical: boolean;
  /** Identical once signatures, embedded certificates (and what they imply: build id, PE signature) are set aside. */
  readonly equalModuloSignatures: boolean;
  /** Paths present on both sides. */
  readonly compared: number;
  readonly differences: readonly DiffEntry[];
  readonly ignored: readonly IgnoredEntry[];
}

interface Entry {
  readonly type: EntryType;
  readonly mode: number | undefined;
  readonly linkname: string | undefined;
  read(): Uint8Array;
}

/** Options of {@link diff}. */
export interface DiffOptions {
  /** Compare file modes (default true; tree vs .deb compares permission bits only). */
  readonly modes?: boolean;
  /** Only paths for which this is true (relative, '/'-separated). */
  readonly filter?: (relPath: string) => boolean;
}

/** Classifies an input path. @throws KmodsealError E_IO */
export function probeInput(p: string): InputKind {
  let st: fs.Stats;
  try {
    st = fs.statSync(p);
  } catch (e) {
    throw new KmodsealError('E_IO', `${p}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  if (st.isDirectory()) return 'tree';
  const { fd } = openRegularFile(p);
  const head = new Uint8Array(4096);
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  const h = head.subarray(0, n);
  if (probeAr(h)) return 'deb';
  if (!probeElf(h) && (probePe(h) || probeKernelImage(h) !== undefined)) return 'kernel';
  if (probeElf(h) && /(^|\/)vmlinu[xz]/.test(p)) return 'kernel';
  return 'file';
}

function readTree(root: string, filter: (p: string) => boolean): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (dir: string, rel: string): void => {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, ent.name);
      const r = rel ? `${rel}/${ent.name}` : ent.name;
      const st = fs.lstatSync(abs);
      const type: EntryType = st.isDirectory()
        ? 'directory'
        : st.isSymbolicLink()
          ? 'symlink'
          : st.isFile()
            ? 'file'
            : 'other';
      if (filter(r))
        out.set(r, {
          type,
          mode: st.mode & 0o7777,
          linkname: type === 'symlink' ? fs.readlinkSync(abs) : undefined,
          read: () => readFileBytes(abs),
        });
      if (type === 'directory') visit(abs, r);
    }
  };
  visit(root, '');
  return out;
}

async function readDebEntries(file: string, filter: (p: string) => boolean): Promise<Map<string, Entry>> {
  const deb = parseDeb(readFileBytes(file), file);
  const norm = (p: string): string => p.replace(/\/+$/, '');
  const { entries, files } = await readDebData(deb, file, { select: (e) => filter(norm(e.path)) });
  const out = new Map<string, Entry>();
  for (const e of entries) {
    const p = norm(e.path);
    if (p === '.' || p === '' || !filter(p)) continue;
    const type: EntryType =
      e.type === 'file'
        ? 'file'
        : e.type === 'directory'
          ? 'directory'
          : e.type === 'symlink'
            ? 'symlink'
            : e.type === 'link'
              ? 'hardlink'
              : 'other';
    const data = files.get(e.path);
    out.set(p, { type, mode: e.mode & 0o7777, linkname: e.linkname, read: () => data ?? new Uint8Array(0) });
  }
  return out;
}

async function readEntries(p: string, kind: InputKind, filter: (p: string) => boolean): Promise<Map<string, Entry>> {
  if (kind === 'tree') return readTree(p, filter);
  if (kind === 'deb') return readDebEntries(p, filter);
  return new Map([
    [path.basename(p), { type: 'file', mode: undefined, linkname: undefined, read: () => readFileBytes(p) }],
  ]);
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let blk = 0; blk < n; blk += 4096) {
    const e = Math.min(n, blk + 4096);
    if (bytesEqual(a.subarray(blk, e), b.subarray(blk, e))) continue;
    for (let i = blk; i < e; i++) if (a[i] !== b[i]) return i;
  }
  return n;
}

function contentDiff(relPath: string, a: Uint8Array, b: Uint8Array, compared: 'bytes' | 'module-content'): DiffEntry {
  const sections = probeElf(a) && probeElf(b) ? diffElfSections(a, b, `a/${relPath}`, `b/${relPath}`) : undefined;
  return {
    path: relPath,
    kind: 'content',
    compared,
    sizeA: a.length,
    sizeB: b.length,
    firstDifference: firstDifference(a, b),
    sections,
  };
}

function signerName(data: Uint8Array, file: string): string | undefined {
  try {
    const sig = findModuleSignature(data, file);
    if (!sig) return undefined;
    if (!sig.pkcs7) return `id_type ${sig.raw.id_type}`;
    const id = signerId(sig.pkcs7);
    return id.keyIdType === 'skid' ? `skid:${id.keyId}` : `${id.issuer ?? ''} serial:${id.keyId}`;
  } catch {
    return 'malformed signature';
  }
}

const KERNEL_PATH = /(^|\/)(vmlinuz|vmlinux|bzImage|Image)([-.]|$)/;

/** Compares the contents of one path present (as regular files) on both sides. */
async function compareFile(
  relPath: string,
  a: Uint8Array,
  b: Uint8Array,
  differences: DiffEntry[],
  ignored: IgnoredEntry[],
): Promise<void> {
  if (bytesEqual(a, b)) return;
  const isModule = hasModuleExtension(relPath) || (probeElf(a) && probeModuleSignature(a));
  if (isModule) {
    let da;
    let db;
    try {
      da = await decompressModule(a, `a/${relPath}`);
      db = await decompressModule(b, `b/${relPath}`);
    } catch (e) {
      if (!isKmodsealError(e)) throw e;
      differences.push(contentDiff(relPath, a, b, 'bytes'));
      return;
    }
    let ca: Uint8Array;
    let cb: Uint8Array;
    try {
      ca = stripModuleSignature(da.data, `a/${relPath}`);
      cb = stripModuleSignature(db.data, `b/${relPath}`);
    } catch (e) {
      if (!isKmodsealError(e)) throw e;
      differences.push({ path: relPath, kind: 'error', detail: e.message });
      return;
    }
    if (!bytesEqual(ca, cb)) {
      differences.push(contentDiff(relPath, ca, cb, 'module-content'));
      return;
    }
    // same content: the signature, the compression, or both differ
    if (!bytesEqual(da.data, db.data)) {
      const signerA = signerName(da.data, `a/${relPath}`);
      const signerB = signerName(db.data, `b/${relPath}`);
      const change =
        (signerA === undefined) !== (signerB === undefined) ? 'presence' : signerA !== signerB ? 'signer' : 'value';
      ignored.push({ path: relPath, kind: 'signature', change, signerA, signerB });
    }
    if (da.compression !== db.compression) {
      differences.push({
        path: relPath,
        kind: 'compression',
        a: da.compression,
        b: db.compression,
        detail: `${da.compression} vs ${db.compression}`,
      });
    } else if (da.compression !== 'none') {
      const sa = compressionSettings(a, da.compression);
      const sb = compressionSettings(b, db.compression);
      if (sa !== sb)
        differences.push({
          path: relPath,
          kind: 'compression',
          a: da.compression,
          b: db.compression,
          detail: `settings differ: ${sa ?? '?'} vs ${sb ?? '?'}`,
        });
      else if (bytesEqual(da.data, db.data)) {
        differences.push({
          path: relPath,
          kind: 'compression',
          a: da.compression,
          b: db.compression,
          detail:
            'same decompressed bytes, different compressed bytes (encoder version or settings not visible in the headers)',
        });
      }
    }
    return;
  }
  if (KERNEL_PATH.test(relPath) || (!probeElf(a) && probeKernelImage(a) === 'bzimage')) {
    try {
      const kernel = await diffKernelImages(a, b, `a/${relPath}`, `b/${relPath}`);
      if (kernel.equalModuloCertificates) ignored.push({ path: relPath, kind: 'kernel-certificates', kernel });
      else differences.push({ path: relPath, kind: 'kernel', kernel });
      return;
    } catch (e) {
      if (!isKmodsealError(e)) throw e;
      // not a kernel image after all: compare as bytes
    }
  }
  differences.push(contentDiff(relPath, a, b, 'bytes'));
}

/**
 * Compares two builds (trees, .deb files, kernel images).
 * @throws KmodsealError E_IO (unreadable input), E_USAGE (a kernel image against a tree or .deb);
 *         FormatError from a malformed .deb
 */
export async function diff(a: string, b: string, options: DiffOptions = {}): Promise<DiffResult> {
  const kindA = probeInput(a);
  const kindB = probeInput(b);
  const differences: DiffEntry[] = [];
  const ignored: IgnoredEntry[] = [];
  const bothContainers = (kindA === 'tree' || kindA === 'deb') && (kindB === 'tree' || kindB === 'deb');
  if (!bothContainers && (kindA === 'tree' || kindA === 'deb' || kindB === 'tree' || kindB === 'deb')) {
    throw new KmodsealError('E_USAGE', `cannot compare a ${kindA} (${a}) with a ${kindB} (${b})`);
  }
  if (!bothContainers) {
    // two single files: kernel images or anything else
    const da = readFileBytes(a);
    const db = readFileBytes(b);
    const name =
      path.basename(a) === path.basename(b) ? path.basename(a) : `${path.basename(a)} vs ${path.basename(b)}`;
    if (kindA === 'kernel' && kindB === 'kernel') {
      if (!bytesEqual(da, db)) {
        const kernel = await diffKernelImages(da, db, a, b);
        if (kernel.equalModuloCertificates) ignored.push({ path: name, kind: 'kernel-certificates', kernel });
        else differences.push({ path: name, kind: 'kernel', kernel });
      }
    } else await compareFile(name, da, db, differences, ignored);
    return finish(a, b, kindA, kindB, 1, differences, ignored);
  }
  const filter = options.filter ?? (() => true);
  const [ea, eb] = [await readEntries(a, kindA, filter), await readEntries(b, kindB, filter)];
  const paths = [...new Set([...ea.keys(), ...eb.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const modes = options.modes ?? true;
  let compared = 0;
  for (const p of paths) {
    const x = ea.get(p);
    const y = eb.get(p);
    if (!x || !y) {
      differences.push({ path: p, kind: x ? 'only-in-a' : 'only-in-b', type: (x ?? y)!.type });
      continue;
    }
    compared++;
    if (x.type !== y.type) {
      differences.push({ path: p, kind: 'type', a: x.type, b: y.type });
      continue;
    }
    if (modes && x.type !== 'symlink' && x.mode !== undefined && y.mode !== undefined && x.mode !== y.mode) {
      differences.push({ path: p, kind: 'mode', a: x.mode.toString(8), b: y.mode.toString(8) });
    }
    if (x.type === 'symlink' || x.type === 'hardlink') {
      if (x.linkname !== y.linkname)
        differences.push({ path: p, kind: 'link-target', a: x.linkname ?? '', b: y.linkname ?? '' });
      continue;
    }
    if (x.type === 'file') await compareFile(p, x.read(), y.read(), differences, ignored);
  }
  return finish(a, b, kindA, kindB, compared, differences, ignored);
}

function finish(
  a: string,
  b: string,
  kindA: InputKind,
  kindB: InputKind,
  compared: number,
  differences: DiffEntry[],
  ignored: IgnoredEntry[],
): DiffResult {
  return {
    a,
    b,
    kindA,
    kindB,
    identical: differences.length === 0 && ignored.length === 0,
    equalModuloSignatures: differences.length === 0,
    compared,
    differences,
    ignored,
  };
}
