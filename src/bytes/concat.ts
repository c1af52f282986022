/** The one byte concatenation: PKCS#7 and DER encoding, PE section layout, cpio archives. */

/** `parts` one after another in one new array; `total` is their summed length when the caller already has it. */
export function concatBytes(parts: readonly Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
