/**
 * `acme.registration.terms_of_service`: argument errors and unreachable directories against the
 * daemon alone, then Pebble's directory meta (Debian's pebble 2.4: termsOfService
 * "data:text/plain,Do%20what%20thou%20wilt", no website), with and without External Account
 * Binding required, and the TLS trust choices.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acmeToolsAvailable, startPebble, type PebbleServer } from '../helpers/acme-harness.js';
import { opensslOk } from '../helpers/openssl.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { closedPort } from '../helpers/net.js';

const METHOD = 'acme.registration.terms_of_service';
const PEBBLE_TOS = 'data:text/plain,Do%20what%20thou%20wilt';
/** Failures must come back well within this, far below the 30 s request timeout. */
const FAST_MS = 5000;

const haveAcmeTools = await acmeToolsAvailable();

let server: TestServer;
let admin: RawSocket;

beforeAll(async () => {
  server = await startTestServer();
  admin = await RawSocket.open(server.url);
  await admin.login(server.admin.username, server.admin.password);
});
afterAll(async () => {
  admin?.close();
  await server?.close();
});

type Reply = Record<string, unknown> & { error?: { code: number; data: { errname: string; reason: string; extra: unknown } } };

async function call(params: Record<string, unknown>, socket = admin): Promise<{ reply: Reply; elapsedMs: number }> {
  const started = Date.now();
  const reply = (await socket.call(METHOD, [params])) as Reply;
  return { reply, elapsedMs: Date.now() - started };
}

describe(`${METHOD} without an ACME server`, () => {
  it('words argument errors as pydantic does, under acme_registration_terms_of_service', async () => {
    const { reply } = await call({ acme_directory_uri: 5, tos: true });
    expect(reply.error).toMatchObject({ code: -32602, data: { errname: 'EINVAL' } });
    expect(reply.error!.data.extra).toEqual([
      ['acme_registration_terms_of_service.acme_directory_uri', 'Input should be a valid string', 22],
      ['acme_registration_terms_of_service.tos', 'Extra inputs are not permitted', 22],
    ]);
    const bad = await call({ acme_directory_uri: 'ftp://acme.example/directory', ca_bundle: 'not a certificate' });
    expect(bad.reply.error!.data.extra).toEqual([
      ['acme_registration_terms_of_service.acme_directory_uri', 'Input should be a valid URL with the http or https scheme', 22],
      ['acme_registration_terms_of_service.ca_bundle', 'Please provide one or more PEM certificates', 22],
    ]);
    expect((await call({ acme_directory_uri: 'not a url' })).reply.error!.data.extra).toEqual([
      ['acme_registration_terms_of_service.acme_directory_uri', 'Input should be a valid URL with the http or https scheme', 22],
    ]);
  });

  it('fails at once, naming the cause, when nothing listens at the directory', async () => {
    const port = await closedPort();
    for (const scheme of ['http', 'https']) {
      const { reply, elapsedMs } = await call({ acme_directory_uri: `${scheme}://127.0.0.1:${port}/dir` });
      expect(elapsedMs).toBeLessThan(FAST_MS);
      expect(reply.error?.data.reason).toBe(
        `[ECONNREFUSED] Unable to retrieve directory : The ACME server at ${scheme}://127.0.0.1:${port} refused the connection: nothing listens there`,
      );
    }
  });

  it('says when the URL answers with something other than an ACME directory', async () => {
    // The daemon's own web page answers HTML.
    const { reply, elapsedMs } = await call({ acme_directory_uri: `http://127.0.0.1:${server.port}/` });
    expect(elapsedMs).toBeLessThan(FAST_MS);
    expect(reply.error?.data.reason).toMatch(/^\[EFAULT\] Unable to retrieve directory : .*(not an ACME directory|has no newAccount URL)/);
  });
});

describe.runIf(haveAcmeTools)(`${METHOD} against Pebble`, () => {
  let pebble: PebbleServer;
  let eabPebble: PebbleServer;

  beforeAll(async () => {
    // Nothing here validates a challenge, so Pebble's DNS server is never asked.
    [pebble, eabPebble] = await Promise.all([
      startPebble({ dnsServer: '127.0.0.1:53' }),
      startPebble({ dnsServer: '127.0.0.1:53', externalAccountBinding: { kid: 'kid-1', hmacKey: randomBytes(32).toString('base64url') } }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([pebble?.stop(), eabPebble?.stop()]);
  });

  it("returns Pebble's terms of service, trusting the given CA bundle, and registers nothing", async () => {
    const { reply } = await call({ acme_directory_uri: pebble.directoryUrl, ca_bundle: pebble.caBundlePem });
    expect(reply.error).toBeUndefined();
    expect(reply.result).toEqual({ terms_of_service: PEBBLE_TOS, website: null, external_account_required: false });
    expect((await admin.call('acme.registration.query', [])).result).toEqual([]);
  });

  it('says when the directory requires External Account Binding', async () => {
    const { reply } = await call({ acme_directory_uri: eabPebble.directoryUrl, ca_bundle: eabPebble.caBundlePem });
    expect(reply.result).toEqual({ terms_of_service: PEBBLE_TOS, website: null, external_account_required: true });
  });

  it("fails fast on an untrusted TLS certificate, then trusts the directory's registration's CA bundle", async () => {
    const untrusted = await call({ acme_directory_uri: pebble.directoryUrl });
    expect(untrusted.elapsedMs).toBeLessThan(FAST_MS);
    expect(untrusted.reply.error?.data.reason).toMatch(
      /^\[ESSLCERTVERIFICATIONERROR\] Unable to retrieve directory : The TLS certificate of the ACME server at https:\/\/127\.0\.0\.1:\d+ is not trusted .*ca_bundle/,
    );

    const registered = await admin.call('acme.registration.create', [{ tos: true, acme_directory_uri: pebble.directoryUrl, ca_bundle: pebble.caBundlePem }]);
    expect(registered.error).toBeUndefined();
    // With or without the trailing "/" the registration is stored with.
    for (const uri of [pebble.directoryUrl, `${pebble.directoryUrl}/`]) {
      expect((await call({ acme_directory_uri: uri })).reply.result).toEqual({ terms_of_service: PEBBLE_TOS, website: null, external_account_required: false });
    }
    // A bundle given explicitly wins over the registration's.
    const unrelatedCa = (await opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=unrelated CA', '-days', '1'])).stdout;
    const other = await call({ acme_directory_uri: pebble.directoryUrl, ca_bundle: unrelatedCa });
    expect(other.reply.error?.data.reason).toMatch(/^\[ESSLCERTVERIFICATIONERROR\] .*does not chain to the registration's ca_bundle/);
    // A CA with the harness CA's name but another key: found by name, its signature fails.
    const impostorCa = (await opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=certmid test harness CA', '-days', '1'])).stdout;
    const impostor = await call({ acme_directory_uri: pebble.directoryUrl, ca_bundle: impostorCa });
    expect(impostor.reply.error?.data.reason).toMatch(/^\[ESSLCERTVERIFICATIONERROR\] /);
  });

  it('is open to those who may order certificates, not to read-only administrators', async () => {
    const expectAnswer = async (username: string, roles: string[], allowed: boolean) => {
      const created = await admin.call('user.create', [{ username, password: 'a-long-password', roles }]);
      expect(created.error).toBeUndefined();
      const socket = await RawSocket.open(server.url);
      await socket.login(username, 'a-long-password');
      const { reply } = await call({ acme_directory_uri: pebble.directoryUrl }, socket);
      socket.close();
      if (allowed) expect(reply.result).toMatchObject({ terms_of_service: PEBBLE_TOS });
      else expect(reply.error?.data.errname).toBe('EACCES');
    };
    await expectAnswer('tos-certificates', ['CERTIFICATE_WRITE'], true);
    await expectAnswer('tos-acme', ['ACME_WRITE'], true);
    // It fetches a URL the caller chooses: readers must not probe the network through the daemon.
    await expectAnswer('tos-reader', ['READONLY_ADMIN'], false);
    await expectAnswer('tos-nobody', [], false);
  });
});
