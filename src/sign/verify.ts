/**
 * Offline verification of a module signature in the kernel's own terms, for `kmodseal verify`
 * and the library: a thin view of the same verdict `check` uses (src/check/signature.ts,
 * validated against booted kernels), with a keyring built once for bulk use.
 */
import { kernelSignatureVerdict, keyCert, type KeyCert, type SigResult } from '../check/signature.js';
import { trailerFacts } from '../check/module-facts.js';
import type { KernelSeries } from '../kernel/series.js';

export type { KernelSeries };
/** The error the kernel's signature step returns. */
export type KernelErrno = 'ENODATA' | 'ENOKEY' | 'EKEYREJECTED' | 'EBADMSG' | 'ENOPKG' | 'EINVAL';
/** kmodseal's names for them: no signature, no matching key, key rejected, bad message, unsupported algorithm, invalid. */
export type VerifyStatus =
  'ok' | 'no-signature' | 'no-matching-key' | 'key-rejected' | 'bad-message' | 'unsupported' | 'invalid';

/** The kernel's verdict on a module signature (see {@link verifyModuleSignature}). */
export interface VerifyResult {
  readonly status: VerifyStatus;
  /** undefined when ok. */
  readonly errno: KernelErrno | undefined;
  /** One line saying why. */
  readonly detail: string;
  /**
   * Whether the kernel refuses the module even without enforcement (module.sig_enforce=0, no
   * lockdown): only ENODATA, ENOPKG and ENOKEY are tolerated (taint E).
   */
  readonly fatalWithoutEnforcement: boolean;
  /** Length of the ELF the later load checks see. */
  readonly moduleLength: number;
  /** Index into the trusted list of the certificate that vouched for the signature (ok only). */
  readonly trustedIndex: number | undefined;
  /** Hash named by the (first) signer, when the PKCS#7 parsed. */
  readonly hash: string | undefined;
}

/** Options of {@link verifyModuleSignature}. */
export interface VerifyOptions {
  /** Kernel series whose algorithm tables apply. Default: the keyring's, else '6.12'. */
  readonly kernel?: KernelSeries;
  readonly file?: string;
}

/** Trusted certificates parsed once, as the kernel's keyring holds them (from {@link createTrustedKeyring}). */
export interface TrustedKeyring {
  /** The parsed keys, in the kernel's keyring form. @internal */
  readonly keys: readonly KeyCert[];
  /** Index in the given list of each key. */
  readonly indexes: readonly number[];
  /** Certificates the kernel would not load (unparsable, unsupported curve). */
  readonly rejected: readonly { readonly index: number; readonly reason: string }[];
  readonly series: KernelSeries;
}

const STATUS: Record<SigResult, VerifyStatus> = {
  OK: 'ok',
  ENODATA: 'no-signature',
  ENOKEY: 'no-matching-key',
  EKEYREJECTED: 'key-rejected',
  EBADMSG: 'bad-message',
  ENOPKG: 'unsupported',
  EINVAL: 'invalid',
};

/** Results a kernel without enforcement still loads the module with (unsigned, unsupported, unknown key). */
const SOFT: readonly SigResult[] = ['OK', 'ENODATA', 'ENOPKG', 'ENOKEY'];

/** Parses trusted certificates once, as the kernel loads them into its keyring. */
export function createTrustedKeyring(
  certificates: readonly Uint8Array[],
  series: KernelSeries = '6.12',
): TrustedKeyring {
  const keys: KeyCert[] = [];
  const indexes: number[] = [];
  const rejected: { index: number; reason: string }[] = [];
  certificates.forEach((der, index) => {
    try {
      keys.push(keyCert(der, `trusted certificate ${index}`, series));
      indexes.push(index);
    } catch (e) {
      rejected.push({ index, reason: (e as Error).message });
    }
  });
  return { keys, indexes, rejected, series };
}

function isKeyring(t: readonly Uint8Array[] | TrustedKeyring): t is TrustedKeyring {
  return !Array.isArray(t);
}

/** The kernel's verdict on a (decompressed) module's signature. Never throws for bad input. */
export function verifyModuleSignature(
  data: Uint8Array,
  trusted: readonly Uint8Array[] | TrustedKeyring,
  options: VerifyOptions = {},
): VerifyResult {
  const ring: TrustedKeyring = isKeyring(trusted) ? trusted : createTrustedKeyring(trusted, options.kernel ?? '6.12');
  const series = options.kernel ?? ring.series;
  const trailer = trailerFacts(data);
  const v = kernelSignatureVerdict(data, trailer, ring.keys, { series });
  const at = v.trustedKey ? ring.keys.indexOf(v.trustedKey) : -1;
  return {
    status: STATUS[v.result],
    errno: v.result === 'OK' ? undefined : v.result,
    detail: v.log.length ? `${v.detail} (${v.log.join('; ')})` : v.detail,
    fatalWithoutEnforcement: !SOFT.includes(v.result),
    moduleLength: trailer.elfLength,
    trustedIndex: at >= 0 ? ring.indexes[at] : undefined,
    hash: v.hash,
  };
}
