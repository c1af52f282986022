/**
 * Every code a check `Reason` carries (`Reason.code` in src/check/check.ts), one documented
 * union. The codes are stable: scripts match them in `check --json`. Gathered from
 * src/check/check.ts (`reject`/`note`), src/check/elf-validity.ts (`fail`) and the BTF verdict
 * of src/btf/validate.ts as check reports it.
 */
export type ReasonCode =
  // input: the file itself
  /** The module file is empty (finit_module: EINVAL). */
  | 'empty-file'
  /** The module file is larger than the kernel reads (EFBIG). */
  | 'file-too-large'
  /** The compressed module does not decompress (EINVAL). */
  | 'decompress'
  // signature
  /** A line the kernel logs about the signature. */
  | 'log'
  /** The signature verifies against a trusted certificate. */
  | 'trusted'
  /** The module carries no signature (ENODATA). */
  | 'unsigned'
  /** The signature uses a hash or key algorithm the kernel does not support (ENOPKG). */
  | 'unsupported-crypto'
  /** No trusted certificate matches the signer (ENOKEY). */
  | 'untrusted-key'
  /** The signature does not verify (EKEYREJECTED). */
  | 'bad-signature'
  /** The signature trailer or its PKCS#7 message is malformed (EBADMSG and the like). */
  | 'bad-message'
  // ELF (src/check/elf-validity.ts and check.ts)
  /** The module is not an ELF relocatable object the kernel can read. */
  | 'invalid-elf'
  /** Shorter than an ELF header. */
  | 'elf-header-len'
  /** No `\x7fELF` magic. */
  | 'elf-magic'
  /** `e_type` is not `ET_REL`. */
  | 'not-relocatable'
  /** `e_machine` is not the kernel's. */
  | 'wrong-arch'
  /** `e_shentsize` is not the size of a section header. */
  | 'shentsize'
  /** The section header table lies outside the file. */
  | 'section-table'
  /** Section 0 is not an empty `SHT_NULL` section. */
  | 'section-0'
  /** A section lies outside the file. */
  | 'section-range'
  /** `e_shstrndx` is 0 or not below `e_shnum`. */
  | 'shstrndx'
  /** The section name table is of the wrong type, empty or not NUL-terminated. */
  | 'section-name-table'
  /** A section name offset lies past the section name table. */
  | 'section-name'
  /** A section name the kernel reads past its mapping: it oopses instead of refusing. */
  | 'section-name-oops'
  /** More than one `.modinfo` section. */
  | 'modinfo'
  /** No symbol table, or more than one. */
  | 'no-symbols'
  /** The symbol table's string table link is 0 or out of range. */
  | 'symtab-link'
  /** No `.gnu.linkonce.this_module` section, or more than one. */
  | 'no-this-module'
  /** `.gnu.linkonce.this_module` is not `SHF_ALLOC`. */
  | 'this-module-not-alloc'
  /** `.gnu.linkonce.this_module` is `SHT_NOBITS`. */
  | 'this-module-nobits'
  /** `.gnu.linkonce.this_module` is not `sizeof(struct module)` of the target. */
  | 'struct-module-size'
  /** A section is both writable and executable (`STRICT_MODULE_RWX`). */
  | 'write-exec'
  /** Both `.ctors` and `.init_array` (EINVAL). */
  | 'ctors-and-init-array'
  // modversions and vermagic
  /** A forced load (`--force`): taints F. */
  | 'forced'
  /** The kernel exports no `module_layout`: nothing to compare. */
  | 'no-module-layout'
  /** A part of the kernel needed for a check is unknown (raw image): the check is not made. */
  | 'unknown'
  /** The module has no `__versions` where the kernel needs them. */
  | 'no-versions'
  /** A symbol's CRC differs from the kernel's. */
  | 'crc-mismatch'
  /** A symbol has no version in `__versions`. */
  | 'no-symbol-version'
  /** The module has no vermagic. */
  | 'no-vermagic'
  /** The module's vermagic differs from the kernel's. */
  | 'vermagic'
  // taints and modinfo
  /** A live patch: taints K (or rejected where live patching is off). */
  | 'livepatch'
  /** A license that is not GPL-compatible: taints P. */
  | 'proprietary'
  /** The boot's first P taint (the kernel logs it once). */
  | 'proprietary-summary'
  /** No `intree=Y`: taints O. */
  | 'out-of-tree'
  /** A staging driver: taints C. */
  | 'staging'
  /** A test module: taints N. */
  | 'test'
  /** A module of this name is already loaded (EEXIST). */
  | 'duplicate'
  // exports and symbols
  /** The module exports symbols without CRCs while the kernel has modversions. */
  | 'no-export-crcs'
  /** The module exports a symbol already exported (ENOEXEC). */
  | 'duplicate-export'
  /** A common (`SHN_COMMON`) symbol. */
  | 'common-symbol'
  /** An undefined symbol no loaded code exports (or not visible to it). */
  | 'unknown-symbol'
  /** A symbol in a namespace the module does not import. */
  | 'namespace'
  // BTF (src/btf/validate.ts's verdict)
  /** The module's BTF does not validate against the kernel's. */
  | 'btf-mismatch'
  /** The BTF verdict cannot be predicted. */
  | 'unsupported'
  /** The module has no `.BTF`. */
  | 'no-btf'
  // the kernel image
  /** A check left undone because a part of the kernel image is unreadable. */
  | 'kernel-unreadable';
