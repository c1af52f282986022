/**
 * kmodseal's public API: the top-level operations of the CLI as library calls, their option and
 * result types, and the error classes. Every export is named here; nothing else is public (the
 * parsers behind these calls are internals and may change). The reference is generated into
 * docs/api/ by TypeDoc (`typedoc.json`); test/api.test.ts pins the list below.
 * @packageDocumentation
 */
// inspect: modules as modinfo shows them
export { inspectModuleBytes } from './modinfo/inspect.js';
export type { ModuleInspection, SignatureSummary, InspectOptions } from './modinfo/inspect.js';
export type { ModinfoEntry } from './modinfo/modinfo.js';
export type { ModuleSignatureRaw } from './modsig/trailer.js';
export { renderModinfo } from './report/modinfo-text.js';
export type { ModinfoTextOptions } from './report/modinfo-text.js';
export { inspectionToJson } from './report/inspect-json.js';
export type { InspectJson } from './report/inspect-json.js';
export { decompressModule } from './compress/index.js';
export type { Compression } from './compress/index.js';
// kernels
export { inspectKernelImage } from './kernel/inspect.js';
export type { KernelInspection, KernelInspectOptions } from './kernel/inspect.js';
export type { KernelImageKind } from './kernel/image.js';
export type { KernelCodec } from './compress/stream.js';
export type { KernelPart, KernelWarning } from './kernel/vmlinux.js';
export type { CertificateList, KernelCertificate, UnparsedCertificate, ExtraCertificateArea } from './kernel/certs.js';
export type { KernelConfig, KernelPolicy } from './kernel/config.js';
export type { SystemMap, SystemMapSymbol } from './kernel/system-map.js';
export type { PeSignatures, AuthenticodeSignature, AuthenticodeSigner } from './pe/authenticode.js';
export { loadKernelSource, loadRunningKernel } from './kernel/source.js';
export type { KernelSource, KernelSourceUki, RunningKernel } from './kernel/source.js';
export { formatSymvers } from './kernel/ksymtab.js';
export type { ExportedSymbol, KsymtabLayout } from './kernel/ksymtab.js';
export { embedExtraCertificate } from './kernel/embed.js';
export type { EmbedLayout } from './kernel/embed.js';
// BTF
export { parseBtfFile } from './btf/btf.js';
export type { Btf } from './btf/btf.js';
export { dumpBtfRaw, dumpBtfJson } from './btf/dump.js';
export { checkModuleBtf } from './btf/validate.js';
export type {
  ModuleBtfCheckOptions,
  ModuleBtfCheckResult,
  BtfCheckStage,
  DistilledBaseOutcome,
} from './btf/validate.js';
export type { KernelSeries } from './kernel/series.js';
export type { DistilledMapping } from './btf/relocate.js';
export { compareModuleBase } from './btf/compare.js';
export type { BaseCompareResult, BaseTypeMismatch } from './btf/compare.js';
// the load verdict
export { buildTarget } from './check/target.js';
export type { CheckTarget, LoadPolicy, PolicyOverrides, ExportInfo } from './check/target.js';
export { checkModules } from './check/check.js';
export type { ModuleVerdict, Reason, Outcome, CheckInput, CheckOptions } from './check/check.js';
export type { ReasonCode } from './check/codes.js';
export { kernelElfValidity } from './check/elf-validity.js';
export type { ElfValidityTarget, ElfValidityFailure } from './check/elf-validity.js';
// keys, signing, verification
export { generateSigningKey } from './keys/keygen.js';
export type { GeneratedKey, KeyType, KeygenOptions } from './keys/keygen.js';
export type { CertificateHash } from './keys/x509.js';
export { createNodeSigner } from './keys/node-signer.js';
export { openPkcs11Signer } from './keys/pkcs11-signer.js';
export type { Pkcs11Signer, Pkcs11SignerOptions } from './keys/pkcs11-signer.js';
export type { Signer, SignerAlgorithm, HashAlgorithm } from './keys/signer.js';
export { signModuleFile } from './sign/compressed.js';
export type { SignedModuleFile, RecompressOptions } from './sign/compressed.js';
export type { Pkcs7Options, KeyIdForm } from './sign/cms.js';
export { verifyModuleSignature, createTrustedKeyring } from './sign/verify.js';
export type { VerifyResult, VerifyStatus, KernelErrno, VerifyOptions, TrustedKeyring } from './sign/verify.js';
// reproducible builds
export { detach } from './repro/detach.js';
export type { DetachOptions, DetachResult } from './repro/detach.js';
export type { ModuleRecord } from './repro/manifest.js';
export { attach, AttachRefusedError } from './repro/attach.js';
export type { AttachOptions, AttachResult, AttachProblem, AttachProblemReason } from './repro/attach.js';
export { diff } from './repro/diff.js';
export type { DiffResult, DiffEntry, IgnoredEntry, DiffOptions, InputKind, EntryType } from './repro/diff.js';
export type { SectionDifference } from './repro/elf-diff.js';
export type { KernelDiff, KernelCertificateArea } from './repro/kernel-diff.js';
export type { ByteRegion } from './repro/regions.js';
// errors
export { KmodsealError, FormatError } from './bytes/errors.js';
export type { ErrorCode } from './bytes/errors.js';
// Secure Boot: the EDK2 verdict, signatures moved between builds, SBAT, UKIs, initramfs images
export { verifyPeImage } from './pe/authenticode-verify.js';
export type {
  EfiVerifyResult,
  EfiSignatureCheck,
  EfiSignatureVerdict,
  EfiImageVerdict,
  EfiSecurityDatabases,
} from './pe/authenticode-verify.js';
export { parseSignatureDatabase } from './pe/signature-list.js';
export type {
  SignatureDatabaseFile,
  EfiSignatureList,
  EfiSignatureData,
  EfiTime,
  SignatureKind,
} from './pe/signature-list.js';
export { detachPeSignature, attachPeSignature } from './pe/authenticode-attach.js';
export type { PeSignatureOperation } from './pe/authenticode-attach.js';
export { parseSbat, parseSbatLevel, imageSbat, judgeImageSbat } from './pe/sbat.js';
export type {
  SbatParse,
  SbatEntry,
  SbatIssue,
  SbatLevel,
  SbatLevelEntry,
  ImageSbat,
  SbatVerdict,
  SbatVerdictReason,
  SbatCheck,
} from './pe/sbat.js';
export { buildUki, ukiSections } from './pe/uki.js';
export type { UkiParts, BuiltUki, UkiSection, NamedBytes } from './pe/uki.js';
export type { PeImage, PeSection, PeCertificate } from './pe/pe.js';
export { readInitramfs, initramfsModules } from './initrd/initramfs.js';
export type { Initramfs, InitramfsArchive, InitramfsEntry, InitramfsModule } from './initrd/initramfs.js';
