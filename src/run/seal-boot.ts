/**
 * The boot half of `seal`: after the modules, the kernel image gets its `.sbat` and is signed
 * with the long-term Secure Boot key, the kernel modules inside initramfs images are signed with
 * the build's ephemeral key and the images re-packed, and UKIs are built from the signed image and
 * the re-sealed initramfs images and signed with the long-term key.
 *
 * Two steps, so that nothing is signed or written for inputs that cannot be sealed:
 * `planBoot()` reads and checks every input (the image is an unsigned PE that takes the `.sbat`;
 * the SBAT parses as shim parses it; each initramfs reads, and the archives holding modules can be
 * re-packed; the stub takes the UKI's sections; the long-term key opens and matches its
 * certificate); `sealBoot()` makes everything in memory; `writeBoot()` writes each artefact
 * atomically.
 */
import crypto from 'node:crypto';
import { KmodsealError } from '../bytes/errors.js';
import { readFileBytes } from '../io/files.js';
import { writeFileAtomic } from '../io/atomic.js';
import { readCertificateFile } from '../keys/key-file.js';
import { openSigner } from '../keys/open-signer.js';
import type { HashAlgorithm, Signer } from '../keys/signer.js';
import { describeCertificate } from '../pki/display.js';
import { parsePe } from '../pe/pe.js';
import { readSbat } from '../pe/sbat.js';
import { addPeSections } from '../pe/sections.js';
import { buildUki, SBAT_HEADER, type NamedBytes } from '../pe/uki.js';
import { initramfsModules, readInitramfs, type Initramfs, type InitramfsModule } from '../initrd/initramfs.js';
import { repackable, repackInitramfs, type RepackCodec } from '../initrd/write.js';
import type { AuthenticodeKey } from '../sign/authenticode.js';
import { signModuleFile, gzipCompress, xzCompress, zstdCompress } from '../sign/compressed.js';
import { defaultJobs, mapLimit } from './pool.js';
import {
  authenticodeSignImage,
  buildUkiImage,
  readUkiInputs,
  type UkiFileOptions,
  type UkiInputs,
} from './uki-build.js';

/** The long-term Secure Boot key as given: a PEM file or a `pkcs11:` URI, its certificate, intermediates. */
export interface LongTermKeyFiles {
  readonly key: string;
  readonly cert: string;
  readonly addcert?: readonly string[];
  readonly pkcs11Module?: string;
  readonly time: Date;
}

/** What `seal` is asked to do besides the modules. */
export interface BootOptions {
  /** The EFI-stub kernel image (built from the sealed vmlinux), and where the signed one goes (default: in place). */
  readonly image?: string;
  readonly imageOut?: string;
  /** The SBAT CSV to put into the image's `.sbat`. */
  readonly sbat?: string;
  /** Initramfs images whose modules are re-signed with the ephemeral key (written in place). */
  readonly initrds?: readonly string[];
  /** UKIs to build from the signed image and the re-sealed initramfs images. */
  readonly ukiOut?: readonly string[];
  /** One command line for every UKI, or one per UKI. */
  readonly cmdline?: readonly string[];
  readonly stub?: string;
  readonly osRelease?: string | boolean;
  readonly longTerm?: LongTermKeyFiles;
}

/** An initramfs image read, with the modules to re-sign. */
interface InitrdPlan {
  readonly file: string;
  readonly data: Uint8Array;
  readonly fs: Initramfs;
  readonly modules: readonly InitramfsModule[];
  readonly compression: string;
}

/** Every input of the boot half, read and checked. */
export interface BootPlan {
  readonly image: { file: string; out: string; data: Uint8Array; mode: number; sbat: string | undefined } | undefined;
  readonly initrds: readonly InitrdPlan[];
  readonly ukis: readonly { out: string; inputs: UkiInputs }[];
  readonly longTerm: AuthenticodeKey | undefined;
}

/** Whether any boot option is given. */
export function hasBootOptions(o: BootOptions): boolean {
  return Boolean(o.image || o.sbat || o.initrds?.length || o.ukiOut?.length || o.longTerm || o.imageOut);
}

/** Opens the long-term key once, to know that it opens and matches its certificate, and closes it. */
async function checkKey(k: AuthenticodeKey): Promise<void> {
  let signer: Signer;
  try {
    signer = openSigner(k.key, k.certificate, k.pkcs11Module);
  } catch (e) {
    if (e instanceof KmodsealError) throw new KmodsealError(e.code, `--sb-key: ${e.message}`, { cause: e });
    throw new KmodsealError('E_FORMAT', `--sb-key: ${(e as Error).message}`, { cause: e });
  }
  await signer.close?.();
}

function loadLongTermKey(o: LongTermKeyFiles): AuthenticodeKey {
  const key = o.key.startsWith('pkcs11:') ? o.key : Buffer.from(readFileBytes(o.key)).toString('latin1');
  const certificate = readCertificateFile(o.cert)[0];
  if (!certificate) throw new KmodsealError('E_FORMAT', `${o.cert}: no certificate`);
  return {
    key,
    certFile: o.cert,
    certificate,
    extraCertificates: (o.addcert ?? []).flatMap(readCertificateFile),
    pkcs11Module: o.pkcs11Module,
    time: o.time,
  };
}

/** The image's bytes with `.sbat` set to `text` (validated as shim parses it; a NUL after it, as ukify writes it). */
function withSbat(image: NamedBytes, text: string, sbatFile: string): Uint8Array {
  readSbat(text, sbatFile);
  return addPeSections(image.data, image.file, [{ name: '.sbat', data: new TextEncoder().encode(text + '\0') }]);
}

/**
 * Reads and checks every input of the boot half; nothing is signed or written.
 * @throws KmodsealError E_USAGE (options that do not go together), E_NOTFOUND, FormatError (a bad image, SBAT, initramfs, stub), key errors
 */
export async function planBoot(o: BootOptions): Promise<BootPlan> {
  const ukiOut = o.ukiOut ?? [];
  if (o.imageOut && !o.image) throw new KmodsealError('E_USAGE', 'seal: --image-out needs --image');
  if (o.sbat && !o.image) throw new KmodsealError('E_USAGE', 'seal: --sbat goes into the kernel image: give --image');
  if (ukiOut.length && !o.image)
    throw new KmodsealError('E_USAGE', 'seal: --uki-out needs --image (the kernel the UKI carries)');
  if ((o.image || ukiOut.length) && !o.longTerm)
    throw new KmodsealError(
      'E_USAGE',
      'seal: the kernel image and UKIs are signed with the long-term key: give --sb-key KEY and --sb-cert CERT',
    );
  const cmdlines = o.cmdline ?? [];
  if (cmdlines.length > 1 && cmdlines.length !== ukiOut.length)
    throw new KmodsealError('E_USAGE', 'seal: give one --cmdline for every UKI, or one for all of them');
  if ((cmdlines.length || o.stub) && !ukiOut.length)
    throw new KmodsealError('E_USAGE', 'seal: --cmdline and --stub go with --uki-out');
  const outs = [o.imageOut ?? o.image, ...(o.initrds ?? []), ...ukiOut].filter((x): x is string => Boolean(x));
  const dup = outs.find((x, i) => outs.indexOf(x) !== i);
  if (dup) throw new KmodsealError('E_USAGE', `seal: ${dup} would be written twice`);

  let image: BootPlan['image'];
  if (o.image) {
    const named = { file: o.image, data: readFileBytes(o.image) };
    const pe = parsePe(named.data, named.file);
    if (pe.certTable)
      throw new KmodsealError(
        'E_FORMAT',
        `${o.image}: the image is already signed: seal signs the image built from the sealed vmlinux ` +
          '(remove the signature with efi detach --remove)',
      );
    const sbat = o.sbat ? Buffer.from(readFileBytes(o.sbat)).toString('utf8') : undefined;
    const data = sbat !== undefined ? withSbat(named, sbat, o.sbat!) : named.data;
    image = { file: o.image, out: o.imageOut ?? o.image, data, mode: 0o644, sbat };
  }
  const initrds: InitrdPlan[] = [];
  for (const file of o.initrds ?? []) {
    const data = readFileBytes(file);
    const fs = await readInitramfs(data, file);
    const modules = initramfsModules(fs);
    for (const a of new Set(modules.map((m) => m.entry.archive))) repackable(file, fs, a);
    const codecs = [...new Set(modules.map((m) => fs.archives[m.entry.archive]!.compression))];
    initrds.push({ file, data, fs, modules, compression: codecs.join('+') || 'none' });
  }
  const ukis: { out: string; inputs: UkiInputs }[] = [];
  if (ukiOut.length && image) {
    const linux = { file: image.file, data: image.data };
    for (const [i, out] of ukiOut.entries()) {
      const opts: UkiFileOptions = {
        ...(o.stub ? { stub: o.stub } : {}),
        ...(o.osRelease !== undefined ? { osRelease: o.osRelease } : {}),
        ...(cmdlines.length ? { cmdline: cmdlines[cmdlines.length === 1 ? 0 : i]! } : {}),
      };
      const inputs = readUkiInputs(opts, linux);
      // the kernel carries --sbat's rows into the UKI's .sbat (not twice); without --sbat, ukify's default row
      const fixed: UkiInputs = image.sbat !== undefined ? { ...inputs, sbat: [SBAT_HEADER + '\n'] } : inputs;
      // the stub takes the sections (header room, .sbat room): the built bytes are thrown away
      buildUki({
        stub: fixed.stub,
        linux,
        initrds: initrds.map((r) => ({ file: r.file, data: r.data })),
        ...(fixed.cmdline !== undefined ? { cmdline: fixed.cmdline } : {}),
        ...(fixed.osRelease ? { osRelease: fixed.osRelease } : {}),
        sbat: fixed.sbat,
      });
      ukis.push({ out, inputs: fixed });
    }
  }
  let longTerm: AuthenticodeKey | undefined;
  if (o.longTerm) {
    longTerm = loadLongTermKey(o.longTerm);
    await checkKey(longTerm);
  }
  return { image, initrds, ukis, longTerm };
}

/** The ephemeral key that signs the modules, and how. */
export interface EphemeralKey {
  readonly privateKeyPem: string;
  readonly certificate: Uint8Array;
  readonly hash: HashAlgorithm;
}

/** One artefact of a sealed build, for the manifest. */
export interface BootArtefact {
  readonly path: string;
  readonly kind: 'module' | 'pe' | 'initrd' | 'uki';
  readonly sha256: string;
  readonly key: 'ephemeral' | 'long-term';
  readonly signer: string;
  /** For a module inside an initramfs: the initramfs image. */
  readonly container?: string;
}

/** The boot half made, in memory: what to write, the artefacts, and how many long-term signatures were made. */
export interface SealedBoot {
  readonly writes: readonly { file: string; data: Uint8Array; mode: number }[];
  readonly artefacts: readonly BootArtefact[];
  readonly initrds: readonly { file: string; modules: number; compression: string }[];
  readonly longTermSignatures: number;
}

const sha256 = (b: Uint8Array): string => crypto.createHash('sha256').update(b).digest('hex');

/** Compresses a re-packed archive as initramfs-tools does: gzip -n, xz --check=crc32 (the kernel's xz reads CRC32), zstd. */
async function compressArchive(codec: RepackCodec, cpio: Uint8Array): Promise<Uint8Array> {
  if (codec === 'gzip') return gzipCompress(cpio);
  if (codec === 'xz') return xzCompress(cpio, 8 << 20);
  return zstdCompress(cpio);
}

/**
 * Makes the boot artefacts of a checked plan in memory: initramfs modules signed with the
 * ephemeral key and the images re-packed; the image (with its `.sbat`) signed with the long-term
 * key; each UKI built from them and signed. Nothing is written.
 */
export async function sealBoot(plan: BootPlan, ephemeral: EphemeralKey): Promise<SealedBoot> {
  const writes: { file: string; data: Uint8Array; mode: number }[] = [];
  const artefacts: BootArtefact[] = [];
  const initrdInfo: { file: string; modules: number; compression: string }[] = [];
  const ephemeralSubject = describeCertificate(ephemeral.certificate).subject;
  const resealed: NamedBytes[] = [];
  if (plan.initrds.length) {
    const signer = openSigner(ephemeral.privateKeyPem, ephemeral.certificate);
    try {
      for (const r of plan.initrds) {
        const signed = await mapLimit(r.modules, defaultJobs(), async (m) => {
          const out = await signModuleFile(m.entry.data, signer, {
            hash: ephemeral.hash,
            keyIdForm: 'issuer-serial',
            file: `${r.file}:${m.path}`,
          });
          return out.data;
        });
        const replace = new Map(r.modules.map((m, i) => [m.entry, signed[i]!]));
        const data = await repackInitramfs(r.data, r.file, r.fs, replace, compressArchive);
        resealed.push({ file: r.file, data });
        writes.push({ file: r.file, data, mode: 0o644 });
        r.modules.forEach((m, i) =>
          artefacts.push({
            path: m.path,
            container: r.file,
            kind: 'module',
            sha256: sha256(signed[i]!),
            key: 'ephemeral',
            signer: ephemeralSubject,
          }),
        );
        artefacts.push({
          path: r.file,
          kind: 'initrd',
          sha256: sha256(data),
          key: 'ephemeral',
          signer: ephemeralSubject,
        });
        initrdInfo.push({ file: r.file, modules: r.modules.length, compression: r.compression });
      }
    } finally {
      await signer.close?.();
    }
  }
  let count = 0;
  const lt = plan.longTerm;
  const ltSubject = lt ? describeCertificate(lt.certificate).subject : '';
  if (plan.image && lt) {
    const signed = await authenticodeSignImage(plan.image.data, plan.image.out, lt);
    count++;
    writes.push({ file: plan.image.out, data: signed, mode: plan.image.mode });
    artefacts.push({ path: plan.image.out, kind: 'pe', sha256: sha256(signed), key: 'long-term', signer: ltSubject });
    const linux = { file: plan.image.out, data: signed };
    for (const u of plan.ukis) {
      const r = await buildUkiImage(u.inputs, linux, resealed, u.out, lt);
      count += r.signatures;
      writes.push({ file: u.out, data: r.image, mode: 0o755 });
      artefacts.push({ path: u.out, kind: 'uki', sha256: sha256(r.image), key: 'long-term', signer: ltSubject });
    }
  }
  return { writes, artefacts, initrds: initrdInfo, longTermSignatures: count };
}

/** Writes the artefacts of {@link sealBoot}, each atomically (temp file + rename). */
export function writeBoot(sealed: SealedBoot): void {
  for (const w of sealed.writes) writeFileAtomic(w.file, w.data, w.mode);
}
