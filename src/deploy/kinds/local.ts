/**
 * LOCAL: the certificate as files on this host (each daemon or worker that runs the job writes its
 * own file system), then an optional reload command run without a shell.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { parseCommand } from '../../config.js';
import { writeFileAtomically } from '../../certs/files/atomic-file.js';
import { runCommand } from '../../certs/files/trust-command.js';
import { loadPrivateKey } from '../../crypto/keys.js';
import { exportPkcs12 } from '../../crypto/pkcs12.js';
import { DeployError, type DeployContext, type DeployKind } from '../kind.js';

/** The tail of a failing command's stderr kept in `last_error`. */
const STDERR_TAIL = 500;

const FilePath = (what: string) => z.string().min(1).max(1024).optional().describe(`Absolute path of the ${what} file.`);
const Principal = (what: string) =>
  z
    .union([z.string().min(1).max(64), z.int().min(0).max(4_294_967_294)])
    .optional()
    .describe(`The files' ${what}: a name or a numeric id (the daemon must run as root to change it).`);

const schema = z
  .object({
    certificate_path: FilePath('certificate (leaf only, PEM)'),
    chain_path: FilePath('issuing chain (PEM, without the leaf)'),
    private_key_path: FilePath('private key (PKCS#8 PEM)'),
    fullchain_path: FilePath('full chain (leaf then chain, PEM)'),
    pkcs12_path: FilePath('PKCS#12 bundle (leaf, chain and key)'),
    pkcs12_password: z.string().max(1024).optional().describe('The PKCS#12 bundle\'s export password (empty when unset).'),
    owner: Principal('owner'),
    group: Principal('group'),
    mode: z
      .string()
      .regex(/^0?[0-7]{3}$/, { error: 'An octal mode such as "0640"' })
      .optional()
      .describe('One octal mode for every file; by default "0600" for the key and PKCS#12, "0644" for the others.'),
    reload_command: z
      .union([z.array(z.string().min(1)).min(1), z.string().min(1)])
      .optional()
      .describe('Run after the files are written, without a shell: an argument vector, or words split at spaces.'),
    reload_timeout: z.int().min(1).max(3600).default(60).describe('Seconds the reload command may take before it is killed and the deploy fails.'),
  })
  .strict();

type LocalAttributes = z.output<typeof schema>;

const PATH_FIELDS = ['certificate_path', 'chain_path', 'private_key_path', 'fullchain_path', 'pkcs12_path'] as const;

function validate(attributes: Record<string, unknown>): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const paths = PATH_FIELDS.filter((field) => typeof attributes[field] === 'string');
  if (paths.length === 0) problems.push(['certificate_path', 'At least one of certificate, chain, private key, full chain or PKCS#12 path is required']);
  for (const field of paths) {
    const value = attributes[field] as string;
    if (!path.isAbsolute(value)) problems.push([field, 'Must be an absolute path']);
    else if (path.normalize(value) !== value || value.endsWith('/')) problems.push([field, 'Must be a normalized path to a file']);
  }
  const seen = new Map<string, string>();
  for (const field of paths) {
    const other = seen.get(attributes[field] as string);
    if (other) problems.push([field, `Same path as ${other}`]);
    seen.set(attributes[field] as string, field);
  }
  if (typeof attributes.reload_command === 'string' && !parseCommand(attributes.reload_command)) problems.push(['reload_command', 'Must name a command']);
  if (attributes.pkcs12_password !== undefined && attributes.pkcs12_path === undefined) problems.push(['pkcs12_password', 'Only with pkcs12_path']);
  return problems;
}

/** The id of a user or group by name, from /etc/passwd or /etc/group (the third field); numeric text is an id. */
async function principalId(value: string | number, database: '/etc/passwd' | '/etc/group', what: string): Promise<number> {
  if (typeof value === 'number') return value;
  if (/^\d+$/.test(value)) return Number(value);
  const lines = (await fs.readFile(database, 'utf8').catch(() => '')).split('\n');
  const line = lines.find((entry) => entry.split(':')[0] === value);
  const id = line?.split(':')[2];
  if (id === undefined || !/^\d+$/.test(id)) throw new DeployError(`No ${what} named ${value} on this host`);
  return Number(id);
}

/** Who owns the files, or undefined to leave it to the process. */
async function ownerOf(attributes: LocalAttributes): Promise<{ uid: number; gid: number } | undefined> {
  if (attributes.owner === undefined && attributes.group === undefined) return undefined;
  return {
    uid: attributes.owner === undefined ? -1 : await principalId(attributes.owner, '/etc/passwd', 'user'),
    gid: attributes.group === undefined ? -1 : await principalId(attributes.group, '/etc/group', 'group'),
  };
}

/** Why a reload command failed, with its exit status and the tail of its stderr; null when it succeeded. */
function reloadFailure(argv: readonly string[], outcome: Awaited<ReturnType<typeof runCommand>>, timeoutSeconds: number): string | null {
  const tail = (stderr: string) => (stderr ? `: ${stderr.length > STDERR_TAIL ? `…${stderr.slice(-STDERR_TAIL)}` : stderr}` : '');
  switch (outcome.kind) {
    case 'exited':
      return outcome.code === 0 ? null : `Reload command ${argv[0]} exited with status ${outcome.code}${tail(outcome.stderr)}`;
    case 'killed':
      return `Reload command ${argv[0]} was killed by ${outcome.signal}${tail(outcome.stderr)}`;
    case 'timed-out':
      return `Reload command ${argv[0]} did not finish within ${timeoutSeconds} seconds and was killed${tail(outcome.stderr)}`;
    case 'aborted':
      return `Reload command ${argv[0]} was stopped: the deploy was aborted`;
    case 'not-run':
      return `Reload command ${argv[0]} could not be run: ${outcome.reason}`;
  }
}

async function deploy({ attributes: raw, material, signal, progress }: DeployContext): Promise<void> {
  const attributes = raw as LocalAttributes;
  const fixedMode = attributes.mode === undefined ? undefined : parseInt(attributes.mode, 8);
  const owner = await ownerOf(attributes);
  const needsKey = attributes.private_key_path !== undefined || attributes.pkcs12_path !== undefined;
  if (needsKey && material.privateKeyPem === null) throw new DeployError(`Certificate ${material.name} has no private key to deploy`);
  const files: Array<{ field: string; file: string; content: () => Promise<string | Buffer>; secret: boolean }> = [];
  const add = (field: keyof LocalAttributes, secret: boolean, content: () => Promise<string | Buffer>) => {
    const file = attributes[field];
    if (typeof file === 'string') files.push({ field, file, content, secret });
  };
  add('certificate_path', false, async () => material.certificatePem);
  add('chain_path', false, async () => material.chainPem);
  add('fullchain_path', false, async () => material.fullchainPem);
  add('private_key_path', true, async () => material.privateKeyPem!);
  add('pkcs12_path', true, () =>
    exportPkcs12({
      certificates: [material.certificatePem, ...(material.chainPem ? [material.chainPem] : [])].flatMap((pem) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []),
      privateKey: loadPrivateKey(material.privateKeyPem!),
      password: attributes.pkcs12_password ?? '',
      friendlyName: material.name,
    }),
  );
  for (const [index, { file, content, secret }] of files.entries()) {
    signal.throwIfAborted();
    progress(Math.round((80 * index) / files.length), `Writing ${file}`);
    const mode = fixedMode ?? (secret ? 0o600 : 0o644);
    try {
      await writeFileAtomically(file, await content(), mode, owner);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new DeployError(`Cannot write ${file}: directory ${path.dirname(file)} does not exist`);
      if (code === 'EACCES' || code === 'EPERM') throw new DeployError(`Cannot write ${file}: permission denied`);
      if (code) throw new DeployError(`Cannot write ${file}: ${code}`);
      throw error;
    }
  }
  progress(80, `Wrote ${files.length} file(s)`);
  if (attributes.reload_command === undefined) return;
  const argv = Array.isArray(attributes.reload_command) ? attributes.reload_command : parseCommand(attributes.reload_command)!;
  progress(85, `Running ${argv[0]}`);
  const outcome = await runCommand(argv, { timeoutMs: attributes.reload_timeout * 1000, signal, env: { CERTMID_CERTIFICATE_NAME: material.name, CERTMID_CERTIFICATE_SERIAL: material.serial } });
  signal.throwIfAborted();
  const failure = reloadFailure(argv, outcome, attributes.reload_timeout);
  if (failure) throw new DeployError(failure);
  progress(100, `${argv[0]} succeeded`);
}

export const localKind: DeployKind = {
  key: 'LOCAL',
  label: 'Files on this host',
  schema,
  secretFields: ['pkcs12_password'],
  validate,
  deploy,
};
