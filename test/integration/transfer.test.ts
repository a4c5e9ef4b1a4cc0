import http from 'node:http';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, JobError } from '../../src/client/client.js';
import { MAX_UPLOAD_BYTES } from '../../src/transfer/routes.js';
import { httpBase, postUpload, saveBackup, uploadBackup } from '../helpers/backup-client.js';
import { rpcErrorOf, validationErrorsOf } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const PASSPHRASE = 'correct horse battery staple';
const USER_PASSWORD = 'reader-password-1';

let server: TestServer;
let admin: CertmidClient;
let reader: CertmidClient;
const clients: CertmidClient[] = [];

async function connect(): Promise<CertmidClient> {
  const client = await CertmidClient.connect(server.url, { WebSocket });
  clients.push(client);
  return client;
}

beforeAll(async () => {
  server = await startTestServer();
  admin = await connect();
  await admin.login(server.admin.username, server.admin.password);
  await admin.call('user.create', { username: 'reader', password: USER_PASSWORD, roles: ['CERTIFICATE_READ'] });
  reader = await connect();
  await reader.login('reader', USER_PASSWORD);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await server?.close();
});

/** core.download of config.save; the job id and the download URL, once the job has ended. */
async function downloadLink(client: CertmidClient, options: Record<string, unknown>): Promise<{ jobId: number; url: string; outcome: Promise<unknown> }> {
  const [jobId, url] = await client.call<[number, string]>('core.download', 'config.save', [options], 'backup.cmb');
  const outcome = client.callJob('core.job_wait', [jobId]);
  await outcome.catch(() => undefined);
  return { jobId, url: httpBase(server) + url, outcome };
}


describe('config.save', () => {
  it('refuses a backup without the master key while the key lives only in the data directory', async () => {
    const { outcome } = await downloadLink(admin, { secretseed: false });
    expect(await validationErrorsOf(outcome)).toEqual([
      [
        'options.secretseed',
        'The master key is kept only in the data directory, so a backup without it could not be restored once that is lost: set secretseed (with a passphrase), or run the daemon with MASTER_KEY and keep that key safe',
        22,
      ],
    ]);
  });

  it('needs a passphrase of at least 8 characters with secretseed', async () => {
    expect(await validationErrorsOf((await downloadLink(admin, { secretseed: true })).outcome)).toEqual([
      ['options.passphrase', 'A passphrase is required with secretseed: the backup then holds the master key, and with it every private key', 22],
    ]);
    expect(await validationErrorsOf((await downloadLink(admin, { secretseed: true, passphrase: 'short' })).outcome)).toEqual([
      ['options.passphrase', 'String should have at least 8 characters', 22],
    ]);
  });

  it('shows the passphrase as ******** among the job arguments', async () => {
    const { jobId } = await downloadLink(admin, { secretseed: true, passphrase: PASSPHRASE });
    const [job] = await admin.call<Array<{ arguments: unknown[] }>>('core.get_jobs', [['id', '=', jobId]]);
    expect(job!.arguments).toEqual([{ secretseed: true, passphrase: '********' }]);
  });

  it('is for full administrators only', async () => {
    expect((await rpcErrorOf(reader.call('core.download', 'config.save', [{}], 'backup.cmb'))).errname).toBe('EACCES');
  });
});

describe('core.download and /_download', () => {
  it('serves the file once, to the token made for that job', async () => {
    const first = await downloadLink(admin, { secretseed: true, passphrase: PASSPHRASE });
    const second = await downloadLink(admin, { secretseed: true, passphrase: PASSPHRASE });
    // A token names its job: it opens no other job's file.
    const crossed = new URL(first.url);
    crossed.pathname = `/_download/${second.jobId}`;
    expect((await fetch(crossed)).status).toBe(401);
    const response = await fetch(first.url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="backup.cmb"');
    expect(Buffer.from(await response.arrayBuffer()).subarray(0, 24).toString()).toBe('CERTMID-BACKUP-ENCRYPTED');
    expect((await fetch(first.url)).status).toBe(401);
    expect((await fetch(httpBase(server) + new URL(first.url).pathname)).status).toBe(401);
  });

  it('does not let a download token log in', async () => {
    const { url } = await downloadLink(admin, { secretseed: true, passphrase: PASSPHRASE });
    const token = new URL(url).searchParams.get('auth_token')!;
    const client = await connect();
    expect(await client.call<{ response_type: string }>('auth.login_ex', { mechanism: 'TOKEN_PLAIN', token })).toMatchObject({ response_type: 'AUTH_ERR' });
    // The failed login did not spend it.
    expect((await fetch(url)).status).toBe(200);
  });

  it("answers a failed job's download with its error", async () => {
    const { url } = await downloadLink(admin, { secretseed: true });
    const response = await fetch(url);
    expect(response.status).toBe(409);
    expect(await response.text()).toMatch(/^Job \d+ ended FAILED: \[EINVAL\] options\.passphrase: A passphrase is required/);
  });

  it('refuses methods that produce no file, and unknown ones', async () => {
    expect((await rpcErrorOf(admin.call('core.download', 'config.upload', [{}], 'x'))).message).toBe('[EINVAL] config.upload does not produce a file to download');
    expect((await rpcErrorOf(admin.call('core.download', 'no.such_method', [], 'x'))).message).toBe('[ENOMETHOD] Method no.such_method does not exist');
  });
});

describe('/_upload', () => {
  let backup: Buffer;

  beforeAll(async () => {
    backup = await saveBackup(admin, server, { secretseed: true, passphrase: PASSPHRASE });
  });

  const token = (client: CertmidClient) => client.call<string>('auth.generate_token', 300, {}, false, true);

  it('takes an API key as well as a token', async () => {
    const { key } = await admin.call<{ key: string }>('api_key.create', { name: 'uploader' });
    const response = await postUpload(server, `Bearer ${key}`, 'config.upload', [{ passphrase: PASSPHRASE }], backup);
    expect(response.status).toBe(200);
    const { job_id: jobId } = (await response.json()) as { job_id: number };
    expect(await admin.callJob('core.job_wait', [jobId])).toBeNull();
  });

  it('refuses callers without credentials, with bad ones or without the role', async () => {
    const cases: Array<[string | null, number, string]> = [
      [null, 401, 'Authentication is required'],
      [`Basic ${Buffer.from(`admin:${server.admin.password}`).toString('base64')}`, 401, 'Authenticate with a token'],
      ['Token not-a-token', 401, 'Invalid token'],
      ['Bearer 1-not-a-key', 401, 'Invalid API key'],
      [`Token ${await token(reader)}`, 403, '[EACCES] Not authorized'],
    ];
    for (const [authorization, status, text] of cases) {
      const response = await postUpload(server, authorization, 'config.upload', [{ passphrase: PASSPHRASE }], backup);
      expect([authorization?.split(' ')[0], response.status, (await response.text()).startsWith(text)]).toEqual([authorization?.split(' ')[0], status, true]);
    }
  });

  it('refuses methods that take no file, unknown ones and malformed forms', async () => {
    let response = await postUpload(server, `Token ${await token(admin)}`, 'config.save', [], backup);
    expect([response.status, await response.text()]).toEqual([422, 'config.save does not take an uploaded file\n']);
    response = await postUpload(server, `Token ${await token(admin)}`, 'no.such_method', [], backup);
    expect([response.status, await response.text()]).toEqual([422, 'Method no.such_method does not exist\n']);
    const form = new FormData();
    form.append('file', new Blob([backup]), 'backup.cmb');
    response = await fetch(`${httpBase(server)}/_upload`, { method: 'POST', headers: { authorization: `Token ${await token(admin)}` }, body: form });
    expect([response.status, await response.text()]).toEqual([405, '"data" part must be the first on payload\n']);
  });

  it('refuses a body larger than the limit before reading it', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(`${httpBase(server)}/_upload`, {
        method: 'POST',
        headers: { authorization: `Bearer 1-x`, 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(MAX_UPLOAD_BYTES + 1) },
      });
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        request.destroy();
      });
      request.on('error', reject);
      request.write('--x\r\n');
    });
    // Credentials come first: a stranger learns nothing about sizes.
    expect(status).toBe(401);
    const admitted = await new Promise<number>((resolve, reject) => {
      void token(admin).then((value) => {
        const request = http.request(`${httpBase(server)}/_upload`, {
          method: 'POST',
          headers: { authorization: `Token ${value}`, 'content-type': 'multipart/form-data; boundary=x', 'content-length': String(MAX_UPLOAD_BYTES + 1) },
        });
        request.on('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
          request.destroy();
        });
        request.on('error', reject);
        request.write('--x\r\n');
      }, reject);
    });
    expect(admitted).toBe(413);
  });

  it('checks the params inside the job, as TrueNAS does', async () => {
    expect(await validationErrorsOf(uploadBackup(admin, server, backup, { passphrase: 5 }))).toEqual([['options.passphrase', 'Input should be a valid string', 22]]);
  });

  it('config.upload called without a file fails at once', async () => {
    const failure = await admin.callJob('config.upload', [{}]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(JobError);
    expect((failure as JobError).message).toBe('[EINVAL] config.upload restores the file sent with it to /_upload; no file came with this call');
  });
});
