/**
 * Fills a daemon with certificates, every one through the API: a sample made by certificate.create
 * (internal issuance: the daemon generates the key and signs), the bulk imported with
 * certificate.create CERTIFICATE_CREATE_IMPORTED from certificates made in this process. Both are
 * varied: three CAs (EC P-256 root, RSA-2048 root, EC P-384 intermediate), EC P-256/P-384 and
 * RSA-2048 keys, one to four SANs, lifetimes from 30 days to two years.
 */
import type { KeyObject } from 'node:crypto';
import type { CertmidClient } from '../src/client/client.js';
import { generateKey, issue, KEY_FIELDS, signerOf, type KeyKind, type Signer } from './pki.js';

/** Requests in flight while filling. */
const IN_FLIGHT = 8;
/** RSA keys take long to make: the bulk's RSA certificates share this many keys (the certificates all differ). */
const RSA_KEYS = 8;
export const SUBJECT = { country: 'US', state: 'TN', city: 'Knoxville', organization: 'Bench', email: 'bench@example.com', digest_algorithm: 'SHA256' };

/** Runs `task(i)` for i < count with at most `limit` in flight; resolves with the milliseconds taken. */
export async function pool(count: number, limit: number, task: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
  return performance.now() - started;
}

export interface Authorities {
  /** The root the issuance rounds sign with (EC P-256). */
  primary: Signer;
  all: Array<{ signer: Signer; kind: KeyKind }>;
}

/** Creates the three CAs through the API. */
export async function createAuthorities(client: CertmidClient, tag: string): Promise<Authorities> {
  const ca = (fields: Record<string, unknown>) => client.call<{ id: number; certificate: string; privatekey: string }>('certificateauthority.create', { ...SUBJECT, lifetime: 3650, ...fields });
  const ecRoot = await ca({ name: `${tag}-ec-root`, common: 'Bench EC Root', san: ['ec-root.bench.example'], create_type: 'CA_CREATE_INTERNAL', ...KEY_FIELDS['EC P-256'] });
  const rsaRoot = await ca({ name: `${tag}-rsa-root`, common: 'Bench RSA Root', san: ['rsa-root.bench.example'], create_type: 'CA_CREATE_INTERNAL', ...KEY_FIELDS['RSA-2048'] });
  const intermediate = await ca({ name: `${tag}-ec-issuing`, common: 'Bench Issuing CA', san: ['issuing.bench.example'], create_type: 'CA_CREATE_INTERMEDIATE', signedby: ecRoot.id, ...KEY_FIELDS['EC P-384'] });
  const all = [
    { signer: signerOf(ecRoot), kind: 'EC P-256' as const },
    { signer: signerOf(rsaRoot), kind: 'RSA-2048' as const },
    { signer: signerOf(intermediate), kind: 'EC P-384' as const },
  ];
  return { primary: all[0]!.signer, all };
}

/** The i-th certificate's varied traits: key kind, CA, names, lifetime. */
function traits(i: number, authorities: Authorities): { kind: KeyKind; signer: Signer; names: string[]; days: number } {
  const kinds: KeyKind[] = ['EC P-256', 'EC P-256', 'EC P-256', 'RSA-2048', 'EC P-384'];
  const zones = ['example.com', 'corp.example.net', 'lab.example.org', 'shop.example'];
  const host = `${['www', 'api', 'mail', 'vpn', 'db', 'git', 'ci', 'auth'][i % 8]}-${i}.${zones[i % 4]}`;
  const names = [host, ...Array.from({ length: i % 4 }, (_, k) => `alt${k}-${i}.${zones[(i + k + 1) % 4]}`)];
  return { kind: kinds[i % 5]!, signer: authorities.all[i % 3]!.signer, names, days: [30, 90, 397, 730][i % 4]! };
}

/**
 * Adds certificates until the daemon stores `total`: the first `sample` made by certificate.create,
 * the rest imported. Returns how they were made, for the table's footnote.
 */
export async function fill(client: CertmidClient, authorities: Authorities, total: number, sample: number, tag: string): Promise<string> {
  const made = sample;
  await pool(made, IN_FLIGHT, (i) => {
    const { kind, signer, names, days } = traits(i, authorities);
    return client.callJob('certificate.create', [
      { ...SUBJECT, ...KEY_FIELDS[kind], name: `${tag}-made-${i}`, common: names[0], san: names, lifetime: days, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: signer.id },
    ]);
  });
  const rsaKeys: KeyObject[] = [];
  for (let k = 0; k < RSA_KEYS; k++) rsaKeys.push(await generateKey('RSA-2048'));
  const imported = Math.max(0, total - made);
  await pool(imported, IN_FLIGHT, async (j) => {
    const i = made + j;
    const { kind, signer, names, days } = traits(i, authorities);
    const key = kind === 'RSA-2048' ? rsaKeys[i % RSA_KEYS]! : await generateKey(kind);
    const pem = await issue(signer, key, names, 1_000_000 + i, days);
    await client.callJob('certificate.create', [{ name: `${tag}-imported-${i}`, create_type: 'CERTIFICATE_CREATE_IMPORTED', ...pem }]);
  });
  return `${made} made by certificate.create, ${imported} imported through the API (made here, signed by the same 3 CAs; RSA ones share ${RSA_KEYS} keys), all with distinct names, SANs and lifetimes`;
}
