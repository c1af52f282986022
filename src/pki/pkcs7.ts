/**
 * The one PKCS#7 / CMS SignedData decoder (RFC 5652; crypto/asymmetric_keys/pkcs7_parser.c).
 * @peculiar/asn1-cms decodes the values; a TLV walk over the same bytes keeps the raw spans the
 * kernel uses: each carried certificate exactly as encoded (parsed once by ./certificate.ts, so
 * its issuer signature is checked over its own TBS bytes), each SignerInfo's signature
 * contents, signed attributes and issuer Name.
 *
 *   ContentInfo SEQUENCE { contentType OID, [0] EXPLICIT SignedData SEQUENCE {
 *     version, digestAlgorithms SET, encapContentInfo SEQUENCE, [0] certificates OPTIONAL,
 *     [1] crls OPTIONAL, signerInfos SET OF SignerInfo SEQUENCE { version, sid,
 *     digestAlgorithm, [0] signedAttrs OPTIONAL, signatureAlgorithm, signature OCTET STRING,
 *     [1] unsignedAttrs OPTIONAL } } }
 *
 * Decoding (asn1js under @peculiar) costs more than verifying. The modules of one build differ
 * only in their signature values: the same signer, digest and layout. So a decode is kept,
 * keyed by every byte except the contents of each SignerInfo's signature OCTET STRING (and
 * where those lie), and a message with the same key reuses it with its own signature bytes,
 * which the walk reads from the message itself. That is exactly what decoding it would give:
 *  - the contents of a primitive, definite-length OCTET STRING are opaque to the schema: the
 *    decoder only copies them (SignerInfo.signature = valueHex); asn1js's attempt to read them as
 *    nested ASN.1 is discarded on failure and its result (valueBlock.value) is not read by the
 *    schema or by compareSchema for a primitive OCTET STRING;
 *  - that attempt shares asn1js's node budget (10,000 per decode), but every node starts at its
 *    own byte, so a message of at most 10,000 bytes never reaches it, whatever its contents
 *    (longer messages are not cached); the depth limit's error inside the attempt is discarded too;
 *  - the key holds every other byte, so the rest of the decode is the same.
 * Each cached decode was checked to map exactly those OCTET STRINGs to SignerInfo.signature.
 * Readers must take signature values from {@link Pkcs7Signer.signature}, never from the shared
 * decode.
 */
import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ContentInfo, SignedData, type SignerInfo } from '@peculiar/asn1-cms';
import { ByteReader } from '../bytes/reader.js';
import { FormatError } from '../bytes/errors.js';
import { concatBytes, expectTlv, readChildren, type Tlv, TAG_OCTET_STRING, TAG_SEQUENCE, TAG_SET } from './der.js';
import { parseCertificate, type ParsedCertificate } from './certificate.js';
import { OID_SIGNED_DATA } from './oids.js';

/** A certificate carried in SignedData.certificates: parsed, or why not (the kernel refuses the message). */
export type CarriedCertificate =
  { readonly ok: true; readonly certificate: ParsedCertificate } | { readonly ok: false; readonly reason: string };

/** One SignerInfo with its raw spans. */
export interface Pkcs7Signer {
  /** The decoded SignerInfo (shared between messages that differ only in signature values). */
  readonly info: SignerInfo;
  /** The signature OCTET STRING contents of this message (view into it). */
  readonly signature: Uint8Array;
  /** The [0] signedAttrs TLV exactly as encoded, when present. */
  readonly signedAttrs: Uint8Array | undefined;
  /** The issuerAndSerialNumber issuer Name TLV exactly as encoded, when the sid is that form. */
  readonly issuerDer: Uint8Array | undefined;
  /**
   * Kernel auth_ids[0] of an issuerAndSerialNumber sid: serial INTEGER contents ‖ issuer Name
   * contents, exactly as encoded (pkcs7_sig_note_serial, pkcs7_sig_note_issuer).
   */
  readonly issuerSerialId: Uint8Array | undefined;
}

/** A decoded SignedData message. */
export interface Pkcs7Message {
  readonly signedData: SignedData;
  readonly certificates: readonly CarriedCertificate[];
  readonly signers: readonly Pkcs7Signer[];
}

/** Where decoding stopped: the ContentInfo, its content type, or the SignedData. */
export type Pkcs7Stage = 'content-info' | 'content-type' | 'signed-data';

/** A PKCS#7 that does not decode; `reason` is the decoder's own message. */
export class Pkcs7DecodeError extends FormatError {
  readonly stage: Pkcs7Stage;
  readonly reason: string;
  constructor(
    stage: Pkcs7Stage,
    reason: string,
    init: { file: string; offset: number; detail: string; cause?: unknown },
  ) {
    super('E_ASN1', { ...init, format: 'pkcs7' });
    this.name = 'Pkcs7DecodeError';
    this.stage = stage;
    this.reason = reason;
  }
}

/** The raw layout of a message: spans relative to its first byte. */
interface Layout {
  readonly certificates: readonly Tlv[];
  readonly signers: readonly {
    readonly signature: Tlv;
    readonly signedAttrs: Tlv | undefined;
    readonly issuer: Tlv | undefined;
    readonly serial: Tlv | undefined;
  }[];
}

/**
 * Walks the SignedData layout.
 * @throws FormatError E_ASN1 / E_TRUNCATED at the offending offset.
 */
function walk(r: ByteReader): Layout {
  const ci = expectTlv(r, 0, TAG_SEQUENCE, 'ContentInfo');
  const top = readChildren(r, ci);
  const explicit = top[1];
  if (!explicit || explicit.tag !== 0xa0)
    throw r.error('E_ASN1', explicit?.start ?? ci.contentEnd, 'ContentInfo content [0] expected');
  const sd = expectTlv(r, explicit.contentStart, TAG_SEQUENCE, 'SignedData', explicit.contentEnd);
  const fields = readChildren(r, sd);
  const certSet = fields.find((f, i) => i >= 3 && f.tag === 0xa0);
  const infos = fields[fields.length - 1];
  if (!infos || infos.tag !== TAG_SET)
    throw r.error('E_ASN1', infos?.start ?? sd.contentEnd, 'signerInfos SET expected');
  const signers = readChildren(r, infos).map((si) => {
    if (si.tag !== TAG_SEQUENCE) throw r.error('E_ASN1', si.start, 'SignerInfo SEQUENCE expected');
    const parts = readChildren(r, si);
    const signature = parts.find((p) => p.tag === TAG_OCTET_STRING);
    if (!signature) throw r.error('E_ASN1', si.start, 'SignerInfo signature OCTET STRING expected');
    const sid = parts[1];
    const [issuer, serial] = sid?.tag === TAG_SEQUENCE ? readChildren(r, sid) : [];
    return { signature, signedAttrs: parts.find((p, i) => i >= 3 && p.tag === 0xa0), issuer, serial };
  });
  return { certificates: certSet ? readChildren(r, certSet) : [], signers };
}

const MAX_CACHED_MESSAGE = 10_000;
const MAX_CACHE_ENTRIES = 64;

interface CacheEntry {
  readonly signedData: SignedData;
  readonly certificates: readonly CarriedCertificate[];
  /** Each SignerInfo.signature is the contents of the OCTET STRING the walk found (always so when cached). */
  readonly rawSignatures: boolean;
}
const decodeCache = new Map<string, CacheEntry>();

function cacheKey(p7: Uint8Array, layout: Layout): string | undefined {
  if (p7.length > MAX_CACHED_MESSAGE) return undefined;
  const ranges = layout.signers.map((s) => s.signature);
  let key = ranges.map((t) => `${t.contentStart}-${t.contentEnd}`).join(',') + ':';
  let at = 0;
  for (const t of ranges) {
    if (t.contentStart < at || t.indefinite || t.constructed) return undefined;
    key += Buffer.from(p7.buffer, p7.byteOffset + at, t.contentStart - at).toString('latin1');
    at = t.contentEnd;
  }
  return key + Buffer.from(p7.buffer, p7.byteOffset + at, p7.length - at).toString('latin1');
}

function carried(p7: Uint8Array, layout: Layout, sd: SignedData, file: string, base: number): CarriedCertificate[] {
  return layout.certificates.map((t, i): CarriedCertificate => {
    const decoded = sd.certificates?.[i]?.certificate;
    if (t.tag !== TAG_SEQUENCE || !decoded) return { ok: false, reason: 'not an X.509 certificate' };
    try {
      return {
        ok: true,
        certificate: parseCertificate(p7.subarray(t.start, t.end), { file, offset: base + t.start, decoded }),
      };
    } catch (e) {
      return { ok: false, reason: e instanceof FormatError ? e.detail : (e as Error).message };
    }
  });
}

/**
 * Decodes a PKCS#7 ContentInfo holding SignedData, once: values, carried certificates (parsed
 * from their own bytes) and each signer's raw spans.
 * @param base absolute offset of `p7` in `file`, for errors.
 * @throws Pkcs7DecodeError when it does not decode, is not signedData, or its layout is not SignedData's.
 */
export function decodePkcs7(p7: Uint8Array, file = '<pkcs7>', base = 0): Pkcs7Message {
  const r = new ByteReader(p7, { file, format: 'pkcs7', base });
  let layout: Layout | undefined;
  try {
    layout = walk(r);
  } catch {
    layout = undefined; // reported below, after the decoder has had its say
  }
  const key = layout && cacheKey(p7, layout);
  let entry = key !== undefined ? decodeCache.get(key) : undefined;
  if (!entry) {
    const fail = (stage: Pkcs7Stage, reason: string, detail: string, cause?: unknown): Pkcs7DecodeError =>
      new Pkcs7DecodeError(stage, reason, { file, offset: base, detail, cause });
    let ci: ContentInfo;
    try {
      ci = AsnConvert.parse(p7, ContentInfo);
    } catch (e) {
      throw fail(
        'content-info',
        (e as Error).message,
        `PKCS#7 ContentInfo does not decode: ${(e as Error).message}`,
        e,
      );
    }
    if (ci.contentType !== OID_SIGNED_DATA)
      throw fail('content-type', ci.contentType, `content type ${ci.contentType} is not signedData`);
    let sd: SignedData;
    try {
      sd = AsnConvert.parse(ci.content, SignedData);
    } catch (e) {
      throw fail('signed-data', (e as Error).message, `PKCS#7 SignedData does not decode: ${(e as Error).message}`, e);
    }
    if (!layout) {
      let why = "layout is not SignedData's";
      try {
        walk(r);
      } catch (e) {
        why = e instanceof FormatError ? `${e.detail} at 0x${e.offset.toString(16)}` : (e as Error).message;
      }
      throw fail('signed-data', why, `PKCS#7 SignedData layout: ${why}`);
    }
    if (layout.signers.length !== sd.signerInfos.length) {
      throw fail('signed-data', 'signer count', 'PKCS#7 SignedData layout: signerInfos do not match the decode');
    }
    entry = {
      signedData: sd,
      certificates: carried(p7, layout, sd, file, base),
      rawSignatures: mapsSignatures(p7, layout, sd),
    };
    if (key !== undefined && entry.rawSignatures) {
      if (decodeCache.size >= MAX_CACHE_ENTRIES) decodeCache.clear();
      decodeCache.set(key, entry);
    }
  }
  const lay = layout!;
  const sd = entry.signedData;
  const raw = entry.rawSignatures;
  return {
    signedData: sd,
    certificates: entry.certificates,
    signers: sd.signerInfos.map((info, i) => {
      const s = lay.signers[i]!;
      return {
        info,
        signature: raw
          ? p7.subarray(s.signature.contentStart, s.signature.contentEnd)
          : new Uint8Array(info.signature.buffer),
        signedAttrs: s.signedAttrs ? p7.subarray(s.signedAttrs.start, s.signedAttrs.end) : undefined,
        issuerDer: s.issuer ? p7.subarray(s.issuer.start, s.issuer.end) : undefined,
        issuerSerialId:
          s.issuer && s.serial
            ? concatBytes([
                p7.subarray(s.serial.contentStart, s.serial.contentEnd),
                p7.subarray(s.issuer.contentStart, s.issuer.contentEnd),
              ])
            : undefined,
      };
    }),
  };
}

/** The decode took each SignerInfo.signature from exactly the OCTET STRING the walk found. */
function mapsSignatures(p7: Uint8Array, layout: Layout, sd: SignedData): boolean {
  return layout.signers.every((s, i) => {
    const got = new Uint8Array(sd.signerInfos[i]!.signature.buffer);
    const want = p7.subarray(s.signature.contentStart, s.signature.contentEnd);
    return Buffer.from(got).equals(want);
  });
}
