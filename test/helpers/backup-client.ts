import { expect } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import type { TestServer } from './server.js';

/** The server's HTTP base URL. */
export function httpBase(server: TestServer): string {
  return `http://127.0.0.1:${server.port}`;
}

/** `config.save` through `core.download` and `/_download`, as a TrueNAS client does: the file's bytes. */
export async function saveBackup(client: CertmidClient, server: TestServer, options: Record<string, unknown>): Promise<Buffer> {
  let url = '';
  await client.followNewJob('config.save', async () => {
    const [jobId, link] = await client.call<[number, string]>('core.download', 'config.save', [options], 'backup.cmb');
    url = link;
    return jobId;
  });
  const response = await fetch(httpBase(server) + url);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

/** Posts `/_upload` with TrueNAS's form; the raw response. */
export async function postUpload(server: TestServer, authorization: string | null, method: string, params: unknown[], file: Buffer): Promise<Response> {
  const form = new FormData();
  form.append('data', JSON.stringify({ method, params }));
  form.append('file', new Blob([file]), 'backup.cmb');
  return fetch(`${httpBase(server)}/_upload`, { method: 'POST', headers: authorization ? { authorization } : {}, body: form });
}

/** `config.upload` through `/_upload` with a single-use token of `client`'s login; the job's result. */
export async function uploadBackup(client: CertmidClient, server: TestServer, file: Buffer, options: Record<string, unknown> = {}): Promise<unknown> {
  const token = await client.call<string>('auth.generate_token', 300, {}, false, true);
  return client.followNewJob('config.upload', async () => {
    const response = await postUpload(server, `Token ${token}`, 'config.upload', [options], file);
    expect(response.status, await response.clone().text()).toBe(200);
    return ((await response.json()) as { job_id: number }).job_id;
  });
}
