/**
 * {@link Signer} over a private key in a PKCS#11 token (HSM, smart card, SoftHSM2), named by
 * an RFC 7512 URI as sign-file and OpenSSL engines take it:
 *
 *   pkcs11:token=<label>;object=<label>;id=%01;type=private?pin-value=1234&module-path=/usr/lib/softhsm/libsofthsm2.so
 *
 * Path attributes (`;`-separated): token, manufacturer, serial, model, object, id, type, slot-id.
 * Query attributes (`&`-separated): pin-value, pin-source (file:/path or a plain path),
 * module-path. pin-value / module-path are also accepted in the path part (libp11 does).
 * Module: module-path, else $KMODSEAL_PKCS11_MODULE, else /usr/lib/softhsm/libsofthsm2.so.
 *
 * Mechanisms: RSA → CKM_RSA_PKCS over the DER DigestInfo (the token pads; the value equals
 * node:crypto's and sign-file's); EC → CKM_ECDSA over the digest, r‖s converted to DER.
 * This file is an edge: it loads a native library and may read a PIN file.
 */
import fs from 'node:fs';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { KmodsealError } from '../bytes/errors.js';
import { certificateToDer } from './certificate.js';
import { parseCertificate } from '../pki/certificate.js';
import { ecdsaRawToDer, encodeDigestInfo, HASH_LENGTH, type HashAlgorithm, type Signer } from './signer.js';
import { pkcs11ModuleFromEnv, signPinFromEnv } from '../io/env.js';

const require = createRequire(import.meta.url);

export const DEFAULT_PKCS11_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface Pkcs11Uri {
  readonly token?: string;
  readonly manufacturer?: string;
  readonly serial?: string;
  readonly model?: string;
  readonly object?: string;
  readonly id?: Uint8Array;
  readonly type?: string;
  readonly slotId?: number;
  readonly pinValue?: string;
  readonly pinSource?: string;
  readonly modulePath?: string;
}

function pctDecodeBytes(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(...Buffer.from(s[i]!, 'utf8'));
  }
  return Uint8Array.from(out);
}

function pctDecode(s: string): string {
  return Buffer.from(pctDecodeBytes(s)).toString('utf8');
}

/**
 * Parses an RFC 7512 PKCS#11 URI.
 * @throws KmodsealError E_USAGE (not a pkcs11: URI, duplicated attribute)
 */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!uri.toLowerCase().startsWith('pkcs11:')) throw new KmodsealError('E_USAGE', `not a PKCS#11 URI: ${uri}`);
  const rest = uri.slice(7);
  const q = rest.indexOf('?');
  const pathPart = q < 0 ? rest : rest.slice(0, q);
  const queryPart = q < 0 ? '' : rest.slice(q + 1);
  const attrs = new Map<string, string>();
  const add = (pair: string): void => {
    if (!pair) return;
    const eq = pair.indexOf('=');
    const name = (eq < 0 ? pair : pair.slice(0, eq)).toLowerCase();
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (attrs.has(name)) throw new KmodsealError('E_USAGE', `PKCS#11 URI: attribute ${name} given twice`);
    attrs.set(name, value);
  };
  pathPart.split(';').forEach(add);
  queryPart.split('&').forEach(add);
  const str = (n: string): string | undefined => (attrs.has(n) ? pctDecode(attrs.get(n)!) : undefined);
  const slot = str('slot-id');
  return {
    token: str('token'),
    manufacturer: str('manufacturer'),
    serial: str('serial'),
    model: str('model'),
    object: str('object'),
    id: attrs.has('id') ? pctDecodeBytes(attrs.get('id')!) : undefined,
    type: str('type'),
    slotId: slot === undefined ? undefined : Number(slot),
    pinValue: str('pin-value'),
    pinSource: str('pin-source'),
    modulePath: str('module-path'),
  };
}

type Pkcs11Module = typeof import('pkcs11js');
type Handle = Buffer;

/** Options of {@link openPkcs11Signer}. */
export interface Pkcs11SignerOptions {
  /** Overrides the URI's module-path and the environment. */
  readonly modulePath?: string;
  /** PIN when the URI carries none (else KBUILD_SIGN_PIN, like sign-file). */
  readonly pin?: string;
  /** The certificate (DER or PEM) when the token holds none for the key. */
  readonly certificate?: Uint8Array | string;
}

/** A {@link Signer} backed by a PKCS#11 token; `close()` ends the session. */
export interface Pkcs11Signer extends Signer {
  close(): void;
}

function readPin(uri: Pkcs11Uri, options: Pkcs11SignerOptions): string | undefined {
  if (uri.pinValue !== undefined) return uri.pinValue;
  if (uri.pinSource !== undefined) {
    const file = uri.pinSource.startsWith('file:') ? uri.pinSource.slice(5).replace(/^\/\/(?=\/)/, '') : uri.pinSource;
    try {
      return fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new KmodsealError('E_IO', `${file}: cannot read the PIN: ${(e as Error).message}`, { cause: e });
    }
  }
  return options.pin ?? signPinFromEnv();
}

function trimPadded(s: string): string {
  return s.replace(/[\s\0]+$/, '');
}

/**
 * Opens a token session and returns a signer for the private key the URI names. Call
 * `close()` when done (ends the session and unloads the module).
 * @throws KmodsealError E_IO (module cannot load), E_NOTFOUND (no such token/key/certificate),
 *         E_UNSUPPORTED (key type), E_USAGE (bad URI / login failed)
 */
export function openPkcs11Signer(uriText: string, options: Pkcs11SignerOptions = {}): Pkcs11Signer {
  const uri = parsePkcs11Uri(uriText);
  if (uri.type !== undefined && uri.type !== 'private')
    throw new KmodsealError('E_USAGE', `PKCS#11 URI names type=${uri.type}; a private key is needed`);
  const modulePath = options.modulePath ?? uri.modulePath ?? pkcs11ModuleFromEnv() ?? DEFAULT_PKCS11_MODULE;
  const p11: Pkcs11Module = require('pkcs11js') as Pkcs11Module;
  const lib = new p11.PKCS11();
  try {
    lib.load(modulePath);
  } catch (e) {
    throw new KmodsealError('E_IO', `${modulePath}: cannot load the PKCS#11 module: ${(e as Error).message}`, {
      cause: e,
    });
  }
  let session: Handle | undefined;
  const cleanup = (): void => {
    try {
      if (session) lib.C_CloseSession(session);
    } catch {
      /* already closed */
    }
    try {
      lib.C_Finalize();
    } catch {
      /* not initialised */
    }
    try {
      lib.close();
    } catch {
      /* not loaded */
    }
  };
  try {
    try {
      lib.C_Initialize();
    } catch (e) {
      if ((e as { code?: number }).code !== p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw e;
    }
    const slot = lib.C_GetSlotList(true).find((s) => {
      if (uri.slotId !== undefined && s.readUIntLE(0, Math.min(s.length, 6)) !== uri.slotId) return false;
      const info = lib.C_GetTokenInfo(s);
      if (uri.token !== undefined && trimPadded(info.label) !== uri.token) return false;
      if (uri.serial !== undefined && trimPadded(info.serialNumber) !== uri.serial) return false;
      if (uri.manufacturer !== undefined && trimPadded(info.manufacturerID) !== uri.manufacturer) return false;
      if (uri.model !== undefined && trimPadded(info.model) !== uri.model) return false;
      return true;
    });
    if (!slot)
      throw new KmodsealError(
        'E_NOTFOUND',
        `no PKCS#11 token matches ${uriText.replace(/pin-value=[^;&]*/, 'pin-value=***')}`,
      );
    session = lib.C_OpenSession(slot, p11.CKF_SERIAL_SESSION);
    const pin = readPin(uri, options);
    if (pin !== undefined) {
      try {
        lib.C_Login(session, p11.CKU_USER, pin);
      } catch (e) {
        if ((e as { code?: number }).code !== p11.CKR_USER_ALREADY_LOGGED_IN)
          throw new KmodsealError('E_USAGE', `PKCS#11 login failed: ${(e as Error).message}`, { cause: e });
      }
    }
    const find = (cls: number, id: Uint8Array | undefined, label: string | undefined): Handle[] => {
      const template: { type: number; value?: number | string | Buffer }[] = [{ type: p11.CKA_CLASS, value: cls }];
      if (label !== undefined) template.push({ type: p11.CKA_LABEL, value: label });
      if (id !== undefined) template.push({ type: p11.CKA_ID, value: Buffer.from(id) });
      lib.C_FindObjectsInit(session!, template);
      try {
        return lib.C_FindObjects(session!, 16);
      } finally {
        lib.C_FindObjectsFinal(session!);
      }
    };
    const keys = find(p11.CKO_PRIVATE_KEY, uri.id, uri.object);
    if (keys.length === 0)
      throw new KmodsealError(
        'E_NOTFOUND',
        `no private key matches the PKCS#11 URI (object=${uri.object ?? '*'}, ` +
          `id=${uri.id ? Buffer.from(uri.id).toString('hex') : '*'}); is the PIN right?`,
      );
    if (keys.length > 1)
      throw new KmodsealError('E_USAGE', `${keys.length} private keys match the PKCS#11 URI; add object= or id=`);
    const key = keys[0]!;
    const [typeAttr, idAttr, labelAttr] = lib.C_GetAttributeValue(session, key, [
      { type: p11.CKA_KEY_TYPE },
      { type: p11.CKA_ID },
      { type: p11.CKA_LABEL },
    ]);
    const keyType = typeAttr!.value.readUIntLE(0, Math.min(typeAttr!.value.length, 6));
    let certificate: Uint8Array;
    if (options.certificate !== undefined) certificate = certificateToDer(options.certificate);
    else {
      const keyId = idAttr?.value.length ? new Uint8Array(idAttr.value) : undefined;
      const keyLabel = labelAttr?.value.length ? labelAttr.value.toString('utf8') : undefined;
      const certs = keyId
        ? find(p11.CKO_CERTIFICATE, keyId, undefined)
        : find(p11.CKO_CERTIFICATE, undefined, keyLabel);
      if (certs.length === 0)
        throw new KmodsealError('E_NOTFOUND', 'the token holds no certificate for the key; pass one');
      certificate = new Uint8Array(lib.C_GetAttributeValue(session, certs[0]!, [{ type: p11.CKA_VALUE }])[0]!.value);
    }
    const certKey = crypto.createPublicKey({
      key: Buffer.from(parseCertificate(certificate).spki),
      format: 'der',
      type: 'spki',
    });
    const s = session;
    if (keyType === p11.CKK_RSA) {
      if (certKey.asymmetricKeyType !== 'rsa')
        throw new KmodsealError('E_FORMAT', 'the certificate does not hold an RSA key');
      const size = Math.ceil((certKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
      return {
        algorithm: 'rsa',
        certificate,
        signatureLength: size,
        backend: 'pkcs11',
        sign(hash: HashAlgorithm, digest: Uint8Array): Uint8Array {
          lib.C_SignInit(s, { mechanism: p11.CKM_RSA_PKCS }, key);
          return new Uint8Array(lib.C_Sign(s, Buffer.from(encodeDigestInfo(hash, digest)), Buffer.alloc(size)));
        },
        close: cleanup,
      };
    }
    if (keyType === p11.CKK_EC) {
      if (certKey.asymmetricKeyType !== 'ec')
        throw new KmodsealError('E_FORMAT', 'the certificate does not hold an EC key');
      return {
        algorithm: 'ecdsa',
        certificate,
        signatureLength: undefined,
        backend: 'pkcs11',
        sign(hash: HashAlgorithm, digest: Uint8Array): Uint8Array {
          if (digest.length !== HASH_LENGTH[hash])
            throw new RangeError(`${hash} digest must be ${HASH_LENGTH[hash]} bytes`);
          lib.C_SignInit(s, { mechanism: p11.CKM_ECDSA }, key);
          return ecdsaRawToDer(new Uint8Array(lib.C_Sign(s, Buffer.from(digest), Buffer.alloc(256))));
        },
        close: cleanup,
      };
    }
    throw new KmodsealError(
      'E_UNSUPPORTED',
      `PKCS#11 key type 0x${keyType.toString(16)} cannot sign modules (RSA or EC only)`,
    );
  } catch (e) {
    cleanup();
    throw e;
  }
}
