/**
 * The `openssl` binary as an independent judge in tests: small async wrappers that write inputs to
 * temporary files, run one command and return its output.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface OpensslResult {
  stdout: string;
  stderr: string;
  code: number;
  /** stdout as bytes, for DER output. */
  stdoutBuffer: Buffer;
}

/** Runs `openssl …args` with optional stdin. Never rejects on a non-zero exit; check `code`. */
export function openssl(args: readonly string[], input?: string | Buffer): Promise<OpensslResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdoutBuffer = Buffer.concat(out);
      resolve({ stdout: stdoutBuffer.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code: code ?? -1, stdoutBuffer });
    });
    // Commands that never read stdin may exit first; their exit code tells what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/** Runs `work` with `files` written into a fresh temporary directory (paths keyed like `files`). */
export async function withFiles<T>(files: Record<string, string | Buffer>, work: (paths: Record<string, string>, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'certmid-openssl-'));
  try {
    const paths: Record<string, string> = {};
    for (const [name, content] of Object.entries(files)) {
      paths[name] = path.join(dir, name);
      await writeFile(paths[name], content);
    }
    return await work(paths, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs openssl and throws with its stderr when it fails. */
export async function opensslOk(args: readonly string[], input?: string | Buffer): Promise<OpensslResult> {
  const result = await openssl(args, input);
  if (result.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result;
}

/** A serial number as openssl prints it: upper-case hex in whole bytes (`0C0EF6`, not `C0EF6`). */
export function opensslSerial(serial: number | bigint): string {
  const hex = BigInt(serial).toString(16).toUpperCase();
  return hex.length % 2 === 0 ? hex : `0${hex}`;
}

/** `openssl x509 -noout -text`. */
export async function x509Text(pem: string): Promise<string> {
  return (await opensslOk(['x509', '-noout', '-text'], pem)).stdout;
}

/** `openssl x509 -hash` as an integer. */
export async function x509Hash(pem: string): Promise<number> {
  return parseInt((await opensslOk(['x509', '-noout', '-hash'], pem)).stdout.trim(), 16);
}

/** `openssl x509 -fingerprint -sha1|-sha256` value (`AB:CD:…`). */
export async function x509Fingerprint(pem: string, digest: 'sha1' | 'sha256'): Promise<string> {
  const { stdout } = await opensslOk(['x509', '-noout', '-fingerprint', `-${digest}`], pem);
  return stdout.trim().split('=')[1] ?? '';
}

/** One extension as `openssl x509 -text` shows it, its value dedented to pyOpenSSL's indent 0. */
export interface OpensslExtension {
  title: string;
  critical: boolean;
  value: string;
}

/** Extensions of `openssl x509|req -text` output, in order. */
export function opensslExtensions(text: string): OpensslExtension[] {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => /^\s+(X509v3 extensions|Requested Extensions):$/.test(line));
  if (start < 0) return [];
  const headerIndent = (lines[start + 1]?.match(/^ */)?.[0].length ?? 0);
  const out: OpensslExtension[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const indent = line.match(/^ */)?.[0].length ?? 0;
    if (indent < headerIndent || line.trim() === '') break;
    if (indent === headerIndent) {
      const match = /^\s*(.+?):\s?(critical)?$/.exec(line);
      out.push({ title: match?.[1] ?? line.trim(), critical: match?.[2] === 'critical', value: '' });
    } else {
      const current = out[out.length - 1];
      if (current) current.value += (current.value ? '\n' : '') + line.slice(headerIndent + 4);
    }
  }
  return out;
}

/**
 * `openssl verify -CAfile <root> -untrusted <intermediates>` for a leaf; `chain` is the
 * intermediates followed by the root (last). With `crlPem`, revocation is checked too.
 */
export async function verifyChain(leafPem: string, chain: readonly string[], options: { crlPem?: string } = {}): Promise<{ ok: boolean; output: string }> {
  const root = chain[chain.length - 1] ?? leafPem;
  const intermediates = chain.slice(0, -1).join('');
  return withFiles({ 'leaf.pem': leafPem, 'root.pem': root, 'untrusted.pem': intermediates || root, 'crl.pem': options.crlPem ?? '' }, async (paths) => {
    const args = ['verify', '-CAfile', paths['root.pem']!, '-untrusted', paths['untrusted.pem']!];
    if (options.crlPem) args.push('-crl_check', '-CRLfile', paths['crl.pem']!);
    args.push(paths['leaf.pem']!);
    const result = await openssl(args);
    return { ok: result.code === 0 && result.stdout.includes(': OK'), output: result.stdout + result.stderr };
  });
}

/** `openssl req -verify -noout -text`: whether the self-signature verifies, and the text. */
export async function reqVerify(csrPem: string): Promise<{ ok: boolean; text: string }> {
  const result = await openssl(['req', '-verify', '-noout', '-text'], csrPem);
  return { ok: result.code === 0 && /verify OK/.test(result.stdout + result.stderr), text: result.stdout };
}

/** `openssl crl -text -noout [-CAfile ca]`: text and whether the signature verified. */
export async function crlText(crlPem: string, caPem?: string): Promise<{ ok: boolean; text: string }> {
  return withFiles({ 'crl.pem': crlPem, 'ca.pem': caPem ?? '' }, async (paths) => {
    const args = ['crl', '-text', '-noout', '-in', paths['crl.pem']!];
    if (caPem) args.push('-CAfile', paths['ca.pem']!);
    const result = await openssl(args);
    const text = result.stdout + result.stderr;
    return { ok: result.code === 0 && (!caPem || /verify OK/.test(text)), text };
  });
}

/** `openssl pkcs12 -info -nodes` (no -legacy): exit status and everything printed. */
export async function pkcs12Info(der: Buffer, password: string): Promise<{ ok: boolean; text: string }> {
  return withFiles({ 'in.p12': der }, async (paths) => {
    const result = await openssl(['pkcs12', '-info', '-nodes', '-in', paths['in.p12']!, '-passin', `pass:${password}`]);
    return { ok: result.code === 0, text: result.stdout + result.stderr };
  });
}

/** `openssl pkcs12 -export`, default (AES) or `-legacy` (RC2/3DES, SHA-1 MAC). */
export async function makePkcs12(options: { certificatePem: string; keyPem: string; chainPem?: string; password: string; legacy?: boolean; name?: string }): Promise<Buffer> {
  return withFiles({ 'cert.pem': options.certificatePem, 'key.pem': options.keyPem, 'chain.pem': options.chainPem ?? '' }, async (paths, dir) => {
    const out = path.join(dir, 'out.p12');
    const args = ['pkcs12', '-export', '-in', paths['cert.pem']!, '-inkey', paths['key.pem']!, '-out', out, '-passout', `pass:${options.password}`];
    if (options.chainPem) args.push('-certfile', paths['chain.pem']!);
    if (options.legacy) args.push('-legacy');
    if (options.name) args.push('-name', options.name);
    await opensslOk(args);
    return readFile(out);
  });
}

/** Whether this OpenSSL has the legacy provider (needed for `pkcs12 -legacy` and RC2). */
export async function hasLegacyProvider(): Promise<boolean> {
  return (await openssl(['list', '-providers', '-provider', 'legacy'])).code === 0;
}

/** Key shapes `openssl` produces, for loadPrivateKey tests. */
export type KeyShape =
  | 'pkcs8-rsa'
  | 'pkcs8-ec'
  | 'pkcs8-ed25519'
  | 'pkcs1-rsa'
  | 'sec1-ec-with-params'
  | 'pkcs8-encrypted'
  | 'legacy-encrypted-rsa'
  | 'legacy-encrypted-ec'
  | 'der-pkcs8'
  | 'der-pkcs1'
  | 'der-sec1'
  | 'der-pkcs8-encrypted';

export const KEY_PASSPHRASE = 'correct horse';

/** A private key in the given shape (PEM text or DER bytes) and its unencrypted PKCS#8 PEM for comparison. */
export async function genKey(shape: KeyShape): Promise<{ key: string | Buffer; passphrase: string | null; pkcs8: string }> {
  const pass = `pass:${KEY_PASSPHRASE}`;
  const rsa = async (): Promise<string> => (await opensslOk(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'])).stdout;
  const ec = async (): Promise<string> => (await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout;
  const convert = async (input: string, args: string[]): Promise<OpensslResult> => opensslOk(args, input);
  const pkcs8Of = async (input: string | Buffer, args: string[] = []): Promise<string> => (await opensslOk(['pkey', ...args], input)).stdout;
  switch (shape) {
    case 'pkcs8-rsa': {
      const key = await rsa();
      return { key, passphrase: null, pkcs8: key };
    }
    case 'pkcs8-ec': {
      const key = await ec();
      return { key, passphrase: null, pkcs8: key };
    }
    case 'pkcs8-ed25519': {
      const key = (await opensslOk(['genpkey', '-algorithm', 'ED25519'])).stdout;
      return { key, passphrase: null, pkcs8: key };
    }
    case 'pkcs1-rsa': {
      const key = (await opensslOk(['genrsa', '-traditional', '2048'])).stdout;
      return { key, passphrase: null, pkcs8: await pkcs8Of(key) };
    }
    case 'sec1-ec-with-params': {
      const key = (await opensslOk(['ecparam', '-name', 'secp384r1', '-genkey'])).stdout;
      return { key, passphrase: null, pkcs8: await pkcs8Of(key) };
    }
    case 'pkcs8-encrypted': {
      const plain = await rsa();
      const key = (await convert(plain, ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-passout', pass])).stdout;
      return { key, passphrase: KEY_PASSPHRASE, pkcs8: plain };
    }
    case 'legacy-encrypted-rsa': {
      const plain = await rsa();
      const key = (await convert(plain, ['rsa', '-aes256', '-traditional', '-passout', pass])).stdout;
      return { key, passphrase: KEY_PASSPHRASE, pkcs8: plain };
    }
    case 'legacy-encrypted-ec': {
      const plain = await ec();
      const key = (await convert(plain, ['ec', '-aes256', '-passout', pass])).stdout;
      return { key, passphrase: KEY_PASSPHRASE, pkcs8: plain };
    }
    case 'der-pkcs8': {
      const plain = await ec();
      return { key: (await convert(plain, ['pkey', '-outform', 'DER'])).stdoutBuffer, passphrase: null, pkcs8: plain };
    }
    case 'der-pkcs1': {
      const plain = await rsa();
      return { key: (await convert(plain, ['rsa', '-traditional', '-outform', 'DER'])).stdoutBuffer, passphrase: null, pkcs8: plain };
    }
    case 'der-sec1': {
      const plain = await ec();
      return { key: (await convert(plain, ['ec', '-outform', 'DER'])).stdoutBuffer, passphrase: null, pkcs8: plain };
    }
    case 'der-pkcs8-encrypted': {
      const plain = await ec();
      const key = (await convert(plain, ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-outform', 'DER', '-passout', pass])).stdoutBuffer;
      return { key, passphrase: KEY_PASSPHRASE, pkcs8: plain };
    }
  }
}

/** `openssl pkey -check -noout` on a PEM private key: whether OpenSSL accepts it. */
export async function pkeyCheck(pem: string): Promise<boolean> {
  const result = await openssl(['pkey', '-check', '-noout'], pem);
  return result.code === 0;
}

/** A self-signed EC P-256 certificate and its key from openssl, valid for `days` from now. */
export async function selfSignedCertificate(common: string, days: number): Promise<{ certificate: string; privatekey: string }> {
  const out = (
    await opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '-', '-out', '-', '-days', String(days), '-subj', `/CN=${common}`])
  ).stdout;
  return {
    privatekey: /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(out)![0],
    certificate: /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(out)![0],
  };
}
