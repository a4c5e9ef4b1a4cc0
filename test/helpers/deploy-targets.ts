import fs from 'node:fs';
import path from 'node:path';
import type { CertmidClient } from '../../src/client/client.js';
import { CertificateEntity } from '../../src/certs/entities.js';
import type { TestServer } from './server.js';

export const WAIT_MS = 30_000;

export type Target = Record<string, unknown> & {
  id: number;
  name: string;
  state: string;
  last_serial: string | null;
  last_error: string | null;
  attempts: number;
  attributes: Record<string, unknown>;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
};

/** Polls a target until `accept` holds, returning it then. */
export async function targetWhen(client: CertmidClient, id: number, accept: (target: Target) => boolean, what: string): Promise<Target> {
  let last: Target | undefined;
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    last = await client.call<Target>('certificate.deploy_target.get_instance', id);
    if (accept(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS} ms; last seen ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A new version of certificate `id` in place, as an ACME renewal stores one (same row, new serial),
 * taken from certificate `from`, and the change event a renewal sends.
 */
export async function replaceInPlace(server: TestServer, id: number, from: number): Promise<void> {
  const repository = server.daemon.app.db.getRepository(CertificateEntity);
  const source = await repository.findOneByOrFail({ id: from });
  await repository.update({ id }, { certificate: source.certificate, privatekey: source.privatekey, CSR: source.CSR, details: source.details, serial: source.serial, not_after: source.not_after });
  await server.daemon.app.events.publish({ collection: 'certificate.query', msg: 'changed', id });
}

/** A shell script in `dir` (mode 0755). */
export function script(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

/** The lines of a file, none when it does not exist. */
export function linesOf(file: string): string[] {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}
