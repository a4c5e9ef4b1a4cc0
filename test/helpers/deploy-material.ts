/**
 * DeployMaterial and DeployContext for tests of deploy kinds, built from a certificate entry of a
 * real daemon; openssl reads the serial as `last_serial` records it.
 */
import type { App } from '../../src/app.js';
import type { DeployContext, DeployMaterial } from '../../src/deploy/kind.js';
import { opensslOk } from './openssl.js';
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
