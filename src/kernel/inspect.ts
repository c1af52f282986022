/**
 * One call from kernel file bytes to everything kmodseal reads from a kernel:
 * {@link unwrapKernelImage} then {@link inspectVmlinux}.
 */
import { unwrapKernelImage, type KernelImageKind, type UnwrapOptions } from './image.js';
import { inspectVmlinux, type VmlinuxInfo } from './vmlinux.js';
import type { KernelCodec } from '../compress/stream.js';
import type { SystemMap } from './system-map.js';

/**
 * Everything kmodseal reads from a kernel image: release, banner, vermagic, exported symbols,
 * certificates, configuration, BTF, and how the image was packed.
 */
export interface KernelInspection extends VmlinuxInfo {
  readonly image: {
    readonly kind: KernelImageKind;
    readonly pe: boolean;
    readonly compression: KernelCodec | undefined;
    readonly payloadOffset: number;
    readonly payloadLength: number;
    /** Size of the input file. */
    readonly fileSize: number;
    /** Size of the decompressed kernel. */
    readonly kernelSize: number;
  };
  /** The decompressed kernel (the input itself when it was not compressed): what --extract-vmlinux writes. */
  readonly kernel: Uint8Array;
}

/** Options of {@link inspectKernelImage}: the file name for messages, and optionally a System.map for images without symbols. */
export interface KernelInspectOptions extends UnwrapOptions {
  systemMap?: SystemMap;
}

/**
 * Inspects a kernel file (bzImage/PE, Image[.gz], vmlinux, or another container with a
 * gzip/xz/zstd payload).
 * @throws FormatError from unwrapKernelImage and inspectVmlinux.
 */
export async function inspectKernelImage(data: Uint8Array, options: KernelInspectOptions): Promise<KernelInspection> {
  const u = await unwrapKernelImage(data, options);
  const info = await inspectVmlinux(u.data, {
    file: options.file,
    ...(options.systemMap ? { systemMap: options.systemMap } : {}),
  });
  return {
    ...info,
    image: {
      kind: u.kind,
      pe: u.pe,
      compression: u.compression,
      payloadOffset: u.payloadOffset,
      payloadLength: u.payloadLength,
      fileSize: data.length,
      kernelSize: u.data.length,
    },
    kernel: u.data,
  };
}
