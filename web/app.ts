/** The page: login, then the dashboard, with a banner while the connection is down. */
import { LoginError, RpcError } from '../src/client/client.js';
import { Connection } from './connection.js';
import { alertsIndicator } from './alerts.js';
import { auditPanel } from './audit.js';
import { channelsButton } from './channels.js';
import { inform } from './dialogs.js';
import { dashboard } from './dashboard.js';
import { fill, h, icon } from './dom.js';
import { describe } from './errors.js';
import { checkFields, input } from './fields.js';
import { jobsIndicator } from './jobs.js';
import { guiSettings } from './settings.js';
import { busy } from './forms.js';
import { Store } from './store.js';

const conn = new Connection();
const root = h('div', { class: 'app' });
document.body.append(root);

// A manual popover sits in the top layer, so the banner shows above an open dialog too.
const banner = h('div', { class: 'banner', role: 'status', 'aria-live': 'assertive', popover: 'manual' });
document.body.append(banner);
let bannerTimer: number | undefined;
let store: Store | undefined;

conn.onState((state) => {
  window.clearTimeout(bannerTimer);
  banner.className = `banner ${state}`;
  banner.textContent = state === 'offline' ? 'Connection to the server lost. Reconnecting…' : 'Reconnected.';
  if (banner.matches(':popover-open')) banner.hidePopover();
  banner.showPopover();
  if (state === 'online') {
    void store?.reloadAll(); // events may have been missed while away
    bannerTimer = window.setTimeout(() => banner.hidePopover(), 3000);
  }
});
conn.onLoggedOut = (reason) => showLogin(reason);

function brand(): HTMLElement {
  return h('div', { class: 'brand' }, icon('shield'), h('span', null, 'certmid'));
}

function showLogin(notice?: string): void {
  document.title = 'Log in · certmid';
  for (const dialog of document.querySelectorAll('dialog')) dialog.close();
  const username = input({ path: 'username', label: 'Username', required: true, autocomplete: 'username', value: 'admin' });
  const password = input({ path: 'password', label: 'Password', type: 'password', required: true, autocomplete: 'current-password' });
  const apiKey = input({ path: 'api_key', label: 'API Key', type: 'password', required: true, autocomplete: 'off', hint: 'The key as api_key.create returned it: "<id>-<secret>".' });
  const message = h('div', { class: 'alert error', role: 'alert', hidden: !notice }, notice ?? '');
  let method: 'password' | 'key' = 'password';
  const tab = (which: typeof method, label: string) =>
    h('button', { type: 'button', class: 'tab', 'aria-pressed': String(which === method), onclick: () => choose(which) }, label);
  const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label': 'Log in with' });
  const choose = (which: typeof method) => {
    method = which;
    fill(tabs, tab('password', 'Password'), tab('key', 'API key'));
    username.el.hidden = password.el.hidden = which !== 'password';
    apiKey.el.hidden = which !== 'key';
    (which === 'password' ? username : apiKey).focus();
  };
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Log in');
  const form = h('form', { class: 'login-form', noValidate: true }, tabs, username.el, password.el, apiKey.el, message, submit);
  let countdown: ReturnType<typeof setInterval> | undefined;
  /** A throttled login: how long to wait, counted down, so the next attempt is not refused again. */
  const waitFor = (seconds: number) => {
    const until = Date.now() + seconds * 1000;
    const show = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      message.textContent = left > 0 ? `Too many failed logins: try again in ${left} second${left === 1 ? '' : 's'}.` : 'You can try again now.';
      if (left === 0) clearInterval(countdown);
    };
    clearInterval(countdown);
    countdown = setInterval(() => (message.isConnected ? show() : clearInterval(countdown)), 1000);
    show();
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(submit, async () => {
      clearInterval(countdown);
      message.hidden = true;
      if (!checkFields([username, password, apiKey])) return;
      try {
        await conn.login(method === 'key' ? { apiKey: apiKey.value() } : { username: username.value(), password: password.value() });
        await showDashboard();
      } catch (error) {
        const retryAfter = error instanceof RpcError && error.errname === 'EBUSY' ? (error.data?.extra as { retry_after?: unknown } | undefined)?.retry_after : undefined;
        if (typeof retryAfter === 'number') waitFor(retryAfter);
        else message.textContent = error instanceof LoginError ? error.message : `Cannot log in: ${describe(error)}`;
        message.hidden = false;
        (method === 'key' ? apiKey : password).focus();
      }
    });
  });
  fill(root, h('main', { class: 'login', id: 'main' }, h('div', { class: 'login-card' }, brand(), h('h1', null, 'Log in'), h('p', { class: 'hint' }, 'Certificates, CSRs, CAs and ACME'), form)));
  choose('password');
  if (username.value()) password.focus();
}

async function showDashboard(): Promise<void> {
  document.title = 'Certificates · certmid';
  store = new Store(conn);
  const logout = h('button', { type: 'button', class: 'button ghost small', onclick: () => void conn.logout().then(() => showLogin()) }, 'Log out');
  const openSettings = () => void guiSettings(conn).catch((error: unknown) => inform('Cannot open the settings', describe(error)));
  const settings = conn.can('SYSTEM_GENERAL_WRITE') ? h('button', { type: 'button', class: 'button ghost small', onclick: openSettings }, 'Settings') : null;
  const audit = conn.can('SYSTEM_AUDIT_READ') ? h('button', { type: 'button', class: 'button ghost small', 'aria-haspopup': 'dialog', onclick: () => auditPanel(conn, store!) }, 'Audit') : null;
  fill(
    root,
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h('header', { class: 'topbar' }, brand(), h('h1', null, 'Certificates'), h('span', { class: 'spacer' }), h('span', { class: 'user' }, conn.user?.pw_name ?? ''), jobsIndicator(conn), alertsIndicator(conn), channelsButton(conn), audit, settings, logout),
    dashboard(conn, store),
  );
  await store.start();
}

async function boot(): Promise<void> {
  try {
    if (conn.hasToken && (await conn.resume())) return showDashboard();
  } catch {
    // The server is unreachable: the login form says so when it is used.
  }
  showLogin();
}

void boot();
