/**
 * A certificate whose bytes are not its DER re-encoding: the kit's leaf (issued by the kit's CA)
 * with one length inside its TBSCertificate written in long form (`81 0d` for 13, which
 * lib/asn1_decoder.c accepts: up to two length octets, minimality not checked), the enclosing
 * lengths adjusted, and the TBS re-signed with the CA key. Its signature verifies over its own
 * TBS bytes, not over a minimal re-encoding of them.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ByteReader } from '../../src/bytes/reader.js';
import { certificateToDer } from '../../src/keys/certificate.js';
import { concatBytes, encodeTlv, readChildren, readTlv, type Tlv } from '../../src/pki/der.js';
import { TESTKERNEL } from '../helpers.js';

/** `t` re-encoded with the TLV at `route` (child indexes) in long length form, ancestors re-measured. */
function longForm(r: ByteReader, t: Tlv, route: readonly number[]): Uint8Array {
  const content = r.data.subarray(t.contentStart, t.contentEnd);
  if (route.length === 0) {
    if (content.length > 0xff) throw new Error('longForm: a one-octet length is expected');
    return concatBytes([Uint8Array.of(t.tag, 0x81, content.length), content]);
  }
  const parts = readChildren(r, t).map((c, i) =>
    i === route[0] ? longForm(r, c, route.slice(1)) : r.data.subarray(c.start, c.end),
  );
  return encodeTlv(t.tag, ...parts);
}

/** The leaf and its key: subject Name → first RDN → first AttributeTypeAndValue → value, in long form. */
export function nonMinimalLeaf(): { der: Uint8Array; pem: string; key: string } {
  const keys = path.join(TESTKERNEL, 'keys');
  const der = certificateToDer(fs.readFileSync(path.join(keys, 'leaf.crt'), 'latin1'));
  const r = new ByteReader(der, { file: 'leaf.crt', format: 'x509' });
  const cert = readTlv(r, 0);
  const [tbs, alg] = readChildren(r, cert);
  const version = readChildren(r, tbs!)[0]!.tag === 0xa0 ? 1 : 0;
  const newTbs = longForm(r, tbs!, [4 + version, 0, 0, 1]);
  const sig = crypto.sign('sha256', newTbs, fs.readFileSync(path.join(keys, 'ca.key')));
  const out = encodeTlv(0x30, newTbs, der.subarray(alg!.start, alg!.end), encodeTlv(0x03, Uint8Array.of(0), sig));
  const b64 = Buffer.from(out)
    .toString('base64')
    .replace(/.{1,64}/g, '$&\n');
  return {
    der: out,
    pem: `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`,
    key: path.join(keys, 'leaf.key'),
  };
}
