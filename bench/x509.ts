/**
 * Micro-benchmark of the X.509 code against the code it replaced: the hand-written DER stack of
 * commit BEFORE_COMMIT, checked out into a git-ignored folder of this repository (so its imports
 * resolve this repository's node_modules) and run in this process, interleaved round by round with
 * today's src/crypto on the same inputs. Rates are operations per CPU second of this process. `tsx bench/x509.ts` prints the rows; `benchX509()` returns
 * them for the main benchmark.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CertificateParts, parseExact } from '../src/crypto/asn1.js';
import * as now from '../src/crypto/certificates.js';
import { caDefaultExtensions, defaultExtensions, type CertExtensions } from '../src/crypto/extensions.js';
import { splitPem } from '../src/crypto/pem.js';
import { interleaved, median, type Row } from './stats.js';

/** The last commit with the hand-written DER reader and writer (src/crypto/der.ts). */
export const BEFORE_COMMIT = 'e96000a';
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const BEFORE_DIR = path.join(ROOT, '.bench-before', BEFORE_COMMIT);
const FIXTURES = path.join(ROOT, 'test', 'fuzz', 'fixtures');
const ROUNDS = 7;
const ROUND_MS = 300;
/** The first rounds run while the JIT is still compiling either side: not recorded. */
const WARM_UP_ROUNDS = 2;

/** The functions compared; both versions export them under these names. */
interface X509Code {
  parseCertificate(pemOrDer: string | Buffer): unknown;
  parseCsr(pemOrDer: string | Buffer): unknown;
  issueCertificate(request: now.IssueRequest): Promise<string>;
}

/**
 * The code of BEFORE_COMMIT's src/crypto (tests left out), extracted once into BEFORE_DIR; the
 * reason as text when git or the commit is not available.
 */
async function loadBefore(): Promise<X509Code | string> {
  const entry = path.join(BEFORE_DIR, 'src', 'crypto', 'certificates.ts');
  if (!existsSync(entry)) {
    let archive: Buffer;
    try {
      archive = execFileSync('git', ['-C', ROOT, 'archive', '--format=tar', BEFORE_COMMIT, 'src/crypto'], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    } catch (error) {
      return `commit ${BEFORE_COMMIT} not available (${String((error as Error).message).split('\n')[0]})`;
    }
    rmSync(BEFORE_DIR, { recursive: true, force: true });
    mkdirSync(BEFORE_DIR, { recursive: true });
    execFileSync('tar', ['-x', '-C', BEFORE_DIR], { input: archive });
    const crypto = path.join(BEFORE_DIR, 'src', 'crypto');
    for (const name of readdirSync(crypto)) if (name.endsWith('.test.ts')) rmSync(path.join(crypto, name));
    writeFileSync(path.join(ROOT, '.bench-before', 'README'), `Extracted by bench/x509.ts from commit ${BEFORE_COMMIT}; safe to delete.\n`);
  }
  return (await import(pathToFileURL(entry).href)) as X509Code;
}

/**
 * Operations per CPU second of this process (all its threads: signing runs on the thread pool),
 * over about `milliseconds` of wall time: on a machine shared with other work, CPU time varies far
 * less from round to round than wall time does.
 */
async function rate(work: () => unknown, milliseconds = ROUND_MS): Promise<number> {
  let count = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  while (performance.now() - started < milliseconds) {
    await work();
    count++;
  }
  const { user, system } = process.cpuUsage(cpu);
  return (count * 1e6) / (user + system);
}

/** Inputs shared by both versions. */
interface Inputs {
  certificatePem: string;
  csrPem: string;
  /**
   * Another certificate of the same CA each time, as imports and issuance meet them: the openssl
   * certificate with its own key identifier (SKI and AKI), DNS name and signature changed, its
   * CA's profile (key usages, CRL and AIA links) the same. No cache of earlier reads can answer.
   */
  freshCertificate(): Buffer;
  key: KeyObject;
  caPem: string;
}

/** An issue request: self-signed with no optional extensions, or signed by the bench CA as certificate.create signs a leaf. */
function issueRequest(inputs: Inputs, serial: bigint, signedByCa: boolean): now.IssueRequest {
  const extensions: CertExtensions = defaultExtensions();
  if (signedByCa) {
    extensions.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: false, extension_critical: false };
    extensions.ExtendedKeyUsage = { enabled: true, usages: ['SERVER_AUTH', 'CLIENT_AUTH'], extension_critical: false };
    extensions.KeyUsage = { ...extensions.KeyUsage, enabled: true, digital_signature: true, key_encipherment: true, extension_critical: true };
  }
  return {
    subject: { common: 'bench.example', organization: 'Bench', country: 'US' },
    san: [
      { type: 'DNS', value: 'bench.example' },
      { type: 'DNS', value: 'www.bench.example' },
    ],
    publicKey: inputs.key,
    signer: { privateKey: inputs.key, certificatePem: signedByCa ? inputs.caPem : null },
    serial,
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2027-01-01T00:00:00Z'),
    digest: 'SHA256',
    extensions,
  };
}

const decodeOnly = (der: Buffer): CertificateParts => parseExact(der, CertificateParts);

/** The figures, each a piece of work both versions do. */
function figures(inputs: Inputs): Array<{ figure: string; work: (code: X509Code) => () => unknown }> {
  let serial = 1n;
  return [
    { figure: 'parseCertificate, first read (openssl EC certificate)', work: (code) => () => code.parseCertificate(inputs.freshCertificate()) },
    { figure: 'parseCertificate, read again (openssl EC certificate)', work: (code) => () => code.parseCertificate(inputs.certificatePem) },
    // What any read through the schema library costs before a single field is worked out: the floor of the row above.
    { figure: 'first read: schema decode only (now), whole read (before)', work: (code) => () => (code === now ? decodeOnly(inputs.freshCertificate()) : code.parseCertificate(inputs.freshCertificate())) },
    { figure: 'parseCsr (openssl CSR)', work: (code) => () => code.parseCsr(inputs.csrPem) },
    { figure: 'issueCertificate (EC P-256, self-signed)', work: (code) => () => code.issueCertificate(issueRequest(inputs, serial++, false)) },
    { figure: 'issueCertificate (EC P-256, CA-signed, AKI/EKU/KU)', work: (code) => () => code.issueCertificate(issueRequest(inputs, serial++, true)) },
    // certificate.create reads the details of what it issued.
    { figure: 'issueCertificate + parseCertificate of it (CA-signed)', work: (code) => async () => code.parseCertificate(await code.issueCertificate(issueRequest(inputs, serial++, true))) },
  ];
}

async function prepareInputs(): Promise<Inputs> {
  const certificatePem = readFileSync(path.join(FIXTURES, 'ec-cert.pem'), 'utf8');
  const certificateDer = splitPem(certificatePem)[0]!.der;
  const keyId = Buffer.from(now.parseCertificate(certificatePem).subject_key_identifier!.replaceAll(':', ''), 'hex');
  const keyIdAt = [certificateDer.indexOf(keyId), certificateDer.lastIndexOf(keyId)];
  // The SAN's dNSName ([2] IMPLICIT IA5String) of the fixture, whose first 8 characters are replaced.
  const dnsNameAt = certificateDer.indexOf(Buffer.concat([Buffer.from([0x82, 12]), Buffer.from('fuzz.example')])) + 2;
  if (keyIdAt.includes(-1) || keyIdAt[0] === keyIdAt[1] || dnsNameAt === 1) throw new Error('The bench certificate is not the expected fixture');
  let variant = 0;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const caPem = await now.issueCertificate({
    subject: { common: 'Bench CA', organization: 'Bench', country: 'US' },
    san: [],
    publicKey: key,
    signer: { privateKey: key, certificatePem: null },
    serial: 1000n,
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2036-01-01T00:00:00Z'),
    digest: 'SHA256',
    extensions: caDefaultExtensions(),
  });
  return {
    certificatePem,
    csrPem: readFileSync(path.join(FIXTURES, 'csr.pem'), 'utf8'),
    freshCertificate: () => {
      const der = Buffer.from(certificateDer);
      variant++;
      der.writeUInt32BE(variant, der.length - 4);
      for (const offset of keyIdAt) der.writeUInt32BE(variant, offset + keyId.length - 4);
      der.write(variant.toString(16).padStart(8, '0'), dnsNameAt, 'latin1');
      return der;
    },
    key,
    caPem,
  };
}

export async function benchX509(): Promise<Row[]> {
  const before = await loadBefore();
  const inputs = await prepareInputs();
  const anchor = `before (${BEFORE_COMMIT}, hand-written DER)`;
  const rows: Row[] = [];
  for (const { figure, work } of figures(inputs)) {
    if (typeof before === 'string') {
      rows.push({ figure, anchor: before, certmid: `${Math.round(await rate(work(now)))}/s`, ratio: null, goal: '<= 1.0× time' });
      continue;
    }
    const [beforeWork, nowWork] = [work(before), work(now)];
    const times = await interleaved(ROUNDS, WARM_UP_ROUNDS, () => rate(beforeWork), () => rate(nowWork));
    // Each round's two sides ran back to back under the same load: the ratio is the median of the rounds' ratios.
    const ratios = times.anchor.map((beforeRate, round) => beforeRate / times.certmid[round]!);
    const show = (values: number[]) => values.map((value) => value.toFixed(0)).join(' ');
    console.log(`   ${figure}: before ${show(times.anchor)} /CPU s; now ${show(times.certmid)} /CPU s; time ratios ${ratios.map((ratio) => ratio.toFixed(2)).join(' ')}`);
    rows.push({ figure, anchor: `${Math.round(median(times.anchor))}/s ${anchor}`, certmid: `${Math.round(median(times.certmid))}/s`, ratio: median(ratios), goal: '<= 1.0× time' });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const { figure, anchor, certmid, ratio } of await benchX509()) console.log(`${figure}: ${certmid}; against ${anchor}: ${ratio?.toFixed(2) ?? '–'}× the time`);
}
