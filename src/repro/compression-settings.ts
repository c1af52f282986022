/**
 * A fingerprint of the encoder settings visible in a compressed module's headers, so that two
 * modules whose compressed bytes differ can be told apart as "different settings" without
 * recompressing.
 *
 *   xz    stream flags (check type) | block flags (size fields present: multi-threaded xz) | filter flags (LZMA2 dict size)
 *   zstd  frame header descriptor: checksum flag, content-size present, dictionary id
 *   gzip  FLG, XFL (level hint), OS, MTIME == 0 (gzip -n)
 * Authority: xz file format 1.0.4 §2.1.1.2, §3.1; RFC 8878 §3.1.1.1.1; RFC 1952 §2.3.
 */
import type { Compression } from '../compress/index.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** The settings fingerprint, or undefined when the headers are too short to read. Never throws. */
export function compressionSettings(data: Uint8Array, compression: Compression): string | undefined {
  switch (compression) {
    case 'none':
      return 'none';
    case 'xz': {
      if (data.length < 14) return undefined;
      const check = data[7]! & 0x0f;
      const hsize = (data[12]! + 1) * 4;
      if (12 + hsize > data.length) return undefined;
      const flags = data[13]!;
      let p = 14;
      const skipVarint = (): void => {
        for (let i = 0; i < 9 && p < 12 + hsize; i++) if (!(data[p++]! & 0x80)) return;
      };
      if (flags & 0x40) skipVarint();
      if (flags & 0x80) skipVarint();
      let end = 12 + hsize - 4;
      while (end > p && data[end - 1] === 0) end--; // header padding
      return `xz check=${check} sizes=${(flags & 0xc0) >> 6} filters=${hex(data.subarray(p, end))}`;
    }
    case 'zstd': {
      if (data.length < 5) return undefined;
      const fhd = data[4]!;
      return `zstd checksum=${(fhd >> 2) & 1} contentSize=${fhd >> 6 !== 0 || (fhd >> 5) & 1 ? 1 : 0} dictId=${fhd & 3}`;
    }
    case 'gzip': {
      if (data.length < 10) return undefined;
      const mtimeZero = data[4] === 0 && data[5] === 0 && data[6] === 0 && data[7] === 0;
      return `gzip flg=${data[3]} xfl=${data[8]} os=${data[9]} mtime0=${mtimeZero ? 1 : 0}`;
    }
  }
}
