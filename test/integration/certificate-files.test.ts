/**
 * Certificates, keys, CSRs and CRLs as files, as TrueNAS writes /etc/certificates, and the trusted
 * store: after every change the files on disk are what the entries' paths say, judged by openssl.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateEntity } from '../../src/certs/entities.js';
import { reconcileCertificateFiles } from '../../src/certs/files/certificate-files.js';
import type { CertmidClient } from '../../src/client/client.js';
import { openssl, opensslOk, opensslSerial } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createIntermediateCa, createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends, type TestDatabase } from '../helpers/services.js';

/** Files follow a change within moments; this only bounds a test that would otherwise hang. */
const WAIT_MS = 20_000;
const EC = { key_type: 'EC', ec_curve: 'SECP256R1' };

const exists = (file: string) => fs.existsSync(file);
const modeOf = (file: string) => fs.statSync(file).mode & 0o777;
const pemBlocks = (text: string) => text.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;

async function until(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  await expect.poll(probe, { timeout: WAIT_MS, interval: 50, message: what }).toBe(true);
}

/** The public key of a certificate file and of a key file, as openssl prints them. */
async function keyMatchesCertificate(keyFile: string, certificateFile: string): Promise<boolean> {
  const fromKey = await opensslOk(['pkey', '-in', keyFile, '-pubout']);
  const fromCertificate = await opensslOk(['x509', '-in', certificateFile, '-noout', '-pubkey']);
  return fromKey.stdout === fromCertificate.stdout;
}

async function crlVerifies(crlFile: string, caFile: string): Promise<{ ok: boolean; text: string }> {
  const result = await openssl(['crl', '-in', crlFile, '-CAfile', caFile, '-noout', '-text']);
  return { ok: result.code === 0 && /verify OK/.test(result.stderr + result.stdout), text: result.stdout };
}

async function verifies(bundle: string, leafFile: string, untrusted?: string): Promise<boolean> {
  const args = ['verify', '-CAfile', bundle, ...(untrusted ? ['-untrusted', untrusted] : []), leafFile];
  const result = await openssl(args);
  return result.code === 0 && result.stdout.includes(': OK');
}

/** `curl --cacert bundle` against an HTTPS server presenting the chain and key the daemon wrote. */
async function curlTrusts(bundle: string, chainFile: string, keyFile: string): Promise<{ ok: boolean; output: string }> {
  const server = https.createServer({ cert: fs.readFileSync(chainFile), key: fs.readFileSync(keyFile) }, (_request, response) => response.end('hello\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise((resolve) => {
      const child = spawn('curl', ['--silent', '--show-error', '--max-time', '20', '--cacert', bundle, `https://localhost:${port}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('close', (code) => resolve({ ok: code === 0 && output === 'hello\n', output }));
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

describe.each(await databaseBackends())('certificate files on %s', (_name, open, available) => {
  let database: TestDatabase;
  let server: TestServer;
  let client: CertmidClient;
  let scratch: string;
  let dir: string;
  let trustedDir: string;
  let bundle: string;
  let root: Entry;
  let intermediate: Entry;

  const caFile = (name: string, extension: string) => path.join(dir, 'CA', `${name}.${extension}`);
  const certFile = (name: string, extension: string) => path.join(dir, `${name}.${extension}`);

  beforeAll(async () => {
    if (!available) return;
    database = await open();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-files-'));
    dir = path.join(scratch, 'certificates');
    trustedDir = path.join(dir, 'trusted-store');
    bundle = path.join(dir, 'trusted-store.pem');
    server = await startTestServer({ env: { ...database.env, CERTIFICATES_DIR: dir } });
    client = await adminClient(server);
    root = await createRootCa(client, 'files-root', EC);
    intermediate = await createIntermediateCa(client, 'files-intermediate', root.id, EC);
  });

  afterAll(async () => {
    client?.close();
    const dataDir = server?.dataDir;
    await server?.close();
    // The restart test reuses the first daemon's data directory, which its close then keeps.
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    await database?.drop();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it.skipIf(!available)('writes every CA, certificate, key, CSR and CRL where its entry says, as openssl reads them', async () => {
    const leaf = await createInternalCertificate(client, 'files-leaf', intermediate.id, EC);
    const { lifetime: _lifetime, ...csrSubject } = subjectParams(EC);
    const csr = await client.callJob<Entry>('certificate.create', [{ ...csrSubject, name: 'files-csr', create_type: 'CERTIFICATE_CREATE_CSR' }]);
    const imported = await importSelfSigned(client, 'files-imported');
    const [rootEntry, leafEntry, csrEntry, importedEntry] = await Promise.all([
      client.call<Entry>('certificateauthority.get_instance', root.id),
      client.call<Entry>('certificate.get_instance', leaf.id),
      client.call<Entry>('certificate.get_instance', csr.id),
      client.call<Entry>('certificate.get_instance', imported.id),
    ]);
    expect(rootEntry).toMatchObject({ root_path: path.join(dir, 'CA'), certificate_path: caFile('files-root', 'crt'), privatekey_path: caFile('files-root', 'key'), crl_path: caFile('files-root', 'crl') });
    expect(leafEntry).toMatchObject({ root_path: dir, certificate_path: certFile('files-leaf', 'crt'), privatekey_path: certFile('files-leaf', 'key'), csr_path: certFile('files-leaf', 'csr') });
    await until(() => [leafEntry, csrEntry, importedEntry].every((entry) => exists(entry.privatekey_path as string)), 'the keys are written');
    await until(() => exists(csrEntry.csr_path as string) && exists(importedEntry.certificate_path as string), 'the CSR and the imported certificate are written');

    // Certificates: chains (leaf, intermediate, root), each parsed; keys valid, matching, owner-only.
    const leafChain = fs.readFileSync(leafEntry.certificate_path as string, 'utf8');
    expect(pemBlocks(leafChain)).toBe(3);
    expect((await opensslOk(['x509', '-in', leafEntry.certificate_path as string, '-noout', '-subject'])).stdout).toContain('CN = dev');
    expect(await verifies(caFile('files-root', 'crt'), leafEntry.certificate_path as string, caFile('files-intermediate', 'crt'))).toBe(true);
    for (const [entry, crt] of [
      [rootEntry, caFile('files-root', 'crt')],
      [intermediate, caFile('files-intermediate', 'crt')],
      [leafEntry, leafEntry.certificate_path],
      [importedEntry, importedEntry.certificate_path],
    ] as const) {
      const key = (entry.privatekey_path as string | undefined) ?? caFile(entry.name, 'key');
      expect((await openssl(['pkey', '-in', key, '-check', '-noout'])).code, key).toBe(0);
      expect(await keyMatchesCertificate(key, crt as string), key).toBe(true);
      expect(modeOf(key), key).toBe(0o600);
      expect(modeOf(crt as string), crt as string).toBe(0o644);
    }
    expect(fs.readFileSync(importedEntry.certificate_path as string, 'utf8').trim()).toBe((imported.certificate as string).trim());

    // The CSR: its request verifies, its key matches it; it has no certificate file.
    const request = await openssl(['req', '-in', csrEntry.csr_path as string, '-verify', '-noout']);
    expect(request.code, request.stderr).toBe(0);
    expect(request.stderr + request.stdout).toMatch(/verify OK/i);
    const requestKey = await opensslOk(['req', '-in', csrEntry.csr_path as string, '-noout', '-pubkey']);
    expect((await opensslOk(['pkey', '-in', csrEntry.privatekey_path as string, '-pubout'])).stdout).toBe(requestKey.stdout);
    expect(modeOf(csrEntry.csr_path as string)).toBe(0o644);
    expect(exists(csrEntry.certificate_path as string)).toBe(false);

    // One CRL per CA, signed by it.
    for (const name of ['files-root', 'files-intermediate']) {
      expect(modeOf(caFile(name, 'crl'))).toBe(0o644);
      expect((await crlVerifies(caFile(name, 'crl'), caFile(name, 'crt'))).ok, name).toBe(true);
    }
    expect(modeOf(dir)).toBe(0o755);
    expect(modeOf(path.join(dir, 'CA'))).toBe(0o755);
  });

  it.skipIf(!available)('lists a revoked certificate in its CA’s CRL file, signed by the CA', async () => {
    const leaf = await createInternalCertificate(client, 'files-revoked', intermediate.id, EC);
    await until(() => exists(certFile('files-revoked', 'crt')), 'the certificate is written');
    const serial = opensslSerial(leaf.serial as number);
    expect((await crlVerifies(caFile('files-intermediate', 'crl'), caFile('files-intermediate', 'crt'))).text).not.toContain(`Serial Number: ${serial}`);
    await client.callJob('certificate.update', [leaf.id, { revoked: true, revoked_reason: 'KEY_COMPROMISE' }]);
    await until(async () => (await crlVerifies(caFile('files-intermediate', 'crl'), caFile('files-intermediate', 'crt'))).text.includes(`Serial Number: ${serial}`), 'the CRL lists the serial');
    const crl = await crlVerifies(caFile('files-intermediate', 'crl'), caFile('files-intermediate', 'crt'));
    expect(crl.ok).toBe(true);
    expect(crl.text).toContain('Key Compromise');
    // openssl, checking revocation with the files alone, refuses the certificate.
    const check = await openssl(['verify', '-crl_check', '-CAfile', caFile('files-intermediate', 'crt'), '-CRLfile', caFile('files-intermediate', 'crl'), certFile('files-revoked', 'crt')]);
    expect(check.stdout + check.stderr).toContain('certificate revoked');
  });

  it.skipIf(!available)('moves the files of a renamed certificate or CA, leaving none under the old names', async () => {
    const leaf = await createInternalCertificate(client, 'files-before', root.id, EC);
    const ca = await createRootCa(client, 'files-ca-before', EC);
    await until(() => exists(certFile('files-before', 'key')) && exists(caFile('files-ca-before', 'crl')), 'the files are written');
    const renamed = await client.callJob<Entry>('certificate.update', [leaf.id, { name: 'files-after' }]);
    const renamedCa = await client.call<Entry>('certificateauthority.update', ca.id, { name: 'files-ca-after' });
    expect(renamed).toMatchObject({ certificate_path: certFile('files-after', 'crt'), privatekey_path: certFile('files-after', 'key') });
    expect(renamedCa).toMatchObject({ certificate_path: caFile('files-ca-after', 'crt'), crl_path: caFile('files-ca-after', 'crl') });
    await until(() => ['crt', 'key'].every((extension) => exists(certFile('files-after', extension)) && !exists(certFile('files-before', extension))), 'the certificate moved');
    await until(() => ['crt', 'key', 'crl'].every((extension) => exists(caFile('files-ca-after', extension)) && !exists(caFile('files-ca-before', extension))), 'the CA moved');
    expect(await keyMatchesCertificate(certFile('files-after', 'key'), certFile('files-after', 'crt'))).toBe(true);
    expect((await crlVerifies(caFile('files-ca-after', 'crl'), caFile('files-ca-after', 'crt'))).ok).toBe(true);
  });

  it.skipIf(!available)('removes the files of a deleted entry and never touches files it did not write', async () => {
    const foreign: Record<string, string> = {
      [path.join(dir, 'notes.txt')]: 'an administrator’s notes\n',
      [path.join(dir, 'someone-else.crt')]: 'not ours\n',
      [path.join(dir, 'CA', 'someone-else.crl')]: 'not ours either\n',
      [path.join(trustedDir, 'ca_someone-else.crt')]: 'nor this\n',
    };
    fs.mkdirSync(trustedDir, { recursive: true });
    for (const [file, text] of Object.entries(foreign)) fs.writeFileSync(file, text);
    const leaf = await createInternalCertificate(client, 'files-deleted', root.id, { ...EC, add_to_trusted_store: true });
    const ca = await createRootCa(client, 'files-ca-deleted', EC);
    await until(() => exists(certFile('files-deleted', 'key')) && exists(caFile('files-ca-deleted', 'crl')) && exists(path.join(trustedDir, 'cert_files-deleted.crt')), 'the files are written');
    await client.callJob('certificate.delete', [leaf.id]);
    await client.call('certificateauthority.delete', ca.id);
    await until(() => !exists(certFile('files-deleted', 'crt')) && !exists(certFile('files-deleted', 'key')) && !exists(path.join(trustedDir, 'cert_files-deleted.crt')), 'the certificate’s files are gone');
    await until(() => ['crt', 'key', 'crl'].every((extension) => !exists(caFile('files-ca-deleted', extension))), 'the CA’s files are gone');
    for (const [file, text] of Object.entries(foreign)) expect(fs.readFileSync(file, 'utf8'), file).toBe(text);
  });

  it.skipIf(!available)('trusts a CA’s certificates through the bundle once it is added to the trusted store, and not before or after', async () => {
    const ca = await createRootCa(client, 'files-trusted-root', EC);
    const leaf = await createInternalCertificate(client, 'files-trusted-leaf', ca.id, { ...EC, san: ['localhost', '127.0.0.1'] });
    await until(() => exists(certFile('files-trusted-leaf', 'key')) && exists(bundle), 'the leaf and the bundle are written');
    const leafFile = certFile('files-trusted-leaf', 'crt');
    expect(await verifies(bundle, leafFile)).toBe(false);
    expect((await curlTrusts(bundle, leafFile, certFile('files-trusted-leaf', 'key'))).ok).toBe(false);

    await client.call('certificateauthority.update', ca.id, { add_to_trusted_store: true });
    const copy = path.join(trustedDir, 'ca_files-trusted-root.crt');
    await until(() => exists(copy), 'the CA is in the trusted store');
    await until(() => verifies(bundle, leafFile), 'the bundle trusts the leaf');
    expect(fs.readFileSync(copy, 'utf8').trim()).toBe((ca.certificate as string).trim());
    expect(modeOf(copy)).toBe(0o644);
    expect(modeOf(bundle)).toBe(0o644);
    const curl = await curlTrusts(bundle, leafFile, certFile('files-trusted-leaf', 'key'));
    expect(curl.ok, curl.output).toBe(true);
    expect(await client.call('certificate.files_status')).toMatchObject({ trusted_store: { directory: trustedDir, bundle, entries: expect.arrayContaining(['ca_files-trusted-root.crt']) } });

    await client.call('certificateauthority.update', ca.id, { add_to_trusted_store: false });
    await until(() => !exists(copy), 'the CA left the trusted store');
    await until(async () => !(await verifies(bundle, leafFile)), 'the bundle no longer trusts the leaf');
  });

  it.skipIf(!available)('puts a trusted certificate in the store with its chain, and takes it out when its CA is revoked', async () => {
    const ca = await createRootCa(client, 'files-doomed-root', EC);
    const leaf = await createInternalCertificate(client, 'files-trusted-cert', ca.id, { ...EC, add_to_trusted_store: true });
    const copy = path.join(trustedDir, 'cert_files-trusted-cert.crt');
    await until(() => exists(copy), 'the certificate is in the trusted store');
    expect(pemBlocks(fs.readFileSync(copy, 'utf8'))).toBe(2);
    expect(fs.readFileSync(bundle, 'utf8')).toContain((leaf.certificate as string).trim());
    // Revoking the CA revokes the certificate too, flag and all: a revoked entry is never trusted.
    await client.call('certificateauthority.update', ca.id, { revoked: true });
    expect(await client.call<Entry>('certificate.get_instance', leaf.id)).toMatchObject({ revoked: true, add_to_trusted_store: true });
    await until(() => !exists(copy), 'the revoked certificate left the trusted store');
    expect(fs.readFileSync(bundle, 'utf8')).not.toContain((leaf.certificate as string).trim());
  });

  it.skipIf(!available)('writes nothing for a name that is no safe file name, such as a restored backup could hold, and says so', async () => {
    const leaf = await createInternalCertificate(client, 'files-unsafe', root.id, EC);
    await until(() => exists(certFile('files-unsafe', 'key')), 'the certificate is written');
    // No API call accepts such a name; a row can only come by it from outside, e.g. a crafted backup.
    const { app } = server.daemon;
    await app.db.getRepository(CertificateEntity).update({ id: leaf.id }, { name: '../escaped' });
    await app.events.publish({ collection: 'certificate.query', msg: 'changed', id: leaf.id });
    await until(async () => (await client.call<{ skipped: unknown[] }>('certificate.files_status')).skipped.length === 1, 'the entry is reported');
    expect((await client.call<{ skipped: unknown[] }>('certificate.files_status')).skipped).toEqual([{ name: '../escaped', cert_type: 'CERTIFICATE', reason: 'The name cannot be used as a file name' }]);
    await until(() => !exists(certFile('files-unsafe', 'key')), 'the files under its former name are gone');
    expect(fs.readdirSync(scratch).sort()).toEqual(['certificates']);
    await client.callJob('certificate.delete', [leaf.id]);
    await until(async () => (await client.call<{ skipped: unknown[] }>('certificate.files_status')).skipped.length === 0, 'the report clears');
  });

  it.skipIf(!available)('rewrites only the entries a change names, and the periodic full pass repairs a file removed by hand', async () => {
    const kept = await createInternalCertificate(client, 'files-untouched', root.id, EC);
    const changed = await createInternalCertificate(client, 'files-changed', root.id, EC);
    await until(() => exists(certFile(kept.name as string, 'crt')) && exists(certFile(changed.name as string, 'crt')), 'both certificates are written');
    fs.rmSync(certFile('files-untouched', 'crt'));
    await client.callJob('certificate.update', [changed.id, { name: 'files-changed-renamed' }]);
    await until(() => exists(certFile('files-changed-renamed', 'crt')) && !exists(certFile('files-changed', 'crt')), 'the renamed certificate moves');
    await until(async () => !(await client.call<{ pending: boolean }>('certificate.files_status')).pending, 'the pass ends');
    // The change's pass looked at its own entry only.
    expect(exists(certFile('files-untouched', 'crt'))).toBe(false);
    await reconcileCertificateFiles(server.daemon.app);
    expect(await opensslOk(['x509', '-in', certFile('files-untouched', 'crt'), '-noout', '-serial'])).toMatchObject({ stdout: `serial=${opensslSerial(kept.serial as number)}\n` });
    expect(await keyMatchesCertificate(certFile('files-untouched', 'key'), certFile('files-untouched', 'crt'))).toBe(true);
    await client.callJob('certificate.delete', [kept.id]);
    await until(() => !exists(certFile('files-untouched', 'key')), 'the deleted certificate goes');
  });

  it.skipIf(!available)('puts back at start what was changed or removed while it was stopped', async () => {
    const leaf = await createInternalCertificate(client, 'files-restart', root.id, EC);
    await until(() => exists(certFile('files-restart', 'key')), 'the certificate is written');
    const key = fs.readFileSync(certFile('files-restart', 'key'));
    client.close();
    await server.daemon.stop(1000);
    fs.rmSync(certFile('files-restart', 'crt'));
    fs.writeFileSync(certFile('files-restart', 'key'), 'tampered');
    fs.chmodSync(certFile('files-restart', 'key'), 0o644);
    server = await startTestServer({ dataDir: server.dataDir, env: { ...database.env, CERTIFICATES_DIR: dir, ADMIN_PASSWORD: server.admin.password } });
    client = await adminClient(server);
    await until(() => exists(certFile('files-restart', 'crt')), 'the certificate is back');
    await until(() => fs.readFileSync(certFile('files-restart', 'key')).equals(key) && modeOf(certFile('files-restart', 'key')) === 0o600, 'the key is back, owner-only');
    expect(await client.call<Entry>('certificate.get_instance', leaf.id)).toMatchObject({ name: 'files-restart' });
  });
});

/** Imports a self-signed certificate and key made by openssl. */
async function importSelfSigned(client: CertmidClient, name: string): Promise<Entry> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-import-'));
  try {
    const key = path.join(scratch, 'key.pem');
    const certificate = path.join(scratch, 'cert.pem');
    await opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', certificate, '-subj', `/CN=${name}.example.com`, '-days', '30']);
    return await client.callJob<Entry>('certificate.create', [
      { name, create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: fs.readFileSync(certificate, 'utf8'), privatekey: fs.readFileSync(key, 'utf8') },
    ]);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

describe('the trusted-store update command', () => {
  let server: TestServer;
  let client: CertmidClient;
  let scratch: string;
  const logLines: string[] = [];
  const calls = () => (fs.existsSync(path.join(scratch, 'calls')) ? fs.readFileSync(path.join(scratch, 'calls'), 'utf8').replace(/\n$/, '').split('\n') : []);
  const setMode = (mode: 'ok' | 'fail' | 'hang') => fs.writeFileSync(path.join(scratch, 'mode'), mode);
  const status = () => client.call<{ pending: boolean; reconciled_at: Date | null; trusted_store: { error: string | null; updated_at: Date | null; update_command: string[] } }>('certificate.files_status');

  beforeAll(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-trust-'));
    setMode('ok');
    // Records each call (its arguments, where the store is, what it holds), then does what `mode` says.
    const script = path.join(scratch, 'update store.sh');
    fs.writeFileSync(
      script,
      [
        '#!/bin/sh',
        'here=$(dirname "$0")',
        'printf \'%s|%s|%s\\n\' "$*" "$CERTMID_TRUSTED_STORE_DIR" "$(ls "$CERTMID_TRUSTED_STORE_DIR" | tr \'\\n\' \' \')" >> "$here/calls"',
        'case $(cat "$here/mode") in',
        '  fail) echo "cannot rehash: boom" >&2; exit 1 ;;',
        '  hang) exec sleep 600 ;;',
        'esac',
      ].join('\n') + '\n',
      { mode: 0o755 },
    );
    server = await startTestServer({
      logLines,
      env: { CERTIFICATES_DIR: path.join(scratch, 'certificates'), TRUSTED_STORE_UPDATE_COMMAND: JSON.stringify([script, '--fresh']), TRUSTED_STORE_UPDATE_TIMEOUT_SECONDS: '2' },
    });
    client = await adminClient(server);
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Waits for the pass a change caused to end (its files are written and nothing is pending). */
  async function settled(file: string): Promise<Awaited<ReturnType<typeof status>>> {
    await until(() => exists(file), `${file} is written`);
    await until(async () => !(await status()).pending, 'no pass is pending');
    return status();
  }

  it('runs once at start, and again after the trusted store changes, with its arguments and without a shell', async () => {
    await until(() => calls().length === 1, 'the command ran at start');
    const trustedDir = path.join(scratch, 'certificates', 'trusted-store');
    expect(calls()[0]).toBe(`--fresh|${trustedDir}|`);
    // The script has written its line; the daemon records the run once the process has exited.
    await until(async () => (await status()).trusted_store.updated_at !== null, 'the run is recorded');
    expect((await status()).trusted_store).toMatchObject({ error: null, updated_at: expect.any(Date), update_command: [path.join(scratch, 'update store.sh'), '--fresh'] });
    await createRootCa(client, 'command-root', { ...EC, add_to_trusted_store: true });
    await until(() => calls().length === 2, 'the command ran after the store changed');
    expect(calls()[1]).toBe(`--fresh|${trustedDir}|ca_command-root.crt `);
  });

  it('does not run when nothing in the trusted store changed', async () => {
    const before = calls().length;
    await createRootCa(client, 'command-untrusted', EC);
    await settled(path.join(scratch, 'certificates', 'CA', 'command-untrusted.crl'));
    expect(calls()).toHaveLength(before);
  });

  it('reports a failure in TrueNAS’s words, in the log and in certificate.files_status, until a run succeeds', async () => {
    setMode('fail');
    const ca = await createRootCa(client, 'command-failing', { ...EC, add_to_trusted_store: true });
    const message = "Failed to update system's trusted certificate store: cannot rehash: boom";
    await until(async () => (await status()).trusted_store.error === message, 'the failure is reported');
    const logged = logLines.map((line) => JSON.parse(line) as { level: number; msg: string }).find((entry) => entry.msg === message);
    expect(logged?.level).toBe(50);

    setMode('hang');
    await client.call('certificateauthority.update', ca.id, { add_to_trusted_store: false });
    await until(async () => /did not finish within 2 seconds$/.test((await status()).trusted_store.error ?? ''), 'the hung command is reported');
    expect((await status()).trusted_store.error).toMatch(/^Failed to update system's trusted certificate store: .*update store\.sh did not finish within 2 seconds$/);

    setMode('ok');
    const before = calls().length;
    // Any pass retries a command whose last run failed, even one that changes nothing in the store.
    await createRootCa(client, 'command-recovered', EC);
    await until(async () => (await status()).trusted_store.error === null, 'the failure clears');
    expect(calls().length).toBeGreaterThan(before);
  });
});

describe('a reader of the files', () => {
  let server: TestServer;
  let client: CertmidClient;
  let scratch: string;

  beforeAll(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-readers-'));
    server = await startTestServer({ env: { CERTIFICATES_DIR: path.join(scratch, 'certificates') } });
    client = await adminClient(server);
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('never sees a partial file while the daemon rewrites it again and again', async () => {
    const cas: Entry[] = [];
    for (let i = 0; i < 8; i++) cas.push(await createRootCa(client, `reader-${i}`, { ...EC, add_to_trusted_store: true }));
    const bundle = path.join(scratch, 'certificates', 'trusted-store.pem');
    await until(() => exists(bundle) && pemBlocks(fs.readFileSync(bundle, 'utf8')) === 8, 'the bundle holds all eight');
    const reader = await startReader(bundle);
    try {
      // Each flip rewrites the bundle (waited for, so none coalesce); seven CAs stay in it, so an
      // empty or cut read is never right.
      for (let flip = 0; flip < 30; flip++) {
        const trusted = flip % 2 === 1;
        await client.call('certificateauthority.update', cas[0]!.id, { add_to_trusted_store: trusted });
        await until(() => pemBlocks(fs.readFileSync(bundle, 'utf8')) === (trusted ? 8 : 7), `flip ${flip} is written`);
      }
    } finally {
      const summary = await reader.stop();
      expect(summary.failures, summary.sample).toBe(0);
      // Its first burst of 200 always completes; that it saw both versions shows it read across the rewrites.
      expect(summary.reads).toBeGreaterThanOrEqual(200);
      expect(summary.versions).toBe(2);
    }
  });
});

/**
 * Another process reading `file` as fast as it can, each read parsed: at least seven certificates,
 * each a whole PEM block that parses, nothing after the last. Stops when its stdin closes.
 */
async function startReader(file: string): Promise<{ stop(): Promise<{ reads: number; failures: number; versions: number; sample: string }> }> {
  const code = `
    const fs = require('node:fs');
    const { X509Certificate } = require('node:crypto');
    let reads = 0, failures = 0, sample = '', running = true;
    const versions = new Set();
    process.stdin.on('end', () => (running = false)).resume();
    function check(text) {
      const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\\n/g) ?? [];
      if (blocks.length < 7 || blocks.join('') !== text) throw new Error('not whole PEM blocks: ' + text.length + ' bytes');
      for (const block of blocks) new X509Certificate(block);
    }
    function burst() {
      if (reads === 0) process.stdout.write('ready\\n');
      for (let i = 0; i < 200; i++) {
        const text = fs.readFileSync(process.argv[1], 'utf8');
        reads++;
        versions.add(text.length + ':' + text.slice(-120));
        try { check(text); } catch (error) { failures++; sample ||= String(error.message); }
      }
      if (running) setImmediate(burst);
      else process.stdout.write(JSON.stringify({ reads, failures, versions: versions.size, sample }) + '\\n');
    }
    burst();
  `;
  const child = spawn(process.execPath, ['-e', code, file], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await until(() => output.startsWith('ready\n'), 'the reader runs');
  return {
    async stop() {
      child.stdin.end();
      await exited;
      return JSON.parse(output.slice('ready\n'.length)) as { reads: number; failures: number; versions: number; sample: string };
    },
  };
}
