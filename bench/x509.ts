/**
 * Micro-benchmark of the X.509 code: parsing an openssl-made certificate and CSR, and issuing a
 * certificate, each against the same work done by node:crypto alone. `tsx bench/x509.ts` prints
 * the rows; `benchX509()` returns them for the main benchmark.
 */
import { X509Certificate, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { issueCertificate, parseCertificate, parseCsr } from '../src/crypto/certificates.js';
import { defaultExtensions } from '../src/crypto/extensions.js';
import { splitPem } from '../src/crypto/pem.js';

export interface BenchRow {
  figure: string;
  anchor: string;
  /** Operations per second. */
  value: number;
  /** Time per operation over the anchor's time per operation. */
  ratio: number;
}

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fuzz', 'fixtures');

/** Operations per second of `work` over about `milliseconds` (after a short warm-up). */
async function rate(work: () => unknown, milliseconds = 1500): Promise<number> {
  for (let i = 0; i < 20; i++) await work();
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < milliseconds) {
    await work();
    count++;
  }
  return (count * 1000) / (performance.now() - started);
}

function row(figure: string, anchor: string, value: number, anchorValue: number): BenchRow {
  return { figure, anchor, value: Math.round(value), ratio: Number((anchorValue / value).toFixed(2)) };
}

export async function benchX509(): Promise<BenchRow[]> {
  const certificatePem = readFileSync(path.join(FIXTURES, 'ec-cert.pem'), 'utf8');
  const csrPem = readFileSync(path.join(FIXTURES, 'csr.pem'), 'utf8');
  const certificateDer = splitPem(certificatePem)[0]!.der;
  const anchorParse = await rate(() => new X509Certificate(certificateDer).subject);
  // A different encoding each time (the signature's last bytes changed), so no cache of earlier reads can answer.
  let variant = 0;
  const fresh = (): Buffer => {
    const der = Buffer.from(certificateDer);
    der.writeUInt32BE(variant++, der.length - 4);
    return der;
  };
  const rows = [
    row('parseCertificate, first read (openssl EC certificate)', 'new X509Certificate(der)', await rate(() => parseCertificate(fresh())), anchorParse),
    row('parseCertificate, read again (openssl EC certificate)', 'new X509Certificate(der)', await rate(() => parseCertificate(certificatePem)), anchorParse),
    row('parseCsr (openssl CSR)', 'new X509Certificate(der)', await rate(() => parseCsr(csrPem)), anchorParse),
  ];
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const tbsSized = Buffer.alloc(400, 1);
  let serial = 1n;
  const issue = (): Promise<string> =>
    issueCertificate({
      subject: { common: 'bench.example', organization: 'Bench', country: 'US' },
      san: [{ type: 'DNS', value: 'bench.example' }],
      publicKey: key,
      signer: { privateKey: key, certificatePem: null },
      serial: serial++,
      notBefore: new Date('2026-01-01T00:00:00Z'),
      notAfter: new Date('2027-01-01T00:00:00Z'),
      digest: 'SHA256',
      extensions: defaultExtensions(),
    });
  const anchorSign = await rate(() => sign('sha256', tbsSized, key));
  rows.push(row('issueCertificate (EC P-256, self-signed)', 'sign(sha256, 400 bytes, P-256)', await rate(issue), anchorSign));
  // certificate.create reads the details of what it issued.
  rows.push(row('issueCertificate + parseCertificate of it', 'sign(sha256, 400 bytes, P-256)', await rate(async () => parseCertificate(await issue())), anchorSign));
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  for (const { figure, anchor, value, ratio } of await benchX509()) console.log(`${figure}: ${value}/s; against ${anchor}: ${ratio}x the time`);
}
