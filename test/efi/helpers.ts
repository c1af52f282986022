/**
 * EFI test inputs: the PE images of the kernel package cache and the machine's systemd-boot
 * binaries, unsigned copies of them (sbattach --remove), keys and a CA chain made by openssl.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { KERNEL_CACHE } from '../kernel/helpers.js';
import { run, tmpDir } from '../sign/helpers.js';
import { parsePe, probePe } from '../../src/pe/pe.js';

export { run, tmpDir };

/** The EFI cache of scripts/fetch-efi.sh: Debian 12's shim, GRUB and systemd-boot packages, unpacked. */
export const EFI_CACHE = path.join(path.dirname(KERNEL_CACHE), 'efi');

/**
 * The PE images of the EFI packages scripts/fetch-efi.sh unpacked (shim, MokManager, fallback,
 * GRUB, systemd-boot and its stub; signed and unsigned; amd64, i386, arm64), sorted.
 */
export function efiPackageImages(): string[] {
  const images: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const file = path.join(dir, e.name);
      if (e.isDirectory()) walk(file);
      else if (e.isFile() && /\.(efi|efi\.signed|efi\.stub)$/.test(e.name) && probePe(fs.readFileSync(file)))
        images.push(file);
    }
  };
  if (fs.existsSync(EFI_CACHE))
    for (const arch of fs.readdirSync(EFI_CACHE).sort()) {
      if (arch.startsWith('.') || !fs.statSync(path.join(EFI_CACHE, arch)).isDirectory()) continue;
      for (const pkg of fs.readdirSync(path.join(EFI_CACHE, arch)).sort()) {
        const lib = path.join(EFI_CACHE, arch, pkg, 'usr', 'lib');
        if (fs.existsSync(lib)) walk(lib);
      }
    }
  return images;
}

/** The EFI-stub kernel images (vmlinuz) of the kernel package cache, sorted by architecture and package. */
export function kernelPeImages(): string[] {
  const images: string[] = [];
  if (fs.existsSync(KERNEL_CACHE))
    for (const arch of fs.readdirSync(KERNEL_CACHE).sort()) {
      const archDir = path.join(KERNEL_CACHE, arch);
      if (!fs.statSync(archDir).isDirectory()) continue;
      for (const pkg of fs.readdirSync(archDir).sort()) {
        const boot = path.join(archDir, pkg, 'boot');
        if (!fs.existsSync(boot)) continue;
        for (const f of fs.readdirSync(boot).sort())
          if (f.startsWith('vmlinuz-') && probePe(fs.readFileSync(path.join(boot, f)))) images.push(path.join(boot, f));
      }
    }
  return images;
}

/** Every PE image the tests sign: the cached Debian kernel images first, then the EFI packages' binaries. */
export function peImages(): string[] {
  return [...kernelPeImages(), ...efiPackageImages()];
}

export function sh(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = run(cmd, args, env ? { env } : {});
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.toString();
}

/**
 * A copy of `src` in `dir` without any signature: sbattach --remove, once per signature (it removes
 * the first one; shim-signed carries two).
 */
export function unsignedImage(src: string, dir: string, name: string): string {
  const file = path.join(dir, name);
  fs.copyFileSync(src, file);
  for (let i = 0; i < 16 && parsePe(fs.readFileSync(file), file).certTable; i++) sh('sbattach', ['--remove', file]);
  assert.equal(parsePe(fs.readFileSync(file), file).certTable, undefined, `${src}: signatures left`);
  return file;
}

export interface KeyPair {
  readonly key: string;
  readonly cert: string;
}

/** A self-signed RSA key and certificate (PEM files). */
export function selfSigned(dir: string, name: string, bits: number): KeyPair {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.crt`);
  sh('openssl', [
    'req',
    '-x509',
    '-newkey',
    `rsa:${bits}`,
    '-nodes',
    '-sha256',
    '-days',
    '3650',
    '-subj',
    `/CN=kmodseal efi ${name}`,
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { key, cert };
}

/** root CA → intermediate CA → leaf signer, RSA-2048 (PEM files). */
export function chain(dir: string): { root: KeyPair; intermediate: KeyPair; leaf: KeyPair } {
  const ext = path.join(dir, 'ca.ext');
  fs.writeFileSync(
    ext,
    '[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign\n[leaf]\nbasicConstraints=CA:FALSE\n',
  );
  const root = selfSigned(dir, 'root', 2048);
  const issue = (name: string, issuer: KeyPair, section: string): KeyPair => {
    const key = path.join(dir, `${name}.key`);
    const csr = path.join(dir, `${name}.csr`);
    const cert = path.join(dir, `${name}.crt`);
    sh('openssl', [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=kmodseal efi ${name}`,
      '-keyout',
      key,
      '-out',
      csr,
    ]);
    sh('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      issuer.cert,
      '-CAkey',
      issuer.key,
      '-CAcreateserial',
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      ext,
      '-extensions',
      section,
      '-out',
      cert,
    ]);
    return { key, cert };
  };
  const intermediate = issue('intermediate', root, 'ca');
  const leaf = issue('leaf', intermediate, 'leaf');
  return { root, intermediate, leaf };
}

/** sbsign under faketime, frozen at `time` (UTC). */
export function sbsign(args: string[], time: string): void {
  sh('faketime', ['-f', time, 'sbsign', ...args], { ...process.env, TZ: 'UTC' });
}
