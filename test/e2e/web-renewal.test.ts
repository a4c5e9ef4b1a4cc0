/**
 * Automatic renewal and "where is it used" on the page, in Debian's Chromium (as
 * test/e2e/web.test.ts drives the rest of it): the opt-in in the Add Certificate wizard and the
 * Edit dialog with the renewal status, previous versions and what uses a certificate in its
 * details, what a CA signed (each opening its own details), and deletions of entries in use
 * refused up front with the users named.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Locator, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type WebSocketConstructor } from '../../src/client/client.js';
import { createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, loggedInPage } from '../helpers/browser.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));

const haveChromium = chromiumAvailable();

describe.runIf(haveChromium)('renewal and uses on the page', () => {
  let server: TestServer;
  let api: CertmidClient;
  let context: BrowserContext;
  let page: Page;
  let root: Entry;

  const dialog = (name: string) => page.getByRole('dialog', { name, exact: true });
  const row = (key: string, name: string) => page.locator(`[data-card="${key}"] tr[data-name="${name}"]`);
  const field = (scope: Locator | Page, label: string) =>
    scope.getByLabel(new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\*)?$`)).filter({ visible: true });
  const next = (wizard: Locator) => wizard.getByRole('button', { name: 'Next' }).click();
  const byName = async (name: string): Promise<Entry> => (await api.call<Entry[]>('certificate.query', [['name', '=', name]]))[0]!;
  const detail = (scope: Locator, term: string) => scope.locator(`dt:text-is("${term}") + dd`);

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    server = await startTestServer();
    api = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 30_000 });
    await api.login(server.admin.username, server.admin.password);
    root = await createRootCa(api, 'page-root');
    ({ context, page } = await loggedInPage(server));
  });
  afterAll(async () => {
    await context?.close();
    await api?.close();
    await server?.close();
  });

  it('opts a new internal certificate in to automatic renewal in the Add Certificate wizard', async () => {
    await page.getByRole('button', { name: 'Add Certificate', exact: true }).click();
    const wizard = dialog('Add Certificate');
    await field(wizard, 'Name').fill('page-auto');
    await next(wizard);
    await field(wizard, 'Lifetime (days)').fill('2');
    expect(await field(wizard, 'Renew Certificate Days Before Expiry').count()).toBe(0);
    await field(wizard, 'Renew Automatically').check();
    await field(wizard, 'Renew Certificate Days Before Expiry').fill('2');
    await next(wizard);
    await field(wizard, 'State').fill('Tennessee');
    await field(wizard, 'Locality').fill('Knoxville');
    await field(wizard, 'Organization').fill('Lab');
    await field(wizard, 'Email').fill('pki@lab.example');
    await field(wizard, 'Common Name').fill('auto.lab.example');
    const san = field(wizard, 'Subject Alternative Names');
    await san.fill('auto.lab.example');
    await san.press('Enter');
    await next(wizard);
    await next(wizard);
    await wizard.getByText('Renew Automatically', { exact: true }).waitFor();
    await wizard.getByRole('button', { name: 'Save' }).click();
    await row('certificates', 'page-auto').waitFor();
    expect(await byName('page-auto')).toMatchObject({ auto_renew: true, renew_days: 2, rotate_key: true, lifetime: 2 });
  });

  it('shows the renewal, the previous version and whether it is superseded in the details', async () => {
    const before = await byName('page-auto');
    expect((await api.callJob<{ renewed: number[] }>('certificate.renew_certs', [])).renewed).toContain(before.id);
    const after = await byName('page-auto');
    await page.locator('tr[data-name="page-auto"]').getByRole('button', { name: 'View page-auto' }).click();
    const details = dialog('page-auto');
    expect(await detail(details, 'Serial').textContent()).toContain(`(${String(after.serial)})`);
    expect(await detail(details, 'Renewal').textContent()).toBe('Renews 2 days before expiry');
    const versions = details.getByRole('region', { name: 'Previous versions' });
    const cells = await versions.locator('tbody tr').first().locator('td').allTextContents();
    expect(cells[0]).toBe(String(before.serial));
    expect(cells[4]).toMatch(/^Superseded \d{4}-\d\d-\d\d \d\d:\d\d$/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'renewal-details.png') });
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'hidden' });
  });

  it('changes the opt-in in the Edit dialog, which shows the last renewal failure', async () => {
    const shortCa = await createRootCa(api, 'page-short-root', { lifetime: 1 });
    const failing = await api.callJob<Entry>('certificate.create', [
      { ...subjectParams({ common: 'failing' }), name: 'page-failing', create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: shortCa.id, lifetime: 2, renew_days: 2, auto_renew: true },
    ]);
    expect((await api.callJob<{ failed: number[] }>('certificate.renew_certs', [])).failed).toEqual([failing.id]);
    await row('certificates', 'page-failing').getByRole('button', { name: 'Edit page-failing' }).click();
    const edit = dialog('Edit Certificate');
    expect(await field(edit, 'Renew Automatically').isChecked()).toBe(true);
    expect(await field(edit, 'New Key At Each Renewal').isChecked()).toBe(true);
    expect(await field(edit, 'Renew Certificate Days Before Expiry').inputValue()).toBe('2');
    expect(await edit.getByLabel('Renewal status').textContent()).toMatch(
      /^Renews 2 days before expiry\. Last attempt failed: \[EINVAL\] The signing certificate authority expires on .+; tried again after \d{4}-\d\d-\d\d \d\d:\d\d$/,
    );
    await page.screenshot({ path: path.join(ARTIFACTS, 'renewal-edit.png') });
    await field(edit, 'Renew Automatically').uncheck();
    expect(await field(edit, 'Renew Certificate Days Before Expiry').count()).toBe(0);
    await edit.getByRole('button', { name: 'Save' }).click();
    await edit.waitFor({ state: 'hidden' });
    await expect.poll(async () => (await byName('page-failing')).auto_renew).toBe(false);
    expect(await byName('page-failing')).toMatchObject({ renewal_error: null, renewal_attempts: 0 });
  });

  it("lists what a CA signed in its details, each opening the entry's own", async () => {
    await row('cas', 'page-root').getByRole('button', { name: 'View page-root' }).click();
    const details = dialog('page-root');
    const signed = details.getByRole('region', { name: 'Signed by this CA' });
    expect(await signed.getByRole('listitem').allTextContents()).toEqual(['page-auto (certificate)']);
    await signed.getByRole('button', { name: 'page-auto (certificate)' }).click();
    const certificate = dialog('page-auto');
    await certificate.waitFor();
    expect(await detail(certificate, 'Issuer').textContent()).toBe('page-root');
    await page.keyboard.press('Escape');
    await certificate.waitFor({ state: 'hidden' });
    if (await details.isVisible()) {
      await page.keyboard.press('Escape');
      await details.waitFor({ state: 'hidden' });
    }
  });

  it('names the users of an entry before a delete: the UI Service, and what a CA signed', async () => {
    const used = await byName('page-auto');
    await api.call('system.general.update', { ui_certificate: used.id });
    await row('certificates', 'page-auto').getByText('In use by UI Service').waitFor();
    await row('certificates', 'page-auto').getByRole('button', { name: 'Delete page-auto' }).click();
    const refusal = dialog('Certificate In Use');
    await refusal.getByText('"page-auto" is used by UI Service. Choose another certificate there before deleting it.').waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'renewal-delete-in-use.png') });
    await page.keyboard.press('Escape');
    await refusal.waitFor({ state: 'hidden' });
    expect(await byName('page-auto')).toBeDefined();

    await row('cas', 'page-root').getByRole('button', { name: 'Delete page-root' }).click();
    const error = dialog('Error');
    await error
      .getByText('This Certificate Authority is being used to sign one or more certificates. It can be deleted only after deleting these certificates. Signed by it: page-auto (certificate).')
      .waitFor();
    await page.keyboard.press('Escape');
    await error.waitFor({ state: 'hidden' });
  });
});
