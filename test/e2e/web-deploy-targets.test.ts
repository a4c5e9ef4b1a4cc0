/**
 * A certificate's deploy targets on the page, in Debian's Chromium: the section in its details,
 * Add with a form generated from the kinds' schemas (a server refusal under its field), the list
 * updated live as the target deploys, Edit with the secret left empty (kept), Run now with the
 * job's progress, and Delete naming the target.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, type Locator, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, type WebSocketConstructor } from '../../src/client/client.js';
import { DeployTargetEntity } from '../../src/deploy/entities.js';
import { opensslOk, opensslSerial } from '../helpers/openssl.js';
import { createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, loggedInPage } from '../helpers/browser.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/web/', import.meta.url));

const haveChromium = chromiumAvailable();

describe.runIf(haveChromium)('deploy targets on the page', () => {
  let server: TestServer;
  let api: CertmidClient;
  let context: BrowserContext;
  let page: Page;
  let site: Entry;
  let scratch: string;

  const details = () => page.getByRole('dialog', { name: 'site', exact: true });
  const targets = () => details().locator('section.deploy-targets');
  const panel = (title: string) => page.getByRole('dialog', { name: title, exact: true });
  const field = (scope: Locator | Page, label: string) =>
    scope.getByLabel(new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\*)?$`)).filter({ visible: true });

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-web-deploy-'));
    server = await startTestServer();
    api = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 30_000 });
    await api.login(server.admin.username, server.admin.password);
    const ca = await createRootCa(api, 'deploy-page-root', { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined });
    site = await createInternalCertificate(api, 'site', ca.id, { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined });
    ({ context, page } = await loggedInPage(server, { timeoutMs: 15_000, waitFor: 'site' }));
  });
  afterAll(async () => {
    await context?.close();
    await api?.close();
    await server?.close();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('shows an empty Deploy targets section in the certificate\'s details', async () => {
    await page.locator('tr[data-name="site"]').getByRole('button', { name: 'View site' }).click();
    await targets().getByText('None yet.').waitFor();
  });

  it('adds a target from the generated form, with the server\'s refusal under its field, and shows it deploy live', async () => {
    await targets().getByRole('button', { name: 'Add' }).click();
    const form = panel('Add Deploy Target');
    await form.waitFor();
    expect(await field(form, 'Kind').locator('option').allTextContents()).toEqual(['Files on this host', 'Webhook', 'SSH/SFTP', 'TrueNAS system']);
    expect(await field(form, 'PKCS12 password').getAttribute('type')).toBe('password');
    await field(form, 'Name').fill('web-files');
    await field(form, 'Certificate path').fill('relative/site.pem');
    await form.getByRole('button', { name: 'Save' }).click();
    await form.locator('[data-path="attributes.certificate_path"]').getByText('Must be an absolute path').waitFor();
    expect(await page.locator(':focus').getAttribute('name')).toBe('attributes.certificate_path');

    await field(form, 'Certificate path').fill(path.join(scratch, 'site.pem'));
    await field(form, 'PKCS12 path').fill(path.join(scratch, 'site.p12'));
    await field(form, 'PKCS12 password').fill('page-p12-secret');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Deploy target added.').waitFor();
    await form.waitFor({ state: 'hidden' });

    const serial = opensslSerial(BigInt(String(site.serial)));
    const row = targets().locator('tr[data-name="web-files"]');
    await row.getByText('Deployed').waitFor();
    await row.getByText(serial).waitFor();
    expect(await row.locator('td[data-label="Kind"]').textContent()).toBe('Files on this host');
    expect((await opensslOk(['x509', '-in', path.join(scratch, 'site.pem'), '-noout', '-serial'])).stdout.trim()).toBe(`serial=${serial}`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'deploy-targets.png') });
  });

  it('edits a target without showing its secret, which stays when left empty', async () => {
    const row = targets().locator('tr[data-name="web-files"]');
    await row.getByRole('button', { name: 'Edit web-files' }).click();
    const form = panel('Edit Deploy Target');
    await form.waitFor();
    expect(await field(form, 'PKCS12 password').inputValue()).toBe('');
    expect(await field(form, 'Certificate path').inputValue()).toBe(path.join(scratch, 'site.pem'));
    expect(await field(form, 'Kind').isDisabled()).toBe(true);
    await field(form, 'Mode').fill('0640');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Deploy target saved.').waitFor();
    const stored = await server.daemon.app.db.getRepository(DeployTargetEntity).findOneByOrFail({ name: 'web-files' });
    expect(JSON.parse(server.daemon.app.secrets.decrypt(stored.attributes))).toMatchObject({ pkcs12_password: 'page-p12-secret', mode: '0640' });
  });

  it('runs a target now, following the job', async () => {
    const row = targets().locator('tr[data-name="web-files"]');
    await row.getByRole('button', { name: 'Run web-files now' }).click();
    await page.getByText('Deployed to "web-files".').waitFor();
    expect(fs.statSync(path.join(scratch, 'site.pem')).mode & 0o777).toBe(0o640);
    await (await opensslOk(['pkcs12', '-in', path.join(scratch, 'site.p12'), '-passin', 'pass:page-p12-secret', '-nodes'])).stdout;
  });

  it('deletes a target after a confirmation naming it', async () => {
    await targets().locator('tr[data-name="web-files"]').getByRole('button', { name: 'Delete web-files' }).click();
    const question = page.getByRole('dialog', { name: 'Delete Deploy Target' });
    await question.getByText('Are you sure you want to delete the deploy target "web-files"?', { exact: false }).waitFor();
    await question.getByRole('button', { name: 'Delete' }).click();
    await targets().getByText('None yet.').waitFor();
    expect(await api.call('certificate.deploy_target.query')).toEqual([]);
  });
});
