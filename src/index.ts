/** kmodseal's public API. Every export is named here; nothing else is public. */
export { inspectModuleBytes, inspectDecompressed } from './modinfo/inspect.js';
export type { ModuleInspection, SignatureSummary, InspectOptions } from './modinfo/inspect.js';
export { readModinfo, splitModinfoStrings, kmodHex } from './modinfo/modinfo.js';
export type { ModinfoEntry } from './modinfo/modinfo.js';
export { Elf, probeElf } from './elf/elf.js';
export type { ElfSection, ElfSymbol, ElfHeader } from './elf/elf.js';
export { findModuleSignature, parsePkcs7, modinfoSignatureFields, MODULE_SIG_STRING } from './modsig/signature.js';
export type { ModuleSignature, ModuleSignatureRaw, Pkcs7Info } from './modsig/signature.js';
export { decompressModule, probeCompression, MAX_MODULE_SIZE } from './compress/index.js';
export type { Compression } from './compress/index.js';
export { renderModinfo } from './report/modinfo-text.js';
export { inspectionToJson } from './report/inspect-json.js';
export type { InspectJson } from './report/inspect-json.js';
export { KmodsealError, FormatError } from './bytes/errors.js';
export type { ErrorCode } from './bytes/errors.js';
