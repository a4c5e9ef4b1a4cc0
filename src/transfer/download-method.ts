import { z } from 'zod';
import { defineMethod } from '../api/define-method.js';
import { issueToken } from '../auth/credentials.js';
import { sessionCredentials } from '../auth/session-credentials.js';
import { CallError, NotAuthenticatedError } from '../errors/call-error.js';
import { pipedJobMethod, startJobAs } from './start-job.js';

/** Seconds a download link works, as TrueNAS's core.download token. */
export const DOWNLOAD_TOKEN_TTL_SECONDS = 300;

/**
 * `core.download` as in TrueNAS 25.04: starts a job that writes a file and returns its id with the
 * URL the file is fetched from once, `/_download/<job>?auth_token=<token>`. The token serves that
 * one download only: it is single-use and cannot log in.
 */
export const download = defineMethod({
  name: 'core.download',
  description:
    'Start a job that produces a file (such as config.save) and return [job id, URL]: GET the URL (relative to this server) to ' +
    'receive the file once, within 5 minutes. Every download is buffered: the file is sent once the job has finished.',
  params: {
    method: z.string().max(256).describe('The job method, for example config.save.'),
    args: z.array(z.unknown()).default([]).describe('Its positional params.'),
    filename: z.string().max(256).describe('The file name the download suggests.'),
    buffered: z.boolean().default(false).describe('Accepted for compatibility: every download is buffered here.'),
  },
  result: z.tuple([z.number().int().describe('The job id.'), z.string().describe('The download URL, relative to this server.')]),
  roles: [],
  audit: true,
  validation: 'legacy',
  handler: async (ctx, { method: name, args, filename }) => {
    const session = ctx.app.sessions.get(ctx.sessionId);
    if (!session) throw new CallError('This method needs a WebSocket session', 'EINVAL');
    const watch = sessionCredentials(ctx.app);
    const credential = watch.credentialOf(session);
    if (!ctx.caller || !credential) throw new NotAuthenticatedError();
    const jobId = await startJobAs(ctx.app, ctx.caller, pipedJobMethod(ctx.app, name, 'output'), args);
    // Like any token it dies with the login of the session that asked for it.
    watch.madeToken(session);
    const token = await issueToken(ctx.app, session.id, credential, {
      ttlSeconds: DOWNLOAD_TOKEN_TTL_SECONDS,
      singleUse: true,
      // A browser fetching the link sends no Origin header, so the link is not bound to one.
      origin: null,
      attributes: { job: jobId, filename },
    });
    return [jobId, `/_download/${jobId}?auth_token=${encodeURIComponent(token)}`] as [number, string];
  },
});
