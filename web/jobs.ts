/**
 * The jobs panel, like TrueNAS's task manager: a top-bar button with the count of running jobs,
 * opening the running and recent jobs with their state, progress, duration and error, and Abort
 * for abortable running ones. Read from the server (`core.get_jobs`), so it survives a reload, and
 * kept current by the `core.get_jobs` events, which carry the whole job.
 */
import type { Job } from '../src/client/client.js';
import type { Connection } from './connection.js';
import { button, duration, indeterminate, modal, toast, type Surface } from './dialogs.js';
import { fill, h } from './dom.js';
import { describe } from './errors.js';
import { dateTime } from './format.js';

/** How many recent jobs the panel keeps. */
const RECENT = 50;

const FINAL = new Set(['SUCCESS', 'FAILED', 'ABORTED']);
const running = (job: Job) => !FINAL.has(job.state);

/** The client turns `{"$date": ms}` into a Date; an event may still carry the wire form. */
function millis(value: unknown): number | null {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'object' && value !== null && '$date' in value) return Number((value as { $date: number }).$date);
  if (typeof value === 'string' || typeof value === 'number') return new Date(value).getTime();
  return null;
}

const STATE_TONE: Record<string, string> = { SUCCESS: 'ok', FAILED: 'bad', ABORTED: 'warn', RUNNING: 'info', WAITING: 'muted' };
const stateLabel = (state: string) => state.charAt(0) + state.slice(1).toLowerCase();

/** The jobs button for the top bar. */
export function jobsIndicator(conn: Connection): HTMLElement {
  const jobs = new Map<number, Job>();
  let loadError: string | null = null;
  let open: { surface: Surface; list: HTMLElement; clock: number } | null = null;

  const badge = h('span', { class: 'jobs-count', 'aria-hidden': 'true' });
  const trigger = h('button', { type: 'button', class: 'button ghost small jobs-button', 'aria-haspopup': 'dialog', onclick: () => openPanel() }, 'Jobs', badge);

  const sorted = () => [...jobs.values()].sort((a, b) => b.id - a.id);

  const drawButton = () => {
    const count = sorted().filter(running).length;
    badge.textContent = count ? String(count) : '';
    badge.hidden = count === 0;
    trigger.dataset.running = String(count);
    const label = count ? `Jobs: ${count} running` : 'Jobs: none running';
    trigger.setAttribute('aria-label', label);
    trigger.title = label;
  };

  const lasted = (job: Job) => {
    const start = millis(job.time_started);
    if (start === null) return '';
    const end = millis(job.time_finished) ?? Date.now();
    return duration(end - start);
  };

  const abort = (job: Job, control: HTMLButtonElement) => {
    control.disabled = true;
    control.textContent = 'Aborting…';
    conn.call('core.job_abort', job.id).catch((error: unknown) => {
      control.disabled = false;
      control.textContent = 'Abort';
      toast(`Cannot abort job ${job.id}: ${describe(error)}`);
    });
  };

  const item = (job: Job) => {
    const live = running(job);
    const percent = job.progress?.percent ?? 0;
    const message = job.progress?.description ?? (live ? 'Waiting…' : '');
    const bar = h('progress', { max: 100, 'aria-label': `Progress of job ${job.id}` });
    if (live && indeterminate(message)) bar.classList.add('indeterminate');
    else bar.value = job.state === 'SUCCESS' ? 100 : percent;
    const started = millis(job.time_started);
    return h(
      'li',
      { class: `job-item ${job.state.toLowerCase()}`, 'data-job': job.id, 'data-state': job.state },
      h(
        'div',
        { class: 'job-head' },
        h('code', { class: 'job-method' }, job.method),
        h('span', { class: `pill ${STATE_TONE[job.state] ?? 'muted'}` }, stateLabel(job.state)),
        h('span', { class: 'spacer' }),
        h('span', { class: 'job-duration hint', 'data-running': live ? '' : null, title: started ? `Started ${dateTime(started)}` : '' }, lasted(job)),
        live && job.abortable
          ? h('button', { type: 'button', class: 'button secondary small', 'aria-label': `Abort job ${job.id} (${job.method})`, onclick: (event: Event) => abort(job, event.currentTarget as HTMLButtonElement) }, 'Abort')
          : null,
      ),
      live || job.state !== 'SUCCESS' ? h('div', { class: 'job-progress' }, bar, h('span', { class: 'percent' }, `${percent}%`)) : null,
      message ? h('p', { class: 'job-message' }, message) : null,
      job.error ? h('p', { class: 'field-error job-error' }, job.error) : null,
    );
  };

  const drawList = () => {
    if (!open) return;
    const list = sorted();
    const active = list.filter(running);
    const recent = list.filter((job) => !running(job));
    fill(
      open.list,
      loadError ? h('div', { class: 'alert error', role: 'alert' }, `Cannot retrieve the jobs: ${loadError}`) : null,
      h('section', { 'aria-label': 'Running jobs' }, h('h3', null, 'Running'), active.length ? h('ul', { class: 'job-list' }, active.map(item)) : h('p', { class: 'empty' }, 'No job is running.')),
      h('section', { 'aria-label': 'Recent jobs' }, h('h3', null, 'Recent'), recent.length ? h('ul', { class: 'job-list' }, recent.map(item)) : h('p', { class: 'empty' }, 'No job has run yet.')),
    );
  };

  const trim = () => {
    for (const job of sorted().slice(RECENT)) if (!running(job)) jobs.delete(job.id);
  };

  const load = async () => {
    try {
      const list = await conn.call<Job[]>('core.get_jobs', [], { order_by: ['-id'], limit: RECENT });
      jobs.clear();
      for (const job of list) jobs.set(job.id, job);
      loadError = null;
    } catch (error) {
      loadError = describe(error);
    }
    drawButton();
    drawList();
  };

  function openPanel(): void {
    const surface = modal('Jobs', { subtitle: 'Running and recent jobs, newest first.' });
    surface.dialog.classList.add('jobs-dialog');
    const list = h('div', { class: 'jobs-body' });
    surface.body.append(list);
    surface.footer.append(button('Close', () => surface.close(), 'primary'));
    // Running jobs' durations tick; the rest of the list changes only with events.
    const clock = window.setInterval(() => {
      for (const span of list.querySelectorAll<HTMLElement>('.job-duration[data-running]')) {
        const job = jobs.get(Number(span.closest<HTMLElement>('[data-job]')?.dataset.job));
        if (job) span.textContent = lasted(job);
      }
    }, 1000);
    open = { surface, list, clock };
    void surface.closed.then(() => {
      window.clearInterval(clock);
      open = null;
    });
    drawList();
    void load();
  }

  drawButton();
  void load();
  conn
    .subscribe('core.get_jobs', (event) => {
      const job = event.fields as Job | undefined;
      const id = Number(event.id ?? job?.id);
      if (!Number.isFinite(id)) return void load();
      if (event.msg === 'removed') jobs.delete(id);
      else if (job) jobs.set(id, { ...jobs.get(id), ...job });
      trim();
      drawButton();
      drawList();
    })
    .catch(() => undefined);
  conn.onState((state) => {
    if (state === 'online' && trigger.isConnected) void load(); // events may have been missed while away
  });
  return trigger;
}
