/**
 * `keygen`, `sign`, `verify`, `seal`: per-build ephemeral keys and exact module signing.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { EXIT, type ExitCode } from '../exit-codes.js';
import type { Io } from '../io.js';
import { KmodsealError } from '../../bytes/errors.js';
import { generateSigningKey, KEY_TYPES, type KeyType } from '../../keys/keygen.js';
import { readCertificateFile, readPrivateKeyFile, writePrivateKeyFile } from '../../keys/key-file.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { readFileBytes } from '../../io/files.js';
import { expandModulePath, moduleFiles } from '../../run/inputs.js';
import { signMany } from '../../run/sign-many.js';
import type { SignerSpec, SignResult, SignTask } from '../../run/jobs/sign.js';
import { isHashAlgorithm, type HashAlgorithm } from '../../keys/signer.js';
import { certificateToPem } from '../../keys/x509.js';
import { describeCertificate } from '../../pki/display.js';
import { createTrustedKeyring, verifyModuleSignature, type VerifyResult } from '../../sign/verify.js';
import { decompressModule } from '../../compress/index.js';
import { loadKernelSource, requireKernelPart } from '../../kernel/source.js';
import { embedExtraCertificate } from '../../kernel/embed.js';
import { kernelSeries } from '../../kernel/series.js';
import { signSummary } from '../../report/counts.js';
import { jsonText, keygenText, sealBootText, sealText, verifyLine } from '../../report/seal.js';
import { hasBootOptions, planBoot, sealBoot, writeBoot, type BootOptions } from '../../run/seal-boot.js';
import { sourceDateEpochFromEnv } from '../../io/env.js';
import { signingTime } from './efi.js';

function keyType(t: string | undefined): KeyType {
  const v = (t ?? 'rsa4096') as KeyType;
  if (!KEY_TYPES.includes(v)) throw new KmodsealError('E_USAGE', `--type must be one of ${KEY_TYPES.join(', ')}`);
  return v;
}
function hashOf(h: string | undefined): HashAlgorithm {
  const v = h ?? 'sha256';
  if (!isHashAlgorithm(v))
    throw new KmodsealError('E_USAGE', `--hash must be one of sha1, sha224, sha256, sha384, sha512`);
  return v;
}

export async function keygenCommand(
  o: {
    type?: string;
    subject?: string;
    days?: string;
    ca?: boolean;
    issuerKey?: string;
    issuerCert?: string;
    keyOut?: string;
    certOut?: string;
    derOut?: string;
    json?: boolean;
  },
  io: Io,
): Promise<ExitCode> {
  if (!o.certOut && !o.derOut)
    throw new KmodsealError(
      'E_USAGE',
      'keygen needs --cert-out FILE.pem and/or --der-out FILE.der (and --key-out to keep the private key)',
    );
  const issuer =
    o.issuerKey || o.issuerCert
      ? { privateKey: readPrivateKeyFile(o.issuerKey ?? ''), certificate: readCertificateFile(o.issuerCert ?? '')[0]! }
      : undefined;
  if ((o.issuerKey === undefined) !== (o.issuerCert === undefined))
    throw new KmodsealError('E_USAGE', '--issuer-key and --issuer-cert go together');
  const k = await generateSigningKey({
    type: keyType(o.type),
    ...(o.subject ? { subject: o.subject } : {}),
    ...(o.days ? { days: Number(o.days) } : {}),
    ...(o.ca ? { ca: true } : {}),
    ...(issuer ? { issuer } : {}),
  });
  if (o.keyOut) writePrivateKeyFile(o.keyOut, k.privateKeyPem);
  if (o.certOut) writeFileAtomic(o.certOut, k.certificatePem);
  if (o.derOut) writeFileAtomic(o.derOut, k.certificate);
  const x = describeCertificate(k.certificate);
  const info = {
    type: k.type,
    subject: x.subject,
    issuer: x.issuer,
    serial: x.serial,
    sha256: x.sha256,
    keyOut: o.keyOut ?? null,
    certOut: o.certOut ?? null,
    derOut: o.derOut ?? null,
  };
  io.stdout(o.json ? jsonText(info) : keygenText(info));
  return EXIT.OK;
}

/** Module files below each path (files kept as given; a missing path is E_NOTFOUND), with where each signed copy goes. */
function signTasks(paths: readonly string[], out: string | undefined): SignTask[] {
  const tasks: SignTask[] = [];
  for (const p of paths) {
    const e = expandModulePath(p);
    for (const src of e.files) {
      const rel = e.directory ? path.relative(p, src) : path.basename(p);
      tasks.push({
        src,
        dest: out ? path.join(out, e.directory ? path.join(path.basename(path.resolve(p)), rel) : rel) : src,
      });
    }
  }
  return tasks;
}

function summarize(results: readonly SignResult[], io: Io, what: string): ExitCode {
  let bad = 0;
  for (const r of results) {
    if (r.error) {
      bad++;
      io.stderr(`kmodseal: ERROR: ${r.error.message}\n`);
    }
  }
  io.stderr(`${signSummary(what, results.length, bad)}\n`);
  return bad ? EXIT.BAD_INPUT : EXIT.OK;
}

export async function signCommand(
  paths: string[],
  o: {
    key?: string;
    cert?: string;
    hash?: string;
    keyId?: string;
    chain?: string[];
    out?: string;
    jobs?: number;
    pkcs11Module?: string;
    json?: boolean;
  },
  io: Io,
): Promise<ExitCode> {
  if (!o.key || !o.cert) throw new KmodsealError('E_USAGE', 'sign needs --key (PEM file or pkcs11: URI) and --cert');
  if (!paths.length) throw new KmodsealError('E_USAGE', 'sign needs module files or directories');
  const keyIdForm =
    o.keyId === undefined || o.keyId === 'issuer-serial' ? 'issuer-serial' : o.keyId === 'skid' ? 'skid' : undefined;
  if (!keyIdForm)
    throw new KmodsealError('E_USAGE', '--key-id must be issuer-serial (sign-file default) or skid (sign-file -k)');
  const spec: SignerSpec = {
    id: crypto.randomUUID(),
    key: o.key.startsWith('pkcs11:') ? o.key : Buffer.from(readFileBytes(o.key)).toString('latin1'),
    certificate: readCertificateFile(o.cert)[0]!,
    hash: hashOf(o.hash),
    keyIdForm,
    chain: o.chain ? o.chain.flatMap(readCertificateFile) : undefined,
    ...(o.pkcs11Module ? { pkcs11Module: o.pkcs11Module } : {}),
    digests: o.json === true,
  };
  const results = await signMany(spec, signTasks(paths, o.out), {
    ...(o.jobs ? { jobs: o.jobs } : {}),
    progress: io.isTTY,
  });
  if (o.json) io.stdout(jsonText(results));
  return summarize(results, io, 'signed');
}

export async function verifyCommand(
  paths: string[],
  o: { cert?: string[]; kernel?: string; series?: string; json?: boolean },
  io: Io,
): Promise<ExitCode> {
  if (!o.cert?.length && !o.kernel)
    throw new KmodsealError('E_USAGE', 'verify needs --cert CERT (repeatable) or --kernel IMAGE');
  let certs: Uint8Array[] = (o.cert ?? []).flatMap(readCertificateFile);
  let series: '6.1' | '6.12' | undefined = o.series === '6.1' || o.series === '6.12' ? o.series : undefined;
  if (o.kernel) {
    const src = await loadKernelSource(o.kernel);
    requireKernelPart(src, 'certificates', 'no module can be verified against it');
    certs = [
      ...certs,
      ...(src.inspection?.certificates?.certificates ?? []).map((c) => new Uint8Array(Buffer.from(c.der, 'base64'))),
    ];
    series ??= kernelSeries(src.inspection?.release);
  }
  const ring = createTrustedKeyring(certs, series ?? '6.12');
  for (const r of ring.rejected)
    io.stderr(`kmodseal: warning: trusted certificate ${r.index} is not loadable by the kernel: ${r.reason}\n`);
  const out: (VerifyResult & { file: string })[] = [];
  let exit: ExitCode = EXIT.OK;
  const files = moduleFiles(paths);
  if (!files.length) throw new KmodsealError('E_USAGE', 'verify needs module files or directories');
  for (const file of files) {
    try {
      const { data } = await decompressModule(readFileBytes(file), file);
      const r = { file, ...verifyModuleSignature(data, ring, { file }) };
      out.push(r);
      if (r.status !== 'ok' && exit === EXIT.OK) exit = EXIT.CHECK_FAILED;
      if (!o.json) io.stdout(verifyLine(file, r));
    } catch (e) {
      if (!(e instanceof KmodsealError)) throw e;
      io.stderr(`kmodseal: ERROR: ${e.message}\n`);
      exit = EXIT.BAD_INPUT;
    }
  }
  if (o.json) io.stdout(jsonText(out));
  return exit;
}

export async function sealCommand(
  paths: string[],
  o: {
    kernelTree?: string;
    type?: string;
    hash?: string;
    subject?: string;
    certOut?: string;
    derOut?: string;
    manifest?: string;
    embed?: string;
    embedOut?: string;
    systemMap?: string;
    image?: string;
    imageOut?: string;
    sbat?: string;
    initrd?: string[];
    ukiOut?: string[];
    cmdline?: string[];
    stub?: string;
    osRelease?: string | boolean;
    sbKey?: string;
    sbCert?: string;
    sbAddcert?: string[];
    pkcs11Module?: string;
    signingTime?: string;
    jobs?: number;
    json?: boolean;
  },
  io: Io,
): Promise<ExitCode> {
  const roots = o.kernelTree ? [o.kernelTree, ...paths] : paths;
  if (!roots.length) throw new KmodsealError('E_USAGE', 'seal needs --kernel-tree DIR or module paths');
  if (!o.certOut && !o.derOut && !o.embed) {
    const outputs = '--cert-out FILE.pem, --der-out FILE.der or --embed VMLINUX';
    throw new KmodsealError('E_USAGE', `seal needs ${outputs}: the kernel must get the certificate`);
  }
  // Checks that can fail go first: nothing is signed for an image that cannot take the certificate.
  const embedSrc = o.embed ? await loadKernelSource(o.embed, o.systemMap ? { systemMap: o.systemMap } : {}) : undefined;
  if (embedSrc) requireKernelPart(embedSrc, 'certificates', 'the reserved area cannot be found');
  if (embedSrc && !embedSrc.inspection?.certificates?.extra) {
    throw new KmodsealError(
      'E_UNSUPPORTED',
      `${o.embed}: no reserved extra-certificate area (needs CONFIG_SYSTEM_EXTRA_CERTIFICATE and a vmlinux with symbols or --system-map)`,
    );
  }
  if (embedSrc && !embedSrc.inspection!.isElf)
    throw new KmodsealError(
      'E_UNSUPPORTED',
      `${o.embed}: --embed writes into a vmlinux ELF (as insert-sys-cert); rebuild the compressed image from it`,
    );
  // the boot half's inputs are read and checked too before anything is signed or written
  if (Boolean(o.sbKey) !== Boolean(o.sbCert))
    throw new KmodsealError('E_USAGE', 'seal: --sb-key and --sb-cert go together');
  const bootOptions: BootOptions = {
    ...(o.image ? { image: o.image } : {}),
    ...(o.imageOut ? { imageOut: o.imageOut } : {}),
    ...(o.sbat ? { sbat: o.sbat } : {}),
    ...(o.initrd ? { initrds: o.initrd } : {}),
    ...(o.ukiOut ? { ukiOut: o.ukiOut } : {}),
    ...(o.cmdline ? { cmdline: o.cmdline } : {}),
    ...(o.stub ? { stub: o.stub } : {}),
    ...(o.osRelease !== undefined ? { osRelease: o.osRelease } : {}),
    ...(o.sbKey && o.sbCert
      ? {
          longTerm: {
            key: o.sbKey,
            cert: o.sbCert,
            ...(o.sbAddcert ? { addcert: o.sbAddcert } : {}),
            ...(o.pkcs11Module ? { pkcs11Module: o.pkcs11Module } : {}),
            time: signingTime(o.signingTime, sourceDateEpochFromEnv()),
          },
        }
      : {}),
  };
  const boot = hasBootOptions(bootOptions) ? await planBoot(bootOptions) : undefined;
  const key = await generateSigningKey({
    type: keyType(o.type ?? 'rsa4096'),
    ...(o.subject ? { subject: o.subject } : {}),
  });
  // the certificate is out before any module changes: a certificate that does not fit leaves the modules as they were,
  // and a module signed is never one whose certificate was lost
  const k = embedSrc?.inspection;
  if (k) {
    const layout = { wordSize: k.elf!.class === 64 ? 8 : 4, littleEndian: k.elf!.littleEndian } as const;
    const patched = embedExtraCertificate(k.kernel, o.embed!, k.certificates, key.certificate, layout);
    writeFileAtomic(o.embedOut ?? o.embed!, patched, fs.statSync(o.embed!).mode & 0o7777);
  }
  if (o.certOut) writeFileAtomic(o.certOut, certificateToPem(key.certificate));
  if (o.derOut) writeFileAtomic(o.derOut, key.certificate);
  const spec: SignerSpec = {
    id: crypto.randomUUID(),
    key: key.privateKeyPem,
    certificate: key.certificate,
    hash: hashOf(o.hash),
    keyIdForm: 'issuer-serial',
    chain: undefined,
    digests: o.manifest !== undefined || o.json === true,
  };
  const tasks = signTasks(roots, undefined);
  const results = await signMany(spec, tasks, { ...(o.jobs ? { jobs: o.jobs } : {}), progress: io.isTTY });
  const x = describeCertificate(key.certificate);
  const bad = results.filter((r) => r.error).length;
  // a build some of whose modules could not be sealed gets no boot artefact (and no long-term signature)
  const sealed =
    boot && !bad
      ? await sealBoot(boot, { privateKeyPem: key.privateKeyPem, certificate: key.certificate, hash: spec.hash })
      : undefined;
  if (sealed) writeBoot(sealed);
  const manifest = {
    certificate: {
      subject: x.subject,
      serial: x.serial,
      sha256: x.sha256,
      type: key.type,
    },
    hash: spec.hash,
    modules: results.map((r) => ({
      path: r.file,
      compression: r.compression ?? null,
      sha256Before: r.sha256Before ?? null,
      sha256After: r.sha256After ?? null,
      error: r.error?.message ?? null,
    })),
    ...(sealed
      ? {
          artefacts: [
            ...results
              .filter((r) => !r.error)
              .map((r) => ({
                path: r.file,
                kind: 'module' as const,
                sha256: r.sha256After ?? null,
                key: 'ephemeral' as const,
                signer: x.subject,
              })),
            ...sealed.artefacts,
          ],
          longTermSignatures: sealed.longTermSignatures,
        }
      : {}),
  };
  if (o.manifest) writeFileAtomic(o.manifest, jsonText(manifest));
  let text = sealText(key.type, manifest.certificate);
  if (sealed && boot)
    text += sealBootText({
      image: boot.image ? { path: boot.image.out, sbat: boot.image.sbat !== undefined } : undefined,
      initrds: sealed.initrds,
      ukis: boot.ukis.map((u) => u.out),
      longTermSigner: boot.longTerm ? describeCertificate(boot.longTerm.certificate).subject : undefined,
      longTermSignatures: sealed.longTermSignatures,
    });
  io.stdout(o.json ? jsonText(manifest) : text);
  const code = summarize(results, io, 'sealed');
  if (boot && bad)
    io.stderr('kmodseal: ERROR: no kernel image, initramfs or UKI sealed: some module could not be signed\n');
  return code;
}
