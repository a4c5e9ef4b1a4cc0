import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CertmidClient,
  ConnectionError,
  JobConnectionError,
  JobError,
  JobNotFoundError,
  JobTimeoutError,
  LoginError,
  NotAJobError,
  RpcError,
  type CollectionUpdate,
  type Job,
  type JobProgress,
} from '../../src/client/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const clients: CertmidClient[] = [];

beforeAll(async () => {
  server = await startTestServer();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

afterAll(async () => {
  await server?.close();
});

async function connect(): Promise<CertmidClient> {
  const client = await CertmidClient.connect(server.url, { WebSocket });
  clients.push(client);
  return client;
}

async function connectAsAdmin(): Promise<CertmidClient> {
  const client = await connect();
  await client.login(server.admin.username, server.admin.password);
  return client;
}

/** The rejection of a promise that must reject. */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

/** Resolves when `predicate` holds for a collected event. */
function waitFor<T>(events: T[], predicate: (event: T) => boolean, timeout = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      if (events.some(predicate)) resolve();
      else if (Date.now() - started > timeout) reject(new Error('timed out waiting for an event'));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

describe('connect', () => {
  it('opens a connection that close() ends', async () => {
    const client = await connect();
    expect(client.isOpen).toBe(true);
    const closes: number[] = [];
    client.onClose((code) => closes.push(code));
    await client.close();
    expect(client.isOpen).toBe(false);
    expect(closes).toEqual([1000]);
  });

  it('fails with ConnectionError when nothing listens', async () => {
    const error = await rejectionOf(CertmidClient.connect('ws://127.0.0.1:1/api/current', { WebSocket }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toMatch(/^Cannot connect to ws:\/\/127\.0\.0\.1:1\/api\/current/);
  });

  it('rejects calls after close with ConnectionError', async () => {
    const client = await connectAsAdmin();
    await client.close();
    expect(await rejectionOf(client.call('core.ping'))).toBeInstanceOf(ConnectionError);
  });
});

describe('login', () => {
  it('logs in with a password', async () => {
    const client = await connectAsAdmin();
    expect(await client.call('core.ping')).toBe('pong');
  });

  it('rejects a wrong password with LoginError AUTH_ERR and stays logged out', async () => {
    const client = await connect();
    const error = await rejectionOf(client.login(server.admin.username, 'not the password'));
    expect(error).toBeInstanceOf(LoginError);
    expect(error).toMatchObject({ responseType: 'AUTH_ERR', message: 'Invalid username or password' });
    expect(await rejectionOf(client.call('core.ping'))).toMatchObject({ errname: 'ENOTAUTHENTICATED' });
  });

  it('logs in with a token from auth.generate_token', async () => {
    const admin = await connectAsAdmin();
    const token = await admin.call<string>('auth.generate_token');
    const client = await connect();
    await client.loginWithToken(token);
    expect(await client.call('core.ping')).toBe('pong');
  });

  it('logs in with an API key from api_key.create', async () => {
    const admin = await connectAsAdmin();
    const { key } = await admin.call<{ key: string }>('api_key.create', { name: `client-test-${Date.now()}` });
    const client = await connect();
    await client.loginWithApiKey(key);
    expect(await client.call('core.ping')).toBe('pong');
  });

  it('rejects an unknown API key with LoginError', async () => {
    const client = await connect();
    const error = await rejectionOf(client.loginWithApiKey('999999-not-a-key'));
    expect(error).toBeInstanceOf(LoginError);
    expect(error).toMatchObject({ responseType: 'AUTH_ERR', message: 'Invalid API key' });
  });
});

describe('call', () => {
  it('returns the result', async () => {
    const client = await connectAsAdmin();
    expect(await client.call('test.echo', { a: [1, 'two', null] })).toEqual({ a: [1, 'two', null] });
  });

  it('carries dates and sets as ejson both ways', async () => {
    const client = await connectAsAdmin();
    const value = { when: new Date(Date.UTC(2024, 6, 3, 16, 22, 6)), tags: new Set(['a', 'b']) };
    expect(await client.call('test.echo', value)).toStrictEqual(value);
  });

  it('rejects an unknown method with -32601 and no data', async () => {
    const client = await connectAsAdmin();
    const error = await rejectionOf(client.call('no_such.method'));
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({
      code: -32601,
      rpcMessage: 'Method does not exist',
      message: 'Method does not exist',
      data: undefined,
    });
  });

  it('rejects a call before login with -32001 ENOTAUTHENTICATED', async () => {
    const client = await connect();
    const error = await rejectionOf(client.call('core.ping'));
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({
      code: -32001,
      rpcMessage: 'Method call error',
      message: '[ENOTAUTHENTICATED] Not authenticated',
      errname: 'ENOTAUTHENTICATED',
      data: { error: 207, errname: 'ENOTAUTHENTICATED', reason: '[ENOTAUTHENTICATED] Not authenticated' },
    });
  });

  it('rejects invalid params with -32602 and [attribute, message, errno] triples', async () => {
    const client = await connectAsAdmin();
    const error = await rejectionOf(client.call('api_key.create', { name: '' }));
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({
      code: -32602,
      rpcMessage: 'Invalid params',
      errname: 'EINVAL',
      data: { error: 22, extra: [['api_key_create.name', expect.any(String), 22]] },
    });
    // The reason ends with a newline on the wire; the message does not.
    expect((error as RpcError).data?.reason).toMatch(/\n$/);
    expect((error as RpcError).message).toMatch(/^\[EINVAL\] api_key_create\.name: \S.*[^\n]$/);
  });

  it('rejects a CallError with -32001 and its errname', async () => {
    const client = await connectAsAdmin();
    const error = await rejectionOf(client.call('core.job_abort', 99_999_999));
    expect(error).toMatchObject({
      code: -32001,
      errname: 'ENOENT',
      data: { error: 2, errname: 'ENOENT', reason: '[ENOENT] Job does not exist' },
    });
  });
});

describe('subscribe', () => {
  it('delivers the events of a collection until unsubscribed', async () => {
    const watcher = await connectAsAdmin();
    const worker = await connectAsAdmin();
    const events: CollectionUpdate<Job>[] = [];
    const unsubscribe = await watcher.subscribe<Job>('core.get_jobs', (event) => events.push(event));

    await worker.callJob('test.job_with_progress', [1, 0]);
    await waitFor(events, (event) => event.fields?.state === 'SUCCESS');
    expect(events[0]).toMatchObject({
      msg: 'added',
      collection: 'core.get_jobs',
      fields: { state: 'WAITING', method: 'test.job_with_progress' },
    });
    expect(events.every((event) => event.id === events[0]?.id)).toBe(true);

    await unsubscribe();
    const seen = events.length;
    await worker.callJob('test.job_with_progress', [1, 0]);
    await watcher.call('core.ping'); // anything sent to the watcher before this reply has arrived
    expect(events).toHaveLength(seen);
  });

  it('keeps other subscribers of the same event when one unsubscribes', async () => {
    const watcher = await connectAsAdmin();
    const worker = await connectAsAdmin();
    const first: CollectionUpdate[] = [];
    const second: CollectionUpdate[] = [];
    const unsubscribeFirst = await watcher.subscribe('core.get_jobs', (event) => first.push(event));
    await watcher.subscribe('core.get_jobs', (event) => second.push(event));
    await unsubscribeFirst();

    await worker.callJob('test.job_with_progress', [1, 0]);
    await waitFor(second, (event) => event.fields?.state === 'SUCCESS');
    expect(first).toEqual([]);
  });

  it('keeps a subscription made while the previous one to the same event is being removed', async () => {
    const watcher = await connectAsAdmin();
    const worker = await connectAsAdmin();
    const ends: unknown[] = [];
    const unsubscribeOld = await watcher.subscribe('core.get_jobs', () => undefined);
    const removing = unsubscribeOld();
    const events: CollectionUpdate[] = [];
    await watcher.subscribe('core.get_jobs', (event) => events.push(event), (error) => ends.push(error));
    await removing;

    await worker.callJob('test.job_with_progress', [1, 0]);
    await waitFor(events, (event) => event.fields?.state === 'SUCCESS');
    expect(ends).toEqual([]);
  });

  it('ends subscriptions with ConnectionError when the connection closes', async () => {
    const client = await connectAsAdmin();
    const ends: unknown[] = [];
    await client.subscribe('core.get_jobs', () => undefined, (error) => ends.push(error));
    await client.close();
    expect(ends).toHaveLength(1);
    expect(ends[0]).toBeInstanceOf(ConnectionError);
  });

  it('rejects a subscription before login', async () => {
    const client = await connect();
    const error = await rejectionOf(client.subscribe('core.get_jobs', () => undefined));
    expect(error).toMatchObject({ code: -32001, errname: 'ENOTAUTHENTICATED' });
  });
});

describe('callJob', () => {
  it('resolves with the result and reports progress in order', async () => {
    const client = await connectAsAdmin();
    const progress: JobProgress[] = [];
    const onProgress = (p: JobProgress) => progress.push(p);
    const result = await client.callJob('test.job_with_progress', [3], { onProgress });

    expect(result).toEqual({ steps: 3 });
    expect(progress.map((p) => [p.percent, p.description])).toEqual([
      [0, ''],
      [25, 'Step 1 of 3'],
      [50, 'Step 2 of 3'],
      [75, 'Step 3 of 3'],
      [100, 'Step 3 of 3'],
    ]);
  });

  it('passes the job to onProgress', async () => {
    const client = await connectAsAdmin();
    const jobs: Job[] = [];
    await client.callJob('test.job_with_progress', [1, 0], { onProgress: (_p, job) => jobs.push(job) });
    expect(jobs.at(-1)).toMatchObject({ method: 'test.job_with_progress', state: 'SUCCESS', result: { steps: 1 } });
    expect(jobs.at(-1)?.time_started).toBeInstanceOf(Date);
  });

  it('follows many quick jobs at once', async () => {
    const client = await connectAsAdmin();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => client.callJob('test.job_with_progress', [1 + (i % 3), 0])),
    );
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => ({ steps: 1 + (i % 3) })));
  });

  it('rejects with JobError carrying error and exc_info when the job fails', async () => {
    const client = await connectAsAdmin();
    const error = await rejectionOf(client.callJob('test.job_fails', ['Something broke']));
    expect(error).toBeInstanceOf(JobError);
    const jobError = error as JobError;
    expect(jobError.state).toBe('FAILED');
    expect(jobError.error).toBe('[EINVAL] Something broke');
    expect(jobError.message).toBe('[EINVAL] Something broke');
    expect(jobError.excInfo).toMatchObject({ type: 'CallError', errno: 22 });
    expect(jobError.job.time_finished).toBeInstanceOf(Date);
  });

  it('rejects with JobError ABORTED when the job is aborted', async () => {
    const client = await connectAsAdmin();
    let aborting: Promise<unknown> | undefined;
    const error = await rejectionOf(
      client.callJob('test.job_slow', [60_000], {
        onProgress: (progress, job) => {
          if (progress.percent === 10) aborting ??= client.call('core.job_abort', job.id);
        },
      }),
    );
    await aborting;
    expect(error).toBeInstanceOf(JobError);
    expect((error as JobError).state).toBe('ABORTED');
  });

  it('rejects with JobError of type VALIDATION for invalid job params', async () => {
    // As on TrueNAS, a job method validates inside the job, so bad params arrive as a FAILED job.
    const client = await connectAsAdmin();
    const error = await rejectionOf(client.callJob('test.job_validates', [{ count: 0 }]));
    expect(error).toBeInstanceOf(JobError);
    const jobError = error as JobError;
    expect(jobError.state).toBe('FAILED');
    expect(jobError.excInfo).toMatchObject({
      type: 'VALIDATION',
      extra: [['test_job.count', expect.any(String), 22]],
    });
    expect(jobError.message).toMatch(/^\[EINVAL\] test_job\.count: \S.*[^\n]$/);
  });

  it('rejects a method that does not answer with a job id, or answers the id of a job it did not start', async () => {
    const client = await connectAsAdmin();
    const error = await rejectionOf(client.callJob('test.echo', ['not a job']));
    expect(error).toBeInstanceOf(NotAJobError);
    expect((error as Error).message).toBe('test.echo is not a job method');
    const otherJob = await client.call<number>('test.job_validates', { count: 1 });
    expect(await rejectionOf(client.callJob('test.echo', [otherJob]))).toBeInstanceOf(NotAJobError);
  });

  it('stops waiting for a job after jobTimeout with JobTimeoutError', async () => {
    const client = await connectAsAdmin();
    const error = await rejectionOf(client.callJob('test.job_slow', [600_000], { jobTimeout: 300 }));
    expect(error).toBeInstanceOf(JobTimeoutError);
    expect((error as Error).message).toMatch(/^Stopped waiting for job (\d+) \(test\.job_slow\) after 0\.3 s$/);
    await client.call('core.job_abort', (error as JobTimeoutError).jobId);
  });
});

describe('followJob', () => {
  it('follows a job that exists to its result, or to its failure', async () => {
    const client = await connectAsAdmin();
    const running = await client.call<number>('test.job_slow', 300);
    expect(await client.followJob(running)).toEqual({ started: expect.any(Number), finished: expect.any(Number) });
    // Ended already: its record says how.
    const failed = await client.call<number>('test.job_fails', 'failed before anyone followed');
    const error = await rejectionOf(client.followJob(failed));
    expect(error).toBeInstanceOf(JobError);
    expect((error as JobError).job).toMatchObject({ id: failed, state: 'FAILED', error: '[EINVAL] failed before anyone followed' });
    expect(await rejectionOf(client.followJob(987_654))).toBeInstanceOf(JobNotFoundError);
  });

  it('learns, after the connection dropped mid-job, how the job ended once the daemon is back', async () => {
    const own = await startTestServer();
    try {
      const client = await CertmidClient.connect(own.url, { WebSocket });
      await client.login(own.admin.username, own.admin.password);
      const progress: number[] = [];
      const following = rejectionOf(client.callJob('test.job_slow', [60_000], { onProgress: (p) => progress.push(p.percent) }));
      await waitFor(progress, (percent) => percent === 10);
      await own.daemon.stop(200);
      const dropped = await following;
      expect(dropped).toBeInstanceOf(JobConnectionError);
      expect(dropped).toBeInstanceOf(ConnectionError);
      const { jobId } = dropped as JobConnectionError;
      expect((dropped as Error).message).toMatch(new RegExp(`while following job ${jobId} \\(test\\.job_slow\\); follow it again by its id$`));

      const back = await startTestServer({ dataDir: own.dataDir, env: { ADMIN_PASSWORD: own.admin.password } });
      try {
        const again = await CertmidClient.connect(back.url, { WebSocket });
        await again.login(back.admin.username, back.admin.password);
        const outcome = await rejectionOf(again.followJob(jobId));
        expect(outcome).toBeInstanceOf(JobError);
        expect((outcome as JobError).job).toMatchObject({ id: jobId, state: 'ABORTED' });
        await again.close();
      } finally {
        await back.close();
      }
    } finally {
      await own.close();
    }
  });
});
