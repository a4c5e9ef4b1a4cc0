import type http from 'node:http';
import type { Caller } from '../api/call-context.js';
import type { App } from '../app.js';
import { authenticateApiKey, authenticateToken, type Login } from '../auth/credentials.js';
import { decode } from '../client/ejson.js';
import { CallError } from '../errors/call-error.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import type { HttpRoute } from '../rpc/ws-server.js';
import { jobFiles } from './job-files.js';
import { pipedJobMethod, startJobAs } from './start-job.js';

/** The largest body `/_upload` reads; a backup of tens of thousands of certificates fits. */
export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

const DOWNLOAD_PATH = /^\/_download\/(\d{1,15})$/;
const UPLOAD_PATH = '/_upload';

/** An HTTP refusal: status and a plain-text reason. */
class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function answer(response: http.ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(`${text}\n`);
}

/** The token or API key a request carries: `?auth_token=`, `Authorization: Token …` or `Authorization: Bearer <API key>`. */
function credentialsOf(request: http.IncomingMessage, url: URL): { token: string } | { apiKey: string } | null {
  const header = request.headers.authorization;
  if (header === undefined) {
    const token = url.searchParams.get('auth_token');
    return token ? { token } : null;
  }
  const [scheme, value] = header.split(' ', 2);
  if (scheme === 'Token' && value) return { token: value };
  if (scheme === 'Bearer' && value) return { apiKey: value };
  // Passwords are not taken here: the login limits guard them on the WebSocket only.
  throw new HttpRefusal(401, 'Authenticate with a token (auth_token or "Authorization: Token …") or an API key ("Authorization: Bearer …")');
}

/** A file name safe inside a Content-Disposition header. */
function safeFilename(name: unknown): string {
  const text = typeof name === 'string' ? name.replace(/[^A-Za-z0-9._-]/g, '_') : '';
  return text.replace(/^\.+/, '') || 'download';
}

/**
 * `GET /_download/<job>?auth_token=<token>`: the file the job wrote, once, to the holder of the
 * token `core.download` made for that job. Waits for the job to end if it still runs.
 */
async function serveDownload(app: App, request: http.IncomingMessage, response: http.ServerResponse, url: URL, jobId: number): Promise<void> {
  if (request.method !== 'GET') throw new HttpRefusal(405, 'Use GET');
  const credentials = credentialsOf(request, url);
  if (!credentials || !('token' in credentials)) throw new HttpRefusal(401, 'A download token is required (auth_token)');
  const login = await authenticateToken(app, credentials.token, request.headers.origin ?? null, jobId);
  if (!login) throw new HttpRefusal(401, 'Invalid token');
  const job = await app.jobs.get(jobId);
  if (!job) throw new HttpRefusal(404, 'Job does not exist');
  if (!app.jobs.canAccess(login.caller, job)) throw new HttpRefusal(403, 'Job is not owned by current session');
  const record = await app.jobs.wait(jobId);
  if (record.state !== 'SUCCESS') throw new HttpRefusal(409, `Job ${jobId} ended ${record.state}: ${record.error ?? 'no file was produced'}`);
  const data = jobFiles(app).takeOutput(jobId);
  if (!data) throw new HttpRefusal(410, 'The file was already downloaded or has expired');
  response
    .writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${safeFilename(login.attributes.filename)}"`,
      'content-length': String(data.length),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    })
    .end(data);
}

async function authenticateUpload(app: App, request: http.IncomingMessage, url: URL): Promise<Caller> {
  const credentials = credentialsOf(request, url);
  if (!credentials) throw new HttpRefusal(401, 'Authentication is required');
  let login: Login | null;
  if ('token' in credentials) login = await authenticateToken(app, credentials.token, request.headers.origin ?? null);
  else login = await authenticateApiKey(app, credentials.apiKey);
  if (!login) {
    app.logger.warn({ remoteAddress: request.socket.remoteAddress, mechanism: 'token' in credentials ? 'TOKEN' : 'API_KEY' }, 'failed upload authentication');
    throw new HttpRefusal(401, 'token' in credentials ? 'Invalid token' : 'Invalid API key');
  }
  return login.caller;
}

/** The request body, refused beyond `limit` bytes; the rest is left unread (the connection then closes). */
function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpRefusal(413, `The upload is larger than ${limit} bytes`);
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      outcome();
    };
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else settle(() => (request.pause(), reject(tooLarge())));
    });
    request.on('end', () => settle(() => resolve(Buffer.concat(chunks))));
    request.on('error', (error) => settle(() => reject(error)));
  });
}

interface UploadForm {
  method: string;
  params: unknown[];
  file: Buffer;
}

/** TrueNAS's form: a `data` part (JSON `{"method", "params"}`) and one `file` part. */
async function parseUploadForm(request: http.IncomingMessage, body: Buffer): Promise<UploadForm> {
  const type = request.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\s*;/i.test(type)) throw new HttpRefusal(400, 'The upload must be multipart/form-data');
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': type } }).formData();
  } catch {
    throw new HttpRefusal(400, 'The multipart body could not be read');
  }
  const names = [...form.keys()];
  if (names[0] !== 'data') throw new HttpRefusal(405, '"data" part must be the first on payload');
  if (names.length !== 2 || names[1] !== 'file') throw new HttpRefusal(405, 'The payload must hold one "data" part and one "file" part');
  const data = form.get('data');
  const file = form.get('file');
  if (typeof data !== 'string' || file === null || typeof file === 'string') throw new HttpRefusal(400, '"data" must be a text part and "file" a file part');
  let parsed: unknown;
  try {
    parsed = decode(JSON.parse(data));
  } catch (error) {
    throw new HttpRefusal(400, `"data" is not JSON: ${(error as Error).message}`);
  }
  const { method, params = [] } = (parsed ?? {}) as { method?: unknown; params?: unknown };
  if (typeof method !== 'string') throw new HttpRefusal(422, '"data" must name the job method ("method")');
  if (!Array.isArray(params)) throw new HttpRefusal(422, '"params" must be a list');
  return { method, params, file: Buffer.from(await file.arrayBuffer()) };
}

/**
 * `POST /_upload`: queues the job named in the form's `data` part with the `file` part as its
 * input and answers `{"job_id": n}`; the caller follows the job like any other. Credentials are
 * checked before the body is read.
 */
async function serveUpload(app: App, request: http.IncomingMessage, response: http.ServerResponse, url: URL): Promise<void> {
  if (request.method !== 'POST') throw new HttpRefusal(405, 'Use POST');
  const caller = await authenticateUpload(app, request, url);
  const form = await parseUploadForm(request, await readBody(request, MAX_UPLOAD_BYTES));
  let method;
  try {
    method = pipedJobMethod(app, form.method, 'input');
  } catch (error) {
    throw new HttpRefusal(422, (error as CallError).message);
  }
  const files = jobFiles(app);
  const ticket = files.announceInput();
  let jobId: number;
  try {
    jobId = await startJobAs(app, caller, method, form.params);
  } catch (error) {
    ticket.cancel();
    if (error instanceof ValidationErrors) throw new HttpRefusal(422, error.reason.trimEnd());
    if (error instanceof CallError) throw new HttpRefusal(error.errname === 'EACCES' ? 403 : 412, error.reason);
    throw error;
  }
  ticket.bind(jobId, form.file);
  // A job that ends without taking its file (aborted while waiting) does not keep it.
  void app.jobs.wait(jobId).finally(() => files.dropInput(jobId));
  app.logger.info({ job: jobId, method: form.method, username: caller.username, bytes: form.file.length }, 'upload received');
  response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ job_id: jobId }));
}

/** `/_download/<job>` and `/_upload`, the file side of job methods, as TrueNAS serves them. */
export function transferRoutes(app: App): HttpRoute[] {
  return [
    async (request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const download = DOWNLOAD_PATH.exec(url.pathname);
      if (!download && url.pathname !== UPLOAD_PATH) return false;
      try {
        if (download) await serveDownload(app, request, response, url, Number(download[1]));
        else await serveUpload(app, request, response, url);
      } catch (error) {
        if (!(error instanceof HttpRefusal)) throw error;
        // The rest of a refused upload is not read: the connection closes after the answer.
        answer(response, error.status, error.message, request.complete ? {} : { connection: 'close' });
      }
      return true;
    },
  ];
}
