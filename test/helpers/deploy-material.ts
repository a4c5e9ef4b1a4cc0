/**
 * DeployMaterial and DeployContext for tests of deploy kinds, built from a certificate entry of a
 * real daemon; openssl reads the serial as `last_serial` records it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { App } from '../../src/app.js';
import type { DeployContext, DeployMaterial } from '../../src/deploy/kind.js';
import { opensslOk, withFiles } from './openssl.js';
import type { Entry } from './pki-client.js';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The material of a certificate entry (leaf, chain from `chain_list`, key), named `name` (the entry's by default). */
export async function materialOf(entry: Entry, name = entry.name): Promise<DeployMaterial> {
  const chainList = (entry.chain_list as string[] | undefined) ?? [entry.certificate!];
  const blocks = chainList.flatMap((pem) => pem.match(PEM_BLOCK) ?? []);
  const [leaf, ...chain] = blocks;
  const serial = (await opensslOk(['x509', '-noout', '-serial'], leaf!)).stdout.trim().replace(/^serial=/, '');
  return {
    certificateId: entry.id,
    name,
    certificatePem: `${leaf}\n`,
    chainPem: chain.map((pem) => `${pem}\n`).join(''),
    fullchainPem: blocks.map((pem) => `${pem}\n`).join(''),
    privateKeyPem: entry.privatekey,
    serial,
    fingerprint: entry.fingerprint_sha256 as string,
    notAfter: new Date(entry.not_after as string),
  };
}

/** A deploy's context, with the progress it reports collected in `reports`. */
export function deployContext(
  app: App,
  attributes: Record<string, unknown>,
  material: DeployMaterial,
  signal: AbortSignal = new AbortController().signal,
): DeployContext & { reports: Array<[number, string]> } {
  const reports: Array<[number, string]> = [];
  return { app, attributes, material, signal, reports, progress: (percent, description) => void reports.push([percent, description]) };
}

/**
 * The material of a self-signed certificate made by openssl alone (an EC key, openssl's random
 * 20-byte serial), for targets that should not depend on how this system issues.
 */
export async function opensslMaterial(name: string, commonName = 'localhost'): Promise<DeployMaterial> {
  return withFiles({}, async (_, dir) => {
    const keyFile = path.join(dir, 'key.pem');
    const certificateFile = path.join(dir, 'cert.pem');
    await opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certificateFile, '-days', '30', '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=DNS:${commonName},IP:127.0.0.1`]);
    const certificatePem = await readFile(certificateFile, 'utf8');
    const field = async (flag: string) => (await opensslOk(['x509', '-noout', flag, '-in', certificateFile])).stdout.trim().split('=').slice(1).join('=');
    return {
      certificateId: 0,
      name,
      certificatePem,
      chainPem: '',
      fullchainPem: certificatePem,
      privateKeyPem: await readFile(keyFile, 'utf8'),
      serial: await field('-serial'),
      fingerprint: (await opensslOk(['x509', '-noout', '-fingerprint', '-sha256', '-in', certificateFile])).stdout.trim().split('=')[1]!,
      notAfter: new Date(await field('-enddate')),
    };
  });
}
