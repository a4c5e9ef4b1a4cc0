import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { expect } from 'vitest';
import { CertmidClient, JobError, RpcError } from '../../src/client/client.js';
import type { TestServer } from './server.js';

/** A logged-in admin client for certificate tests. */
export async function adminClient(server: TestServer): Promise<CertmidClient> {
  const client = await CertmidClient.connect(server.url, { WebSocket });
  await client.login(server.admin.username, server.admin.password);
  return client;
}

/** The subject and key fields TrueNAS's own tests use for internal CAs and certificates. */
export function subjectParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    key_type: 'RSA',
    key_length: 2048,
    digest_algorithm: 'SHA256',
    lifetime: 397,
    country: 'US',
    state: 'TN',
    city: 'Knoxville',
    organization: 'iX',
    organizational_unit: 'dev',
    email: 'dev@ix.com',
    common: 'dev',
    san: ['domain1', '8.8.8.8'],
    ...overrides,
  };
}

export type Entry = Record<string, unknown> & { id: number; name: string; certificate: string | null; privatekey: string | null };

export async function createRootCa(client: CertmidClient, name: string, overrides: Record<string, unknown> = {}): Promise<Entry> {
  return client.call<Entry>('certificateauthority.create', { ...subjectParams({ common: `${name} root` }), name, create_type: 'CA_CREATE_INTERNAL', ...overrides });
}

export async function createIntermediateCa(client: CertmidClient, name: string, signedby: number, overrides: Record<string, unknown> = {}): Promise<Entry> {
  return client.call<Entry>('certificateauthority.create', {
    ...subjectParams({ common: `${name} intermediate` }),
    name,
    create_type: 'CA_CREATE_INTERMEDIATE',
    signedby,
    ...overrides,
  });
}

export async function createInternalCertificate(client: CertmidClient, name: string, signedby: number, overrides: Record<string, unknown> = {}): Promise<Entry> {
  return client.callJob<Entry>('certificate.create', [{ ...subjectParams(), name, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby, ...overrides }]);
}

/** The validation triples of a failed job, or of a failed call. */
export async function validationErrorsOf(promise: Promise<unknown>): Promise<Array<[string | null, string, number]>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof JobError) return (error.excInfo?.extra ?? []) as Array<[string | null, string, number]>;
    const data = (error as { data?: { extra?: unknown } }).data;
    if (Array.isArray(data?.extra)) return data.extra as Array<[string | null, string, number]>;
    throw error;
  }
  throw new Error('expected a validation failure, but the call succeeded');
}

/** The RpcError a call fails with; a call that succeeds, or fails otherwise, fails the test. */
export async function rpcErrorOf(promise: Promise<unknown>): Promise<RpcError> {
  const error = await promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(RpcError);
  return error as RpcError;
}

/** A temporary directory for files handed to openssl; removed by the returned function. */
export function scratchDir(): { dir: string; file(name: string, content: string | Buffer): string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-pki-'));
  return {
    dir,
    file(name, content) {
      const target = path.join(dir, name);
      fs.writeFileSync(target, content);
      return target;
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
