/**
 * Every environment variable kmodseal reads, read here and nowhere else. Each is read when asked
 * (not at import), so a test or a worker sees the value in force when it calls.
 *
 *   KMODSEAL_NO_NATIVE=1            no native addon at all (src/io/addon.ts)
 *   KMODSEAL_NO_NATIVE_CRYPTO=1     no native libcrypto signer/verifier (src/keys/native-crypto.ts)
 *   KMODSEAL_SYSTEM_LIBCRYPTO=1     EC keys through the system libcrypto, not the newer one
 *   KMODSEAL_SYSTEM_LIBLZMA=1       xz decoding through the system liblzma (src/compress)
 *   KMODSEAL_JOBS=N                 threads for parallel work (src/run/pool.ts: defaultJobs)
 *   KMODSEAL_PKCS11_MODULE=PATH     PKCS#11 module when the URI names none (src/keys/pkcs11-signer.ts)
 *   KBUILD_SIGN_PIN                 private key passphrase / token PIN, as sign-file reads it
 *   SOURCE_DATE_EPOCH               `efi sign`'s signing time when --signing-time is not given
 */

function flag(name: string): boolean {
  return process.env[name] === '1';
}

/** KMODSEAL_NO_NATIVE=1: every native addon off. */
export function noNative(): boolean {
  return flag('KMODSEAL_NO_NATIVE');
}

/** KMODSEAL_NO_NATIVE_CRYPTO=1: the libcrypto addon off. */
export function noNativeCrypto(): boolean {
  return flag('KMODSEAL_NO_NATIVE_CRYPTO');
}

/** KMODSEAL_SYSTEM_LIBCRYPTO=1: EC keys through the system libcrypto. */
export function systemLibcrypto(): boolean {
  return flag('KMODSEAL_SYSTEM_LIBCRYPTO');
}

/** KMODSEAL_SYSTEM_LIBLZMA=1: xz decoding through the system liblzma. */
export function systemLiblzma(): boolean {
  return flag('KMODSEAL_SYSTEM_LIBLZMA');
}

/** KMODSEAL_JOBS as a positive integer, else undefined. */
export function jobsFromEnv(): number | undefined {
  const env = Number(process.env.KMODSEAL_JOBS);
  return Number.isInteger(env) && env > 0 ? env : undefined;
}

/** KMODSEAL_PKCS11_MODULE, when set. */
export function pkcs11ModuleFromEnv(): string | undefined {
  return process.env.KMODSEAL_PKCS11_MODULE;
}

/** KBUILD_SIGN_PIN, when set (sign-file's passphrase and PIN). */
export function signPinFromEnv(): string | undefined {
  return process.env.KBUILD_SIGN_PIN;
}

/** SOURCE_DATE_EPOCH, when set (reproducible builds: the time written into signatures). */
export function sourceDateEpochFromEnv(): string | undefined {
  return process.env.SOURCE_DATE_EPOCH;
}
