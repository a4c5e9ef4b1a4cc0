/**
 * Modal surfaces on native `<dialog>`: it traps focus, closes on Escape and restores focus to
 * the opener. Side panels hold forms; centred dialogs confirm, inform and follow jobs.
 */
import { JobError, type Job, type JobProgress } from '../src/client/client.js';
import type { Connection } from './connection.js';
import { append, h, icon, uid, type Child } from './dom.js';
import { describe, validationProblems } from './errors.js';
import { spotlight } from './spotlight.js';

export interface Surface {
  dialog: HTMLDialogElement;
  body: HTMLElement;
  footer: HTMLElement;
  close(): void;
  /** Resolves when the surface closes, however. */
  closed: Promise<void>;
}

function open(kind: 'panel' | 'modal', title: string, options: { wide?: boolean; subtitle?: string; dismissable?: boolean } = {}): Surface {
  const titleId = uid('title');
  const body = h('div', { class: 'surface-body' });
  const footer = h('div', { class: 'surface-footer' });
  const dismissable = options.dismissable ?? true;
  const dialog = h(
    'dialog',
    { class: `${kind}${options.wide ? ' wide' : ''}`, 'aria-labelledby': titleId },
    h(
      'header',
      { class: 'surface-header' },
      h('div', null, h('h2', { id: titleId }, title), options.subtitle ? h('p', { class: 'subtitle' }, options.subtitle) : null),
      dismissable ? h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', title: 'Close', onclick: () => dialog.close() }, icon('close')) : null,
    ),
    body,
    footer,
  );
  if (!dismissable) dialog.addEventListener('cancel', (event) => event.preventDefault());
  const closed = new Promise<void>((resolve) => dialog.addEventListener('close', () => (dialog.remove(), resolve())));
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, footer, close: () => dialog.close(), closed };
}

/** A side panel for forms and wizards. */
export function panel(title: string, options: { wide?: boolean; subtitle?: string } = {}): Surface {
  return open('panel', title, options);
}

/** A centred dialog. */
export function modal(title: string, options: { dismissable?: boolean; subtitle?: string } = {}): Surface {
  return open('modal', title, options);
}

export function button(label: Child, onclick: () => void, kind: 'primary' | 'danger' | 'secondary' = 'secondary'): HTMLButtonElement {
  return h('button', { type: 'button', class: `button ${kind}`, onclick }, label);
}

/**
 * Asks before a one-way action. `checkbox` adds an option (TrueNAS's "Force"); resolves with its
 * state, or null when cancelled.
 */
export function confirm(spec: { title: string; message: Child; action: string; danger?: boolean; checkbox?: string; extra?: Child }): Promise<{ checked: boolean } | null> {
  const surface = modal(spec.title);
  const box = spec.checkbox ? h('input', { type: 'checkbox', id: 'confirm-option' }) : null;
  append(
    surface.body,
    h('p', { class: 'message' }, spec.message),
    spec.extra ?? null,
    box ? h('div', { class: 'check-row' }, box, h('label', { for: 'confirm-option' }, spec.checkbox!)) : null,
  );
  let answer: { checked: boolean } | null = null;
  const ok = button(spec.action, () => ((answer = { checked: box?.checked ?? false }), surface.close()), spec.danger ? 'danger' : 'primary');
  const cancel = button('Cancel', () => surface.close());
  surface.footer.append(cancel, ok);
  // A destructive action must be chosen: Enter on the opener, then Enter again, only cancels.
  (spec.danger ? cancel : ok).focus();
  return surface.closed.then(() => answer);
}

/** Tells something that needs no decision. */
export function inform(title: string, message: Child): Promise<void> {
  const surface = modal(title);
  surface.body.append(h('p', { class: 'message' }, message));
  surface.footer.append(button('Close', () => surface.close(), 'primary'));
  return surface.closed;
}

const shown = new WeakSet<object>();

/** "0:07", "12:45", "1:02:03". */
export function duration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const [hours, minutes, rest] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60];
  const pad = (n: number) => String(n).padStart(2, '0');
  return hours ? `${hours}:${pad(minutes)}:${pad(rest)}` : `${minutes}:${pad(rest)}`;
}

/** Whether a job's phase has no percentage of its own (key generation: "Generating RSA-8192 key…"). */
export function indeterminate(description: string | null | undefined): boolean {
  return /^Generating\b/.test(description ?? '');
}

/** Whether `runJob` has already shown this failure to the user. */
export function alreadyShown(error: unknown): boolean {
  return typeof error === 'object' && error !== null && shown.has(error);
}

/**
 * Runs a job method and follows the job in a dialog: its percent, bar and description until it
 * ends, with Abort while an abortable job waits or runs (`core.job_abort`). On success the dialog
 * closes and the result is returned. A validation failure closes it too and is rethrown for the
 * form to place; any other end (failed, aborted) stays on screen until dismissed, then is rethrown.
 */
export async function runJob<T>(conn: Connection, title: string, method: string, params: unknown[]): Promise<T> {
  const surface = modal(title, { dismissable: false });
  surface.dialog.classList.add('job');
  const percent = h('span', { class: 'percent' }, '');
  const bar = h('progress', { max: 100, 'aria-label': 'Progress' });
  const description = h('p', { class: 'job-description', role: 'status' }, 'Starting…');
  const elapsed = h('p', { class: 'job-elapsed hint', 'aria-live': 'off' }, 'Elapsed 0:00');
  surface.body.append(h('div', { class: 'job-line' }, description, percent), bar, elapsed);
  // The clock ticks even when the percentage does not, so a long key generation visibly goes on.
  const started = Date.now();
  const tick = window.setInterval(() => (elapsed.textContent = `Elapsed ${duration(Date.now() - started)}`), 1000);
  void surface.closed.then(() => window.clearInterval(tick));
  let jobId: number | undefined;
  const abort = button('Abort', () => {
    if (jobId === undefined || abort.disabled) return;
    abort.disabled = true;
    abort.textContent = 'Aborting…';
    conn.call('core.job_abort', jobId).catch((error: unknown) => {
      abort.disabled = false;
      abort.textContent = 'Abort';
      toast(`Cannot abort: ${describe(error)}`);
    });
  });
  const onProgress = (progress: JobProgress, job: Job) => {
    jobId = job.id;
    if (job.abortable && (job.state === 'WAITING' || job.state === 'RUNNING') && !abort.isConnected) surface.footer.append(abort);
    if (progress.description) description.textContent = progress.description;
    // Key generation reports no percentage while it runs: the bar says "working" instead of sitting still.
    const waiting = indeterminate(progress.description);
    if (waiting) bar.removeAttribute('value');
    else bar.value = progress.percent;
    bar.classList.toggle('indeterminate', waiting);
    percent.textContent = `${progress.percent}%`;
  };
  try {
    const result = await conn.callJob<T>(method, params, { onProgress });
    surface.close();
    // Every wizard that creates a certificate or CSR saves through here: show the new row.
    if (method === 'certificate.create') spotlight('certificate', result);
    return result;
  } catch (error) {
    if (validationProblems(error)) {
      surface.close();
      throw error;
    }
    const aborted = error instanceof JobError && error.state === 'ABORTED';
    surface.dialog.classList.add(aborted ? 'aborted' : 'failed');
    window.clearInterval(tick);
    const reached = bar.value;
    bar.remove();
    percent.remove();
    description.replaceWith(
      aborted
        ? h('div', { class: 'alert warn', role: 'alert' }, h('strong', null, 'Aborted. '), `The job stopped at ${reached}%, before it finished.`)
        : h('div', { class: 'alert error', role: 'alert' }, h('strong', null, 'The job failed. '), describe(error)),
    );
    const close = button('Close', () => surface.close(), 'primary');
    surface.footer.replaceChildren(close);
    close.focus();
    await surface.closed;
    if (typeof error === 'object' && error !== null) shown.add(error);
    throw error;
  }
}

let toastHost: HTMLElement | undefined;
const MAX_TOASTS = 3;

/** Screens where a floating notice would sit over buttons whatever corner it took. */
const PHONE = '(max-width: 700px)';

/**
 * On a phone, a notice in the flow instead: at the top of the open dialog's body, or of the page,
 * pushing what follows down rather than covering it. False when there is no such place.
 */
function inlineToast(message: string): boolean {
  const host = [...document.querySelectorAll('dialog[open]')].at(-1)?.querySelector('.surface-body') ?? document.getElementById('main');
  if (!host) return false;
  const item = h('div', { class: 'toast inline', role: 'status' }, message);
  host.prepend(item);
  item.scrollIntoView({ block: 'nearest' });
  setTimeout(() => item.remove(), 4000);
  return true;
}

/** A short notice in the corner; a manual popover, so it shows above dialogs too. On a phone, in the flow. */
export function toast(message: string): void {
  if (window.matchMedia(PHONE).matches && inlineToast(message)) return;
  toastHost ??= document.body.appendChild(h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite', popover: 'manual' }));
  const host = toastHost;
  const item = h('div', { class: 'toast' }, message);
  host.append(item);
  while (host.childElementCount > MAX_TOASTS) host.firstElementChild!.remove();
  // Raised again so it stays above a dialog opened since.
  if (host.matches(':popover-open')) host.hidePopover();
  host.showPopover();
  setTimeout(() => {
    item.remove();
    if (host.childElementCount === 0) host.hidePopover();
  }, 4000);
}
