/**
 * certclt: the command-line client, modeled on TrueNAS's midclt.
 *
 *   certclt [-u URI] [-U user -P pass | -K keyfile] call METHOD [JSON args…]
 *
 * Results go to stdout, job progress and errors to stderr.
 */
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { CertmidClient, ConnectionError, NotAJobError, RpcError, type JobProgress } from '../client/client.js';
import { parse, stringify } from '../client/ejson.js';

const DEFAULT_URI = 'ws://127.0.0.1:8470/api/current';

const USAGE = `Usage: certclt [options] call METHOD [ARG...]
       certclt [options] download FILE METHOD [ARG...]
       certclt [options] upload FILE METHOD [ARG...]
       certclt [options] subscribe EVENT
       certclt [options] ping
       certclt [options] methods [NAMESPACE]
       certclt completion bash

Command-line client for the certmid (and TrueNAS 25.04) JSON-RPC 2.0 API.

Commands:
  call METHOD [ARG...]     Call METHOD. Each ARG is parsed as JSON, or passed as a
                           string when it is not JSON (an ARG that starts with '[',
                           '{' or '"' must be JSON); '-' reads one ARG from stdin.
                           Put '--' before ARGs that start with '-'.
  download FILE METHOD [ARG...]
                           Run METHOD through core.download (e.g. config.save), follow
                           its job and write the file it produces to FILE (mode 0600).
  upload FILE METHOD [ARG...]
                           Send FILE to METHOD through /_upload (e.g. config.upload),
                           follow its job and print its result.
  subscribe EVENT          Print each event of EVENT (e.g. core.get_jobs) as a JSON line.
  ping                     Call core.ping and print the answer.
  methods [NAMESPACE]      Print the name of every method you may call, one per line.
  completion bash          Print a bash completion script (commands, options, method
                           names); e.g. add 'source <(certclt completion bash)' to
                           ~/.bashrc, or with zsh run 'autoload -U bashcompinit &&
                           bashcompinit' first.

Options:
  -u, --uri URI            WebSocket URI (default ${DEFAULT_URI})
  -U, --username USER      log in with this user's password (env CERTCLT_USERNAME)
  -P, --password PASS      the password (env CERTCLT_PASSWORD)
  -K, --api-key-file FILE  log in with the API key in FILE (env CERTCLT_API_KEY holds a key)
  -t, --timeout SECONDS    fail when connecting, a reply, a job (--job, download,
                           upload) or the events (subscribe) take longer
  -j, --job                call: follow the job METHOD starts, show its progress on
                           stderr and print its result
  -n, --number N           subscribe: exit after N events
  -h, --help               show this help

An API key file wins over a username and password, which win over CERTCLT_API_KEY.
Results are printed as JSON, dates in TrueNAS form {"$date": ms}; a string result is
printed as is. Exit status: 0 on success, 1 when the connection, login, call or job
fails, 2 on a usage error.
`;

/**
 * Completes commands, options and, after `call` (and the METHOD of download/upload), the method
 * names the server offers to the credentials in the environment (CERTCLT_*), asked with a short
 * timeout; nothing is completed when it cannot be asked.
 */
const BASH_COMPLETION = `# bash completion for certclt
_certclt() {
  local cur prev words cword
  _init_completion 2>/dev/null || { cur="\${COMP_WORDS[COMP_CWORD]}"; prev="\${COMP_WORDS[COMP_CWORD-1]}"; words=("\${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
  local commands="call download upload subscribe ping methods completion"
  local options="-u --uri -U --username -P --password -K --api-key-file -t --timeout -j --job -n --number -h --help"
  case "$prev" in
    -u|--uri|-U|--username|-P|--password|-t|--timeout|-n|--number) return ;;
    -K|--api-key-file) COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
    return
  fi
  local i command="" position=0
  for ((i = 1; i < cword; i++)); do
    case "\${words[i]}" in
      -u|--uri|-U|--username|-P|--password|-K|--api-key-file|-t|--timeout|-n|--number) ((i++)) ;;
      -*) ;;
      *) if [ -z "$command" ]; then command="\${words[i]}"; else ((position++)); fi ;;
    esac
  done
  if [ -z "$command" ]; then
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
  elif [ "$command" = call ] && [ "$position" -eq 0 ]; then
    COMPREPLY=($(compgen -W "$(certclt -t 3 methods 2>/dev/null)" -- "$cur"))
  elif [ "$command" = download ] || [ "$command" = upload ]; then
    if [ "$position" -eq 0 ]; then COMPREPLY=($(compgen -f -- "$cur"));
    elif [ "$position" -eq 1 ]; then COMPREPLY=($(compgen -W "$(certclt -t 3 methods 2>/dev/null)" -- "$cur")); fi
  elif [ "$command" = completion ]; then
    COMPREPLY=($(compgen -W "bash" -- "$cur"))
  fi
}
complete -F _certclt certclt
`;

const OPTIONS = {
  uri: { type: 'string', short: 'u' },
  username: { type: 'string', short: 'U' },
  password: { type: 'string', short: 'P' },
  'api-key-file': { type: 'string', short: 'K' },
  timeout: { type: 'string', short: 't' },
  job: { type: 'boolean', short: 'j' },
  number: { type: 'string', short: 'n' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Credentials =
  | { kind: 'password'; username: string; password: string }
  | { kind: 'apiKeyFile'; path: string }
  | { kind: 'apiKey'; key: string }
  | { kind: 'none' };

type Action =
  | { kind: 'call'; method: string; args: string[]; job: boolean }
  | { kind: 'download' | 'upload'; file: string; method: string; args: string[] }
  | { kind: 'subscribe'; event: string; number: number | undefined }
  | { kind: 'ping' }
  | { kind: 'methods'; namespace: string | undefined }
  | { kind: 'completion'; shell: 'bash' };

interface Command {
  uri: string;
  credentials: Credentials;
  /** Milliseconds. */
  timeout: number | undefined;
  action: Action;
}

/** Bad command line: exit 2 with the usage text. */
class UsageError extends Error {}

type Env = Record<string, string | undefined>;

/** An empty variable counts as unset, as shells make it easy to export one. */
function fromEnv(env: Env, name: string): string | undefined {
  return env[name] || undefined;
}

function parseCredentials(
  values: { username?: string; password?: string; 'api-key-file'?: string },
  env: Env,
): Credentials {
  if (values['api-key-file'] !== undefined) return { kind: 'apiKeyFile', path: values['api-key-file'] };
  const username = values.username ?? fromEnv(env, 'CERTCLT_USERNAME');
  const password = values.password ?? fromEnv(env, 'CERTCLT_PASSWORD');
  if (username !== undefined || password !== undefined) {
    if (username === undefined) throw new UsageError('a password needs a username (-U or CERTCLT_USERNAME)');
    if (password === undefined) throw new UsageError('a username needs a password (-P or CERTCLT_PASSWORD)');
    return { kind: 'password', username, password };
  }
  const key = fromEnv(env, 'CERTCLT_API_KEY');
  return key === undefined ? { kind: 'none' } : { kind: 'apiKey', key };
}

function parsePositive(text: string, option: string, integer: boolean): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`${option} needs a positive ${integer ? 'integer' : 'number'}, not "${text}"`);
  }
  return value;
}

/** @returns the command, or undefined for --help. */
function parseCommand(argv: string[], env: Env): Command | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    // node:util marks its parse failures with ERR_PARSE_ARGS_* codes.
    if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError((error as Error).message);
    }
    throw error;
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;

  const [name, target, ...rest] = positionals;
  let action: Action;
  if (name === 'call') {
    if (target === undefined) throw new UsageError('call needs a METHOD');
    action = { kind: 'call', method: target, args: rest, job: values.job ?? false };
  } else if (name === 'download' || name === 'upload') {
    const [method, ...args] = rest;
    if (target === undefined || method === undefined) throw new UsageError(`${name} needs a FILE and a METHOD`);
    action = { kind: name, file: target, method, args };
  } else if (name === 'subscribe') {
    if (target === undefined) throw new UsageError('subscribe needs an EVENT');
    if (rest.length > 0) throw new UsageError('subscribe takes one EVENT');
    const number = values.number === undefined ? undefined : parsePositive(values.number, '--number', true);
    action = { kind: 'subscribe', event: target, number };
  } else if (name === 'ping') {
    if (target !== undefined) throw new UsageError('ping takes no arguments');
    action = { kind: 'ping' };
  } else if (name === 'methods') {
    if (rest.length > 0) throw new UsageError('methods takes at most a NAMESPACE');
    action = { kind: 'methods', namespace: target };
  } else if (name === 'completion') {
    if (target !== 'bash' || rest.length > 0) throw new UsageError('completion takes one shell: bash');
    action = { kind: 'completion', shell: target };
  } else {
    throw new UsageError(name === undefined ? 'a command is needed' : `unknown command "${name}"`);
  }
  if (values.job && action.kind !== 'call') throw new UsageError('--job applies to call only');
  if (values.number !== undefined && action.kind !== 'subscribe') {
    throw new UsageError('--number applies to subscribe only');
  }

  return {
    uri: values.uri ?? DEFAULT_URI,
    credentials: parseCredentials(values, env),
    timeout:
      values.timeout === undefined ? undefined : parsePositive(values.timeout, '--timeout', false) * 1000,
    action,
  };
}

async function readStdinBytes(): Promise<Buffer> {
  if (process.stdin.isTTY) throw new UsageError("'-' reads from stdin, which is a terminal");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function readStdin(): Promise<string> {
  return (await readStdinBytes()).toString('utf8');
}

/**
 * Like midclt: JSON (ejson) when it parses, otherwise the text itself, except that text which starts
 * like a JSON list, object or string must be JSON: a typo there would otherwise reach the server as
 * a string and fail far from its cause.
 */
async function parseCallArgs(args: string[]): Promise<unknown[]> {
  let stdin: string | undefined;
  const parsed: unknown[] = [];
  for (const [index, arg] of args.entries()) {
    // A shell pipe usually ends the text with a newline that is not part of a plain string argument.
    const text = arg === '-' ? (stdin ??= (await readStdin()).replace(/\r?\n$/, '')) : arg;
    try {
      parsed.push(parse(text));
    } catch (error) {
      if (/^\s*[[{"]/.test(text)) throw new UsageError(`argument ${index + 1} starts like JSON but is not: ${(error as Error).message}`);
      parsed.push(text);
    }
  }
  return parsed;
}

async function logIn(client: CertmidClient, credentials: Credentials): Promise<void> {
  switch (credentials.kind) {
    case 'password':
      return client.login(credentials.username, credentials.password);
    case 'apiKey':
      return client.loginWithApiKey(credentials.key);
    case 'apiKeyFile': {
      let key: string;
      try {
        key = (await readFile(credentials.path, 'utf8')).trim();
      } catch (error) {
        throw new Error(`Cannot read the API key file: ${(error as Error).message}`);
      }
      if (key === '') throw new Error(`The API key file ${credentials.path} is empty`);
      return client.loginWithApiKey(key);
    }
    case 'none':
      return;
  }
}

/** Strings as they are (a token can be captured with $(…)), everything else as one line of JSON. */
function printResult(result: unknown): void {
  process.stdout.write(`${typeof result === 'string' ? result : stringify(result)}\n`);
}

/** What a job's progress line says while the job has no message of its own. */
const STATE_WORDS: Record<string, string> = { WAITING: 'Waiting to start', RUNNING: 'Running' };

interface ProgressPrinter {
  update: (progress: JobProgress, job: { state?: string }) => void;
  /** Ends the bar's line, so that what follows starts on a line of its own. */
  end: () => void;
}

/**
 * Job progress on stderr: a redrawn bar on a terminal, one `percent% description` line per change
 * otherwise.
 */
function progressPrinter(stream: NodeJS.WriteStream): ProgressPrinter {
  let drawn = false;
  return {
    update({ percent, description: message }, job) {
      // Before a job says anything, say what state it is in.
      const description = message || STATE_WORDS[job.state ?? ''] || '';
      if (!stream.isTTY) {
        stream.write(`${`${percent}% ${description}`.trimEnd()}\n`);
        return;
      }
      const width = 30;
      const filled = Math.round((Math.min(Math.max(percent, 0), 100) / 100) * width);
      const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
      const line = `[${bar}] ${String(percent).padStart(3)}% ${description}`.trimEnd();
      stream.write(`\r\x1b[2K${line.slice(0, Math.max((stream.columns || 80) - 1, 0))}`);
      drawn = true;
    },
    end() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}

type CallAction = Extract<Action, { kind: 'call' }>;
type SubscribeAction = Extract<Action, { kind: 'subscribe' }>;

/** Refuses --job for a method the server does not run as a job, before the call can change anything. */
async function assertJobMethod(client: CertmidClient, method: string): Promise<void> {
  const namespace = method.slice(0, method.lastIndexOf('.'));
  const methods = await client.call<Record<string, { job?: boolean }>>('core.get_methods', namespace);
  if (methods[method]?.job === false) throw new NotAJobError(method);
}

/** JSON-RPC's code for an unknown method. */
const METHOD_NOT_FOUND = -32601;

/** Edit distance between two names (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]!;
}

/** The method names closest to `method`, if any is close enough to be a typo of it. */
function nearestMethods(method: string, names: readonly string[]): string[] {
  const scored = names.map((name) => ({ name, cost: distance(method, name) }));
  const best = Math.min(...scored.map((entry) => entry.cost));
  if (!Number.isFinite(best) || best > Math.max(2, Math.floor(method.length / 4))) return [];
  return scored.filter((entry) => entry.cost === best).map((entry) => entry.name).sort();
}

/** Every method the caller may call, by name (empty when even that cannot be asked). */
async function methodNames(client: CertmidClient, namespace?: string): Promise<string[]> {
  const methods = await client.call<Record<string, unknown>>('core.get_methods', namespace ?? null);
  return Object.keys(methods).sort();
}

/** Rewords the server's refusals that say too little on a command line. */
async function explainCallError(client: CertmidClient, method: string, error: unknown): Promise<never> {
  if (error instanceof RpcError && error.code === METHOD_NOT_FOUND) {
    const suggestions = nearestMethods(method, await methodNames(client).catch(() => []));
    const hint = suggestions.length > 0 ? `; did you mean ${suggestions.join(' or ')}?` : '';
    throw new Error(`${method}: no such method${hint}`);
  }
  // A query with {"get": true} that matched nothing.
  if (error instanceof RpcError && error.message === 'MatchNotFound()') throw new Error(`${method}: not found`);
  throw error;
}

async function runCall(client: CertmidClient, action: CallAction, timeout: number | undefined) {
  const params = await parseCallArgs(action.args);
  if (!action.job) {
    printResult(await client.call(action.method, ...params).catch((error: unknown) => explainCallError(client, action.method, error)));
    return 0;
  }
  const progress = progressPrinter(process.stderr);
  let result: unknown;
  try {
    await assertJobMethod(client, action.method);
    result = await client.callJob(action.method, params, { onProgress: progress.update, jobTimeout: timeout });
  } catch (error) {
    if (error instanceof NotAJobError) throw new Error(`${error.message}; call it without --job`);
    return await explainCallError(client, action.method, error);
  } finally {
    progress.end();
  }
  printResult(result);
  return 0;
}

type TransferAction = Extract<Action, { kind: 'download' | 'upload' }>;

/** The server's HTTP address for its WebSocket URI: ws → http, wss → https, same host and port. */
function httpBase(uri: string): string {
  const url = new URL(uri);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  return url.origin;
}

/** Follows the job `start` starts, with its progress on stderr; returns its result. */
async function followWithProgress(client: CertmidClient, method: string, start: () => Promise<number>, timeout: number | undefined): Promise<unknown> {
  const progress = progressPrinter(process.stderr);
  try {
    return await client.followNewJob(method, start, { onProgress: progress.update, jobTimeout: timeout });
  } finally {
    progress.end();
  }
}

async function httpFailure(what: string, response: Response): Promise<Error> {
  const text = (await response.text().catch(() => '')).trim();
  return new Error(`${what} failed (HTTP ${response.status})${text ? `: ${text}` : ''}`);
}

/** Writes a file readable by its owner only: a download may hold secrets (a backup does). */
async function writePrivateFile(file: string, data: Buffer): Promise<void> {
  if (file === '-') {
    process.stdout.write(data);
    return;
  }
  const handle = await open(file, 'w', 0o600);
  try {
    // An existing file keeps its mode on open: tighten it before anything is written.
    await handle.chmod(0o600);
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

/** `download FILE METHOD`: core.download, follow the job (its failure reads as the job's error), then fetch the file. */
async function runDownload(client: CertmidClient, action: TransferAction, uri: string, timeout: number | undefined) {
  const params = await parseCallArgs(action.args);
  const filename = action.file === '-' ? 'download' : path.basename(action.file);
  let url = '';
  await followWithProgress(
    client,
    action.method,
    async () => {
      const [jobId, link] = await client.call<[number, string]>('core.download', action.method, params, filename);
      url = link;
      return jobId;
    },
    timeout,
  );
  const response = await fetch(httpBase(uri) + url, { signal: timeout === undefined ? undefined : AbortSignal.timeout(timeout) });
  if (!response.ok) throw await httpFailure('The download', response);
  await writePrivateFile(action.file, Buffer.from(await response.arrayBuffer()));
  return 0;
}

/** `upload FILE METHOD`: a single-use token from this login, the file to /_upload, then follow the job it started. */
async function runUpload(client: CertmidClient, action: TransferAction, uri: string, timeout: number | undefined) {
  if (action.file === '-' && action.args.includes('-')) throw new UsageError("'-' can read either the FILE or one ARG from stdin, not both");
  const params = await parseCallArgs(action.args);
  let data: Buffer;
  try {
    data = action.file === '-' ? Buffer.from(await readStdinBytes()) : await readFile(action.file);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new Error(`Cannot read ${action.file}: ${(error as Error).message}`);
  }
  const token = await client.call<string>('auth.generate_token', 300, {}, false, true);
  const form = new FormData();
  form.append('data', stringify({ method: action.method, params }));
  form.append('file', new Blob([data]), action.file === '-' ? 'upload' : path.basename(action.file));
  let jobId: number | undefined;
  // Subscribed before the upload: a restore may end this session soon after it has reported.
  const upload = async () => {
    const response = await fetch(`${httpBase(uri)}/_upload`, {
      method: 'POST',
      headers: { authorization: `Token ${token}` },
      body: form,
      signal: timeout === undefined ? undefined : AbortSignal.timeout(timeout),
    });
    if (!response.ok) throw await httpFailure('The upload', response);
    jobId = ((await response.json()) as { job_id: number }).job_id;
    return jobId;
  };
  try {
    printResult(await followWithProgress(client, action.method, upload, timeout));
  } catch (error) {
    if (!(error instanceof ConnectionError) || jobId === undefined) throw error;
    // A restore closes the sessions its accounts no longer accept, this one perhaps among them.
    throw new Error(`The connection closed while job ${jobId} (${action.method}) ran: ${error.message}. Log in again and look at the job with core.get_jobs`);
  }
  return 0;
}

async function runSubscribe(client: CertmidClient, action: SubscribeAction, timeout: number | undefined) {
  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  let finished = false;
  // Whatever comes after the first outcome (late events, the end caused by our own close) is not reported.
  const finish = (code: number) => {
    finished = true;
    resolveDone(code);
  };
  let count = 0;
  await client.subscribe(
    action.event,
    (event) => {
      if (finished) return;
      process.stdout.write(`${stringify(event)}\n`);
      count += 1;
      if (count === action.number) finish(0);
    },
    (error) => {
      if (finished) return;
      if (error) process.stderr.write(`${error.message}\n`);
      finish(error ? 1 : 0);
    },
  );
  // Like midclt, running out of time is a failure: the expected events did not come.
  const timer =
    timeout === undefined
      ? undefined
      : setTimeout(() => {
          process.stderr.write(`Stopped waiting for events after ${timeout / 1000} s\n`);
          finish(1);
        }, timeout);
  const code = await done;
  clearTimeout(timer);
  return code;
}

async function run(command: Command): Promise<number> {
  if (command.action.kind === 'completion') {
    process.stdout.write(BASH_COMPLETION);
    return 0;
  }
  // --timeout bounds connecting and every reply; a followed job and subscribe's events also get it.
  const client = await CertmidClient.connect(command.uri, { WebSocket, callTimeout: command.timeout, connectTimeout: command.timeout });
  try {
    await logIn(client, command.credentials);
    switch (command.action.kind) {
      case 'call':
        return await runCall(client, command.action, command.timeout);
      case 'download':
        return await runDownload(client, command.action, command.uri, command.timeout);
      case 'upload':
        return await runUpload(client, command.action, command.uri, command.timeout);
      case 'subscribe':
        return await runSubscribe(client, command.action, command.timeout);
      case 'ping':
        printResult(await client.call('core.ping'));
        return 0;
      case 'methods':
        process.stdout.write((await methodNames(client, command.action.namespace)).map((name) => `${name}\n`).join(''));
        return 0;
    }
  } finally {
    await client.close();
  }
}

async function main(argv: string[]): Promise<number> {
  try {
    const command = parseCommand(argv, process.env);
    if (!command) {
      process.stdout.write(USAGE);
      return 0;
    }
    return await run(command);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`certclt: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    // RpcError's message is the server's reason; JobError's is the job's error text.
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
