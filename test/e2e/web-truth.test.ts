/**
 * The page tells the truth and says what is wrong, in Debian's Chromium: the import wizard shows
 * what the server reads from pasted PEM (with chain and encrypted key), an uploaded PKCS#12 bundle
 * and an uploaded DER file (all made by openssl here), a mismatched key; the real issuer of an
 * imported certificate; `is:revoked`; the CA hierarchy; the View dialog's DN, labels and serial;
 * SAN entries checked as they are added; countries by name; a throttled login's wait.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Locator, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type WebSocketConstructor } from '../../src/client/client.js';
import { createInternalCertificate, createIntermediateCa, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, loggedInPage } from '../helpers/browser.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));

const haveChromium = chromiumAvailable();

/** An outside PKI made by openssl: root → issuing CA → leaf (EC key, fixed serial), and the leaf as DER and PKCS#12. */
function outsidePki(dir: string) {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const file = (name: string) => path.join(dir, name);
  fs.writeFileSync(file('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  fs.writeFileSync(file('leaf.ext'), 'subjectAltName=DNS:shop.outside.example,IP:192.0.2.7\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', 'root.crt', '-subj', '/C=US/O=Outside/CN=Outside Root', '-days', '60', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/O=Outside/CN=Outside Issuing CA');
  openssl('x509', '-req', '-in', 'int.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-set_serial', '4097', '-days', '50', '-extfile', 'ca.ext', '-out', 'int.crt');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=shop.outside.example');
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'int.crt', '-CAkey', 'int.key', '-set_serial', '0x0ABCDEF012', '-days', '40', '-extfile', 'leaf.ext', '-out', 'leaf.crt');
  openssl('pkcs8', '-topk8', '-in', 'leaf.key', '-out', 'leaf-encrypted.key', '-v2', 'aes-256-cbc', '-passout', 'pass:open sesame');
  openssl('x509', '-in', 'leaf.crt', '-outform', 'DER', '-out', 'leaf.der');
  openssl('pkcs12', '-export', '-in', 'leaf.crt', '-inkey', 'leaf.key', '-certfile', 'int.crt', '-out', 'leaf.p12', '-passout', 'pass:bundle password');
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'other.key');
  const read = (name: string) => fs.readFileSync(file(name), 'utf8');
  const fingerprint = openssl('x509', '-in', 'leaf.crt', '-noout', '-fingerprint', '-sha256').toString().trim().split('=')[1]!;
  return { root: read('root.crt'), leaf: read('leaf.crt'), chain: read('leaf.crt') + read('int.crt') + read('root.crt'), key: read('leaf.key'), encryptedKey: read('leaf-encrypted.key'), otherKey: read('other.key'), der: file('leaf.der'), p12: file('leaf.p12'), fingerprint };
}

describe.runIf(haveChromium)('the page tells the truth and says what is wrong', () => {
  let server: TestServer;
  let api: CertmidClient;
  let context: BrowserContext;
  let page: Page;
  let pki: ReturnType<typeof outsidePki>;
  let root: Entry;

  const dialog = (name: string) => page.getByRole('dialog', { name, exact: true });
  const row = (key: string, name: string) => page.locator(`[data-card="${key}"] tr[data-name="${name}"]`);
  const field = (scope: Locator | Page, label: string) =>
    scope.getByLabel(new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\*)?$`)).filter({ visible: true });
  const next = (wizard: Locator) => wizard.getByRole('button', { name: 'Next' }).click();
  const byName = async (name: string): Promise<Entry> => (await api.call<Entry[]>('certificate.query', [['name', '=', name]]))[0]!;
  const detail = (scope: Locator, term: string) => scope.locator(`dt:text-is("${term}") + dd`);
  const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `truth-${name}.png`) });

  async function openImport(name: string): Promise<Locator> {
    await page.getByRole('button', { name: 'Import Certificate' }).click();
    const wizard = dialog('Import Certificate');
    await field(wizard, 'Name').fill(name);
    await next(wizard);
    return wizard;
  }

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    pki = outsidePki(fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-outside-pki-')));
    server = await startTestServer();
    api = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 30_000 });
    await api.login(server.admin.username, server.admin.password);
    root = await createRootCa(api, 'truth-root');
    ({ context, page } = await loggedInPage(server));
  });
  afterAll(async () => {
    await context?.close();
    await api?.close();
    await server?.close();
  });

  it('previews a pasted PEM with its chain and encrypted key, then shows the real issuer in the row', async () => {
    const wizard = await openImport('outside-shop');
    await field(wizard, 'Certificate').fill(pki.chain);
    await field(wizard, 'Private Key').fill(pki.encryptedKey);
    await field(wizard, 'Passphrase').fill('open sesame');
    await field(wizard, 'Confirm Passphrase').fill('open sesame');
    await next(wizard);
    await wizard.getByRole('heading', { name: 'Confirm Options' }).waitFor();
    expect(await detail(wizard, 'Format').textContent()).toBe('PEM');
    expect(await detail(wizard, 'Subject').textContent()).toBe('CN=shop.outside.example');
    expect(await detail(wizard, 'Issuer').textContent()).toBe('O=Outside, CN=Outside Issuing CA');
    expect(await detail(wizard, 'Subject Alternative Names').textContent()).toBe('DNS:shop.outside.example, IP Address:192.0.2.7');
    expect(await detail(wizard, 'Serial').textContent()).toBe(`0A:BC:DE:F0:12 (${BigInt('0x0ABCDEF012').toString()})`);
    expect(await detail(wizard, 'Public Key').textContent()).toBe('EC 256-bit');
    expect(await detail(wizard, 'SHA-256 Fingerprint').textContent()).toBe(pki.fingerprint);
    expect(await detail(wizard, 'Chain 1').textContent()).toMatch(/^O=Outside, CN=Outside Issuing CA, issued by C=US, O=Outside, CN=Outside Root, until /);
    expect(await detail(wizard, 'Chain 2').textContent()).toMatch(/^C=US, O=Outside, CN=Outside Root, issued by C=US, O=Outside, CN=Outside Root/);
    expect(await detail(wizard, 'Private Key').textContent()).toBe('EC 256-bit, matches the certificate');
    expect(await detail(wizard, 'Passphrase').textContent()).toBe('Opened the encrypted key');
    expect(await wizard.textContent()).not.toContain('......');
    await shot('import-preview');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('certificates', 'outside-shop').waitFor();
    await wizard.waitFor({ state: 'detached' });
    const entry = await byName('outside-shop');
    expect(entry).toMatchObject({ issuer: 'external', issuer_dn: '/O=Outside/CN=Outside Issuing CA' });
    await row('certificates', 'outside-shop').getByText('Issuer: Outside Issuing CA').waitFor();
    await row('certificates', 'outside-shop').getByRole('button', { name: 'View outside-shop' }).click();
    const details = dialog('outside-shop');
    expect(await detail(details, 'Issuer DN').textContent()).toBe('/O=Outside/CN=Outside Issuing CA');
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'hidden' });
  });

  it('shows a key that does not match, and puts a wrong passphrase on its field', async () => {
    const wizard = await openImport('outside-mismatch');
    await field(wizard, 'Certificate').fill(pki.leaf);
    await field(wizard, 'Private Key').fill(pki.otherKey);
    await next(wizard);
    expect(await detail(wizard, 'Private Key').textContent()).toBe('EC 256-bit, does NOT match the certificate');
    await shot('import-mismatch');
    await wizard.getByRole('button', { name: 'Back' }).click();
    await field(wizard, 'Private Key').fill(pki.encryptedKey);
    await field(wizard, 'Passphrase').fill('wrong');
    await field(wizard, 'Confirm Passphrase').fill('wrong');
    await next(wizard);
    await expect.poll(() => field(wizard, 'Private Key').getAttribute('aria-invalid')).toBe('true');
    expect(await wizard.getByRole('heading', { name: 'Confirm Options' }).count()).toBe(0);
    await wizard.getByRole('button', { name: 'Cancel' }).click();
    expect(await api.call<Entry[]>('certificate.query', [['name', '=', 'outside-mismatch']])).toEqual([]);
  });

  it('imports an uploaded PKCS#12 bundle with its password', async () => {
    const wizard = await openImport('outside-p12');
    await wizard.locator('[data-path="certificate"] input[type="file"]').setInputFiles(pki.p12);
    await wizard.getByText('PKCS#12 bundle: leaf.p12').waitFor();
    expect(await field(wizard, 'Private Key').count()).toBe(0);
    await field(wizard, 'Passphrase').fill('bundle password');
    await field(wizard, 'Confirm Passphrase').fill('bundle password');
    await next(wizard);
    expect(await detail(wizard, 'Format').textContent()).toBe('PKCS#12 bundle');
    expect(await detail(wizard, 'Private Key').textContent()).toBe('EC 256-bit, matches the certificate');
    expect(await detail(wizard, 'Passphrase').textContent()).toBe('Opened the encrypted bundle');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('certificates', 'outside-p12').waitFor();
    await wizard.waitFor({ state: 'detached' });
    expect(await byName('outside-p12')).toMatchObject({ fingerprint_sha256: pki.fingerprint, issuer_dn: '/O=Outside/CN=Outside Issuing CA' });
  });

  it('imports an uploaded DER certificate', async () => {
    const wizard = await openImport('outside-der');
    await wizard.locator('[data-path="certificate"] input[type="file"]').setInputFiles(pki.der);
    await expect.poll(async () => (await field(wizard, 'Certificate').inputValue()).length).toBeGreaterThan(100);
    expect(await field(wizard, 'Certificate').inputValue()).toBe(fs.readFileSync(pki.der).toString('base64'));
    await field(wizard, 'Private Key').fill(pki.key);
    await next(wizard);
    expect(await detail(wizard, 'Format').textContent()).toBe('DER (binary)');
    expect(await detail(wizard, 'Subject').textContent()).toBe('CN=shop.outside.example');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('certificates', 'outside-der').waitFor();
    await wizard.waitFor({ state: 'detached' });
    expect(await byName('outside-der')).toMatchObject({ fingerprint_sha256: pki.fingerprint });
  });

  it('previews an imported CA: self-signed, no key', async () => {
    await page.getByRole('button', { name: 'Add Certificate Authority' }).click();
    const wizard = dialog('Add Certificate Authority');
    await field(wizard, 'Name').fill('outside-root');
    await field(wizard, 'Type').selectOption('CA_CREATE_IMPORTED');
    await next(wizard);
    await field(wizard, 'Certificate').fill(pki.root);
    await next(wizard);
    expect(await detail(wizard, 'Issuer').textContent()).toBe('C=US, O=Outside, CN=Outside Root (self-signed)');
    expect(await detail(wizard, 'Private Key').textContent()).toBe('None given');
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('cas', 'outside-root').waitFor();
    await wizard.waitFor({ state: 'detached' });
    await row('cas', 'outside-root').getByText('Issuer: Outside Root').waitFor();
  });

  it('finds revoked certificates with is:revoked', async () => {
    const revoked = await createInternalCertificate(api, 'truth-revoked', root.id);
    await createInternalCertificate(api, 'truth-valid', root.id);
    await api.callJob('certificate.update', [revoked.id, { revoked: true }]);
    await row('certificates', 'truth-valid').waitFor();
    await page.locator('#filter').fill('is:revoked');
    await expect.poll(() => page.locator('[data-card="certificates"] tbody tr[data-name]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')))).toEqual(['truth-revoked']);
    await page.locator('#filter').fill('');
    await row('certificates', 'truth-valid').waitFor();
  });

  it('shows the View dialog with a plain DN, proper extension labels and the serial in hex and decimal', async () => {
    const entry = await byName('truth-valid');
    expect(entry.DN).toContain('/subjectAltName=');
    // issuer_dn as openssl reads the stored certificate (the CA's subject).
    const issuer = execFileSync('openssl', ['x509', '-noout', '-issuer', '-nameopt', 'compat'], { input: String(entry.certificate) }).toString().trim();
    expect(`issuer=${String(entry.issuer_dn)}`).toBe(issuer);
    await row('certificates', 'truth-valid').getByRole('button', { name: 'View truth-valid' }).click();
    const details = dialog('truth-valid');
    expect(await detail(details, 'Distinguished Name').textContent()).toBe(String(entry.DN).replace(/\/subjectAltName=.*$/, ''));
    const hex = BigInt(String(entry.serial)).toString(16).toUpperCase();
    const pairs = (hex.length % 2 ? `0${hex}` : hex).match(/../g)!.join(':');
    expect(await detail(details, 'Serial').textContent()).toBe(`${pairs} (${String(entry.serial)})`);
    // openssl prints the same hex.
    const printed = execFileSync('openssl', ['x509', '-noout', '-serial'], { input: String(entry.certificate) }).toString().trim();
    expect(printed).toBe(`serial=${pairs.replace(/:/g, '')}`);
    const terms = await details.locator('dt').allTextContents();
    expect(Object.keys(entry.extensions as object)).toEqual(expect.arrayContaining(['CrlDistributionPoints', 'AuthorityInfoAccess', 'SubjectKeyIdentifier']));
    expect(terms).toEqual(expect.arrayContaining(['CRL Distribution Points', 'Authority Information Access', 'Subject Key Identifier']));
    expect(terms.some((term) => /^Crl |^Authority Info /.test(term))).toBe(false);
    await shot('view-dialog');
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'hidden' });
  });

  it('draws the CA hierarchy: roots, the CAs they signed, and their certificates', async () => {
    const intermediate = await createIntermediateCa(api, 'truth-issuing', root.id);
    await createInternalCertificate(api, 'truth-leaf', intermediate.id);
    await row('cas', 'truth-issuing').waitFor();
    await page.getByRole('button', { name: 'CA Hierarchy' }).click();
    const tree = dialog('CA Hierarchy').getByRole('tree', { name: 'CA hierarchy' });
    const node = (scope: Locator, name: string) => scope.locator(`> li[data-name="${name}"], > ul > li[data-name="${name}"]`);
    const rootNode = node(tree, 'truth-root');
    await rootNode.waitFor();
    const issuing = rootNode.locator('> ul > li[data-name="truth-issuing"]');
    await issuing.waitFor();
    await issuing.locator('> ul > li[data-name="truth-leaf"]').waitFor();
    await rootNode.locator('> ul > li[data-name="truth-revoked"]').getByText('certificate, revoked').waitFor();
    expect(await issuing.locator('> .tree-note').textContent()).toBe(' intermediate');
    await shot('ca-hierarchy');
    await issuing.getByRole('button', { name: 'truth-leaf' }).click();
    await dialog('truth-leaf').waitFor();
    await page.keyboard.press('Escape');
    await dialog('truth-leaf').waitFor({ state: 'hidden' });
    if (await dialog('CA Hierarchy').isVisible()) {
      await page.keyboard.press('Escape');
      await dialog('CA Hierarchy').waitFor({ state: 'hidden' });
    }
  });

  it('checks each SAN as it is added, sorts countries by name, and words the CA lifetime without a browser limit', async () => {
    await page.getByRole('button', { name: 'Add Certificate', exact: true }).click();
    const wizard = dialog('Add Certificate');
    await field(wizard, 'Name').fill('truth-san');
    await next(wizard);
    await next(wizard);
    const countries = await field(wizard, 'Country').locator('option').allTextContents();
    expect(countries.length).toBeGreaterThan(100);
    expect(countries).toEqual([...countries].sort((a, b) => a.localeCompare(b, 'en')));
    const san = field(wizard, 'Subject Alternative Names');
    const chipsShown = () => wizard.locator('.chips li span').allTextContents();
    await next(wizard); // nothing typed yet: the local check speaks
    await wizard.getByText('Add at least one subject alternative name.', { exact: true }).waitFor();
    await san.fill('a.example b.example');
    await san.press('Enter');
    await wizard.getByText('"a.example b.example" contains a space: enter one name at a time (comma or Enter after each).').waitFor();
    expect(await chipsShown()).toEqual([]);
    expect(await san.inputValue()).toBe('a.example b.example');
    await san.fill('IP:999.1.1.1');
    await san.press('Enter');
    await wizard.getByText('"999.1.1.1" is not an IPv4 or IPv6 address.').waitFor();
    await san.fill('bad_label-.example');
    await san.press('Enter');
    await wizard.getByText('"bad_label-.example" is not a DNS name: "bad_label-" is not a valid part of a DNS name.').waitFor();
    await san.fill('nas.example.com, 192.0.2.1, email:pki@example.com, URI:https://nas.example.com/, *.apps.example.com, IP Address:2001:db8::1, -bad.example');
    await san.press('Enter');
    expect(await chipsShown()).toEqual(['nas.example.com', '192.0.2.1', 'email:pki@example.com', 'URI:https://nas.example.com/', '*.apps.example.com', 'IP Address:2001:db8::1']);
    expect(await san.inputValue()).toBe('-bad.example');
    await shot('san-check');
    await wizard.getByRole('button', { name: 'Cancel' }).click();
    await wizard.waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Add Certificate Authority' }).click();
    const ca = dialog('Add Certificate Authority');
    await field(ca, 'Name').fill('truth-ca');
    await next(ca);
    const hint = await ca.locator('[data-path="lifetime"] .hint').textContent();
    expect(hint).not.toMatch(/browser|398/i);
    await ca.getByRole('button', { name: 'Cancel' }).click();
    await ca.waitFor({ state: 'detached' });
  });

  it('names the certificate in the revoke dialog, which Edit offers too', async () => {
    await row('certificates', 'truth-leaf').getByRole('button', { name: 'Revoke truth-leaf' }).click();
    const confirm = dialog('Revoke Certificate');
    await confirm.getByText('Revoke the certificate "truth-leaf"?', { exact: false }).waitFor();
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    // The Edit dialog offers revocation too, through the same confirmation with its reason.
    await row('certificates', 'truth-leaf').getByRole('button', { name: 'Edit truth-leaf' }).click();
    const edit = dialog('Edit Certificate');
    expect(await edit.getByText(/^Writes its chain into the trusted-store directory/).count()).toBe(1);
    await edit.getByRole('button', { name: 'Revoke…' }).click();
    await confirm.getByText('Revoke the certificate "truth-leaf"?', { exact: false }).waitFor();
    expect(await field(confirm, 'Reason').count()).toBe(1);
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    expect((await byName('truth-leaf')).revoked).toBe(false);
  });

  it('lines up action icons across rows, and keeps toasts off the buttons', async () => {
    // truth-revoked has no Revoke action, truth-valid has one: their other icons still line up.
    const x = async (name: string, action: string) => (await row('certificates', name).getByRole('button', { name: `${action} ${name}` }).boundingBox())!.x;
    for (const action of ['View', 'Download', 'Edit', 'Delete']) expect(await x('truth-revoked', action)).toBe(await x('truth-valid', action));
    expect(await row('certificates', 'truth-revoked').getByRole('button', { name: 'Revoke truth-revoked' }).count()).toBe(0);

    await row('certificates', 'truth-valid').getByRole('button', { name: 'Edit truth-valid' }).click();
    const edit = dialog('Edit Certificate');
    await edit.getByRole('button', { name: 'Save' }).click();
    const toast = page.locator('.toast', { hasText: 'Saved.' });
    await toast.waitFor();
    await page.getByRole('button', { name: 'Import Certificate' }).click();
    const wizard = dialog('Import Certificate');
    await wizard.waitFor();
    const box = (await toast.boundingBox())!;
    const buttons = await page.getByRole('button').filter({ visible: true }).all();
    for (const button of buttons) {
      const other = await button.boundingBox();
      if (!other || other.width === 0) continue;
      const overlaps = box.x < other.x + other.width && other.x < box.x + box.width && box.y < other.y + other.height && other.y < box.y + box.height;
      expect(overlaps, `the toast covers "${await button.textContent()}"`).toBe(false);
    }
    await wizard.getByRole('button', { name: 'Cancel' }).click();
    await wizard.waitFor({ state: 'detached' });
  });

  it('gives inputs of one row the same height and top', async () => {
    await page.getByRole('button', { name: 'Add Certificate', exact: true }).click();
    const wizard = dialog('Add Certificate');
    await field(wizard, 'Name').fill('truth-rows');
    await next(wizard);
    await next(wizard);
    const pairs: Array<[string, string]> = [['Country', 'State'], ['Locality', 'Organization'], ['Organizational Unit', 'Email']];
    for (const [left, right] of pairs) {
      const a = (await field(wizard, left).boundingBox())!;
      const b = (await field(wizard, right).boundingBox())!;
      expect([a.y, a.height], `${left} / ${right}`).toEqual([b.y, b.height]);
    }
    await wizard.getByRole('button', { name: 'Cancel' }).click();
    await wizard.waitFor({ state: 'detached' });
  });

  it('keeps labels clear of their values at 390 px', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await row('certificates', 'truth-valid').waitFor();
      // Each column title, set as the stacked rows' labels are, fits the label column.
      const tooWide = await page.evaluate(`(() => {
        const cell = document.querySelector('[data-card] td[data-label]');
        const label = getComputedStyle(cell, '::before');
        const column = parseFloat(getComputedStyle(cell).gridTemplateColumns.split(' ')[0]);
        const titles = [...new Set([...document.querySelectorAll('[data-card] th')].map((th) => th.textContent).filter(Boolean)), 'Authenticator'];
        return titles.flatMap((title) => {
          const probe = document.body.appendChild(document.createElement('span'));
          Object.assign(probe.style, { position: 'absolute', whiteSpace: 'nowrap', font: label.font, letterSpacing: label.letterSpacing, textTransform: label.textTransform });
          probe.textContent = title;
          const width = probe.getBoundingClientRect().width;
          probe.remove();
          return width > column ? [title + ': ' + width + ' > ' + column] : [];
        });
      })()`);
      expect(tooWide).toEqual([]);
      await page.screenshot({ path: path.join(ARTIFACTS, 'truth-dashboard-phone.png'), fullPage: true });

      await page.getByRole('button', { name: 'Add Certificate', exact: true }).click();
      const wizard = dialog('Add Certificate');
      await field(wizard, 'Name').fill('truth-phone');
      await next(wizard);
      await next(wizard);
      // Every shown field's label ends above its control.
      const overlaps = await wizard.locator('.field').evaluateAll((fields) =>
        fields.flatMap((el) => {
          const label = el.querySelector(':scope > label');
          const control = el.querySelector(':scope > input, :scope > select, :scope > textarea, :scope > .chip-box');
          if (!label || !control || el.getClientRects().length === 0) return [];
          return label.getBoundingClientRect().bottom > control.getBoundingClientRect().top + 0.5 ? [label.textContent] : [];
        }),
      );
      expect(overlaps).toEqual([]);
      await shot('subject-phone');
      await wizard.getByRole('button', { name: 'Cancel' }).click();
      await wizard.waitFor({ state: 'detached' });
    } finally {
      await page.setViewportSize({ width: 1366, height: 900 });
    }
  });

  it('puts notices in the flow on a phone, over no button, in a dialog and on the page', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    /** Visible buttons of `scope` whose box meets the notice's. */
    const covered = async (notice: Locator, scope: Locator | Page) => {
      const box = (await notice.boundingBox())!;
      const hits: string[] = [];
      for (const button of await scope.getByRole('button').filter({ visible: true }).all()) {
        const other = await button.boundingBox();
        if (!other || other.width === 0) continue;
        if (box.x < other.x + other.width && other.x < box.x + box.width && box.y < other.y + other.height && other.y < box.y + box.height) hits.push((await button.textContent()) ?? '');
      }
      return hits;
    };
    try {
      await row('certificates', 'truth-valid').getByRole('button', { name: 'View truth-valid' }).click();
      const view = dialog('truth-valid');
      await view.getByRole('button', { name: 'Copy PEM' }).click();
      const inDialog = view.locator('.surface-body > .toast.inline');
      await inDialog.waitFor();
      expect(await covered(inDialog, view)).toEqual([]);
      // Not also floating in the corner.
      expect(await page.locator('.toasts .toast', { hasText: await inDialog.textContent() ?? '' }).count()).toBe(0);
      await view.getByRole('button', { name: 'Close' }).first().click();
      await view.waitFor({ state: 'detached' });

      await row('certificates', 'truth-valid').getByRole('button', { name: 'Edit truth-valid' }).click();
      await dialog('Edit Certificate').getByRole('button', { name: 'Save' }).click();
      const onPage = page.locator('#main > .toast.inline', { hasText: 'Saved.' });
      await onPage.waitFor();
      expect(await covered(onPage, page)).toEqual([]);
    } finally {
      await page.setViewportSize({ width: 1366, height: 900 });
    }
  });

  it('says how long to wait after too many failed logins', async () => {
    const other = await context.newPage();
    await other.goto(`http://127.0.0.1:${server.port}/`);
    const message = other.locator('.login-form [role="alert"]');
    let text = '';
    // The address allows 10 failures a minute; the 11th attempt is refused with the wait.
    for (let attempt = 0; attempt < 12 && !text.startsWith('Too many'); attempt++) {
      await field(other, 'Password').fill('not the password');
      await other.getByRole('button', { name: 'Log in' }).click();
      await expect.poll(async () => (await message.isVisible()) && !(await other.getByRole('button', { name: 'Log in' }).isDisabled())).toBe(true);
      text = (await message.textContent()) ?? '';
    }
    expect(text).toMatch(/^Too many failed logins: try again in \d+ seconds?\.$/);
    await other.screenshot({ path: path.join(ARTIFACTS, 'truth-login-throttled.png') });
    await other.close();
  });
});
