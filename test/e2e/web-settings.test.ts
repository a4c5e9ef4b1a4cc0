/**
 * The page's GUI Settings in Debian's Chromium (as test/e2e/web.test.ts drives the rest of the
 * page): the UI certificate chosen from system.general.ui_certificate_choices, HTTPS opened on a
 * port, server validation errors on their field, and the certificate in use marked as such.
 * openssl s_client judges what HTTPS then presents.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Locator, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type WebSocketConstructor } from '../../src/client/client.js';
import { closedPort } from '../helpers/net.js';
import { openssl, opensslOk } from '../helpers/openssl.js';
import { createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, loggedInPage } from '../helpers/browser.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));

const haveChromium = chromiumAvailable();

async function servedSerial(port: number): Promise<string | null> {
  const run = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost'], '');
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(run.stdout)?.[0];
  return leaf ? (await opensslOk(['x509', '-noout', '-serial'], leaf)).stdout.trim().replace(/^serial=/, '') : null;
}

describe.runIf(haveChromium)('the GUI Settings panel', () => {
  let server: TestServer;
  let api: CertmidClient;
  let context: BrowserContext;
  let page: Page;
  let nas: Entry;

  const dialog = () => page.getByRole('dialog', { name: 'GUI Settings', exact: true });
  const field = (scope: Locator | Page, label: string) =>
    scope.getByLabel(new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\*)?$`)).filter({ visible: true });

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    server = await startTestServer();
    api = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 30_000 });
    await api.login(server.admin.username, server.admin.password);
    const ca = await createRootCa(api, 'settings-root');
    nas = await createInternalCertificate(api, 'nas', ca.id, { common: 'localhost', san: ['localhost'] });
    ({ context, page } = await loggedInPage(server));
  });
  afterAll(async () => {
    await context?.close();
    await api?.close();
    await server?.close();
  });

  it('shows the current settings, the certificates to choose from, and the HTTP port as the environment sets it', async () => {
    await page.getByRole('button', { name: 'Settings', exact: true }).click();
    await dialog().waitFor();
    const certificate = field(dialog(), 'GUI SSL Certificate');
    expect(await certificate.locator('option').allTextContents()).toEqual(['truenas_default', 'nas']);
    expect(await certificate.locator('option:checked').textContent()).toBe('truenas_default');
    expect(await field(dialog(), 'Web Interface HTTP Port').inputValue()).toBe(String(server.port));
    expect(await field(dialog(), 'Web Interface HTTP Port').isDisabled()).toBe(true);
    await dialog().getByText('Set by the PORT environment variable.').waitFor();
    expect(await field(dialog(), 'Web Interface HTTPS Port').inputValue()).toBe('');
    expect(await field(dialog(), 'TLSv1.2').isChecked()).toBe(true);
    expect(await field(dialog(), 'TLSv1.3').isChecked()).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'gui-settings.png') });
  });

  it("puts the server's refusal under the HTTPS port field, then saves a port that works", async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as net.AddressInfo).port;
    try {
      await field(dialog(), 'GUI SSL Certificate').selectOption({ label: 'nas' });
      await field(dialog(), 'Web Interface HTTPS Port').fill(String(busyPort));
      await dialog().getByRole('button', { name: 'Save' }).click();
      const portField = dialog().locator('[data-path="ui_httpsport"]');
      await portField.getByText(`Port ${busyPort} cannot be used on 127.0.0.1: it is in use`).waitFor();
      expect(await page.locator(':focus').getAttribute('name')).toBe('ui_httpsport');
    } finally {
      busy.close();
    }
    expect((await api.call<Entry>('system.general.config')).ui_httpsport).toBeNull();

    const port = await closedPort();
    await field(dialog(), 'Web Interface HTTPS Port').fill(String(port));
    await dialog().getByRole('button', { name: 'Save' }).click();
    await page.getByText('Settings saved.').waitFor();
    await dialog().waitFor({ state: 'hidden' });
    expect(await api.call<Entry>('system.general.config')).toMatchObject({ ui_httpsport: port, ui_certificate: { id: nas.id } });
    expect(await servedSerial(port)).toBe((await opensslOk(['x509', '-noout', '-serial'], nas.certificate!)).stdout.trim().replace(/^serial=/, ''));
  });

  it('marks the certificate in use in its row and its details', async () => {
    const row = page.locator('tr[data-name="nas"]');
    await row.getByText('In use by UI Service').waitFor();
    expect(await page.locator('tr[data-name="truenas_default"]').getByText('In use by').count()).toBe(0);
    await row.getByRole('button', { name: 'View nas' }).click();
    const details = page.getByRole('dialog', { name: 'nas' });
    await details.locator('dt', { hasText: 'Used by' }).waitFor();
    expect(await details.locator('dt:has-text("Used by") + dd').textContent()).toBe('UI Service');
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'hidden' });
  });
});
