/**
 * Compare two kernel images modulo the embedded (ephemeral) certificates and the signature of a
 * signed PE image.
 *
 *   outer file (bzImage / PE):  [ headers: PE CheckSum, certificate directory ]
 *                               [ setup + compressed payload ][ Authenticode table ]
 *   decompressed vmlinux:       ... .init.rodata: system_certificate_list[list_size] | system_extra_cert[...]
 *                               | used | list_size | module_cert_size ...
 *                               .notes: GNU build-id (a hash over the whole link, so it changes with the certificate)
 *
 * Authority: certs/system_certificates.S (kernel-load-checks §2.1), PE/COFF "Attribute Certificate
 * Table", Documentation/kbuild/reproducible-builds.rst (§7.1).
 */
import { Elf } from '../elf/elf.js';
import { probeElf } from '../elf/elf.js';
import { unwrapKernelImage, type UnwrappedKernel } from '../kernel/image.js';
import { inspectVmlinux } from '../kernel/vmlinux.js';
import { parsePe, probePe, type PeImage } from '../pe/pe.js';
import type { CertificateList } from '../kernel/certs.js';
import { bytesEqual } from './module-parts.js';
import { diffElfSections, sectionAt, type SectionDifference } from './elf-diff.js';
import { differingRanges, labelRanges, MAX_REGIONS, type ByteRegion, type Mask } from './regions.js';

/** The certificate list and extra-certificate area of one kernel image in a {@link KernelDiff}. */
export interface KernelCertificateArea {
  readonly listOffset: number;
  readonly listSize: number;
  readonly extraOffset: number | undefined;
  readonly extraSize: number | undefined;
  readonly method: CertificateList['method'];
  readonly subjects: readonly string[];
}

/** How two kernel images differ, with certificates, build id and PE signature masked. */
export interface KernelDiff {
  readonly identical: boolean;
  /** Everything but the masked regions (certificates, build id, PE signature, consequential payload bytes) is equal. */
  readonly equalModuloCertificates: boolean;
  /** Differences of the file itself (container level). Empty when the files are identical. */
  readonly image: {
    readonly sizeA: number;
    readonly sizeB: number;
    readonly pe: boolean;
    readonly regions: readonly ByteRegion[];
    readonly regionCount: number;
  };
  /** Differences of the decompressed kernels. */
  readonly kernel:
    | {
        readonly sizeA: number;
        readonly sizeB: number;
        readonly identical: boolean;
        readonly regions: readonly ByteRegion[];
        readonly regionCount: number;
        /** Section-level view of the unmasked differences (ELF kernels). */
        readonly sections: readonly SectionDifference[];
        readonly certificatesA: KernelCertificateArea | undefined;
        readonly certificatesB: KernelCertificateArea | undefined;
        readonly buildIdA: string | undefined;
        readonly buildIdB: string | undefined;
      }
    | undefined;
}

function certArea(c: CertificateList | undefined): KernelCertificateArea | undefined {
  if (!c) return undefined;
  return {
    listOffset: c.offset,
    listSize: c.listSize,
    extraOffset: c.extra?.offset,
    extraSize: c.extra?.size,
    method: c.method,
    subjects: c.certificates.map((x) => x.subject),
  };
}

function certMasks(c: CertificateList | undefined, wordSize: number): Mask[] {
  if (!c) return [];
  const m: Mask[] = [
    { offset: c.offset, length: c.listSize, label: 'certificate-list' },
    // system_certificate_list_size, then module_cert_size (system_certificates.S)
    { offset: c.listSizeOffset, length: 2 * wordSize, label: 'certificate-list-size' },
  ];
  if (c.extra) {
    m.push({ offset: c.extra.offset, length: c.extra.size, label: 'extra-certificate-area' });
    m.push({ offset: c.extra.usedOffset, length: 4, label: 'extra-certificate-used' });
  }
  return m;
}

function buildIdMask(data: Uint8Array, buildId: string | undefined): Mask[] {
  if (!buildId) return [];
  const at = Buffer.from(data.buffer, data.byteOffset, data.byteLength).indexOf(Buffer.from(buildId, 'hex'));
  return at < 0 ? [] : [{ offset: at, length: buildId.length / 2, label: 'build-id' }];
}

function peMasks(pe: PeImage | undefined, size: number): Mask[] {
  if (!pe) return [];
  const m: Mask[] = [
    { offset: pe.checksumOffset, length: 4, label: 'pe-checksum' },
    { offset: pe.certDirOffset, length: 8, label: 'pe-certificate-directory' },
  ];
  if (pe.certTable) m.push({ offset: pe.certTable.offset, length: size - pe.certTable.offset, label: 'pe-signature' });
  return m;
}

function tryPe(data: Uint8Array, file: string): PeImage | undefined {
  if (!probePe(data)) return undefined;
  try {
    return parsePe(data, file);
  } catch {
    return undefined;
  }
}

function cap(regions: ByteRegion[]): ByteRegion[] {
  // unmasked regions first: they are the ones a reader needs
  return [...regions.filter((r) => !r.masked), ...regions.filter((r) => r.masked)]
    .slice(0, MAX_REGIONS)
    .sort((x, y) => x.offset - y.offset);
}

/**
 * Compares two kernel files (bzImage/PE, Image[.gz], vmlinux, ...).
 * @throws FormatError from unwrapping either image (E_MAGIC, E_COMPRESS, ...).
 */
export async function diffKernelImages(
  a: Uint8Array,
  b: Uint8Array,
  fileA: string,
  fileB: string,
): Promise<KernelDiff> {
  if (bytesEqual(a, b)) {
    return {
      identical: true,
      equalModuloCertificates: true,
      image: { sizeA: a.length, sizeB: b.length, pe: probePe(a), regions: [], regionCount: 0 },
      kernel: undefined,
    };
  }
  const [ua, ub] = [await unwrapKernelImage(a, { file: fileA }), await unwrapKernelImage(b, { file: fileB })];
  const kernel = await diffKernels(ua, ub, fileA, fileB);
  const kernelOk =
    kernel.identical ||
    (kernel.regions.every((r) => r.masked) &&
      kernel.regionCount === kernel.regions.length &&
      kernel.sizeA === kernel.sizeB);

  // container level: the compressed payload differs whenever the kernel does; that is expected only
  // when the kernel is equal modulo certificates
  const peA = tryPe(a, fileA);
  const peB = tryPe(b, fileB);
  const payloadMask = (u: UnwrappedKernel): Mask[] =>
    u.payloadLength > 0
      ? [{ offset: u.payloadOffset, length: u.payloadLength, label: kernelOk ? 'payload' : 'payload (kernel differs)' }]
      : [];
  let outer: ByteRegion[] = [];
  let outerCount = 0;
  if (ua.data !== a || ub.data !== b) {
    const masks = [...peMasks(peA, a.length), ...payloadMask(ua)];
    if (a.length === b.length && ua.payloadOffset === ub.payloadOffset) {
      const locate = (off: number): string => {
        const s = peA?.sections.find((x) => off >= x.pointerToRawData && off < x.pointerToRawData + x.sizeOfRawData);
        return s ? `pe section ${s.name}` : off < (peA?.sizeOfHeaders ?? 0x400) ? 'header' : 'image';
      };
      const all = labelRanges(differingRanges(a, b), [...masks, ...peMasks(peB, b.length)], locate);
      outer = all.map((r) => (r.label === 'payload (kernel differs)' ? { ...r, masked: false } : r));
      outerCount = outer.length;
    } else {
      // layouts differ (payload size changed): name the differing fields of the header, everything else is moved
      const head = Math.min(ua.payloadOffset || a.length, ub.payloadOffset || b.length);
      const all = labelRanges(
        differingRanges(a.subarray(0, head), b.subarray(0, head)),
        [...peMasks(peA, a.length), ...peMasks(peB, b.length)],
        () => 'header',
      );
      outer = [
        ...all,
        {
          offset: head,
          length: Math.max(a.length, b.length) - head,
          label: `payload and trailer (sizes ${a.length} vs ${b.length})`,
          masked: false,
        },
      ];
      outerCount = outer.length;
    }
  }
  const outerOk = outer.every((r) => r.masked);
  return {
    identical: false,
    equalModuloCertificates: kernelOk && outerOk,
    image: {
      sizeA: a.length,
      sizeB: b.length,
      pe: peA !== undefined || peB !== undefined,
      regions: cap(outer),
      regionCount: outerCount,
    },
    kernel,
  };
}

async function diffKernels(
  ua: UnwrappedKernel,
  ub: UnwrappedKernel,
  fileA: string,
  fileB: string,
): Promise<NonNullable<KernelDiff['kernel']>> {
  const a = ua.data;
  const b = ub.data;
  const [ia, ib] = [await inspectVmlinux(a, { file: fileA }), await inspectVmlinux(b, { file: fileB })];
  const base = {
    sizeA: a.length,
    sizeB: b.length,
    certificatesA: certArea(ia.certificates),
    certificatesB: certArea(ib.certificates),
    buildIdA: ia.buildId,
    buildIdB: ib.buildId,
  };
  if (bytesEqual(a, b)) return { ...base, identical: true, regions: [], regionCount: 0, sections: [] };
  const word = (i: typeof ia): number => (i.elf ? i.elf.class / 8 : 8);
  const masks = [
    ...certMasks(ia.certificates, word(ia)),
    ...certMasks(ib.certificates, word(ib)),
    ...buildIdMask(a, ia.buildId),
    ...buildIdMask(b, ib.buildId),
  ];
  let elf: Elf | undefined;
  try {
    elf = probeElf(a) ? Elf.parse(a, fileA) : undefined;
  } catch {
    elf = undefined;
  }
  const locate = (off: number): string => {
    const s = elf ? sectionAt(elf, off) : undefined;
    return s ? `section ${s.name}` : elf ? 'outside sections' : 'image';
  };
  if (a.length === b.length) {
    const regions = labelRanges(differingRanges(a, b), masks, locate);
    const unmasked = new Set(regions.filter((r) => !r.masked).map((r) => r.label.replace(/^section /, '')));
    const sections = (diffElfSections(a, b, fileA, fileB) ?? []).filter(
      (s) => unmasked.has(s.name) || s.change !== 'content',
    );
    return { ...base, identical: false, regions: cap(regions), regionCount: regions.length, sections };
  }
  // sizes differ: byte offsets no longer line up; say which sections differ
  const sections = diffElfSections(a, b, fileA, fileB) ?? [
    { name: '<image>', change: 'size', sizeA: a.length, sizeB: b.length },
  ];
  const regions: ByteRegion[] = [
    { offset: 0, length: Math.max(a.length, b.length), label: `kernel size ${a.length} vs ${b.length}`, masked: false },
  ];
  return { ...base, identical: false, regions, regionCount: 1, sections };
}
