/** ELF notes as the running kernel exposes them (/sys/kernel/notes). Pure. */

/** The GNU build id in a raw notes blob (/sys/kernel/notes: native byte order, 4-byte aligned). */
export function gnuBuildIdFromNotes(notes: Uint8Array): string | undefined {
  const dv = new DataView(notes.buffer, notes.byteOffset, notes.byteLength);
  let off = 0;
  for (let guard = 0; off + 12 <= notes.length && guard < 4096; guard++) {
    const namesz = dv.getUint32(off, true);
    const descsz = dv.getUint32(off + 4, true);
    const type = dv.getUint32(off + 8, true);
    const nameOff = off + 12;
    const descOff = nameOff + ((namesz + 3) & ~3);
    const next = descOff + ((descsz + 3) & ~3);
    if (next > notes.length || next <= off) return undefined;
    if (type === 3 && namesz === 4 && Buffer.from(notes.subarray(nameOff, nameOff + 3)).toString('latin1') === 'GNU') {
      return Buffer.from(notes.subarray(descOff, descOff + descsz)).toString('hex');
    }
    off = next;
  }
  return undefined;
}
