/**
 * Fills a daemon with certificates. A sample goes in through the API: made by certificate.create
 * (internal issuance: the daemon generates the key and signs) and imported with certificate.create
 * CERTIFICATE_CREATE_IMPORTED from certificates made in this process. The API stores about 40
 * imports a second on this kind of machine, so 100,000 would take most of an hour per database:
 * beyond BENCH_IMPORTED, the bench writes the rows the API would have stored itself, from real,
 * distinct certificates and signing requests made here, with the daemon's own code for what a row
 * holds (parsed details, the key sealed under the daemon's master key). Revocations go through the
 * API (certificate.update), so that CRLs and the CAs' revoked lists are the daemon's own.
 * All are varied: three CAs (EC P-256 root, RSA-2048 root, EC P-384 intermediate), EC P-256/P-384
 * and RSA-2048 keys, one to four SANs, lifetimes from 30 days to two years, signed here or
 * imported, some signing requests, some renewing themselves, a few expiring within days.
 */
import { fork } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataSource } from 'typeorm';
import { certificateDetails, csrDetails, detailColumns } from '../src/certs/details.js';
import { CERT_TYPE_CSR, CERT_TYPE_EXISTING, CERT_TYPE_INTERNAL, CertificateEntity, type CertificateRow } from '../src/certs/entities.js';
import type { CertmidClient } from '../src/client/client.js';
import { exportPrivateKeyPem, loadPrivateKey } from '../src/crypto/keys.js';
import { SecretBox } from '../src/secrets.js';
import { generateKey, issue, KEY_FIELDS, signerOf, signingRequest, type KeyKind, type Signer } from './pki.js';

/** Requests in flight while filling. */
const IN_FLIGHT = 8;
/** RSA keys take long to make: the bulk's RSA certificates share this many keys (the certificates all differ). */
const RSA_KEYS = 8;
/** How many certificates at most are imported through the API; the rest are written as rows. */
const THROUGH_API = Number(process.env.BENCH_IMPORTED ?? 2_000);
/** Rows written in one statement. */
const WRITE_BATCH = 500;
/** Processes making and writing rows side by side: making certificates takes most of the time. */
const WRITERS = Number(process.env.BENCH_WRITERS ?? os.cpus().length);
/** Of the rows written, every CSR_EVERY-th is a signing request, and every AUTO_RENEW_EVERY-th one signed here renews itself. */
const CSR_EVERY = 50;
const AUTO_RENEW_EVERY = 20;
/** Every EXPIRING_EVERY-th row written expires in EXPIRING_IN_DAYS (alerts are raised for it). */
const EXPIRING_EVERY = 997;
const EXPIRING_IN_DAYS = 5;
/**
 * How many certificates are revoked (through the API), however many are stored: each CA entry
 * lists its revoked certificates in full (TrueNAS's `revoked_certs`), in every reply that nests
 * the CA, so a share of the table would make every reply grow with the table for that reason alone.
 */
const REVOKED = Number(process.env.BENCH_REVOKED ?? 6);
const REVOCATION_REASONS = ['KEY_COMPROMISE', 'SUPERSEDED', 'CESSATION_OF_OPERATION', 'AFFILIATION_CHANGED'];
const DAY_MS = 86_400_000;
/** Serials of the certificates made here, above any the daemon's CAs reach in a run. */
const FIRST_SERIAL = 10_000_000;
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

/** Where the daemon keeps its rows and master key: its data directory, and PostgreSQL's URL when it uses one. */
export interface Storage {
  dataDir: string;
  databaseUrl: string | null;
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

/** What makes certificates here: the CAs and the shared RSA keys. */
export interface Maker {
  authorities: Authorities;
  rsaKeys: KeyObject[];
}

const keyFor = (maker: Maker, kind: KeyKind, i: number): Promise<KeyObject> => (kind === 'RSA-2048' ? Promise.resolve(maker.rsaKeys[i % RSA_KEYS]!) : generateKey(kind));

/**
 * Adds certificates until the daemon stores `total`: the first `sample` made by certificate.create,
 * up to BENCH_IMPORTED imported, the rest written as rows; then REVOKED of them revoked.
 * Returns how they were made, for the table's footnote.
 */
export async function fill(client: CertmidClient, authorities: Authorities, storage: Storage, total: number, sample: number, tag: string): Promise<string> {
  const made = Math.min(sample, total);
  const revocable: number[] = [];
  await pool(made, IN_FLIGHT, async (i) => {
    const { kind, signer, names, days } = traits(i, authorities);
    const entry = await client.callJob<{ id: number }>('certificate.create', [
      { ...SUBJECT, ...KEY_FIELDS[kind], name: `${tag}-made-${i}`, common: names[0], san: names, lifetime: days, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: signer.id },
    ]);
    revocable.push(entry.id);
  });
  const maker: Maker = { authorities, rsaKeys: [] };
  for (let k = 0; k < RSA_KEYS; k++) maker.rsaKeys.push(await generateKey('RSA-2048'));
  const imported = Math.min(THROUGH_API, total - made);
  await pool(imported, IN_FLIGHT, async (j) => {
    const i = made + j;
    const { kind, signer, names, days } = traits(i, authorities);
    const pem = await issue(signer, await keyFor(maker, kind, i), names, FIRST_SERIAL + i, days);
    await client.callJob('certificate.create', [{ name: `${tag}-imported-${i}`, create_type: 'CERTIFICATE_CREATE_IMPORTED', ...pem }]);
  });
  const written = total - made - imported;
  const started = performance.now();
  if (written > 0) revocable.push(...(await writeRows(storage, maker, made + imported, written, tag)));
  const writeSeconds = (performance.now() - started) / 1000;
  const revoked = await revokeSpread(client, revocable);
  const rows = written > 0 ? `, ${written} written as rows (${(written / writeSeconds).toFixed(0)}/s; every ${CSR_EVERY}th a CSR, half of the rest signed here)` : '';
  return `${made} made by certificate.create, ${imported} imported through the API${rows}; ${revoked} revoked through the API; 3 CAs, RSA keys shared among ${RSA_KEYS}, distinct names, SANs and lifetimes`;
}

/** What a writer process is given: which rows to write where, and the keys to make them with (over IPC, never in its arguments). */
export interface WriterTask {
  storage: Storage;
  first: number;
  count: number;
  tag: string;
  authorities: Array<{ id: number; certificatePem: string; privateKeyPem: string; kind: KeyKind }>;
  rsaKeys: string[];
}

/** Revokes REVOKED of `ids` (or all, if fewer), spread over them, through certificate.update; returns how many. */
async function revokeSpread(client: CertmidClient, ids: number[]): Promise<number> {
  const revoked = Math.min(ids.length, REVOKED);
  const sorted = [...ids].sort((a, b) => a - b);
  await pool(revoked, IN_FLIGHT, (k) =>
    client.callJob('certificate.update', [sorted[Math.floor((k * sorted.length) / revoked)]!, { revoked: true, revoked_reason: REVOCATION_REASONS[k % REVOCATION_REASONS.length] }]),
  );
  return revoked;
}

/**
 * Makes REVOKED certificates with certificate.create, by each CA in turn, and revokes them: a
 * daemon that stores only these answers with the same CA entries (revoked lists included) as
 * one that `fill` filled.
 */
export async function addRevoked(client: CertmidClient, authorities: Authorities, tag: string): Promise<void> {
  const ids: number[] = [];
  for (let i = 0; i < REVOKED; i++) {
    const { kind, signer, names, days } = traits(i, authorities);
    const entry = await client.callJob<{ id: number }>('certificate.create', [
      { ...SUBJECT, ...KEY_FIELDS[kind], name: `${tag}-revoked-${i}`, common: names[0], san: names, lifetime: days, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: signer.id },
    ]);
    ids.push(entry.id);
  }
  await revokeSpread(client, ids);
}

/**
 * Writes `count` rows as certificate.create would have stored them (CERTIFICATE_CREATE_INTERNAL,
 * _IMPORTED or _CSR), shared among WRITERS processes. Returns the ids of those signed here, which
 * can be revoked.
 */
async function writeRows(storage: Storage, maker: Maker, first: number, count: number, tag: string): Promise<number[]> {
  const share = Math.ceil(count / WRITERS);
  const keys = {
    authorities: maker.authorities.all.map(({ signer, kind }) => ({ id: signer.id, certificatePem: signer.certificatePem, privateKeyPem: exportPrivateKeyPem(signer.privateKey), kind })),
    rsaKeys: maker.rsaKeys.map((key) => exportPrivateKeyPem(key)),
  };
  const tasks = Array.from({ length: WRITERS }, (_, w) => ({ storage, tag, first: first + w * share, count: Math.min(share, count - w * share), ...keys })).filter((task) => task.count > 0);
  await Promise.all(tasks.map((task) => runWriter(task)));
  const db = await openRows(storage);
  try {
    // As autovacuum would after a bulk load (PostgreSQL 13 and later vacuum after inserts too):
    // the planner sees the table as it now is, and index-only scans need no visit to the rows.
    if (storage.databaseUrl) await db.query('VACUUM ANALYZE certificate');
    const signedHere = await db.getRepository(CertificateEntity).createQueryBuilder('c').select('c.id').where('c.name LIKE :written AND c.signedby_id IS NOT NULL', { written: `${tag}-written-%` }).getMany();
    return signedHere.map((row) => row.id);
  } finally {
    await db.destroy();
  }
}

/** Runs one writer process (bench/fill-writer.ts) to its end. */
async function runWriter(task: WriterTask): Promise<void> {
  const child = fork(fileURLToPath(new URL('./fill-writer.ts', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit');
  child.send(task);
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`a row writer exited with ${code}`);
}

/** In a writer process: makes and writes the rows of `task`, WRITE_BATCH to a statement. */
export async function writeTask(task: WriterTask): Promise<void> {
  const all = task.authorities.map(({ id, certificatePem, privateKeyPem, kind }) => ({ signer: { id, certificatePem, privateKey: loadPrivateKey(privateKeyPem) }, kind }));
  const maker: Maker = { authorities: { primary: all[0]!.signer, all }, rsaKeys: task.rsaKeys.map((pem) => loadPrivateKey(pem)) };
  const box = SecretBox.open(task.storage.dataDir, undefined);
  const db = await openRows(task.storage);
  try {
    for (let start = 0; start < task.count; start += WRITE_BATCH) {
      const batch = Array.from({ length: Math.min(WRITE_BATCH, task.count - start) }, (_, k) => task.first + start + k);
      await db.getRepository(CertificateEntity).insert((await Promise.all(batch.map((i) => storedRow(maker, box, i, `${task.tag}-written-${i}`)))) as never);
    }
  } finally {
    await db.destroy();
  }
}

async function openRows(storage: Storage): Promise<DataSource> {
  const entities = [CertificateEntity];
  const db = storage.databaseUrl
    ? new DataSource({ type: 'postgres', url: storage.databaseUrl, entities })
    : new DataSource({ type: 'better-sqlite3', database: path.join(storage.dataDir, 'certmid.db'), entities, prepareDatabase: (sqlite: { pragma(source: string): unknown }) => void sqlite.pragma('busy_timeout = 5000') });
  return db.initialize();
}

/** The i-th written row: a signing request, or a certificate signed here or imported. */
async function storedRow(maker: Maker, box: SecretBox, i: number, name: string): Promise<Partial<CertificateRow>> {
  const { kind, signer, names, days } = traits(i, maker.authorities);
  const key = await keyFor(maker, kind, i);
  const common = { name, privatekey: box.encrypt(exportPrivateKeyPem(key)), add_to_trusted_store: false, created_at: new Date() };
  if (i % CSR_EVERY === 0) {
    const csr = await signingRequest(key, names);
    return { ...common, type: CERT_TYPE_CSR, certificate: null, CSR: csr, signedby_id: null, ...detailColumns(csrDetails(csr, key)) };
  }
  const notBefore = i % EXPIRING_EVERY === 0 ? new Date(Date.now() - (days - EXPIRING_IN_DAYS) * DAY_MS) : undefined;
  const { certificate } = await issue(signer, key, names, FIRST_SERIAL + i, days, notBefore);
  const row = { ...common, certificate, CSR: null, ...detailColumns(certificateDetails(certificate, key)) };
  if (i % 2 === 1) return { ...row, type: CERT_TYPE_EXISTING, signedby_id: null };
  const renews = i % AUTO_RENEW_EVERY === 2;
  return { ...row, type: CERT_TYPE_INTERNAL, signedby_id: signer.id, rotate_key: true, auto_renew: renews, renew_days: renews ? 10 : null };
}
