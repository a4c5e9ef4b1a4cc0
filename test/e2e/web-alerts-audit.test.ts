/**
 * The alerts bell, renewal status and the audit log on the page, in Debian's Chromium (as
 * test/e2e/web.test.ts drives the rest of it): an openssl certificate expiring in 5 days raises the
 * bell live, Dismiss and Restore work and its removal clears it; a failing renewal shows in the row
 * and the details; the audit panel lists logins and calls, filters them, exports a CSV and verifies
 * the chain (and names the entry altered in the database); users without the roles see neither; a
 * phone's width has no horizontal scroll.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type WebSocketConstructor } from '../../src/client/client.js';
import { selfSignedCertificate } from '../helpers/openssl.js';
import { createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumAvailable } from '../helpers/browser.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));
const PHONE = { width: 390, height: 844 };
/** TrueNAS's audit report columns, in its order. */
const CSV_HEADER = 'audit_id,message_timestamp,timestamp,address,username,session,service,service_data,event,event_data,success';

const haveChromium = chromiumAvailable();

describe.runIf(haveChromium)('alerts, renewal status and the audit log on the page', () => {
  let server: TestServer;
  let api: CertmidClient;
  let context: BrowserContext;
  let page: Page;

  const dialog = (name: string) => page.getByRole('dialog', { name, exact: true });
  const field = (scope: Locator | Page, label: string) =>
    scope.getByLabel(new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\*)?$`)).filter({ visible: true });
  const bell = () => page.locator('header.topbar button.bell');
  const bellCount = async () => Number(await bell().getAttribute('data-count'));
  const row = (name: string) => page.locator(`[data-card="certificates"] tr[data-name="${name}"]`);
  const detail = (scope: Locator, term: string) => scope.locator(`dt:text-is("${term}") + dd`);
  /** The audit table's rows as [user, event, method]. */
  const auditRows = (panel: Locator) =>
    panel.locator('.audit-table tbody tr').evaluateAll((rows) =>
      rows.map((tr) => ['User', 'Event', 'Method'].map((label) => tr.querySelector(`td[data-label="${label}"]`)?.textContent ?? '')),
    );
  const noHorizontalScroll = () => page.evaluate('document.documentElement.scrollWidth');

  async function logIn(target: Page, username: string, password: string): Promise<void> {
    await target.goto(`http://127.0.0.1:${server.port}/`);
    await field(target, 'Username').fill(username);
    await field(target, 'Password').fill(password);
    await target.keyboard.press('Enter');
    await target.locator('tr[data-name="truenas_default"]').waitFor();
  }

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    server = await startTestServer();
    api = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 30_000 });
    await api.login(server.admin.username, server.admin.password);
    context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-chromium-')), {
      executablePath: CHROMIUM,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1366, height: 900 },
      acceptDownloads: true,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    await logIn(page, server.admin.username, server.admin.password);
  });
  afterAll(async () => {
    await context?.close();
    await api?.close();
    await server?.close();
  });

  it('raises the bell live for a certificate expiring in 5 days, dismisses, restores, and clears when it goes', async () => {
    await bell().waitFor();
    const before = await bellCount();
    const imported = await api.callJob<Entry>('certificate.create', [
      { name: 'five-days', create_type: 'CERTIFICATE_CREATE_IMPORTED', ...(await selfSignedCertificate('five.example', 5)) },
    ]);
    await expect.poll(bellCount, { timeout: 15_000 }).toBe(before + 1);
    expect(await bell().getAttribute('aria-label')).toMatch(/^Alerts: \d+, the most severe /);

    await bell().click();
    const list = dialog('Alerts');
    const item = list.locator('li[data-klass="CertificateIsExpiring"]');
    await item.waitFor();
    expect(await item.locator('.alert-text p').first().textContent()).toBe("Certificate 'five-days' is expiring within 4 days.");
    expect(await item.locator('.pill').textContent()).toBe('Notice');
    expect(await item.locator('.alert-text .hint').textContent()).toMatch(/^Since \d{4}-\d\d-\d\d \d\d:\d\d$/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'alerts-list.png') });

    // Dismiss by keyboard: the item moves to the dismissed ones and the count goes down.
    await item.getByRole('button', { name: 'Dismiss' }).focus();
    await page.keyboard.press('Enter');
    await list.locator('section[aria-label="Dismissed alerts"] li[data-klass="CertificateIsExpiring"]').waitFor();
    await expect.poll(bellCount).toBe(before);
    expect((await api.call<Array<{ klass: string; dismissed: boolean }>>('alert.list')).find((alert) => alert.klass === 'CertificateIsExpiring')?.dismissed).toBe(true);
    // Focus follows the alert to its Restore button.
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Restore');

    await list.getByRole('button', { name: 'Restore' }).click();
    await list.locator('ul[aria-label="Active alerts"] li[data-klass="CertificateIsExpiring"]').waitFor();
    await expect.poll(bellCount).toBe(before + 1);

    // Removed elsewhere: the open list and the bell follow without a reload.
    await api.callJob('certificate.delete', [imported.id]);
    await item.waitFor({ state: 'detached', timeout: 15_000 });
    await expect.poll(bellCount).toBe(before);
    await page.keyboard.press('Escape');
    await list.waitFor({ state: 'hidden' });
  });

  it('shows when a certificate renews, and a failing renewal with its error in the row and the details', async () => {
    const healthyCa = await createRootCa(api, 'status-root');
    await api.callJob<Entry>('certificate.create', [
      { ...subjectParams({ common: 'healthy' }), name: 'renews-later', create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: healthyCa.id, lifetime: 40, renew_days: 10, auto_renew: true },
    ]);
    const shortCa = await createRootCa(api, 'status-short-root', { lifetime: 1 });
    const failing = await api.callJob<Entry>('certificate.create', [
      { ...subjectParams({ common: 'failing' }), name: 'renewal-fails', create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: shortCa.id, lifetime: 2, renew_days: 2, auto_renew: true },
    ]);
    expect((await api.callJob<{ failed: number[] }>('certificate.renew_certs', [])).failed).toEqual([failing.id]);

    await row('renews-later').locator('.renewal-status').getByText(/^Renews in \d+ days$/).waitFor();
    const status = row('renewal-fails').locator('.renewal-status');
    await status.getByText(/^Renewal failed 1×, next try (\d{4}-\d\d-\d\d )?\d\d:\d\d$/).waitFor();
    expect(await status.getAttribute('title')).toMatch(/^\[EINVAL\] The signing certificate authority expires on /);
    // The renewal failure is also an alert, in danger's colour.
    await expect.poll(() => bell().getAttribute('class')).toBe('bell bad');

    await row('renewal-fails').getByRole('button', { name: 'View renewal-fails' }).click();
    const details = dialog('renewal-fails');
    await details.waitFor();
    expect(await detail(details, 'Renewal').textContent()).toBe('Renews 2 days before expiry');
    expect(await detail(details, 'Last renewal error').textContent()).toMatch(/^\[EINVAL\] The signing certificate authority expires on /);
    expect(await detail(details, 'Failed renewal attempts').textContent()).toBe('1');
    expect(await detail(details, 'Next renewal attempt').textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d$/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'renewal-failed-details.png') });
    await page.keyboard.press('Escape');
    await details.waitFor({ state: 'hidden' });
  });

  it('lists logins and calls in the audit panel, filters them by user, method and certificate, and verifies the chain', async () => {
    await api.call('user.create', { username: 'clerk', password: 'clerk-password', roles: ['CERTIFICATE_READ'] });
    const clerk = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor });
    await expect(clerk.login('clerk', 'not-the-password')).rejects.toThrow();
    await clerk.login('clerk', 'clerk-password');
    await clerk.close();
    // A call naming a certificate by id only.
    const later = (await api.call<Entry[]>('certificate.query', [['name', '=', 'renews-later']]))[0]!;
    await api.callJob('certificate.update', [later.id, { renew_days: 5 }]);

    await page.getByRole('button', { name: 'Audit', exact: true }).click();
    const panel = dialog('Audit log');
    await panel.locator('.audit-table tbody tr').first().waitFor();
    const all = await auditRows(panel);
    expect(all).toContainEqual(['admin', 'AUTHENTICATION', '—']);
    expect(all).toContainEqual(['admin', 'METHOD_CALL', 'certificate.create']);
    expect(await panel.getByRole('status').filter({ hasText: /^Entries 1–\d+ of \d+, newest first\.$/ }).count()).toBe(1);

    await field(panel, 'User').fill('clerk');
    await panel.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => auditRows(panel)).toEqual([
      ['clerk', 'AUTHENTICATION', '—'],
      ['clerk', 'AUTHENTICATION', '—'],
    ]);
    await field(panel, 'Result').selectOption({ label: 'Failed' });
    await panel.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => panel.locator('.audit-table tbody tr td[data-label="Result"]').allTextContents()).toEqual(['Failed']);
    await field(panel, 'Result').selectOption({ label: 'Any' });

    // A time range that holds nothing yet.
    const tomorrow = new Date(Date.now() + 86_400_000);
    const local = `${tomorrow.getFullYear()}-${String(tomorrow.getMonth() + 1).padStart(2, '0')}-${String(tomorrow.getDate()).padStart(2, '0')}T00:00`;
    await field(panel, 'From').fill(local);
    await panel.getByRole('button', { name: 'Search' }).click();
    await panel.getByText('No entries match.').waitFor();
    await field(panel, 'From').fill('');

    await field(panel, 'User').fill('admin');
    await field(panel, 'Method').fill('certificate.delete');
    await panel.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => auditRows(panel)).toEqual([['admin', 'METHOD_CALL', 'certificate.delete']]);

    // A certificate by name: its creation (by name) and its update (by id, resolved from the name).
    await field(panel, 'Method').fill('');
    await field(panel, 'Certificate').fill('renews-later');
    await panel.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => auditRows(panel)).toEqual([
      ['admin', 'METHOD_CALL', 'certificate.update'],
      ['admin', 'METHOD_CALL', 'certificate.create'],
    ]);
    await field(panel, 'Certificate').fill(String(later.id));
    await panel.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => auditRows(panel)).toEqual([['admin', 'METHOD_CALL', 'certificate.update']]);

    await panel.getByRole('button', { name: 'Clear' }).click();
    await field(panel, 'Method').fill('certificate.create');
    await panel.getByRole('button', { name: 'Search' }).click();
    await expect.poll(async () => (await auditRows(panel)).length).toBeGreaterThanOrEqual(3);
    expect((await auditRows(panel)).every(([, event, method]) => event === 'METHOD_CALL' && method === 'certificate.create')).toBe(true);

    // An entry's details: its parameters as JSON, secrets redacted.
    await panel.locator('.audit-table tbody tr').last().getByRole('button', { name: /^Details of certificate.create/ }).click();
    const entry = dialog('certificate.create');
    await entry.locator('section[aria-label="Event data"] pre').waitFor();
    const eventData = JSON.parse((await entry.locator('section[aria-label="Event data"] pre').textContent())!) as { method: string; params: unknown[] };
    expect(eventData.method).toBe('certificate.create');
    expect(JSON.parse((await entry.locator('section[aria-label="Service data"] pre').textContent())!)).toMatchObject({ protocol: 'WEBSOCKET' });
    await page.keyboard.press('Escape');
    await entry.waitFor({ state: 'hidden' });

    await panel.getByRole('button', { name: 'Verify' }).click();
    await panel.getByText(/^Chain intact: \d+ entries$/).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'audit-panel.png') });

    // One entry altered in the database: Verify names it and why, and is intact again once restored.
    const sql = (text: string, parameters: unknown[]) => server.daemon.app.db.query(text, parameters);
    const mark = server.daemon.app.db.options.type === 'postgres' ? (index: number) => `$${index}` : () => '?';
    const [victim] = (await sql(`SELECT id, audit_id, username FROM audit_entry WHERE username = ${mark(1)} ORDER BY id LIMIT 1`, ['clerk'])) as Array<{ id: number; audit_id: string; username: string }>;
    await sql(`UPDATE audit_entry SET username = ${mark(1)} WHERE id = ${mark(2)}`, ['someone-else', victim!.id]);
    try {
      await panel.getByRole('button', { name: 'Verify' }).click();
      await panel.getByText(`Broken at entry ${victim!.audit_id} (#${victim!.id}): This entry was changed`, { exact: true }).waitFor();
    } finally {
      await sql(`UPDATE audit_entry SET username = ${mark(1)} WHERE id = ${mark(2)}`, [victim!.username, victim!.id]);
    }
    await panel.getByRole('button', { name: 'Verify' }).click();
    await panel.getByText(/^Chain intact: \d+ entries$/).waitFor();
  });

  it('exports the filtered entries as a CSV with the columns TrueNAS writes', async () => {
    const panel = dialog('Audit log');
    const download = page.waitForEvent('download');
    await panel.getByRole('button', { name: 'Export' }).click();
    const file = await download;
    expect(file.suggestedFilename()).toMatch(/\.csv$/);
    const [header, ...rows] = fs.readFileSync((await file.path())!, 'utf8').trimEnd().split('\r\n');
    expect(header).toBe(CSV_HEADER);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.every((line) => line.includes('certificate.create'))).toBe(true);
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'hidden' });
  });

  it('shows neither the bell nor the audit log to a user without their roles', async () => {
    await api.call('user.create', { username: 'viewer', password: 'viewer-password', roles: ['CERTIFICATE_READ', 'CERTIFICATE_AUTHORITY_READ'] });
    const tab = await context.newPage();
    try {
      await logIn(tab, 'viewer', 'viewer-password');
      expect(await tab.locator('button.bell').count()).toBe(0);
      expect(await tab.getByRole('button', { name: 'Audit', exact: true }).count()).toBe(0);
    } finally {
      await tab.close();
    }
  });

  it('fits a phone, light and dark, without horizontal scrolling', async () => {
    await api.callJob<Entry>('certificate.create', [{ name: 'phone-five-days', create_type: 'CERTIFICATE_CREATE_IMPORTED', ...(await selfSignedCertificate('phone.example', 5)) }]);
    await page.setViewportSize(PHONE);
    await bell().waitFor();
    expect(await noHorizontalScroll()).toBeLessThanOrEqual(PHONE.width);
    await page.getByRole('button', { name: 'Audit', exact: true }).click();
    const panel = dialog('Audit log');
    await panel.locator('.audit-table tbody tr').first().waitFor();
    expect(await panel.evaluate((element) => element.scrollWidth - element.clientWidth)).toBe(0);
    expect(await noHorizontalScroll()).toBeLessThanOrEqual(PHONE.width);
    await page.screenshot({ path: path.join(ARTIFACTS, 'audit-phone.png') });
    await page.keyboard.press('Escape');
    await panel.waitFor({ state: 'hidden' });

    await expect.poll(bellCount, { timeout: 15_000 }).toBeGreaterThan(0);
    await bell().click();
    const list = dialog('Alerts');
    await list.locator('li[data-klass="CertificateIsExpiring"]').waitFor();
    expect(await list.evaluate((element) => element.scrollWidth - element.clientWidth)).toBe(0);
    expect(await noHorizontalScroll()).toBeLessThanOrEqual(PHONE.width);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: path.join(ARTIFACTS, 'alerts-phone-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.keyboard.press('Escape');
  });
});
