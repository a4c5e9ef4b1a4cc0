import type { KeyObject } from 'node:crypto';
import { CRLReason, CertificateList, Extension, RevokedCertificate, TBSCertList, Version } from '@peculiar/asn1-x509';
import { encode, integerDer, integerOctets, x509Time } from './asn1.js';
import { certificateAuthority, encoded } from './certificates.js';
import { authorityKeyIdentifierValue, extension } from './extensions.js';
import { OID } from './oids.js';
import { toPem } from './pem.js';
import { signData, signatureAlgorithm, type Digest } from './signing.js';

/** RFC 5280 CRLReason names (value 7 is unused). */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

const REASON_CODES: Record<RevocationReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

/** Everything needed to sign one CRL. */
export interface CrlRequest {
  issuerCertificatePem: string;
  issuerPrivateKey: KeyObject;
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  /** Ignored for Ed25519 issuers. */
  digest: Digest;
  revoked: Array<{ serial: bigint; revokedAt: Date; reason?: RevocationReason }>;
}

/**
 * Signs an X.509 v2 CRL: issuer copied from the CA certificate, AuthorityKeyIdentifier (keyid) and
 * CRLNumber extensions, and a reasonCode entry extension for every reason other than `unspecified`
 * (RFC 5280 §5.3.1 says to omit that one). PEM label `X509 CRL`, as OpenSSL expects.
 *
 * @throws TypeError when the key does not belong to the issuer certificate.
 */
export async function createCrl(request: CrlRequest): Promise<{ pem: string; der: Buffer }> {
  const authority = certificateAuthority(request.issuerCertificatePem, request.issuerPrivateKey);
  const { identifier, hash } = signatureAlgorithm(request.issuerPrivateKey, request.digest);
  const entries = request.revoked.map(({ serial, revokedAt, reason }) => {
    const code = reason ? REASON_CODES[reason] : 0;
    return new RevokedCertificate({
      userCertificate: integerOctets(serial),
      revocationDate: x509Time(revokedAt),
      crlEntryExtensions: code ? [extension(OID.crlReason, false, encode(new CRLReason(code)))] : undefined,
    });
  });
  const extensions: Extension[] = [
    extension(OID.authorityKeyIdentifier, false, authorityKeyIdentifierValue(authority.keyIdentifier, null)),
    extension(OID.crlNumber, false, integerDer(request.crlNumber)),
  ];
  const tbs = encode(
    new TBSCertList({
      version: Version.v2,
      signature: identifier,
      // The CA certificate's subject byte for byte.
      issuer: encoded(authority.subject),
      thisUpdate: x509Time(request.thisUpdate),
      nextUpdate: x509Time(request.nextUpdate),
      revokedCertificates: entries.length ? entries : undefined,
      crlExtensions: extensions,
    }),
  );
  const signature = await signData(tbs, request.issuerPrivateKey, hash);
  const der = encode(new CertificateList({ tbsCertList: encoded(tbs), signatureAlgorithm: identifier, signature: new Uint8Array(signature).buffer }));
  return { pem: toPem('X509 CRL', der), der };
}

