/** kmodseal's public API. Every export is named here; nothing else is public. */
// inspect: modules as modinfo shows them
export { inspectModuleBytes, inspectDecompressed } from './modinfo/inspect.js';
export type { ModuleInspection, SignatureSummary, InspectOptions } from './modinfo/inspect.js';
export { readModinfo, splitModinfoStrings, kmodHex } from './modinfo/modinfo.js';
export type { ModinfoEntry } from './modinfo/modinfo.js';
export { renderModinfo } from './report/modinfo-text.js';
export { inspectionToJson } from './report/inspect-json.js';
export type { InspectJson } from './report/inspect-json.js';
// formats
export { Elf, probeElf } from './elf/elf.js';
export type { ElfSection, ElfSymbol, ElfHeader } from './elf/elf.js';
export { findModuleSignature, parsePkcs7, modinfoSignatureFields, MODULE_SIG_STRING } from './modsig/signature.js';
export type { ModuleSignature, ModuleSignatureRaw, Pkcs7Info } from './modsig/signature.js';
export { decompressModule, probeCompression, MAX_MODULE_SIZE } from './compress/index.js';
export type { Compression } from './compress/index.js';
// kernels
export { inspectKernelImage } from './kernel/inspect.js';
export type { KernelInspection } from './kernel/inspect.js';
export { loadKernelSource, loadRunningKernel } from './node/kernel-source.js';
export type { KernelSource } from './node/kernel-source.js';
export { formatSymvers } from './kernel/ksymtab.js';
export type { ExportedSymbol } from './kernel/ksymtab.js';
export { embedExtraCertificate } from './kernel/embed.js';
export { readPeSignatures } from './pe/authenticode.js';
export type { PeSignatures, AuthenticodeSignature } from './pe/authenticode.js';
// BTF
export { parseBtf, parseBtfFile, Btf } from './btf/btf.js';
export { dumpBtfRaw, dumpBtfJson } from './btf/dump.js';
export { checkModuleBtf } from './btf/validate.js';
export type { ModuleBtfCheckResult, KernelSeries } from './btf/validate.js';
export { relocateDistilledBtf, openModuleBtf } from './btf/relocate.js';
export type { RelocationResult, DistilledMapping } from './btf/relocate.js';
export type { DistilledBaseOutcome } from './btf/validate.js';
export { compareModuleBase } from './btf/compare.js';
export type { BaseCompareResult } from './btf/compare.js';
// the load verdict
export { buildTarget } from './check/target.js';
export type { CheckTarget, LoadPolicy, PolicyOverrides } from './check/target.js';
export { checkModules } from './check/check.js';
export type { ModuleVerdict, Reason, Outcome, CheckInput, CheckOptions } from './check/check.js';
export { kernelElfValidity } from './check/elf-validity.js';
export type { ElfValidityTarget, ElfValidityFailure } from './check/elf-validity.js';
// keys, signing, verification
export { generateSigningKey } from './keys/keygen.js';
export type { GeneratedKey, KeyType } from './keys/keygen.js';
export { createNodeSigner } from './keys/node-signer.js';
export { openPkcs11Signer } from './keys/pkcs11-signer.js';
export type { Signer, HashAlgorithm } from './keys/signer.js';
export { signModuleBytes, signModuleContent, stripModuleSignature } from './sign/cms.js';
export { signModuleFile } from './sign/compressed.js';
export { verifyModuleSignature, createTrustedKeyring } from './sign/verify.js';
export type { VerifyResult, VerifyStatus, TrustedKeyring } from './sign/verify.js';
// reproducible builds
export { detach } from './repro/detach.js';
export { attach, AttachRefusedError } from './repro/attach.js';
export { diff } from './repro/diff.js';
export type { DiffResult, DiffEntry } from './repro/diff.js';
// errors
export { KmodsealError, FormatError } from './bytes/errors.js';
export type { ErrorCode } from './bytes/errors.js';
