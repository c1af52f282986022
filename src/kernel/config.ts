/**
 * Kernel configuration: the `.config` text format and the copy embedded by CONFIG_IKCONFIG.
 * Authority: kernel/configs.c (`"IKCFG_ST"` gzip(.config) `"IKCFG_ED"`), scripts/kconfig/confdata.c
 * (`CONFIG_X=y|m|123|"str"` and `# CONFIG_X is not set`).
 */
import { ByteReader } from '../bytes/reader.js';
import { decompressPayload, probeCodec } from '../compress/stream.js';

/** The load-relevant policy switches of a kernel configuration. */
export interface KernelPolicy {
  readonly moduleSig: boolean;
  readonly moduleSigForce: boolean;
  readonly modversions: boolean;
  readonly moduleAllowBtfMismatch: boolean;
  readonly securityLockdownLsm: boolean;
  /** CONFIG_MODULE_COMPRESS_{NONE,GZIP,XZ,ZSTD}: how `make modules_install` compresses. */
  readonly moduleCompress: 'none' | 'gzip' | 'xz' | 'zstd';
  /** CONFIG_MODULE_DECOMPRESS: the kernel can decompress modules itself (finit_module flag). */
  readonly moduleDecompress: boolean;
}

/** A kernel configuration (embedded IKCONFIG or a `config-RELEASE` file): every set option and the load-relevant switches. */
export interface KernelConfig {
  /** Every set option, `CONFIG_` name → value; strings are unquoted and unescaped. "is not set" options are absent. */
  readonly values: ReadonlyMap<string, string>;
  readonly policy: KernelPolicy;
}

const IKCFG_ST = Buffer.from('IKCFG_ST', 'latin1');
const IKCFG_ED = Buffer.from('IKCFG_ED', 'latin1');
/** A .config is a few hundred KiB; the embedded copy is bounded well above that. */
export const MAX_CONFIG_SIZE = 16 * 1024 * 1024;

/** Parses `.config` text. Lines that are not assignments are ignored. Never throws. */
export function parseKernelConfig(text: string): KernelConfig {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    values.set(m[1]!, v);
  }
  return { values, policy: kernelPolicy(values) };
}

function kernelPolicy(values: ReadonlyMap<string, string>): KernelPolicy {
  const on = (name: string): boolean => values.get(`CONFIG_${name}`) === 'y';
  const compress = on('MODULE_COMPRESS_ZSTD')
    ? 'zstd'
    : on('MODULE_COMPRESS_XZ')
      ? 'xz'
      : on('MODULE_COMPRESS_GZIP')
        ? 'gzip'
        : 'none';
  return {
    moduleSig: on('MODULE_SIG'),
    moduleSigForce: on('MODULE_SIG_FORCE'),
    modversions: on('MODVERSIONS'),
    moduleAllowBtfMismatch: on('MODULE_ALLOW_BTF_MISMATCH'),
    securityLockdownLsm: on('SECURITY_LOCKDOWN_LSM'),
    moduleCompress: compress,
    moduleDecompress: on('MODULE_DECOMPRESS'),
  };
}

/**
 * The configuration embedded with CONFIG_IKCONFIG (ELF or raw image alike).
 * @returns undefined when the image has no `IKCFG_ST` marker.
 * @throws FormatError E_FORMAT (no gzip after the marker), E_COMPRESS, E_TRUNCATED, E_LIMIT
 */
export async function findEmbeddedConfig(data: Uint8Array, file: string): Promise<KernelConfig | undefined> {
  const hay = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let st = hay.indexOf(IKCFG_ST); st >= 0; st = hay.indexOf(IKCFG_ST, st + 1)) {
    const start = st + IKCFG_ST.length;
    // kernel/configs.c also contains the marker strings as code constants: skip those.
    if (probeCodec(data, start) !== 'gzip') continue;
    const ed = hay.indexOf(IKCFG_ED, start);
    const r = new ByteReader(data, { file, format: 'ikconfig' });
    if (ed < 0) throw r.error('E_FORMAT', st, 'IKCFG_ST without IKCFG_ED');
    const text = await decompressPayload(data.subarray(start, ed), 'gzip', file, start, MAX_CONFIG_SIZE);
    return parseKernelConfig(Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('latin1'));
  }
  return undefined;
}
