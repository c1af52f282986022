/**
 * Where a kernel's facts come from: an image file (bzImage, PE, vmlinux, Image[.gz]), a Debian
 * `linux-image-*.deb` (read directly, no dpkg), an unpacked package tree or root file system
 * (`boot/vmlinuz-*`, `boot/config-*`, `boot/System.map-*`), or the running system.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { FormatError, KmodsealError } from '../bytes/errors.js';
import { inspectKernelImage, type KernelInspection } from './inspect.js';
import type { KernelPart } from './vmlinux.js';
import { parseKernelConfig, type KernelConfig } from './config.js';
import { parseSystemMap, type SystemMap } from './system-map.js';
import { parseModuleSymvers, type ExportedSymbol } from './ksymtab.js';
import { parseDeb, readDebData } from '../deb/deb.js';
import { findBanner } from './banner.js';
import { readFileBytes, runningRelease, statOrNotFound } from '../io/files.js';
import { parsePe, probePe } from '../pe/pe.js';
import { isUki, peSectionData } from '../pe/section-data.js';
import { ukiSections, type UkiSection } from '../pe/uki.js';
import { gnuBuildIdFromNotes } from './notes.js';
import { readPeSignatures, type PeSignatures } from '../pe/authenticode.js';

/**
 * A kernel as {@link loadKernelSource} or {@link loadRunningKernel} found it: the inspected image, its
 * configuration and what else the source provides.
 */
export interface KernelSource {
  /** What was read, for messages ("linux-image-….deb: boot/vmlinuz-…"). */
  readonly description: string;
  /** The image, inspected; undefined for the running system (no image is read). */
  readonly inspection: KernelInspection | undefined;
  /** The configuration: embedded, or the `config-RELEASE` file beside the image. */
  readonly config: KernelConfig | undefined;
  readonly configSource: 'embedded' | 'file' | 'proc' | undefined;
  /** Facts of the running system, when the source is `--running`. */
  readonly running: RunningKernel | undefined;
  /** The module directory of this kernel, when the source has one (tree, .deb extraction not included). */
  readonly modulesDir: string | undefined;
  /** Authenticode signatures and SBAT of a PE/EFI image (read-only). */
  readonly pe: PeSignatures | undefined;
  /** A build tree without an image: the release and exports its Module.symvers records. */
  readonly symvers?: { readonly release: string | undefined; readonly exports: readonly ExportedSymbol[] };
  /** A unified kernel image: the kernel is its `.linux` section (`inspection`); `pe` is the UKI's own signatures. */
  readonly uki?: KernelSourceUki;
}

/** What a UKI carries besides its kernel (the sections systemd-stub hands to it). */
export interface KernelSourceUki {
  /** The UKI file. */
  readonly file: string;
  /** `.initrd` (the initramfs the stub passes to the kernel), when present. */
  readonly initrd: Uint8Array | undefined;
  readonly cmdline: string | undefined;
  readonly uname: string | undefined;
  /** Its sections: the spec's in measurement order, then the stub's, each with its SHA-256. */
  readonly sections: readonly UkiSection[];
  /** The embedded kernel's own Authenticode signatures (the stub does not check them). */
  readonly kernelPe: PeSignatures | undefined;
}

/** Facts of the running system read from /proc and /sys. */
export interface RunningKernel {
  readonly release: string;
  readonly banner: string | undefined;
  readonly buildId: string | undefined;
  readonly btf: Uint8Array | undefined;
  /** Descriptions of the keys in the builtin keyring that /proc/keys shows (often none without privileges). */
  readonly builtinKeys: readonly string[];
}

function readOptional(p: string): Uint8Array | undefined {
  try {
    return readFileBytes(p);
  } catch {
    return undefined;
  }
}

function pickBootFile(names: readonly string[], prefix: string, release?: string): string | undefined {
  const matches = names.filter((n) => path.basename(n).startsWith(prefix) && !n.endsWith('/'));
  if (release) return matches.find((n) => path.basename(n) === prefix + release);
  return matches.sort()[0];
}

/**
 * `configText` is a config found beside the image (used when the image embeds none) or, with
 * `explicit`, one the user named (it wins over the embedded one).
 */
async function fromImage(
  bytes: Uint8Array,
  description: string,
  configText: string | undefined,
  systemMap: SystemMap | undefined,
  modulesDir?: string,
  explicit = false,
): Promise<KernelSource> {
  const inspection = await inspectKernelImage(bytes, { file: description, ...(systemMap ? { systemMap } : {}) });
  const fromFile = configText !== undefined && (explicit || !inspection.config);
  const config = fromFile ? parseKernelConfig(configText) : inspection.config;
  return {
    description,
    inspection,
    config,
    configSource: fromFile ? 'file' : inspection.config ? 'embedded' : undefined,
    running: undefined,
    modulesDir,
    pe: probePe(bytes) ? readPeSignatures(bytes, description) : undefined,
  };
}

/**
 * Reads a kernel from a path: image file, .deb, or a directory holding `boot/vmlinuz-*` (an
 * unpacked package or a root file system) or `vmlinux`.
 * @throws KmodsealError E_IO/E_NOTFOUND, FormatError from the image readers.
 */
export async function loadKernelSource(
  p: string,
  options: { systemMap?: string; config?: string } = {},
): Promise<KernelSource> {
  const systemMap = options.systemMap
    ? parseSystemMap(Buffer.from(readFileBytes(options.systemMap)).toString('latin1'))
    : undefined;
  const configOverride = options.config ? Buffer.from(readFileBytes(options.config)).toString('latin1') : undefined;
  const st = statOrNotFound(p);
  if (st.isDirectory()) {
    const boot = path.join(p, 'boot');
    const names = fs.existsSync(boot) ? fs.readdirSync(boot) : [];
    const image = pickBootFile(names, 'vmlinuz-') ?? pickBootFile(names, 'vmlinux-');
    if (image) {
      const release = image.replace(/^vmlinu[zx]-/, '');
      const cfg = configOverride ?? readText(path.join(boot, `config-${release}`));
      const map = systemMap ?? optionalMap(path.join(boot, `System.map-${release}`));
      const mdir = path.join(p, 'lib/modules', release);
      return fromImage(
        readFileBytes(path.join(boot, image)),
        path.join(boot, image),
        cfg,
        map,
        fs.existsSync(mdir) ? mdir : undefined,
        configOverride !== undefined,
      );
    }
    const vmlinux = path.join(p, 'vmlinux');
    if (fs.existsSync(vmlinux)) {
      return fromImage(
        readFileBytes(vmlinux),
        vmlinux,
        configOverride ?? readText(path.join(p, '.config')) ?? readText(path.join(p, 'config')),
        systemMap ?? optionalMap(path.join(p, 'System.map')),
        undefined,
        configOverride !== undefined,
      );
    }
    const symvers = readText(path.join(p, 'Module.symvers'));
    if (symvers !== undefined) {
      // a build tree (or linux-headers) without the image: what Module.symvers and the config say
      const release = (
        readText(path.join(p, 'kernel.release')) ?? readText(path.join(p, 'include/config/kernel.release'))
      )?.trim();
      const cfg = configOverride ?? readText(path.join(p, '.config')) ?? readText(path.join(p, 'config'));
      return {
        description: path.join(p, 'Module.symvers'),
        inspection: undefined,
        config: cfg !== undefined ? parseKernelConfig(cfg) : undefined,
        configSource: cfg !== undefined ? 'file' : undefined,
        running: undefined,
        modulesDir: undefined,
        pe: undefined,
        symvers: { release: release || undefined, exports: parseModuleSymvers(symvers) },
      };
    }
    throw new KmodsealError('E_NOTFOUND', `${p}: no boot/vmlinuz-*, vmlinux or Module.symvers in this directory`);
  }
  const bytes = readFileBytes(p);
  if (bytes.length >= 8 && Buffer.from(bytes.subarray(0, 8)).toString('latin1') === '!<arch>\n') {
    const deb = parseDeb(bytes, p);
    // dpkg-deb writes members in path order: once past boot/, the rest of data.tar is not needed
    let inBoot = false;
    const data = await readDebData(deb, p, {
      select: (e) => /^boot\/(vmlinu[zx]|config|System\.map)-/.test(e.path),
      until: (e) => {
        if (e.path.startsWith('boot/')) inBoot = true;
        else if (inBoot) return true;
        return false;
      },
    });
    const names = [...data.files.keys()];
    const image = names.find((n) => /^boot\/vmlinu[zx]-/.test(n));
    if (!image)
      throw new KmodsealError('E_NOTFOUND', `${p}: the package has no boot/vmlinuz-* (not a linux-image package?)`);
    const release = path.basename(image).replace(/^vmlinu[zx]-/, '');
    const cfg = data.files.get(`boot/config-${release}`);
    const map = data.files.get(`boot/System.map-${release}`);
    return fromImage(
      data.files.get(image)!,
      `${p}: ${image}`,
      configOverride ?? (cfg ? Buffer.from(cfg).toString('latin1') : undefined),
      systemMap ?? (map ? parseSystemMap(Buffer.from(map).toString('latin1')) : undefined),
      undefined,
      configOverride !== undefined,
    );
  }
  if (probePe(bytes)) {
    const pe = parsePe(bytes, p);
    if (isUki(pe)) return fromUki(bytes, p, pe, configOverride, systemMap);
  }
  // A loose image: look for config-RELEASE beside it once the release is known.
  const src = await fromImage(bytes, p, configOverride, systemMap, undefined, configOverride !== undefined);
  if (src.config || !src.inspection?.release) return src;
  const beside = readText(path.join(path.dirname(p), `config-${src.inspection.release}`));
  return beside === undefined ? src : { ...src, config: parseKernelConfig(beside), configSource: 'file' };
}

/** A UKI: its `.linux` read as any kernel image; its initrd, command line and release kept beside. */
async function fromUki(
  bytes: Uint8Array,
  file: string,
  pe: ReturnType<typeof parsePe>,
  configOverride: string | undefined,
  systemMap: SystemMap | undefined,
): Promise<KernelSource> {
  const linux = peSectionData(bytes, pe, '.linux')!;
  const text = (name: string): string | undefined => {
    const b = peSectionData(bytes, pe, name);
    return b ? Buffer.from(b).toString('utf8').replace(/\0+$/, '') : undefined;
  };
  const src = await fromImage(
    linux,
    `${file}: .linux`,
    configOverride,
    systemMap,
    undefined,
    configOverride !== undefined,
  );
  return {
    ...src,
    pe: readPeSignatures(bytes, file, pe),
    uki: {
      file,
      initrd: peSectionData(bytes, pe, '.initrd'),
      cmdline: text('.cmdline'),
      uname: text('.uname'),
      sections: ukiSections(bytes, file).sections,
      kernelPe: src.pe,
    },
  };
}

function readText(p: string): string | undefined {
  const b = readOptional(p);
  return b ? Buffer.from(b).toString('latin1') : undefined;
}

function optionalMap(p: string): SystemMap | undefined {
  const t = readText(p);
  return t === undefined ? undefined : parseSystemMap(t);
}

/**
 * Throws, as the FormatError it was, when `part` of the source's image could not be read: for the
 * commands that need that part (verify --kernel, seal --embed, btf), where a part left out would
 * read as "none" and mislead.
 */
export function requireKernelPart(src: KernelSource, part: KernelPart, purpose: string): void {
  const w = src.inspection?.warnings.find((x) => x.part === part);
  if (w)
    throw new FormatError(w.code, {
      file: src.description,
      offset: w.offset,
      format: part,
      detail: `unreadable, so ${purpose}: ${w.message}`,
    });
}

/**
 * The running kernel, from /proc and /sys. Nothing needs privileges; what is unreadable is left out.
 * @param root - a directory standing in for `/` (tests); default the real root
 */
export function loadRunningKernel(root = ''): KernelSource {
  const release = root ? (readText(`${root}/proc/sys/kernel/osrelease`) ?? '').trim() : runningRelease();
  const version = readText(`${root}/proc/version`);
  const banner = version ? (findBanner(Buffer.from(version, 'latin1'))?.banner ?? version.trim()) : undefined;
  const notes = readOptional(`${root}/sys/kernel/notes`);
  const cfgGz = readOptional(`${root}/proc/config.gz`);
  let config: KernelConfig | undefined;
  if (cfgGz) {
    try {
      config = parseKernelConfig(zlib.gunzipSync(cfgGz, { maxOutputLength: 16 << 20 }).toString('latin1'));
    } catch {
      config = undefined;
    }
  }
  const keys = (readText(`${root}/proc/keys`) ?? '')
    .split('\n')
    .filter((l) => /\basymmetric\b/.test(l))
    .map((l) =>
      l
        .replace(/^.*?\basymmetric\s+/, '')
        .replace(/: X509\..*$/, '')
        .trim(),
    );
  return {
    description: 'running kernel',
    inspection: undefined,
    config,
    configSource: config ? 'proc' : undefined,
    running: {
      release,
      banner,
      buildId: notes ? gnuBuildIdFromNotes(notes) : undefined,
      btf: readOptional(`${root}/sys/kernel/btf/vmlinux`),
      builtinKeys: keys,
    },
    modulesDir: fs.existsSync(`${root}/lib/modules/${release}`) ? `${root}/lib/modules/${release}` : undefined,
    pe: undefined,
  };
}
