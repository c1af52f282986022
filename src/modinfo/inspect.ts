/**
 * inspect: everything modinfo shows about a module, plus a structured signature, computed from
 * the module bytes alone (pure; file reading lives in src/io).
 */
import { Elf } from '../elf/elf.js';
import { FormatError, KmodsealError } from '../bytes/errors.js';
import { decompressModule, type Compression } from '../compress/index.js';
import {
  findModuleSignature,
  modinfoSignatureFields,
  pkeyAlgoName,
  type ModuleSignature,
} from '../modsig/signature.js';
import { kmodHex, readModinfo, type ModinfoEntry } from './modinfo.js';
import { toHex } from '../bytes/reader.js';
import type { ModuleSignatureRaw } from '../modsig/trailer.js';

/** The structured signature in `--json` output. */
export interface SignatureSummary {
  /** Trailer's id_type as kmod names it: "PKCS#7", "X509" or "PGP". */
  readonly idType: string;
  /** Issuer CN of the signer (what modinfo calls `signer`). */
  readonly signer: string;
  /** Full issuer DN of the first SignerInfo, when PKCS#7. */
  readonly issuer: string | null;
  /** Certificate serial (PKCS#7) or key id, lowercase hex (modinfo's `sig_key`). */
  readonly keyId: string;
  /** subjectKeyIdentifier of the signer when the PKCS#7 identifies it that way. */
  readonly subjectKeyId: string | null;
  readonly hashAlgorithm: string;
  readonly signatureAlgorithm: string | null;
  /** Signature bytes, lowercase hex. */
  readonly signature: string;
  readonly signatureLength: number;
  /** Bytes of the module the signature covers. */
  readonly signedLength: number;
  /** Offset (in the decompressed module) of the signature blob. */
  readonly offset: number;
  readonly certificates: number;
  readonly signers: number;
  readonly trailer: ModuleSignatureRaw;
}

/** What {@link inspectModuleBytes} reads from a module: modinfo's fields in order, the structured signature, sizes and compression. */
export interface ModuleInspection {
  /** The path as given (absolute paths are the CLI's business). */
  readonly file: string;
  readonly compression: Compression;
  readonly fileSize: number;
  /** Size of the decompressed module (ELF + signature). */
  readonly size: number;
  /** `.modinfo` strings, in order, followed by modinfo's signature fields (as kmod appends them). */
  readonly modinfo: readonly ModinfoEntry[];
  readonly signature: SignatureSummary | null;
  /** A malformed signature: the module was read, but its trailer or PKCS#7 was not. */
  readonly signatureError: FormatError | null;
}

/** ELF header fields a caller may want without re-parsing. */
export interface InspectOptions {
  /** Maximum decompressed size. */
  readonly maxSize?: number;
}

/**
 * Reads a module (any compression) and returns what modinfo would show, plus a structured
 * signature. The ELF must parse; a broken signature is reported in `signatureError`.
 * @throws FormatError for compression or ELF errors.
 */
export async function inspectModuleBytes(
  data: Uint8Array,
  file: string,
  options: InspectOptions = {},
): Promise<ModuleInspection> {
  const { data: elfData, compression } = await decompressModule(data, file, options.maxSize);
  return inspectDecompressed(elfData, file, compression, data.length);
}

/**
 * {@link inspectModuleBytes} on already-decompressed bytes. `summary: false` leaves
 * `signature` null (modinfo's text needs only `modinfo`; the summary's hex costs a tenth of a
 * tree's inspection); a broken signature is still reported in `signatureError`.
 */
export function inspectDecompressed(
  elfData: Uint8Array,
  file: string,
  compression: Compression,
  fileSize = elfData.length,
  summary = true,
): ModuleInspection {
  const where = compression === 'none' ? file : `${file} (decompressed ${compression})`;
  const elf = Elf.parse(elfData, where);
  const entries: ModinfoEntry[] = readModinfo(elf);
  let sig: ModuleSignature | undefined;
  let signatureError: FormatError | null = null;
  try {
    sig = findModuleSignature(elfData, where);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    signatureError = e;
  }
  let signature: SignatureSummary | null = null;
  if (sig) {
    const f = modinfoSignatureFields(sig);
    if (f) {
      entries.push(
        { key: 'sig_id', value: f.sig_id },
        { key: 'signer', value: f.signer },
        { key: 'sig_key', value: kmodHex(f.sig_key) },
        { key: 'sig_hashalgo', value: f.sig_hashalgo },
        { key: 'signature', value: kmodHex(f.signature) },
      );
    } else if (!signatureError) {
      signatureError = new FormatError('E_SIG', {
        file: where,
        offset: sig.trailerOffset,
        format: 'modsig',
        detail: `struct module_signature has out-of-range fields (algo ${sig.raw.algo}, hash ${sig.raw.hash}, id_type ${sig.raw.id_type})`,
      });
    }
    const p = sig.pkcs7;
    if (summary)
      signature = {
        idType: ['PGP', 'X509', 'PKCS#7'][sig.raw.id_type] ?? `unknown(${sig.raw.id_type})`,
        signer: f?.signer ?? '',
        issuer: p?.issuer ?? null,
        keyId: toHex(f?.sig_key ?? sig.keyId),
        subjectKeyId: p?.subjectKeyId ? toHex(p.subjectKeyId) : null,
        hashAlgorithm: f?.sig_hashalgo ?? 'unknown',
        signatureAlgorithm: p ? p.signatureAlgorithmName : (pkeyAlgoName(sig.raw.algo) ?? null),
        signature: toHex(f?.signature ?? sig.sigData),
        signatureLength: (f?.signature ?? sig.sigData).length,
        signedLength: sig.moduleLength,
        offset: sig.sigOffset,
        certificates: p?.certificateCount ?? 0,
        signers: p?.signerCount ?? 0,
        trailer: { ...sig.raw },
      };
  }
  return { file, compression, fileSize, size: elfData.length, modinfo: entries, signature, signatureError };
}

export { KmodsealError };
