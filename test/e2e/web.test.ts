/**
 * The web page in Debian's Chromium, driven by playwright-core against a real daemon: every flow
 * by clicks and typing, checked on the page and in the server's state (through the client library).
 * Screenshots of the dashboard and each wizard step go to test-artifacts/web/.
 */
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type WebSocketConstructor } from '../../src/client/client.js';
import { issueCertificate } from '../../src/crypto/certificates.js';
import { defaultExtensions } from '../../src/crypto/extensions.js';
import { exportPrivateKeyPem, generatePrivateKey } from '../../src/crypto/keys.js';
import { opensslOk, opensslSerial } from '../helpers/openssl.js';
import { acmeToolsAvailable, startBind, startPebble, type BindServer, type PebbleServer } from '../helpers/acme-harness.js';
import { closedPort } from '../helpers/net.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Entry = Record<string, any>;

const CHROMIUM = '/usr/bin/chromium';
/** Chromium flags for a headless run as root in a container; playwright adds a fresh --user-data-dir through launchPersistentContext. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));
const LAPTOP = { width: 1366, height: 900 };
const PHONE = { width: 390, height: 844 };

const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI: apt-get install chromium`);
const haveAcmeTools = haveChromium && (await acmeToolsAvailable());

async function connect(server: TestServer): Promise<CertmidClient> {
  const client = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 30_000 });
  await client.login(server.admin.username, server.admin.password);
  return client;
}

/** RFC 5280 reasons as the Reason select lists them (certmid's REVOCATION_REASONS), "Unspecified" first. */
const REASON_LABELS = [
  'Unspecified',
  'Key Compromise',
  'CA Compromise',
  'Affiliation Changed',
  'Superseded',
  'Cessation of Operation',
  'Certificate Hold',
  'Privilege Withdrawn',
  'AA Compromise',
];

const SUBJECT = { country: 'US', state: 'Tennessee', city: 'Knoxville', organization: 'Lab', email: 'pki@lab.example' };

describe.runIf(haveChromium)('the web page', () => {
  let server: TestServer;
  let api: CertmidClient;
  let context: BrowserContext;
  let page: Page;
  let dataDir: string;
  let origin: string;

  const shot = (name: string, fullPage = false) => page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
  const dialog = (name: string) => page.getByRole('dialog', { name, exact: true });
  const card = (key: string) => page.locator(`[data-card="${key}"]`);
  const row = (key: string, name: string) => card(key).locator(`tr[data-name="${name}"]`);
  /**
   * A shown control by its label (required fields' labels end in an asterisk hidden from screen
   * readers; hidden provider sections reuse labels such as "API key").
   */
  const field = (scope: Locator | Page, label: string) =>
    scope.getByLabel(new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\*)?$`)).filter({ visible: true });
  const focusedName = () => page.locator(':focus').getAttribute('name');
  /** Whether that element has keyboard focus (polled: it is given back once the job's promise settles). */
  const hasFocus = (locator: Locator) => locator.evaluate((element) => element === element.ownerDocument.activeElement);
  /** What has keyboard focus: a button's accessible label, or the element's tag (BODY when focus is lost). */
  const focusedLabel = () => page.evaluate("document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.tagName") as Promise<string>;
  /** An ISO date as the page shows it: YYYY-MM-DD in the local time zone (the browser's too). */
  const localDay = (iso: string) => {
    const date = new Date(iso);
    return [date.getFullYear(), date.getMonth() + 1, date.getDate()].map((n) => String(n).padStart(2, '0')).join('-');
  };
  const named = (namespace: string, name: string) => api.call<Entry[]>(`${namespace}.query`, [['name', '=', name]]);
  /** The server's entry of that name; fails the test when there is none. */
  const byName = async (namespace: string, name: string): Promise<Entry> => {
    const [entry] = await named(namespace, name);
    if (!entry) throw new Error(`No ${namespace} named ${name} on the server`);
    return entry;
  };

  /** Fills the Certificate Subject step. */
  async function fillSubject(wizard: Locator, names: string[], common?: string) {
    await field(wizard, 'State').fill(SUBJECT.state);
    await field(wizard, 'Locality').fill(SUBJECT.city);
    await field(wizard, 'Organization').fill(SUBJECT.organization);
    await field(wizard, 'Email').fill(SUBJECT.email);
    if (common) await field(wizard, 'Common Name').fill(common);
    const san = field(wizard, 'Subject Alternative Names');
    for (const name of names) await san.fill(name).then(() => san.press('Enter'));
  }

  const next = (wizard: Locator) => wizard.getByRole('button', { name: 'Next' }).click();

  /** Records what the job dialog shows, since a fast job's dialog is gone before a locator can look. */
  const recordJobDialog = () =>
    page.evaluate(`window.jobLog = []; new MutationObserver(() => {
      const job = document.querySelector('dialog.job');
      if (job) window.jobLog.push([job.querySelector('h2')?.textContent, job.querySelector('.percent')?.textContent, job.querySelector('.job-description, .alert')?.textContent].join(' | '));
    }).observe(document.body, { subtree: true, childList: true, characterData: true });`);
  const jobLog = () => page.evaluate('window.jobLog') as Promise<string[]>;

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-web-'));
    server = await startTestServer({ dataDir });
    origin = `http://127.0.0.1:${server.port}`;
    api = await connect(server);
    context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-chromium-')), {
      executablePath: CHROMIUM,
      args: FLAGS,
      viewport: LAPTOP,
      acceptDownloads: true,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
  });

  // A failed test must not leave its dialog over the next one, nor its filter (in the box, and in
  // the address, where a later reload would bring it back).
  afterEach(() =>
    page.evaluate(`document.querySelectorAll('dialog[open]').forEach((d) => d.close());
      const filter = document.getElementById('filter');
      if (filter?.value) { filter.value = ''; filter.dispatchEvent(new Event('input')); }
      const url = new URL(location.href);
      if (url.searchParams.has('q')) { url.searchParams.delete('q'); history.replaceState(history.state, '', url); }`),
  );

  afterAll(async () => {
    await context?.close();
    await api?.close();
    await server?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves a small, compressed page under a content security policy', async () => {
    const html = await fetch(`${origin}/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-security-policy')).toContain("default-src 'self'");
    // node:http, because fetch would undo the compression being measured.
    const script = await new Promise<http.IncomingMessage>((resolve) => http.get(`${origin}/app.js`, { headers: { 'accept-encoding': 'gzip' } }, resolve));
    expect(script.headers['content-encoding']).toBe('gzip');
    const gzipped = Buffer.concat(await script.toArray());
    // The budget grew with the jobs panel, the alert channels form, the import preview and the CA
    // hierarchy (about 44.3 KB then).
    expect(gzipped.length).toBeLessThan(48_000);
    expect(gunzipSync(gzipped).toString()).toContain('certmid');
    const again = await fetch(`${origin}/app.js`, { headers: { 'if-none-match': String(script.headers.etag) } });
    expect(again.status).toBe(304);
  });

  it('refuses a wrong password, then logs in and shows the four cards with empty states', async () => {
    await page.goto(origin);
    await shot('login');
    await field(page, 'Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid username or password' }).waitFor();
    await field(page, 'Password').fill(server.admin.password);
    await page.keyboard.press('Enter');
    for (const title of ['Certificates', 'Certificate Signing Requests', 'Certificate Authorities', 'ACME DNS-Authenticators']) {
      await page.getByRole('heading', { name: title, level: 2 }).waitFor();
    }
    await row('certificates', 'truenas_default').getByText(/\d+ days left/).waitFor();
    await card('csrs').getByText('No signing requests yet').waitFor();
    await card('cas').getByText('No certificate authorities yet').waitFor();
    await card('authenticators').getByText('No DNS authenticators yet').waitFor();
    expect(await card('certificates').locator('th').allTextContents()).toEqual(['Name', 'Subject', 'Expires', 'Actions']);
    await shot('dashboard-empty', true);
  });

  it('logs in with an API key in another tab', async () => {
    const { key } = await api.call<{ key: string }>('api_key.create', { name: 'web-test' });
    const tab = await context.newPage();
    await tab.goto(origin);
    await tab.getByRole('button', { name: 'API key' }).click();
    await field(tab, 'API Key').fill(key);
    await tab.getByRole('button', { name: 'Log in' }).click();
    await tab.getByRole('heading', { name: 'Certificate Authorities', level: 2 }).waitFor();
    await tab.close();
  });

  it('offers no write actions to a read-only user', async () => {
    await api.call('user.create', { username: 'auditor', password: 'auditor-password', roles: ['CERTIFICATE_READ', 'CERTIFICATE_AUTHORITY_READ'] });
    const tab = await context.newPage();
    await tab.goto(origin);
    await field(tab, 'Username').fill('auditor');
    await field(tab, 'Password').fill('auditor-password');
    await tab.getByRole('button', { name: 'Log in' }).click();
    await tab.locator('tr[data-name="truenas_default"]').getByRole('button', { name: 'View truenas_default' }).waitFor();
    expect(await tab.getByRole('button', { name: /^(Add|Import) / }).count()).toBe(0);
    expect(await tab.getByRole('button', { name: /^(Edit|Delete|Revoke) / }).count()).toBe(0);
    // The authenticators need a role it lacks: the card says so instead of staying empty.
    await tab.locator('[data-card="authenticators"]').getByText('Cannot retrieve the list').waitFor();
    await tab.close();
  });

  it('creates an internal CA step by step with the Add CA wizard', async () => {
    await page.getByRole('button', { name: 'Add Certificate Authority' }).click();
    const wizard = dialog('Add Certificate Authority');
    await wizard.waitFor();
    expect(await focusedName()).toBe('name'); // the first field has the focus
    await field(wizard, 'Name').fill('lab-root');
    await shot('ca-1-identifier');
    await next(wizard);
    await field(wizard, 'Key Type').selectOption('EC');
    await field(wizard, 'EC Curve').selectOption('SECP256R1');
    expect(await field(wizard, 'Lifetime (days)').inputValue()).toBe('3650');
    expect(await field(wizard, 'Signing Certificate Authority').isVisible()).toBe(false);
    await shot('ca-2-options');
    await next(wizard);
    await fillSubject(wizard, ['lab.example'], 'Lab Root');
    await shot('ca-3-subject');
    await next(wizard);
    // A CA starts with the extensions the server requires of one.
    expect(await field(wizard, 'Basic Constraints').isChecked()).toBe(true);
    expect(await field(wizard, 'CA').isChecked()).toBe(true);
    expect(await field(wizard, 'Key Cert Sign').isChecked()).toBe(true);
    await shot('ca-4-constraints');
    await next(wizard);
    await wizard.getByRole('heading', { name: 'Confirm Options' }).waitFor();
    await wizard.getByText('Lab, Knoxville, Tennessee, US').waitFor();
    await shot('ca-5-confirm');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('cas', 'lab-root').waitFor();
    await wizard.waitFor({ state: 'detached' });
    const ca = await byName('certificateauthority', 'lab-root');
    expect(ca).toMatchObject({ CA_type_internal: true, key_type: 'EC', common: 'Lab Root', san: ['DNS:lab.example'], extensions: { BasicConstraints: 'CA:TRUE' } });
    // Valid from and until, as the reference's Date column.
    expect(await row('cas', 'lab-root').locator('td[data-label="Expires"] .second').textContent()).toBe(`from ${localDay(ca.not_before)} until ${localDay(ca.not_after)}`);
  });

  it('creates a certificate with the Add Certificate wizard: profile, key type, Back and Next, summary and progress', async () => {
    await page.getByRole('button', { name: 'Add Certificate', exact: true }).click();
    const wizard = dialog('Add Certificate');
    await field(wizard, 'Name').fill('web-cert');
    await field(wizard, 'Profile').selectOption('HTTPS ECC Certificate');
    await shot('certificate-1-identifier');
    await next(wizard);
    // The profile filled the options: an EC key, so the curve shows and the key length does not.
    expect(await field(wizard, 'Signing Certificate Authority').locator('option:checked').textContent()).toBe('lab-root');
    expect(await field(wizard, 'Key Type').inputValue()).toBe('EC');
    expect(await field(wizard, 'EC Curve').inputValue()).toBe('SECP384R1');
    expect(await field(wizard, 'Key Length').isVisible()).toBe(false);
    expect(await field(wizard, 'Lifetime (days)').inputValue()).toBe('397');
    await field(wizard, 'Key Type').selectOption('RSA');
    expect(await field(wizard, 'Key Length').isVisible()).toBe(true);
    expect(await field(wizard, 'EC Curve').isVisible()).toBe(false);
    await field(wizard, 'Key Type').selectOption('EC');
    await shot('certificate-2-options');
    await next(wizard);
    // A missing required field stops Next and says why, on the field.
    await next(wizard);
    await wizard.getByText('State is required.').waitFor();
    expect(await field(wizard, 'Country').locator('option[value="DE"]').textContent()).toBe('Germany');
    await fillSubject(wizard, ['web.lab.example', '192.0.2.10'], 'web.lab.example');
    await shot('certificate-3-subject');
    await wizard.getByRole('button', { name: 'Back' }).click();
    expect(await field(wizard, 'EC Curve').inputValue()).toBe('SECP384R1');
    await next(wizard);
    expect(await field(wizard, 'State').inputValue()).toBe(SUBJECT.state);
    await next(wizard);
    expect(await field(wizard, 'Extended Key Usage').isChecked()).toBe(true);
    expect(await field(wizard, 'SERVER_AUTH').isChecked()).toBe(true);
    expect(await field(wizard, 'CLIENT_AUTH').isChecked()).toBe(true);
    await shot('certificate-4-constraints');
    await next(wizard);
    for (const text of ['web-cert', 'Internal Certificate', 'HTTPS ECC Certificate', 'SECP384R1', 'web.lab.example, 192.0.2.10', 'CLIENT_AUTH, SERVER_AUTH']) {
      await wizard.getByText(text, { exact: true }).first().waitFor();
    }
    await shot('certificate-5-confirm');
    await recordJobDialog();
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('certificates', 'web-cert').waitFor();
    expect(await jobLog()).toEqual(expect.arrayContaining([expect.stringMatching(/^Creating Certificate \| \d+% \| \w+/), 'Creating Certificate | 100% | Certificate created successfully']));
    await page.getByRole('status').filter({ hasText: 'Certificate has been created.' }).waitFor();
    const cert = await byName('certificate', 'web-cert');
    expect(cert).toMatchObject({ key_type: 'EC', key_length: 384, lifetime: 397, common: 'web.lab.example', san: ['DNS:web.lab.example', 'IP Address:192.0.2.10'] });
    expect(cert.issuer.name).toBe('lab-root');
    expect(cert.extensions.ExtendedKeyUsage).toContain('TLS Web Server Authentication');
    expect(await row('certificates', 'web-cert').locator('td[data-label="Expires"] .second').textContent()).toBe(`from ${localDay(cert.not_before)} until ${localDay(cert.not_after)}`);
  });

  it('places a server validation error on its field, on the step that holds it', async () => {
    await page.getByRole('button', { name: 'Add Certificate', exact: true }).click();
    const wizard = dialog('Add Certificate');
    await field(wizard, 'Name').fill('web-cert'); // taken: only the server knows
    await next(wizard);
    await field(wizard, 'Key Type').selectOption('EC');
    await next(wizard);
    await fillSubject(wizard, ['dup.lab.example']);
    await next(wizard);
    await next(wizard);
    await wizard.getByRole('button', { name: 'Save' }).click();
    await wizard.getByRole('heading', { name: 'Identifier and Type' }).waitFor();
    await wizard.getByText('A certificate with this name already exists').waitFor();
    expect(await field(wizard, 'Name').getAttribute('aria-invalid')).toBe('true');
    expect(await focusedName()).toBe('name');
    await shot('certificate-error-on-field');
    await field(wizard, 'Name').fill('web-cert-2');
    // The steps already seen are one click away.
    await wizard.getByRole('button', { name: 'Confirm Options' }).click();
    await wizard.getByText('web-cert-2', { exact: true }).waitFor();
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('certificates', 'web-cert-2').waitFor();
  });

  it('creates a CSR with the Add CSR wizard and signs it with the CA', async () => {
    await page.getByRole('button', { name: 'Add Certificate Signing Request' }).click();
    const wizard = dialog('Add CSR');
    await field(wizard, 'Name').fill('web-csr');
    await field(wizard, 'Profile').selectOption('HTTPS RSA Certificate');
    await shot('csr-1-identifier');
    await next(wizard);
    expect(await field(wizard, 'Key Length').inputValue()).toBe('2048');
    expect(await field(wizard, 'Lifetime (days)').isVisible()).toBe(false); // a CSR has none
    await shot('csr-2-options');
    await next(wizard);
    await fillSubject(wizard, ['www.example.com', 'api.example.com'], 'www.example.com');
    await shot('csr-3-subject');
    await next(wizard);
    expect(await field(wizard, 'Authority Key Identifier').count()).toBe(0); // not valid for a CSR
    await shot('csr-4-constraints');
    await next(wizard);
    await shot('csr-5-confirm');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('csrs', 'web-csr').waitFor();
    expect(await byName('certificate', 'web-csr')).toMatchObject({ cert_type_CSR: true, key_type: 'RSA', key_length: 2048 });

    await row('cas', 'lab-root').getByRole('button', { name: 'Sign a CSR with lab-root' }).click();
    const sign = dialog('Sign CSR');
    await field(sign, 'CSR').selectOption({ label: 'web-csr' });
    await field(sign, 'Identifier').fill('signed-web');
    await shot('sign-csr');
    await sign.getByRole('button', { name: 'Sign' }).click();
    await row('certificates', 'signed-web').waitFor();
    const signed = await byName('certificate', 'signed-web');
    expect(signed.issuer.name).toBe('lab-root');
    expect(signed.common).toBe('www.example.com');
    // The CA's signed count follows without a reload.
    const { signed_certificates: count } = await byName('certificateauthority', 'lab-root');
    expect(count).toBe(3);
    await row('cas', 'lab-root').locator('td[data-label="Signed"]').getByText(String(count), { exact: true }).waitFor();
  });

  it('imports a certificate for a CSR on this system, and one with an encrypted key', async () => {
    const signed = await byName('certificate', 'signed-web');
    await page.getByRole('button', { name: 'Import Certificate' }).click();
    let wizard = dialog('Import Certificate');
    await field(wizard, 'Name').fill('imported-for-csr');
    expect(await field(wizard, 'Type').inputValue()).toBe('CERTIFICATE_CREATE_IMPORTED');
    expect(await field(wizard, 'Profile').isVisible()).toBe(false);
    await shot('import-1-identifier');
    await next(wizard);
    await field(wizard, 'Certificate').fill(signed.certificate);
    await field(wizard, 'CSR exists on this system').check();
    expect(await field(wizard, 'Private Key').isVisible()).toBe(false);
    await field(wizard, 'Certificate Signing Request').selectOption({ label: 'web-csr' });
    await shot('import-2-certificate');
    await next(wizard);
    await wizard.getByText('web-csr', { exact: true }).waitFor(); // "Using CSR"
    await shot('import-3-confirm');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('certificates', 'imported-for-csr').waitFor();
    // The row can show before the wizard has closed: the next import opens once it has.
    await wizard.waitFor({ state: 'detached' });
    const csr = await byName('certificate', 'web-csr');
    expect((await byName('certificate', 'imported-for-csr')).privatekey).toBe(csr.privatekey);

    const web = await byName('certificate', 'web-cert');
    const encrypted = createPrivateKey(web.privatekey).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'correct horse' }) as string;
    await page.getByRole('button', { name: 'Import Certificate' }).click();
    wizard = dialog('Import Certificate');
    await field(wizard, 'Name').fill('imported-encrypted');
    await next(wizard);
    await field(wizard, 'Certificate').fill(web.certificate);
    await field(wizard, 'Private Key').fill(encrypted);
    await field(wizard, 'Passphrase').fill('correct horse');
    await field(wizard, 'Confirm Passphrase').fill('wrong horse');
    await next(wizard);
    await wizard.getByText('Passphrase value must match Confirm Passphrase.').waitFor();
    await field(wizard, 'Confirm Passphrase').fill('correct horse');
    await next(wizard);
    // The confirm step shows what the server read: the key matches and the passphrase opened it.
    await wizard.getByText('Opened the encrypted key').waitFor();
    await wizard.getByText(', matches the certificate').waitFor();
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('certificates', 'imported-encrypted').waitFor();
    const imported = await byName('certificate', 'imported-encrypted');
    expect(imported).toMatchObject({ cert_type_existing: true, fingerprint: web.fingerprint });
    expect(createPrivateKey(imported.privatekey).export({ type: 'pkcs8', format: 'pem' })).toBe(createPrivateKey(web.privatekey).export({ type: 'pkcs8', format: 'pem' }));
  });

  it('puts focus back on the field the import preview names', async () => {
    const web = await byName('certificate', 'web-cert');
    await page.getByRole('button', { name: 'Import Certificate' }).click();
    const wizard = dialog('Import Certificate');
    await field(wizard, 'Name').fill('imported-garbled');
    await next(wizard);
    // Looks like PEM to the form; the server's preview finds it does not parse, before anything is saved.
    await field(wizard, 'Certificate').fill('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    await field(wizard, 'Private Key').fill(web.privatekey);
    await next(wizard);
    await wizard.getByRole('heading', { name: 'Import Certificate', level: 3 }).waitFor();
    await wizard.getByText('Not a valid certificate', { exact: false }).waitFor();
    expect(await field(wizard, 'Certificate').getAttribute('aria-invalid')).toBe('true');
    await expect.poll(() => hasFocus(field(wizard, 'Certificate'))).toBe(true);
    await wizard.getByRole('button', { name: 'Cancel' }).click();
    expect(await named('certificate', 'imported-garbled')).toEqual([]);
  });

  it('imports a CSR with its key through Add CSR, and renames it with Edit CSR', async () => {
    const source = await byName('certificate', 'web-csr');
    await page.getByRole('button', { name: 'Add Certificate Signing Request' }).click();
    const wizard = dialog('Add CSR');
    await field(wizard, 'Name').fill('imported-csr');
    await field(wizard, 'Type').selectOption('CERTIFICATE_CREATE_IMPORTED_CSR');
    expect(await field(wizard, 'Profile').isVisible()).toBe(false);
    await shot('csr-import-1-identifier');
    await next(wizard);
    await wizard.getByRole('heading', { name: 'Import Certificate Signing Request' }).waitFor();
    await field(wizard, 'Signing Request').fill(source.CSR);
    await field(wizard, 'Private Key').fill(source.privatekey);
    await shot('csr-import-2-request');
    await next(wizard);
    await wizard.getByRole('heading', { name: 'Confirm Options' }).waitFor();
    await shot('csr-import-3-confirm');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('csrs', 'imported-csr').waitFor();
    const imported = await byName('certificate', 'imported-csr');
    expect(imported).toMatchObject({ cert_type_CSR: true, certificate: null, common: 'www.example.com', san: source.san, key_type: 'RSA', key_length: 2048 });
    expect(createPrivateKey(imported.privatekey).export({ type: 'pkcs8', format: 'pem' })).toBe(createPrivateKey(source.privatekey).export({ type: 'pkcs8', format: 'pem' }));

    await row('csrs', 'imported-csr').getByRole('button', { name: 'Edit imported-csr' }).click();
    const form = dialog('Edit CSR');
    expect(await field(form, 'Add To Trusted Store').count()).toBe(0); // not for a CSR
    await field(form, 'Name').fill('renamed-csr');
    await form.getByRole('button', { name: 'Save' }).click();
    await row('csrs', 'renamed-csr').waitFor();
    await form.waitFor({ state: 'detached' });
    expect(await byName('certificate', 'renamed-csr')).toMatchObject({ id: imported.id, cert_type_CSR: true });
    expect(await named('certificate', 'imported-csr')).toEqual([]);
    // Focus is back on the (redrawn) button that opened the form.
    await expect.poll(focusedLabel).toBe('Edit renamed-csr');
  });

  it('imports a CA, adds an intermediate CA and revokes it after confirmation', async () => {
    const root = await byName('certificateauthority', 'lab-root');
    await page.getByRole('button', { name: 'Add Certificate Authority' }).click();
    let wizard = dialog('Add Certificate Authority');
    await field(wizard, 'Name').fill('imported-root');
    await field(wizard, 'Type').selectOption('CA_CREATE_IMPORTED');
    await shot('ca-import-1-identifier');
    await next(wizard);
    await wizard.getByRole('heading', { name: 'Import CA' }).waitFor();
    await field(wizard, 'Certificate').fill(root.certificate);
    await shot('ca-import-2-certificate');
    await next(wizard);
    await wizard.getByRole('heading', { name: 'Confirm Options' }).waitFor();
    await shot('ca-import-3-confirm');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('cas', 'imported-root').waitFor();
    expect(await byName('certificateauthority', 'imported-root')).toMatchObject({ CA_type_existing: true, fingerprint: root.fingerprint, privatekey: null });

    await page.getByRole('button', { name: 'Add Certificate Authority' }).click();
    wizard = dialog('Add Certificate Authority');
    await field(wizard, 'Name').fill('lab-intermediate');
    await field(wizard, 'Type').selectOption('CA_CREATE_INTERMEDIATE');
    expect(await field(wizard, 'Add To Trusted Store').isVisible()).toBe(false);
    await shot('ca-intermediate-1-identifier');
    await next(wizard);
    // Only CAs with a key can sign: lab-root, not the imported copy.
    expect(await field(wizard, 'Signing Certificate Authority').locator('option').allTextContents()).toEqual(['lab-root']);
    await field(wizard, 'Key Type').selectOption('EC');
    await shot('ca-intermediate-2-options');
    await next(wizard);
    await fillSubject(wizard, ['intermediate.lab.example']);
    await shot('ca-intermediate-3-subject');
    await next(wizard);
    await shot('ca-intermediate-4-constraints');
    await next(wizard);
    await wizard.getByRole('heading', { name: 'Confirm Options' }).waitFor();
    await shot('ca-intermediate-5-confirm');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('cas', 'lab-intermediate').waitFor();
    expect((await byName('certificateauthority', 'lab-intermediate')).issuer.name).toBe('lab-root');

    await row('cas', 'lab-intermediate').getByRole('button', { name: 'Revoke lab-intermediate' }).click();
    const ask = dialog('Revoke Certificate Authority');
    await ask.getByText('Revoke the certificate authority "lab-intermediate"? This revokes everything below it too.', { exact: false }).waitFor();
    // The reasons come from the server's schema of certificateauthority.update; focus stays on Cancel.
    const reason = field(ask, 'Reason');
    await expect.poll(() => reason.locator('option').allTextContents()).toEqual(REASON_LABELS);
    expect(await reason.locator('option:checked').textContent()).toBe('Unspecified');
    expect(await page.locator(':focus').textContent()).toBe('Cancel');
    await ask.getByRole('button', { name: 'Revoke' }).click();
    await row('cas', 'lab-intermediate').getByText('Revoked', { exact: true }).waitFor();
    // "Unspecified" sends no reason.
    expect(await byName('certificateauthority', 'lab-intermediate')).toMatchObject({ revoked: true, revoked_reason: null });
  });

  it('renames a certificate authority, and deletes one that signed nothing', async () => {
    const imported = await byName('certificateauthority', 'imported-root');
    await row('cas', 'imported-root').getByRole('button', { name: 'Edit imported-root' }).click();
    const form = dialog('Edit Certificate Authority');
    expect(await field(form, 'Name').inputValue()).toBe('imported-root');
    await field(form, 'Name').fill('old-root');
    await shot('edit-ca');
    await form.getByRole('button', { name: 'Save' }).click();
    await row('cas', 'old-root').waitFor();
    await form.waitFor({ state: 'detached' });
    expect(await byName('certificateauthority', 'old-root')).toMatchObject({ id: imported.id, fingerprint: imported.fingerprint });
    expect(await named('certificateauthority', 'imported-root')).toEqual([]);
    await expect.poll(focusedLabel).toBe('Edit old-root');

    await row('cas', 'old-root').getByRole('button', { name: 'Delete old-root' }).click();
    const ask = dialog('Delete Certificate Authority');
    await ask.getByText('Are you sure you want to delete the "old-root" certificate authority?').waitFor();
    await ask.getByRole('button', { name: 'Delete' }).click();
    await row('cas', 'old-root').waitFor({ state: 'detached' });
    expect(await named('certificateauthority', 'old-root')).toEqual([]);
    // The row is gone: focus moves to the same action on the next row.
    await expect.poll(focusedLabel).toBe('Delete lab-intermediate');
  });

  it('revokes a certificate after confirmation, and not when cancelled', async () => {
    const revoke = () => row('certificates', 'signed-web').getByRole('button', { name: 'Revoke signed-web' }).click();
    await revoke();
    await dialog('Revoke Certificate').getByRole('button', { name: 'Cancel' }).click();
    expect((await byName('certificate', 'signed-web')).revoked).toBe(false);
    await revoke();
    const ask = dialog('Revoke Certificate');
    await ask.getByText('Revoke the certificate "signed-web"? This is a one way action and cannot be reversed', { exact: false }).waitFor();
    expect(await page.locator(':focus').textContent()).toBe('Cancel');
    await field(ask, 'Reason').selectOption({ label: 'Key Compromise' });
    await shot('revoke-confirm');
    await ask.getByRole('button', { name: 'Revoke' }).click();
    await row('certificates', 'signed-web').getByText('Revoked (key compromise)', { exact: true }).waitFor();
    expect(await row('certificates', 'signed-web').getByRole('button', { name: 'Revoke signed-web' }).count()).toBe(0);
    const revoked = await byName('certificate', 'signed-web');
    expect(revoked).toMatchObject({ revoked: true, revoked_reason: 'KEY_COMPROMISE' });

    // The issuing CA's CRL lists the serial with its reason.
    const response = await fetch(revoked.issuer.crl_url);
    expect(response.status).toBe(200);
    const crl = await opensslOk(['crl', '-inform', 'DER', '-noout', '-text'], Buffer.from(await response.arrayBuffer()));
    const entries = crl.stdout.split(/(?=Serial Number: )/);
    const listed = entries.find((text) => text.startsWith(`Serial Number: ${opensslSerial(revoked.serial)}\n`));
    expect(listed).toMatch(/X509v3 CRL Reason Code:\s+Key Compromise/);

    await row('certificates', 'signed-web').getByRole('button', { name: 'View signed-web' }).click();
    const view = dialog('signed-web');
    await view.getByText('Key Compromise', { exact: true }).waitFor();
    await view.getByRole('button', { name: 'Close', exact: true }).last().click();
  });

  it('downloads a certificate with its key, and views its details', async () => {
    await row('certificates', 'web-cert').getByRole('button', { name: 'Download web-cert' }).click();
    const form = dialog('Download web-cert');
    await field(form, 'Include the private key').check();
    const [download] = await Promise.all([page.waitForEvent('download'), form.getByRole('button', { name: 'Download' }).click()]);
    expect(download.suggestedFilename()).toBe('web-cert.crt');
    const expected = await api.call<{ data: string }>('certificate.export', (await byName('certificate', 'web-cert')).id, { format: 'PEM', include_key: true });
    expect(fs.readFileSync((await download.path())!, 'utf8')).toBe(expected.data);

    await row('certificates', 'web-cert').getByRole('button', { name: 'View web-cert' }).click();
    const view = dialog('web-cert');
    await view.getByText('web.lab.example, IP Address:192.0.2.10', { exact: true }).waitFor();
    expect(await view.getByRole('textbox').inputValue()).toContain('-----BEGIN CERTIFICATE-----');
    await shot('view-certificate');
    await view.getByRole('button', { name: 'Close', exact: true }).last().click();
  });

  it('renames a certificate from the keyboard, and keeps the focus on its Edit button', async () => {
    await row('certificates', 'web-cert-2').getByRole('button', { name: 'Edit web-cert-2' }).focus();
    await page.keyboard.press('Enter');
    const form = dialog('Edit Certificate');
    expect(await field(form, 'Renew Certificate Days Before Expiry').count()).toBe(0);
    expect(await focusedName()).toBe('name');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('bad name');
    await page.keyboard.press('Enter');
    await form.getByText('Use letters, numbers, underscore (_) and dash (-) only.').waitFor();
    // Another client's change redraws the card under the form, replacing the button that opened it.
    await page.evaluate(`window.editButton = document.querySelector('[aria-label="Edit web-cert-2"]')`);
    await api.callJob('certificate.update', [(await byName('certificate', 'renamed-csr')).id, { name: 'spare-csr' }]);
    await row('csrs', 'spare-csr').waitFor();
    expect(await page.evaluate('window.editButton.isConnected')).toBe(false);
    await field(form, 'Name').fill('web-renamed');
    await field(form, 'Name').press('Enter');
    await row('certificates', 'web-renamed').waitFor();
    await form.waitFor({ state: 'detached' });
    expect(await named('certificate', 'web-renamed')).toHaveLength(1);
    // The row was redrawn under the form; focus goes to its new Edit button, not to the page.
    await expect.poll(focusedLabel).toBe('Edit web-renamed');
  });

  it('refuses to delete a CA that signed certificates, and deletes a certificate with Force', async () => {
    await row('cas', 'lab-root').getByRole('button', { name: 'Delete lab-root' }).click();
    const refusal = dialog('Error');
    await refusal.getByText('It can be deleted only after deleting these certificates.', { exact: false }).waitFor();
    await refusal.getByRole('button', { name: 'Close', exact: true }).last().click();

    // The confirmation starts on Cancel: Enter, Enter from the row does not delete.
    const remove = row('certificates', 'imported-encrypted').getByRole('button', { name: 'Delete imported-encrypted' });
    await remove.focus();
    await page.keyboard.press('Enter');
    const ask = dialog('Delete Certificate');
    await ask.getByText('Are you sure you want to delete "imported-encrypted"?').waitFor();
    expect(await page.locator(':focus').textContent()).toBe('Cancel');
    await page.keyboard.press('Enter');
    await ask.waitFor({ state: 'detached' });
    expect(await named('certificate', 'imported-encrypted')).toHaveLength(1);
    await remove.click();
    await ask.getByLabel('Force').check();
    await ask.getByRole('button', { name: 'Delete' }).click();
    await row('certificates', 'imported-encrypted').waitFor({ state: 'detached' });
    expect(await named('certificate', 'imported-encrypted')).toEqual([]);
  });

  it('adds a DNS authenticator from the Create ACME Certificate form, which then chooses it', async () => {
    await row('csrs', 'web-csr').getByRole('button', { name: 'Create ACME certificate from web-csr' }).click();
    const form = dialog('Create ACME Certificate');
    const none = form.getByText('No DNS authenticator yet.', { exact: false });
    await none.waitFor();
    expect(await field(form, 'www.example.com').inputValue()).toBe('');
    await form.getByRole('button', { name: 'Add one' }).click();
    const add = dialog('Add DNS Authenticator');
    await field(add, 'Name').fill('inline');
    await field(add, 'Authenticator').selectOption('cloudflare');
    await field(add, 'API token').fill('inline-token');
    await add.getByRole('button', { name: 'Save' }).click();
    await add.waitFor({ state: 'detached' });
    for (const domain of ['www.example.com', 'api.example.com']) {
      await expect.poll(() => field(form, domain).locator('option:checked').textContent()).toBe('inline');
    }
    expect(await none.isVisible()).toBe(false);
    await shot('acme-form-added-authenticator');
    await form.getByRole('button', { name: 'Cancel' }).click();
    expect((await byName('acme.dns.authenticator', 'inline')).attributes).toEqual(expect.objectContaining({ authenticator: 'cloudflare', api_token: 'inline-token' }));
  });

  it('adds and edits a DNS authenticator with fields from the provider schemas, and deletes one', async () => {
    await page.getByRole('button', { name: 'Add DNS Authenticator' }).click();
    const form = dialog('Add DNS Authenticator');
    await field(form, 'Name').fill('cf');
    await field(form, 'Authenticator').selectOption('cloudflare');
    for (const label of ['Cloudflare email', 'API key', 'API token']) expect(await field(form, label).isVisible()).toBe(true);
    await field(form, 'Authenticator').selectOption('route53');
    expect(await field(form, 'Access key ID').isVisible()).toBe(true);
    expect(await field(form, 'API token').isVisible()).toBe(false);
    await field(form, 'Authenticator').selectOption('cloudflare');
    // Cloudflare's own rule, raised by the server with a bare attribute name, lands on API Key.
    await field(form, 'Cloudflare email').fill('dns@lab.example');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText('Attribute is required when using a Global API Key.').waitFor();
    expect(await field(form, 'API key').getAttribute('aria-invalid')).toBe('true');
    await shot('authenticator-form');
    // Cloudflare's texts quote attribute names ("api_token"): the page shows the form's labels.
    await field(form, 'API key').fill('cf-global-key');
    await field(form, 'API token').fill('cf-token-1');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText('Should not be specified when using "API token".').first().waitFor();
    expect(await form.getByText('"api_token"', { exact: false }).count()).toBe(0);
    await field(form, 'API key').fill('');
    await field(form, 'Cloudflare email').fill('');
    await form.getByRole('button', { name: 'Save' }).click();
    await row('authenticators', 'cf').getByText('cloudflare').waitFor();
    expect((await byName('acme.dns.authenticator', 'cf')).attributes).toEqual(expect.objectContaining({ authenticator: 'cloudflare', api_token: 'cf-token-1' }));

    await row('authenticators', 'cf').getByRole('button', { name: 'Edit cf' }).click();
    const edit = dialog('Edit DNS Authenticator');
    expect(await field(edit, 'API token').inputValue()).toBe('cf-token-1');
    expect(await field(edit, 'Authenticator').isDisabled()).toBe(true);
    await field(edit, 'API token').fill('cf-token-2');
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'detached' });
    expect((await byName('acme.dns.authenticator', 'cf')).attributes.api_token).toBe('cf-token-2');

    // Deleted from the keyboard: past Cancel to Delete; focus then lands on the next row's Delete.
    await row('authenticators', 'inline').getByRole('button', { name: 'Delete inline' }).focus();
    await page.keyboard.press('Enter');
    const ask = dialog('Delete DNS Authenticator');
    await ask.getByText('Are you sure you want to delete the "inline" DNS Authenticator?').waitFor();
    await page.keyboard.press('Tab');
    expect(await focusedLabel()).toBe('BUTTON');
    expect(await page.locator(':focus').textContent()).toBe('Delete');
    await page.keyboard.press('Enter');
    await row('authenticators', 'inline').waitFor({ state: 'detached' });
    expect(await named('acme.dns.authenticator', 'inline')).toEqual([]);
    await expect.poll(focusedLabel).toBe('Delete cf');
  });

  it('tells a provider it could not reach from one that refused the credentials', async () => {
    const closed = await closedPort();
    await page.getByRole('button', { name: 'Add DNS Authenticator' }).click();
    const form = dialog('Add DNS Authenticator');
    await field(form, 'Name').fill('unreachable');
    await field(form, 'Authenticator').selectOption('powerdns');
    await field(form, 'API URL').fill(`http://127.0.0.1:${closed}`);
    await field(form, 'API key').fill('pdns-key');
    await form.getByRole('button', { name: 'Verify credentials' }).click();
    await form.getByText(`Could not reach the provider: powerdns: cannot reach 127.0.0.1:${closed}`, { exact: false }).waitFor();
    expect(await form.getByText('The provider refused', { exact: false }).count()).toBe(0);
    await form.getByRole('button', { name: 'Cancel' }).click();
  });

  it('shows the chosen directory’s terms of service beside the checkbox, and when it needs External Account Binding', async () => {
    // A directory whose meta depends on its path: an https ToS with EAB, or a javascript: "ToS".
    const directory = http.createServer((request, response) => {
      const base = `http://127.0.0.1:${(directory.address() as AddressInfo).port}`;
      const meta = request.url?.startsWith('/eab/') ? { termsOfService: 'https://ca.example/terms.pdf', externalAccountRequired: true } : { termsOfService: 'javascript:alert(1)' };
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ newAccount: `${base}/new-acct`, newNonce: `${base}/nonce`, newOrder: `${base}/new-order`, revokeCert: `${base}/revoke`, meta }));
    });
    await new Promise<void>((resolve) => directory.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(directory.address() as AddressInfo).port}`;
    try {
      await row('csrs', 'web-csr').getByRole('button', { name: 'Create ACME certificate from web-csr' }).click();
      const form = dialog('Create ACME Certificate');
      const link = form.getByRole('link', { name: 'Read the terms of service' });
      await field(form, 'ACME Server Directory URI').selectOption('custom');
      await field(form, 'Custom ACME Server Directory URI').fill(`${base}/eab/directory`);
      await link.waitFor();
      expect(await link.getAttribute('href')).toBe('https://ca.example/terms.pdf');
      expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
      await form.getByText('This ACME server requires External Account Binding', { exact: false }).waitFor();
      await shot('acme-form-terms');

      // Never a link to anything but a web page.
      await field(form, 'Custom ACME Server Directory URI').fill(`${base}/js/directory`);
      await form.getByText('Terms of service: javascript:alert(1)').waitFor();
      expect(await link.isVisible()).toBe(false);
      expect(await form.getByText('External Account Binding', { exact: false }).count()).toBe(0);

      // Nothing listens: said inline, and the form stays usable.
      await field(form, 'Custom ACME Server Directory URI').fill('http://127.0.0.1:9/directory');
      await form.getByText(/^Cannot read the terms of service: .*refused the connection/).waitFor();
      await field(form, 'Identifier').fill('still-usable');
      expect(await field(form, 'Identifier').inputValue()).toBe('still-usable');
      await form.getByRole('button', { name: 'Cancel' }).click();
    } finally {
      directory.close();
    }
  });

  it('maps every name of a CSR to an authenticator and shows a failed ACME job’s error', async () => {
    await row('csrs', 'web-csr').getByRole('button', { name: 'Create ACME certificate from web-csr' }).click();
    const form = dialog('Create ACME Certificate');
    // One choice per name (the CN and DNS:www.example.com are one), the only authenticator preselected.
    for (const domain of ['www.example.com', 'api.example.com']) expect(await field(form, domain).locator('option:checked').textContent()).toBe('cf');
    expect(await field(form, 'ACME Server Directory URI').locator('option').allTextContents()).toEqual(
      expect.arrayContaining(["Let's Encrypt Production Directory", "Let's Encrypt Staging Directory", 'Custom directory URI…']),
    );
    expect(await field(form, 'Renew Certificate Days').inputValue()).toBe('10');
    await field(form, 'Identifier').fill('acme-fail');
    await field(form, 'ACME Server Directory URI').selectOption('custom');
    await field(form, 'Custom ACME Server Directory URI').fill('http://127.0.0.1:9/directory');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.getByText('Accept the terms of service to continue.').waitFor();
    await field(form, 'I accept the ACME server’s Terms of Service').check();
    await shot('acme-form');
    await form.getByRole('button', { name: 'Save' }).click();
    const job = dialog('Creating ACME Certificate');
    await job.getByRole('alert').getByText('Unable to retrieve directory', { exact: false }).waitFor();
    await shot('acme-job-failed');
    await job.getByRole('button', { name: 'Close' }).click();
    // Focus goes back to the form, on its Save button.
    await expect.poll(() => hasFocus(form.getByRole('button', { name: 'Save' }))).toBe(true);
    await form.getByRole('button', { name: 'Cancel' }).click();
    expect(await named('certificate', 'acme-fail')).toEqual([]);
  });

  it('aborts an ACME job that waits on its server, from the progress dialog', async () => {
    // A directory that never answers: the job waits on it (30 s per request) until it is aborted.
    const silent = http.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const jobState = async () => {
      const jobs = await api.call<Entry[]>('core.get_jobs', [['method', '=', 'certificate.create']]);
      return jobs.find((job) => job.arguments[0]?.name === 'acme-abort')?.state;
    };
    try {
      await row('csrs', 'web-csr').getByRole('button', { name: 'Create ACME certificate from web-csr' }).click();
      const form = dialog('Create ACME Certificate');
      await field(form, 'Identifier').fill('acme-abort');
      await field(form, 'I accept the ACME server’s Terms of Service').check();
      await field(form, 'ACME Server Directory URI').selectOption('custom');
      await field(form, 'Custom ACME Server Directory URI').fill(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/directory`);
      await form.getByRole('button', { name: 'Save' }).click();
      const job = dialog('Creating ACME Certificate');
      const abort = job.getByRole('button', { name: 'Abort' });
      await abort.waitFor();
      await expect.poll(jobState).toBe('RUNNING');
      await shot('acme-job-running');
      // The button says so while the abort is on its way (too briefly for a locator to look).
      await page.evaluate(`window.abortLabels = []; new MutationObserver(() => {
        const button = document.querySelector('dialog.job .surface-footer button');
        if (button) window.abortLabels.push(button.textContent + (button.disabled ? ' (disabled)' : ''));
      }).observe(document.querySelector('dialog.job'), { subtree: true, childList: true, characterData: true, attributes: true });`);
      await abort.click();
      await job.getByRole('alert').getByText('Aborted.', { exact: false }).waitFor();
      expect(await page.evaluate('window.abortLabels')).toContain('Aborting… (disabled)');
      expect(await job.getByRole('button', { name: 'Abort' }).count()).toBe(0);
      expect(await jobState()).toBe('ABORTED');
      await shot('acme-job-aborted');
      await job.getByRole('button', { name: 'Close' }).click();
      // Back at the form, on its Save button, and it keeps its values; nothing was created.
      await expect.poll(() => hasFocus(form.getByRole('button', { name: 'Save' }))).toBe(true);
      expect(await field(form, 'Identifier').inputValue()).toBe('acme-abort');
      await form.getByRole('button', { name: 'Cancel' }).click();
      expect(await named('certificate', 'acme-abort')).toEqual([]);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  describe.runIf(haveAcmeTools)('against Pebble and BIND', () => {
    let bind: BindServer;
    let pebble: PebbleServer;

    beforeAll(async () => {
      bind = await startBind();
      pebble = await startPebble({ dnsServer: bind.address });
      // Pebble's TLS root is not public: the account is registered through the API with it.
      await api.call('acme.registration.create', { tos: true, acme_directory_uri: pebble.directoryUrl, ca_bundle: pebble.caBundlePem });
    });

    afterAll(async () => {
      await pebble?.stop();
      await bind?.stop();
    });

    it('issues an ACME certificate from a CSR with an RFC 2136 authenticator made in the form', { timeout: 60_000 }, async () => {
      const domain = `www.${bind.zone}`;
      await api.callJob('certificate.create', [{ name: 'acme-csr', create_type: 'CERTIFICATE_CREATE_CSR', key_type: 'EC', ec_curve: 'SECP256R1', ...SUBJECT, common: domain, san: [domain] }]);
      await page.getByRole('button', { name: 'Add DNS Authenticator' }).click();
      const form = dialog('Add DNS Authenticator');
      await field(form, 'Name').fill('bind');
      await field(form, 'Authenticator').selectOption('rfc2136');
      await field(form, 'Nameserver').fill(bind.host);
      await field(form, 'Port').fill(String(bind.port));
      await field(form, 'TSIG key name').fill(bind.tsig.name);
      await field(form, 'TSIG algorithm').selectOption(bind.tsig.algorithm);
      await field(form, 'TSIG secret').fill(bind.tsig.secret);
      await form.getByText('Propagation', { exact: true }).click();
      await field(form, 'Check timeout (seconds)').fill('20');
      await form.getByRole('button', { name: 'Verify credentials' }).click();
      await form.getByText('The provider accepted these credentials.').waitFor();
      await form.getByRole('button', { name: 'Save' }).click();
      await row('authenticators', 'bind').waitFor();
      const authenticator = await byName('acme.dns.authenticator', 'bind');
      expect(authenticator).toMatchObject({ attributes: { authenticator: 'rfc2136', port: bind.port }, propagation: { timeout: 20 } });

      await row('csrs', 'acme-csr').getByRole('button', { name: 'Create ACME certificate from acme-csr' }).click();
      const acme = dialog('Create ACME Certificate');
      await field(acme, 'Identifier').fill('acme-cert');
      await field(acme, 'I accept the ACME server’s Terms of Service').check();
      await field(acme, 'ACME Server Directory URI').selectOption('custom');
      await field(acme, 'Custom ACME Server Directory URI').fill(pebble.directoryUrl);
      // Read from Pebble's directory, trusted through the registration's CA bundle.
      const terms = acme.getByRole('link', { name: 'Read the terms of service' });
      await terms.waitFor();
      expect(await terms.getAttribute('href')).toBe('data:text/plain,Do%20what%20thou%20wilt');
      await field(acme, domain).selectOption({ label: 'bind' });
      await recordJobDialog();
      await acme.getByRole('button', { name: 'Save' }).click();
      await row('certificates', 'acme-cert').getByText(`Issuer: ACME · ${new URL(pebble.directoryUrl).host}`).waitFor({ timeout: 45_000 });
      expect(await jobLog()).toEqual(expect.arrayContaining([expect.stringContaining(`DNS challenge completed for ${domain}`)]));
      const issued = await byName('certificate', 'acme-cert');
      expect(issued.acme).toBeTruthy();
      expect(issued.domains_authenticators).toEqual({ [domain]: authenticator.id, [`DNS:${domain}`]: authenticator.id });

      // An ACME certificate renews by itself: its row says when.
      await row('certificates', 'acme-cert').locator('.renewal-status').getByText(/^Renews in \d+ days$/).waitFor();

      // Only ACME certificates have renewal days to edit.
      await row('certificates', 'acme-cert').getByRole('button', { name: 'Edit acme-cert' }).click();
      const edit = dialog('Edit Certificate');
      expect(await field(edit, 'Renew Certificate Days Before Expiry').inputValue()).toBe('10');
      await field(edit, 'Renew Certificate Days Before Expiry').fill('20');
      await edit.getByRole('button', { name: 'Save' }).click();
      await edit.waitFor({ state: 'detached' });
      expect((await byName('certificate', 'acme-cert')).renew_days).toBe(20);

      // Its details tell the rule and where it stands (a failure, with its error and next try, as for certificates signed here).
      await row('certificates', 'acme-cert').getByRole('button', { name: 'View acme-cert' }).click();
      const details = dialog('acme-cert');
      expect(await details.locator('dt:text-is("Renewal") + dd').textContent()).toBe('Renews 20 days before expiry');
      expect(await details.locator('dt:text-is("Renewal status") + dd').textContent()).toMatch(/^Renews in \d+ days$/);
      await page.keyboard.press('Escape');
      await details.waitFor({ state: 'hidden' });

      // Deleting revokes it at the CA. (It also keeps the daemon's renewal check, run at each
      // restart below, from calling a Pebble that is gone by then.)
      await row('certificates', 'acme-cert').getByRole('button', { name: 'Delete acme-cert' }).click();
      await dialog('Delete Certificate').getByText('Force deletes it even if revoking it at the ACME server fails.').waitFor();
      await dialog('Delete Certificate').getByRole('button', { name: 'Delete' }).click();
      await row('certificates', 'acme-cert').waitFor({ state: 'detached' });
      expect(await named('certificate', 'acme-cert')).toEqual([]);
    });
  });

  it('shows changes made by another client without a reload', async () => {
    const ca = await api.call<Entry>('certificateauthority.create', {
      name: 'remote-ca',
      create_type: 'CA_CREATE_INTERNAL',
      key_type: 'EC',
      ec_curve: 'SECP256R1',
      digest_algorithm: 'SHA256',
      lifetime: 30,
      ...SUBJECT,
      san: ['remote.lab.example'],
    });
    await row('cas', 'remote-ca').getByText(/30 days left|29 days left/).waitFor();
    await api.call('certificateauthority.update', ca.id, { name: 'remote-renamed' });
    await row('cas', 'remote-renamed').waitFor();
    await api.call('acme.dns.authenticator.delete', (await byName('acme.dns.authenticator', 'cf')).id);
    await row('authenticators', 'cf').waitFor({ state: 'detached' });
    // Expiry reads plainly: an imported certificate that ended five days ago.
    const key = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
    const day = 86_400_000;
    const expired = await issueCertificate({
      subject: { common: 'old.lab.example' },
      san: [{ type: 'DNS', value: 'old.lab.example' }],
      publicKey: key,
      signer: { privateKey: key, certificatePem: null },
      serial: 7n,
      notBefore: new Date(Date.now() - 40 * day),
      notAfter: new Date(Date.now() - 5 * day - 60_000),
      digest: 'SHA256',
      extensions: defaultExtensions(),
    });
    await api.callJob('certificate.create', [{ name: 'expired', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: expired, privatekey: exportPrivateKeyPem(key) }]);
    await row('certificates', 'expired').getByText('Expired 5 days ago').waitFor();
    await shot('dashboard', true);
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot('dashboard-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('is readable at phone width', async () => {
    await page.setViewportSize(PHONE);
    try {
      await shot('dashboard-phone', true);
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(PHONE.width);
      await page.getByRole('button', { name: 'Add Certificate', exact: true }).click();
      const wizard = dialog('Add Certificate');
      await field(wizard, 'Name').fill('phone-cert');
      await next(wizard);
      await shot('certificate-phone-options');
      await wizard.getByRole('button', { name: 'Cancel' }).click();
    } finally {
      await page.setViewportSize(LAPTOP);
    }
  });

  it('caps long cards, filters every card by name and by expiry, and keeps the filter across live updates', { timeout: 60_000 }, async () => {
    const signer = await byName('certificateauthority', 'lab-root');
    const create = (name: string, lifetime: number, san = `${name}.fleet.example`) =>
      api.callJob('certificate.create', [
        { name, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: signer.id, key_type: 'EC', ec_curve: 'SECP256R1', digest_algorithm: 'SHA256', lifetime, ...SUBJECT, san: [san] },
      ]);
    // Twelve certificates that end in 100 to 111 days, and one that ends in ten.
    await Promise.all(Array.from({ length: 12 }, (_, i) => create(`fleet-${String(i + 1).padStart(2, '0')}`, 100 + i)));
    await create('soon', 10);
    expect((await byName('certificate', 'soon')).days_left).toBeGreaterThanOrEqual(9);
    const total = async () => (await api.call<Entry[]>('certificate.query')).filter((entry) => entry.certificate !== null).length;
    let all = await total();
    expect(all).toBeGreaterThan(15);
    const certificates = card('certificates');
    const names = (key = 'certificates') => card(key).locator('tbody tr[data-id]').evaluateAll((rows) => rows.map((tr) => tr.getAttribute('data-name')));
    const count = (key: string) => card(key).locator('h2 .count').textContent();
    const filter = page.getByRole('searchbox', { name: 'Filter' });

    // Ten rows: revoked and expired ones first, then the soonest to expire.
    await row('certificates', 'soon').waitFor();
    await expect.poll(() => names()).toEqual(['expired', 'signed-web', 'soon', 'fleet-01', 'fleet-02', 'fleet-03', 'fleet-04', 'fleet-05', 'fleet-06', 'fleet-07']);
    expect(await count('certificates')).toBe(String(all));
    const showAll = certificates.getByRole('button', { name: `Show all ${all} Certificates` });
    expect(await showAll.textContent()).toBe(`Show all ${all}`);
    await shot('dashboard-capped', true);
    // Show all and Show fewer from the keyboard; focus stays on the button.
    await showAll.focus();
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await names()).length).toBe(all);
    expect(await focusedLabel()).toBe('Show fewer Certificates');
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await names()).length).toBe(10);
    expect(await focusedLabel()).toBe(`Show all ${all} Certificates`);

    // Deleting the tenth row brings up the eleventh, and focus goes to its Delete button.
    await row('certificates', 'fleet-07').getByRole('button', { name: 'Delete fleet-07' }).click();
    await dialog('Delete Certificate').getByRole('button', { name: 'Delete' }).click();
    await row('certificates', 'fleet-07').waitFor({ state: 'detached' });
    await expect.poll(focusedLabel).toBe('Delete fleet-08');
    expect((await names()).at(-1)).toBe('fleet-08');
    all -= 1;

    // "/" goes to the filter, which narrows every card, case-insensitively.
    await page.evaluate('document.activeElement.blur()');
    await page.keyboard.press('/');
    expect(await page.evaluate('document.activeElement.id')).toBe('filter');
    await page.keyboard.type('FLEET-1');
    await expect.poll(() => names()).toEqual(['fleet-10', 'fleet-11', 'fleet-12']);
    expect(await count('certificates')).toBe(`3 of ${all}`);
    expect(await certificates.getByRole('button', { name: /^Show all/ }).count()).toBe(0);
    for (const key of ['csrs', 'cas']) {
      await card(key).getByText('No match for “FLEET-1”').waitFor();
      expect(await count(key)).toMatch(/^0 of \d+$/);
    }
    // Rows from another client obey it: one that matches shows, one that does not stays out.
    await create('fleet-13', 120);
    await create('stray', 120, 'stray.lab.example');
    all += 2;
    await expect.poll(() => count('certificates')).toBe(`4 of ${all}`);
    expect(await names()).toEqual(['fleet-10', 'fleet-11', 'fleet-12', 'fleet-13']);
    await shot('dashboard-filtered', true);
    // By subject and by issuer; words must all match.
    await filter.fill('stray.lab');
    await expect.poll(() => names()).toEqual(['stray']);
    await filter.fill('lab-root fleet-0');
    await expect.poll(() => names()).toEqual(['fleet-01', 'fleet-02', 'fleet-03', 'fleet-04', 'fleet-05', 'fleet-06', 'fleet-08', 'fleet-09']);
    await filter.fill('no-such-name');
    await certificates.getByText('No match for “no-such-name”').waitFor();
    expect(await count('certificates')).toBe(`0 of ${all}`);
    // Escape clears it.
    await filter.press('Escape');
    expect(await filter.inputValue()).toBe('');
    await expect.poll(() => count('certificates')).toBe(String(all));
    expect((await names()).length).toBe(10);

    // The summary: soon and the 30-day CA expire within 30 days, one certificate has expired.
    const expiring = page.getByRole('button', { name: '2 expiring within 30 days' });
    const expired = page.getByRole('button', { name: '1 expired' });
    expect(await expiring.getAttribute('aria-pressed')).toBe('false');
    await expiring.click();
    expect(await filter.inputValue()).toBe('expires:30');
    await expect.poll(() => names()).toEqual(['soon']);
    expect(await names('cas')).toEqual(['remote-renamed']);
    expect(await count('certificates')).toBe(`1 of ${all}`);
    expect(await expiring.getAttribute('aria-pressed')).toBe('true');
    await expired.click();
    expect(await filter.inputValue()).toBe('is:expired');
    await expect.poll(() => names()).toEqual(['expired']);
    await card('cas').getByText('No match for “is:expired”').waitFor();
    expect(await focusedLabel()).toBe('BUTTON'); // still on the (redrawn) summary button
    expect(await page.locator(':focus').textContent()).toBe('1 expired');
    await expired.click(); // again: back to everything
    expect(await filter.inputValue()).toBe('');
    await expect.poll(() => count('certificates')).toBe(String(all));

    // A phone's 360 px: no sideways scrolling with the summary, the filter and a capped card.
    await page.setViewportSize({ width: 360, height: 800 });
    try {
      await filter.fill('fleet');
      await expect.poll(() => count('certificates')).toBe(`13 of ${all}`) // with soon.fleet.example;
      await shot('dashboard-phone-filtered', true);
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(360);
    } finally {
      await filter.fill('');
      await page.setViewportSize(LAPTOP);
    }
  });

  it('keeps the filter in the address: across a reload, from the summary buttons, and in a shared link', async () => {
    const all = (await api.call<Entry[]>('certificate.query')).filter((entry) => entry.certificate !== null).length;
    const names = (where: Page = page) => where.locator('[data-card="certificates"] tbody tr[data-id]').evaluateAll((rows) => rows.map((tr) => tr.getAttribute('data-name')));
    const count = (where: Page = page) => where.locator('[data-card="certificates"] h2 .count').textContent();
    const filter = page.getByRole('searchbox', { name: 'Filter' });
    const query = () => new URL(page.url()).searchParams.get('q');
    const fleet = ['fleet-10', 'fleet-11', 'fleet-12', 'fleet-13'];

    // Typing replaces the address's entry instead of adding one per keystroke.
    const entries = await page.evaluate('history.length');
    await filter.click();
    await page.keyboard.type('fleet-1');
    await expect.poll(() => names()).toEqual(fleet);
    expect(query()).toBe('fleet-1');
    expect(await page.evaluate('history.length')).toBe(entries);
    await page.reload();
    await expect.poll(() => count()).toBe(`4 of ${all}`);
    expect(await filter.inputValue()).toBe('fleet-1');
    expect(await names()).toEqual(fleet);

    // A summary button's token goes there too.
    const expiring = page.getByRole('button', { name: '2 expiring within 30 days' });
    await expiring.click();
    await expect.poll(() => names()).toEqual(['soon']);
    expect(query()).toBe('expires:30');
    await page.reload();
    await expect.poll(() => names()).toEqual(['soon']);
    expect(await filter.inputValue()).toBe('expires:30');
    expect(await expiring.getAttribute('aria-pressed')).toBe('true');
    await expiring.click(); // again: back to everything, and out of the address
    await expect.poll(() => count()).toBe(String(all));
    expect(query()).toBeNull();

    // A link with a filter, opened in a tab with no session: filtered once logged in.
    const tab = await context.newPage();
    try {
      await tab.goto(`${origin}/?q=${encodeURIComponent('FLEET-1 lab-root')}`);
      await field(tab, 'Password').fill(server.admin.password);
      await tab.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(() => count(tab)).toBe(`4 of ${all}`);
      expect(await names(tab)).toEqual(fleet);
      expect(await tab.getByRole('searchbox', { name: 'Filter' }).inputValue()).toBe('FLEET-1 lab-root');
      await tab.locator('[data-card="cas"]').getByText('No match for “FLEET-1 lab-root”').waitFor();
    } finally {
      await tab.close();
    }
  });

  it('works from the keyboard: Enter opens, Escape closes and returns focus', async () => {
    const add = page.getByRole('button', { name: 'Add Certificate Signing Request' });
    await add.focus();
    await page.keyboard.press('Enter');
    const wizard = dialog('Add CSR');
    await wizard.waitFor();
    expect(await focusedName()).toBe('name');
    await page.keyboard.type('keyboard-csr');
    await page.keyboard.press('Tab');
    expect(await focusedName()).toBe('create_type');
    await page.keyboard.press('Escape');
    await wizard.waitFor({ state: 'detached' });
    expect(await page.locator(':focus').getAttribute('aria-label')).toBe('Add Certificate Signing Request');
  });

  it('shows a banner when the connection drops, reconnects, and follows changes again', async () => {
    const { port } = server;
    await api.close();
    await server.close();
    await page.getByText('Connection to the server lost. Reconnecting…').waitFor();
    await shot('connection-lost');
    server = await startTestServer({ dataDir, env: { PORT: String(port), ADMIN_PASSWORD: server.admin.password } });
    await page.getByText('Reconnected.').waitFor({ timeout: 15_000 });
    api = await connect(server);
    await api.call('acme.dns.authenticator.create', { name: 'after-restart', attributes: { authenticator: 'cloudflare', api_token: 't' } });
    await row('authenticators', 'after-restart').waitFor();
  });

  it('keeps the session across a reload', async () => {
    await page.reload();
    await row('authenticators', 'after-restart').waitFor();
  });

  it('asks to log in again when a restarted server no longer knows the session, and logs out', async () => {
    const { port } = server;
    await api.close();
    await server.close();
    server = await startTestServer({ env: { PORT: String(port) } }); // a fresh data directory: the token is unknown
    await page.getByRole('alert').filter({ hasText: 'Your session could not be restored' }).waitFor({ timeout: 15_000 });
    await field(page, 'Password').fill(server.admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await card('cas').getByText('No certificate authorities yet').waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
  });
});
