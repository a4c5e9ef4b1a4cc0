/** Certificates for the tests of the issuer DN stored with each row, and what it must be. */
import { X509Certificate } from 'node:crypto';
import { opensslOk, withFiles } from './openssl.js';

/** The issuer DN as entries showed it when they parsed each certificate: Node's one-line form of OpenSSL's. */
export function parsedIssuerDn(pem: string): string {
  return `/${new X509Certificate(pem).issuer.split('\n').filter(Boolean).join('/')}`;
}

/** A name openssl writes as given: UTF-8, a multi-valued RDN, and the characters RFC 2253 escapes. */
const OUTSIDE_SUBJECT = '/C=DE/O=Äußere GmbH+OU=Zwei Werte/CN=Outside "Root", CA \\+ co; <x> #1';

/** An outside CA (openssl, with its key) and a leaf it signed, chained as an import carries them. */
export async function outsidePki(): Promise<{ caPem: string; caKey: string; leafPem: string; leafKey: string }> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const caExtensions = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  const ca = await opensslOk(['req', '-x509', ...ec, '-keyout', '-', '-out', '-', '-days', '30', '-utf8', '-multivalue-rdn', '-subj', OUTSIDE_SUBJECT, ...caExtensions]);
  const caKey = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(ca.stdout)![0];
  const caPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(ca.stdout)![0];
  const request = await opensslOk(['req', '-new', ...ec, '-keyout', '-', '-out', '-', '-utf8', '-subj', '/CN=outside leaf/O=Ünïcödé 中文']);
  const leafKey = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(request.stdout)![0];
  const csr = /-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----\n/.exec(request.stdout)![0];
  const leafPem = await withFiles({ 'ca.pem': caPem, 'ca.key': caKey, 'leaf.csr': csr }, async (paths) => {
    return (await opensslOk(['x509', '-req', '-in', paths['leaf.csr']!, '-CA', paths['ca.pem']!, '-CAkey', paths['ca.key']!, '-set_serial', '77', '-days', '20'])).stdout;
  });
  return { caPem, caKey, leafPem, leafKey };
}
