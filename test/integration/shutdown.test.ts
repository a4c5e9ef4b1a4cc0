import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CertmidClient } from '../../src/client/client.js';
import { startTestServer } from '../helpers/server.js';

describe('graceful stop', () => {
  it('aborts running jobs after the grace period and does not wait for one that ignores the abort', async () => {
    const server = await startTestServer();
    const client = await CertmidClient.connect(server.url, { WebSocket });
    await client.login(server.admin.username, server.admin.password);
    const polite = await client.call<number>('test.job_slow', 60_000);
    const stubborn = await client.call<number>('test.job_ignores_abort', 60_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await server.daemon.stop(300);
    // Grace (300 ms), abort, one more grace for the handler that ignores it, then the database closes.
    expect(performance.now() - started).toBeLessThan(3000);
    // The records say so after the restart.
    const restarted = await startTestServer({ dataDir: server.dataDir, env: { ADMIN_PASSWORD: server.admin.password } });
    try {
      expect((await restarted.daemon.app.jobs.get(polite))?.state).toBe('ABORTED');
      expect((await restarted.daemon.app.jobs.get(stubborn))?.state).toBe('ABORTED');
    } finally {
      await restarted.close();
      await server.close();
    }
  });
});
