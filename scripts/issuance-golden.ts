/**
 * Writes the issuance golden set (test/fixtures/issuance-golden): for every case of
 * test/helpers/issuance-golden.ts its PEM, DER as hex, openssl's text reading and the parsed fields.
 * Run once with the encoder whose output is to be kept: `TZ=UTC tsx scripts/issuance-golden.ts`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { GOLDEN_CASES, OPENSSL_MADE, goldenFile, parsedJson, type GoldenKind } from '../test/helpers/issuance-golden.js';
import { splitPem } from '../src/crypto/pem.js';

const OPENSSL_TEXT: Record<GoldenKind, string[]> = {
  certificate: ['x509', '-text', '-noout'],
  csr: ['req', '-text', '-noout'],
  crl: ['crl', '-text', '-noout'],
};

if (process.env.TZ !== 'UTC') throw new Error('Run with TZ=UTC: the parsed fields hold local times');
const pemOf = (name: string): string => readFileSync(goldenFile(name, 'pem'), 'utf8');
for (const golden of GOLDEN_CASES) {
  const pem = await golden.make(pemOf);
  const der = splitPem(pem)[0]!.der;
  writeFileSync(goldenFile(golden.name, 'pem'), pem);
  writeFileSync(goldenFile(golden.name, 'der.hex'), `${der.toString('hex')}\n`);
  writeFileSync(goldenFile(golden.name, 'txt'), execFileSync('openssl', OPENSSL_TEXT[golden.kind], { input: pem }));
  if (golden.kind !== 'crl') writeFileSync(goldenFile(golden.name, 'parsed.json'), `${JSON.stringify(parsedJson(golden.kind, pem), null, 2)}\n`);
  console.log(golden.name);
}
for (const made of OPENSSL_MADE) {
  writeFileSync(goldenFile(made.name, 'parsed.json'), `${JSON.stringify(parsedJson(made.kind, pemOf(made.name)), null, 2)}\n`);
}
