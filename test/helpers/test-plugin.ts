import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin } from '../../src/api/define-plugin.js';
import { SettingEntity } from '../../src/certs/default-certificate.js';
import { transaction } from '../../src/db/transaction.js';
import { CallError } from '../../src/errors/call-error.js';

/** Waits `ms`, ending early with an error when the job is aborted. */
async function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => {
    throw new CallError('Aborted', 'ECANCELED');
  });
}

const echo = defineMethod({
  name: 'test.echo',
  description: 'Returns its argument.',
  params: { value: z.unknown().describe('Anything.') },
  result: z.unknown(),
  roles: ['FULL_ADMIN'],
  handler: (_ctx, { value }) => value ?? null,
});

const jobWithProgress = defineMethod({
  name: 'test.job_with_progress',
  description: 'A job that reports progress once per step.',
  params: {
    steps: z.number().int().min(1).max(100).default(3).describe('How many steps.'),
    delay_ms: z.number().int().min(0).max(10_000).default(10).describe('Pause after each step.'),
  },
  result: z.object({ steps: z.number().describe('Steps done.') }),
  roles: ['FULL_ADMIN'],
  job: {},
  handler: async (ctx, { steps, delay_ms }) => {
    for (let step = 1; step <= steps; step++) {
      ctx.job!.progress(Math.floor((step * 100) / (steps + 1)), `Step ${step} of ${steps}`);
      await sleep(delay_ms);
    }
    return { steps };
  },
});

const jobFails = defineMethod({
  name: 'test.job_fails',
  description: 'A job that fails with the given message.',
  params: { message: z.string().describe('The failure text.') },
  result: z.null(),
  roles: ['FULL_ADMIN'],
  job: {},
  handler: async (ctx, { message }) => {
    ctx.job!.progress(50, 'About to fail');
    throw new CallError(message, 'EINVAL');
  },
});

const jobValidates = defineMethod({
  name: 'test.job_validates',
  description: 'A job whose argument must be a positive integer.',
  params: { test_job: z.strictObject({ count: z.number().int().min(1).describe('A positive integer.') }).describe('The input.') },
  result: z.number(),
  roles: ['FULL_ADMIN'],
  job: {},
  handler: (_ctx, { test_job }) => test_job.count,
});

const jobSlow = defineMethod({
  name: 'test.job_slow',
  description: 'A job that runs for the given time and can be aborted.',
  params: {
    ms: z.number().int().min(0).max(600_000).describe('How long it runs.'),
    lock: z.string().nullable().default(null).describe('A lock to take.'),
  },
  result: z.object({ started: z.number().describe('Start time (ms).'), finished: z.number().describe('End time (ms).') }),
  roles: ['FULL_ADMIN'],
  job: { abortable: true, lock: ({ lock }) => (lock ? `test:${lock}` : null) },
  handler: async (ctx, { ms }) => {
    const started = Date.now();
    ctx.job!.progress(10, 'Sleeping');
    await abortableSleep(ms, ctx.job!.signal);
    return { started, finished: Date.now() };
  },
});

const jobIgnoresAbort = defineMethod({
  name: 'test.job_ignores_abort',
  description: 'A job that runs for the given time and does not listen for aborts.',
  params: { ms: z.number().int().min(0).max(600_000).describe('How long it runs.') },
  result: z.null(),
  roles: ['FULL_ADMIN'],
  job: { abortable: true },
  handler: async (ctx, { ms }) => {
    ctx.job!.progress(10, 'Not listening');
    await sleep(ms);
    return null;
  },
});

const jobWithSecret = defineMethod({
  name: 'test.job_with_secret',
  description: 'A job whose argument holds a secret; returns its length.',
  params: { data: z.strictObject({ name: z.string().describe('A name.'), password: z.string().describe('A secret.') }).describe('The input.') },
  result: z.number(),
  roles: ['FULL_ADMIN'],
  job: {},
  handler: (_ctx, { data }) => data.password.length,
});

const jobCommits = defineMethod({
  name: 'test.job_commits',
  description: 'A job that waits, then writes setting `test:<key>` in the transaction that marks its effect, as certificate.create does.',
  params: {
    ms: z.number().int().min(0).max(600_000).describe('How long it waits first.'),
    key: z.string().min(1).max(100).describe('The setting to write.'),
  },
  result: z.string(),
  roles: ['FULL_ADMIN'],
  job: {},
  handler: async (ctx, { ms, key }) => {
    ctx.job!.progress(10, 'Waiting');
    await sleep(ms);
    await transaction(ctx.app.db, async (manager) => {
      await manager.getRepository(SettingEntity).insert({ key: `test:${key}`, value: 'written' });
      await ctx.job!.commitEffect(manager);
    });
    return key;
  },
});

/** Methods that exercise the core in tests; never part of the product's registry. */
export const testPlugin = definePlugin({
  namespace: 'test',
  description: 'Test-only methods.',
  methods: [echo, jobWithProgress, jobFails, jobValidates, jobSlow, jobIgnoresAbort, jobWithSecret, jobCommits],
});
