import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { defineMethod } from '../api/define-method.js';
import { definePlugin } from '../api/define-plugin.js';
import { expandRoles, hasAnyRole } from '../auth/roles.js';
import { CallError, NotAuthorizedError } from '../errors/call-error.js';
import { JOBS_EVENT, maySubscribe } from '../events/subscription-hub.js';
import { QueryFilters, QueryOptions } from '../query/schemas.js';
import { jobOutcome } from '../rpc/dispatcher.js';
import type { Session } from '../rpc/session.js';
import type { CallContext } from '../api/call-context.js';
import { download } from '../transfer/download-method.js';
import { bulk } from './bulk.js';
import { transferRoutes } from '../transfer/routes.js';

/**
 * TrueNAS 25.04 has pydantic models for core.ping, set_options, subscribe and unsubscribe
 * (api/v25_04_2/core.py), the plugin's default; get_jobs, job_wait, job_abort and get_methods
 * still go through its legacy schema layer there (their models came in 25.10), so they keep its
 * wording.
 */
const LEGACY = 'legacy';

function sessionOf(ctx: CallContext): Session {
  const session = ctx.app.sessions.get(ctx.sessionId);
  if (!session) throw new CallError('This method needs a WebSocket session', 'EINVAL');
  return session;
}

const ping = defineMethod({
  name: 'core.ping',
  description: 'Answers "pong"; checks that the connection and login work.',
  params: {},
  result: z.literal('pong'),
  roles: [],
  handler: () => 'pong' as const,
});

const Options = z
  .object({
    legacy_jobs: z.boolean().optional().describe('When false, a job method replies with the job result when the job ends.'),
    private_methods: z.boolean().optional().describe('List private methods in core.get_methods.'),
    py_exceptions: z.boolean().optional().describe('Accepted for compatibility; Python exceptions are never sent.'),
  })
  .describe('Options of this connection; keys not listed are ignored.');

const setOptions = defineMethod({
  name: 'core.set_options',
  description: 'Set options of this connection; returns the options in effect.',
  params: { options: Options.default({}) },
  result: z.object({
    legacy_jobs: z.boolean().describe('Job methods return the job id at once.'),
    private_methods: z.boolean().describe('Private methods are listed.'),
    py_exceptions: z.boolean().describe('Always false.'),
  }),
  roles: [],
  public: true,
  handler: (ctx, { options }) => {
    const session = sessionOf(ctx);
    if (options.legacy_jobs !== undefined) session.options.legacy_jobs = options.legacy_jobs;
    if (options.private_methods !== undefined) session.options.private_methods = options.private_methods;
    return { ...session.options, py_exceptions: false };
  },
});

const subscribe = defineMethod({
  name: 'core.subscribe',
  description: 'Receive collection_update notifications for an event; returns the subscription id.',
  params: { event: z.string().min(1).max(1024).describe('The event name, for example certificate.query or core.get_jobs.') },
  result: z.string(),
  roles: [],
  handler: (ctx, { event }) => {
    const session = sessionOf(ctx);
    if (event !== '*' && event !== JOBS_EVENT && !ctx.app.registry.event(event)) {
      throw new CallError(`Event ${event} does not exist`, 'ENOENT');
    }
    if (!maySubscribe(ctx.app, session, event)) throw new NotAuthorizedError();
    const id = randomUUID();
    session.subscriptions.set(id, event);
    return id;
  },
});

const unsubscribe = defineMethod({
  name: 'core.unsubscribe',
  description: 'Stop a subscription made with core.subscribe.',
  params: { id_: z.string().max(1024).describe('The subscription id.') },
  result: z.null(),
  roles: [],
  handler: (ctx, { id_ }) => {
    // No notify_unsubscribed here: TrueNAS sends it only when the server ends a subscription, and
    // its client takes it as the end of every subscription to that collection.
    sessionOf(ctx).subscriptions.delete(id_);
    return null;
  },
});

const getJobs = defineMethod({
  name: 'core.get_jobs',
  description: 'The jobs the caller may see (all jobs for full administrators), filtered with the query language.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: [],
  validation: LEGACY,
  handler: (ctx, { filters, options }) => ctx.app.jobs.query(ctx.caller, filters, options),
});

const JobId = z.number().int().describe('The job id.');

const jobWait = defineMethod({
  name: 'core.job_wait',
  description: 'A job that ends when another job ends, with its result or its error.',
  params: { id: JobId },
  result: z.unknown(),
  roles: [],
  validation: LEGACY,
  job: { inDaemon: true, abortable: true },
  handler: async (ctx, { id }) => {
    const record = await ctx.app.jobs.get(id);
    if (!record) throw new CallError('Job does not exist', 'ENOENT');
    if (!ctx.app.jobs.canAccess(ctx.caller, record)) throw new CallError('Job is not owned by current session', 'EPERM');
    return jobOutcome(await ctx.app.jobs.wait(id));
  },
});

const jobAbort = defineMethod({
  name: 'core.job_abort',
  description: 'Abort a waiting job, or a running one that can be aborted.',
  params: { id: JobId },
  result: z.null(),
  roles: [],
  audit: true,
  validation: LEGACY,
  handler: async (ctx, { id }) => {
    await ctx.app.jobs.abort(id, ctx.caller);
    return null;
  },
});

const JobRunner = z
  .object({
    id: z.string().describe('The runner id, recorded on the jobs it runs.'),
    kind: z.enum(['daemon', 'worker']).describe('A daemon runs its own in-process jobs; a worker runs BullMQ jobs.'),
    name: z.string().describe('A worker\'s name (host:pid unless set), or the daemon\'s host:pid.'),
    host: z.string().describe('Host name.'),
    pid: z.number().describe('Process id on that host.'),
    started: z.date().describe('When it started.'),
    last_heartbeat: z.date().describe('When it last said it was alive (every JOB_HEARTBEAT_SECONDS).'),
    alive: z.boolean().describe('False once it missed three heartbeats; its jobs then end FAILED (interrupted).'),
    jobs_running: z.number().describe('Jobs it is running now.'),
  })
  .describe('A daemon or worker that runs jobs.');

/** Not a TrueNAS method (TrueNAS has no workers); named so that no TrueNAS method can clash. */
const jobRunners = defineMethod({
  name: 'core.job_runners',
  description: 'The daemons and BullMQ workers that run jobs, with their last heartbeat and how many jobs each runs.',
  params: {},
  result: z.array(JobRunner),
  roles: ['READONLY_ADMIN'],
  handler: (ctx) => ctx.app.jobs.runners(),
});

const getMethods = defineMethod({
  name: 'core.get_methods',
  description: 'Every method the caller may call, with its description, JSON Schemas, roles and whether it is a job.',
  params: {
    service: z.string().nullable().default(null).describe('Only methods of this namespace.'),
    target: z.enum(['WS', 'CLI', 'REST']).default('WS').describe('Accepted for compatibility.'),
  },
  result: z.record(z.string(), z.unknown()),
  roles: [],
  validation: LEGACY,
  handler: (ctx, { service }) => {
    const session = ctx.app.sessions.get(ctx.sessionId);
    const roles = expandRoles(ctx.caller?.roles ?? []);
    const methods = ctx.app.registry
      .allMethods()
      .filter((m) => service === null || m.name.startsWith(`${service}.`))
      .filter((m) => m.public || hasAnyRole(roles, m.roles))
      .filter((m) => !m.private || session?.options.private_methods);
    return Object.fromEntries(
      methods.map((m) => {
        const schemas = ctx.app.registry.schemasOf(m.name)!;
        return [
          m.name,
          {
            description: m.description,
            params: schemas.params,
            result: schemas.result,
            roles: [...m.roles],
            job: m.job !== undefined,
            private: m.private ?? false,
          },
        ];
      }),
    );
  },
});

export const corePlugin = definePlugin({
  namespace: 'core',
  description: 'Connection options, subscriptions, jobs and introspection.',
  validation: 'pydantic',
  methods: [ping, setOptions, subscribe, unsubscribe, getJobs, jobWait, jobAbort, jobRunners, getMethods, download, bulk],
  // The file side of job methods (core.download, config.save, config.upload).
  routes: transferRoutes,
});
