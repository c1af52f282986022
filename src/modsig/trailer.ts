/**
 * The one finder of the module signature trailer: `struct module_signature` followed by the
 * magic "~Module signature appended~\n" at the very end of a (decompressed) module.
 * Authority: include/linux/module_signature.h, kernel/module_signature.c (mod_check_sig),
 * kernel/module/signing.c (module_sig_check), scripts/sign-file.c.
 *
 *   [ ... ][ struct module_signature (12 bytes) ][ "~Module signature appended~\n" (28 bytes) ]
 *   struct module_signature: u8 algo, hash, id_type, signer_len, key_id_len; u8 pad[3]; be32 sig_len
 *
 * It locates and reads the trailer without judging it: every caller (src/modsig/signature.ts,
 * src/check/module-facts.ts, src/sign/cms.ts, src/modinfo/sparse.ts) applies its own rules to
 * the fields (kmod's, the kernel's, sign-file's). native/modinfo.c has its own C copy (the
 * optional native fast path of `inspect`). Pure: bytes in, never throws.
 */
import { ByteReader } from '../bytes/reader.js';

export const MODULE_SIG_STRING = '~Module signature appended~\n';
export const MODULE_SIG_MAGIC = new TextEncoder().encode(MODULE_SIG_STRING);
export const MODULE_SIGNATURE_SIZE = 12;

/** `struct module_signature`, field names as in the kernel (pad aside). */
export interface ModuleSignatureRaw {
  readonly algo: number;
  readonly hash: number;
  readonly id_type: number;
  readonly signer_len: number;
  readonly key_id_len: number;
  readonly sig_len: number;
}

export interface SignatureTrailer {
  /** Offset of the magic: the data's length less 28. */
  readonly magicOffset: number;
  /** Offset of struct module_signature: `magicOffset - 12` (negative when there is no room for it). */
  readonly infoOffset: number;
  /** The fields of struct module_signature; undefined when there is no room for it. */
  readonly info: ModuleSignatureRaw | undefined;
  /** The three pad bytes as one big-endian number (0 when they are all zero, or without info). */
  readonly pad: number;
}

/**
 * The trailer at the end of `data`, or undefined when `data` does not end with the magic.
 * Never throws.
 */
export function findSignatureTrailer(data: Uint8Array): SignatureTrailer | undefined {
  const n = MODULE_SIG_MAGIC.length;
  const r = new ByteReader(data, { file: '<module>', format: 'modsig', littleEndian: false });
  const magicOffset = data.length - n;
  if (magicOffset < 0 || !r.startsWith(magicOffset, MODULE_SIG_MAGIC)) return undefined;
  const t = magicOffset - MODULE_SIGNATURE_SIZE;
  if (t < 0) return { magicOffset, infoOffset: t, info: undefined, pad: 0 };
  const info: ModuleSignatureRaw = {
    algo: r.u8(t),
    hash: r.u8(t + 1),
    id_type: r.u8(t + 2),
    signer_len: r.u8(t + 3),
    key_id_len: r.u8(t + 4),
    sig_len: r.u32be(t + 8),
  };
  const pad = (r.u8(t + 5) << 16) | (r.u8(t + 6) << 8) | r.u8(t + 7);
  return { magicOffset, infoOffset: t, info, pad };
}
