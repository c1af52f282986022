/** ELF notes as the running kernel exposes them (/sys/kernel/notes). Pure. */
import { ByteReader, toHex } from '../bytes/reader.js';

const GNU = [0x47, 0x4e, 0x55] as const;

/** The GNU build id in a raw notes blob (/sys/kernel/notes: native byte order, 4-byte aligned). */
export function gnuBuildIdFromNotes(notes: Uint8Array): string | undefined {
  const r = new ByteReader(notes, { file: '/sys/kernel/notes', format: 'notes', littleEndian: true });
  let off = 0;
  for (let guard = 0; off + 12 <= notes.length && guard < 4096; guard++) {
    const namesz = r.u32(off, 'n_namesz');
    const descsz = r.u32(off + 4, 'n_descsz');
    const type = r.u32(off + 8, 'n_type');
    const nameOff = off + 12;
    const descOff = nameOff + ((namesz + 3) & ~3);
    const next = descOff + ((descsz + 3) & ~3);
    if (next > notes.length || next <= off) return undefined;
    if (type === 3 && namesz === 4 && r.startsWith(nameOff, GNU)) return toHex(r.bytes(descOff, descsz, 'n_desc'));
    off = next;
  }
  return undefined;
}
