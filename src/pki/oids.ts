/** The object identifiers more than one format names: one spelling of each, shared by src/pki, modsig, sign, pe and kernel. */
/** PKCS#7 data */
export const OID_DATA = '1.2.840.113549.1.7.1';
/** PKCS#7 signedData */
export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
/** PKCS#9 contentType attribute */
export const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3';
/** PKCS#9 messageDigest attribute */
export const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
/** PKCS#9 signingTime attribute */
export const OID_SIGNING_TIME = '1.2.840.113549.1.9.5';
/** S/MIME capabilities attribute (OpenSSL adds it) */
export const OID_SMIME_CAPABILITIES = '1.2.840.113549.1.9.15';
/** PKCS#9 emailAddress (a name attribute) */
export const OID_EMAIL = '1.2.840.113549.1.9.1';
/** rsaEncryption */
export const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1';
/** id-ecPublicKey */
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
/** ecdsa-with-SHA256 */
export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
/** id-sha256 */
export const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
/** commonName */
export const OID_CN = '2.5.4.3';
/** organizationName */
export const OID_O = '2.5.4.10';
/** Authenticode SpcIndirectDataContent */
export const OID_SPC_INDIRECT_DATA = '1.3.6.1.4.1.311.2.1.4';
/** Authenticode SpcPeImageData */
export const OID_SPC_PE_IMAGE_DATA = '1.3.6.1.4.1.311.2.1.15';
