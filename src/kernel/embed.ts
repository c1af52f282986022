/**
 * Writes a certificate into a vmlinux's reserved extra-certificate area, as the kernel's
 * scripts/insert-sys-cert does: the DER at `system_extra_cert`, the rest of the area zeroed,
 * `system_extra_cert_used` = its size, `system_certificate_list_size` += new - old used.
 * Pure: returns a new array.
 */
import { ByteWriter, copyBytes } from '../bytes/reader.js';
import { KmodsealError } from '../bytes/errors.js';
import type { CertificateList } from './certs.js';

/** Word size and byte order of the vmlinux {@link embedExtraCertificate} writes into (from {@link KernelInspection}). */
export interface EmbedLayout {
  readonly wordSize: 4 | 8;
  readonly littleEndian: boolean;
}

/**
 * @throws KmodsealError E_UNSUPPORTED (no reserved area: CONFIG_SYSTEM_EXTRA_CERTIFICATE off,
 *         or the image has no symbols to find it), E_LIMIT (certificate larger than the area),
 *         E_FORMAT (not a DER certificate the kernel's list parser accepts)
 */
export function embedExtraCertificate(
  vmlinux: Uint8Array,
  file: string,
  list: CertificateList | undefined,
  der: Uint8Array,
  layout: EmbedLayout,
): Uint8Array {
  const extra = list?.extra;
  if (!list || !extra) {
    throw new KmodsealError(
      'E_UNSUPPORTED',
      `${file}: no reserved extra-certificate area found (needs CONFIG_SYSTEM_EXTRA_CERTIFICATE and a vmlinux with symbols ` +
        `or --system-map)`,
    );
  }
  if (der.length < 4 || der[0] !== 0x30 || der[1] !== 0x82 || ((der[2]! << 8) | der[3]!) + 4 !== der.length) {
    throw new KmodsealError(
      'E_FORMAT',
      `certificate: not a single DER certificate of 256..65535 content bytes (the kernel's list parser needs 30 82 LL LL)`,
    );
  }
  if (der.length > extra.size)
    throw new KmodsealError(
      'E_LIMIT',
      `certificate: ${der.length} bytes do not fit the ${extra.size}-byte reserved area of ${file}`,
    );
  const out = copyBytes(vmlinux);
  const w = new ByteWriter(out, { file, format: 'vmlinux', littleEndian: layout.littleEndian });
  w.need(extra.offset, extra.size, 'system_extra_cert');
  out.fill(0, extra.offset, extra.offset + extra.size);
  out.set(der, extra.offset);
  const oldUsed = extra.used;
  w.setI32(extra.usedOffset, der.length, 'system_extra_cert_used');
  const newSize = list.listSize + der.length - oldUsed;
  if (layout.wordSize === 8) w.setU64(list.listSizeOffset, BigInt(newSize), 'system_certificate_list_size');
  else w.setU32(list.listSizeOffset, newSize, 'system_certificate_list_size');
  return out;
}
