import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { TestServer } from './server.js';

/** Debian's Chromium, which the page's tests drive. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Whether Chromium is here; in CI its absence fails the run instead of skipping the suite. */
export function chromiumAvailable(): boolean {
  const found = fs.existsSync(CHROMIUM);
  if (!found && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI: apt-get install chromium`);
  return found;
}

/**
 * The page of `server` in a fresh Chromium profile, logged in as its administrator, once the row
 * named `waitFor` shows (the default certificate unless said otherwise).
 */
export async function loggedInPage(server: TestServer, options: { timeoutMs?: number; waitFor?: string } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-chromium-')), {
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1366, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(options.timeoutMs ?? 10_000);
  await page.goto(`http://127.0.0.1:${server.port}/`);
  await page.getByLabel(/^Password( \*)?$/).fill(server.admin.password);
  await page.keyboard.press('Enter');
  await page.locator(`tr[data-name="${options.waitFor ?? 'truenas_default'}"]`).waitFor();
  return { context, page };
}
