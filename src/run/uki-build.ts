/**
 * Building a UKI from files as `kmodseal uki build` does (and `seal --uki-out`): the stub (default:
 * the machine's systemd-stub for the kernel's architecture), `.osrel` (default: the machine's
 * os-release, as ukify), the command line as ukify reads it, SBAT texts; then ukify's order of
 * signing: an unsigned kernel is signed first with the UKI's key, the UKI is built
 * (`buildUki()` of src/pe/uki.ts) and signed. The one Authenticode signing path is
 * src/sign/authenticode.ts.
 */
import { KmodsealError } from '../bytes/errors.js';
import { readFileBytes, readTextOptional } from '../io/files.js';
import { attachAuthenticodeSignature, preparePeImage } from '../pe/authenticode-sign.js';
import { parsePe } from '../pe/pe.js';
import { buildUki, type BuiltUki, type NamedBytes } from '../pe/uki.js';
import { signAuthenticode, type AuthenticodeKey } from '../sign/authenticode.js';

/** systemd-stub's file name for a PE machine type (ukify: linux<efi-arch>.efi.stub). */
const STUB_ARCH: Record<number, string> = { 0x8664: 'x64', 0x14c: 'ia32', 0xaa64: 'aa64', 0x5064: 'riscv64' };
const STUB_DIR = '/usr/lib/systemd/boot/efi';

/** Signs a PE image as `efi sign` (and sbsign) does: the image with one more Authenticode signature. */
export async function authenticodeSignImage(image: Uint8Array, file: string, k: AuthenticodeKey): Promise<Uint8Array> {
  const prepared = preparePeImage(image, file);
  return attachAuthenticodeSignature(prepared, await signAuthenticode(prepared, k));
}

/** ukify's --cmdline: TEXT with runs of whitespace collapsed and trimmed, or @FILE verbatim. */
export function cmdlineBytes(v: string): Uint8Array {
  if (v.startsWith('@')) return readFileBytes(v.slice(1));
  return new TextEncoder().encode(
    v
      // eslint-disable-next-line no-control-regex -- Python's str.split() whitespace includes \x1c-\x1f
      .split(/[ \t\n\r\f\v\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/)
      .filter(Boolean)
      .join(' '),
  );
}

/** What a UKI is built from besides its kernel and initrds, as the command line gives it. */
export interface UkiFileOptions {
  /** systemd-stub; default the machine's for the kernel's PE machine type. */
  readonly stub?: string;
  /** ukify's --cmdline (TEXT or @FILE). */
  readonly cmdline?: string;
  /** A file; `false`: no `.osrel`; default the machine's os-release. */
  readonly osRelease?: string | boolean;
  readonly uname?: string;
  /** SBAT CSV files whose rows are merged after the stub's and the kernel's. */
  readonly sbat?: readonly string[];
}

/** The files of a UKI read: everything `buildUki()` takes but the kernel and the initrds. */
export interface UkiInputs {
  readonly stubFile: string;
  readonly stub: NamedBytes;
  readonly cmdline: Uint8Array | undefined;
  readonly osRelease: Uint8Array | undefined;
  readonly uname: string | undefined;
  readonly sbat: readonly string[];
}

/**
 * Reads the stub, os-release, command line and SBAT files of a UKI whose kernel is `linux`.
 * @throws KmodsealError E_USAGE (no default stub for the kernel's machine), E_NOTFOUND, FormatError (the kernel is no PE)
 */
export function readUkiInputs(o: UkiFileOptions, linux: NamedBytes): UkiInputs {
  const kernelPe = parsePe(linux.data, linux.file);
  let stubFile = o.stub;
  if (!stubFile) {
    const arch = STUB_ARCH[kernelPe.machine];
    if (!arch)
      throw new KmodsealError(
        'E_USAGE',
        `${linux.file}: no default stub for PE machine 0x${kernelPe.machine.toString(16)}: give --stub`,
      );
    stubFile = `${STUB_DIR}/linux${arch}.efi.stub`;
  }
  const stub: NamedBytes = { file: stubFile, data: readFileBytes(stubFile) };
  let osRelease: Uint8Array | undefined;
  if (typeof o.osRelease === 'string') osRelease = readFileBytes(o.osRelease);
  else if (o.osRelease !== false) {
    // ukify's default: the build machine's os-release
    const f = readTextOptional('/etc/os-release') !== undefined ? '/etc/os-release' : '/usr/lib/os-release';
    osRelease = readFileBytes(f);
  }
  return {
    stubFile,
    stub,
    cmdline: o.cmdline !== undefined ? cmdlineBytes(o.cmdline) : undefined,
    osRelease,
    uname: o.uname,
    sbat: (o.sbat ?? []).map((f) => Buffer.from(readFileBytes(f)).toString('utf8')),
  };
}

/** A UKI built (and signed when a key was given). */
export interface UkiBuildResult {
  readonly built: BuiltUki;
  /** The UKI's bytes: signed when a key was given. */
  readonly image: Uint8Array;
  /** Whether the kernel was signed before it went in (it was unsigned and a key was given, as ukify does). */
  readonly kernelSigned: boolean;
  /** Authenticode signatures made with the key: the UKI's, and the kernel's when it was signed here. */
  readonly signatures: number;
}

/**
 * ukify's flow: with a key, an unsigned kernel is signed first; the UKI is built from the
 * stub, the kernel and the initrds, then signed. `out` names the UKI in messages.
 * @throws FormatError (malformed stub or kernel, no room in the stub), KmodsealError (the key)
 */
export async function buildUkiImage(
  inputs: UkiInputs,
  linux: NamedBytes,
  initrds: readonly NamedBytes[],
  out: string,
  signing: AuthenticodeKey | undefined,
): Promise<UkiBuildResult> {
  let kernel = linux;
  let kernelSigned = false;
  if (signing && !parsePe(linux.data, linux.file).certTable) {
    kernel = { file: linux.file, data: await authenticodeSignImage(linux.data, linux.file, signing) };
    kernelSigned = true;
  }
  const built = buildUki({
    stub: inputs.stub,
    linux: kernel,
    initrds,
    ...(inputs.cmdline !== undefined ? { cmdline: inputs.cmdline } : {}),
    ...(inputs.osRelease ? { osRelease: inputs.osRelease } : {}),
    ...(inputs.uname !== undefined ? { uname: inputs.uname } : {}),
    sbat: inputs.sbat,
  });
  const image = signing ? await authenticodeSignImage(built.image, out, signing) : built.image;
  return { built, image, kernelSigned, signatures: (signing ? 1 : 0) + (kernelSigned ? 1 : 0) };
}
