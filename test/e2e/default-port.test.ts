/**
 * The README's "open http://HOST:PORT/" with the default PORT, in Debian's Chromium: the default
 * must be a port the browser agrees to open (6000 was refused as ERR_UNSAFE_PORT).
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const haveChromium = fs.existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI: apt-get install chromium`);

const DEFAULT_PORT = loadConfig({}).port;
const LOGIN_TIMEOUT_SECONDS = 2;

/** Whether nothing listens on the default port here (another daemon may). */
function isFree(port: number): Promise<boolean> {
  const probe = net.createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

describe.runIf(haveChromium)('the default port', () => {
  let server: TestServer | undefined;
  let context: BrowserContext | undefined;
  afterAll(async () => {
    await context?.close();
    await server?.close();
  });

  it('serves the page Chromium opens at http://127.0.0.1:<default port>/, and logs in after the login deadline closed its first connection', async (test) => {
    if (!(await isFree(DEFAULT_PORT))) test.skip(`port ${DEFAULT_PORT} is in use on this machine`);
    // An empty PORT counts as unset: the daemon takes its default.
    server = await startTestServer({ env: { PORT: '', LOGIN_TIMEOUT_SECONDS: String(LOGIN_TIMEOUT_SECONDS) } });
    expect(server.port).toBe(DEFAULT_PORT);
    context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-chromium-')), { executablePath: CHROMIUM, args: FLAGS });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    await page.goto(`http://127.0.0.1:${DEFAULT_PORT}/`);
    const password = page.getByLabel(/^Password( \*)?$/);
    await password.fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid username or password' }).waitFor();
    // The anonymous connection is closed at the login deadline; the next attempt opens a new one.
    await page.waitForTimeout(LOGIN_TIMEOUT_SECONDS * 2000);
    await password.fill(server.admin.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Certificates', level: 2 }).waitFor();
  });
});
