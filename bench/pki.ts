/**
 * Certificates made in this process: the issuance anchor (key generation and signing, nothing
 * else, with the same crypto the daemon uses) and the bulk of the stored rows, which are then
 * imported through the API or written as the rows the API would have stored.
 */
import type { KeyObject } from 'node:crypto';
import { createCsr, issueCertificate } from '../src/crypto/certificates.js';
import { caDefaultExtensions, defaultExtensions } from '../src/crypto/extensions.js';
import { exportPrivateKeyPem, generatePrivateKey, loadPrivateKey, type KeySpec } from '../src/crypto/keys.js';

export type KeyKind = 'EC P-256' | 'EC P-384' | 'RSA-2048';

export const KEY_SPECS: Record<KeyKind, KeySpec> = {
  'EC P-256': { keyType: 'EC', curve: 'SECP256R1' },
  'EC P-384': { keyType: 'EC', curve: 'SECP384R1' },
  'RSA-2048': { keyType: 'RSA', keyLength: 2048 },
};

/** The API's fields for a key kind. */
export const KEY_FIELDS: Record<KeyKind, Record<string, unknown>> = {
  'EC P-256': { key_type: 'EC', ec_curve: 'SECP256R1' },
  'EC P-384': { key_type: 'EC', ec_curve: 'SECP384R1' },
  'RSA-2048': { key_type: 'RSA', key_length: 2048 },
};

/** A CA entry as the API returned it, its key loaded for signing here. */
export interface Signer {
  id: number;
  certificatePem: string;
  privateKey: KeyObject;
}

export const signerOf = (entry: { id: number; certificate: string; privatekey: string }): Signer => ({ id: entry.id, certificatePem: entry.certificate, privateKey: loadPrivateKey(entry.privatekey) });

export const generateKey = (kind: KeyKind): Promise<KeyObject> => generatePrivateKey(KEY_SPECS[kind]);

const SUBJECT = { country: 'US', organization: 'Bench' };

/**
 * A leaf certificate for `names` (the first is the CN) with `key`, signed by `signer`, valid for
 * `days` from `notBefore` (a minute ago unless given); PEMs of both.
 */
export async function issue(signer: Signer, key: KeyObject, names: readonly string[], serial: number, days: number, notBefore = new Date(Date.now() - 60_000)): Promise<{ certificate: string; privatekey: string }> {
  const certificate = await issueCertificate({
    subject: { common: names[0]!, ...SUBJECT },
    san: names.map((value) => ({ type: 'DNS' as const, value })),
    publicKey: key,
    signer: { privateKey: signer.privateKey, certificatePem: signer.certificatePem },
    serial: BigInt(serial),
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * 86_400_000),
    digest: 'SHA256',
    extensions: defaultExtensions(),
  });
  return { certificate, privatekey: exportPrivateKeyPem(key) };
}

/** A signing request for `names` (the first is the CN) with `key`. */
export function signingRequest(key: KeyObject, names: readonly string[]): Promise<string> {
  return createCsr({ subject: { common: names[0]!, ...SUBJECT }, san: names.map((value) => ({ type: 'DNS' as const, value })), privateKey: key, digest: 'SHA256', extensions: defaultExtensions() });
}

/** A self-signed CA made in this process, known to no daemon (id 0). */
export async function localAuthority(kind: KeyKind, common: string): Promise<Signer> {
  const privateKey = await generateKey(kind);
  const notBefore = new Date(Date.now() - 60_000);
  const certificatePem = await issueCertificate({
    subject: { common, ...SUBJECT },
    san: [],
    publicKey: privateKey,
    signer: { privateKey, certificatePem: null },
    serial: 1n,
    notBefore,
    notAfter: new Date(notBefore.getTime() + 3650 * 86_400_000),
    digest: 'SHA256',
    extensions: caDefaultExtensions(),
  });
  return { id: 0, certificatePem, privateKey };
}
