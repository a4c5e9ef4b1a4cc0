import { EventEmitter } from 'node:events';
import type { Caller } from '../src/api/caller.js';
import type { JobEvent, Jobs, JobSchedule } from '../src/api/jobs.js';
import { expandRoles } from '../src/auth/roles.js';
import { CallError } from '../src/errors/call-error.js';
import { filterListAsync } from '../src/query/filter-list.js';
import { redactSecrets } from '../src/secrets.js';
import type { JobBackend, JobEnvironment, JobSink } from './job-backend.js';
import { InProcessBackend } from './in-process-backend.js';
import { TERMINAL_STATES, newJobRecord, type JobPatch, type JobRecord } from './job-record.js';

/** How many finished jobs stay listed, as TrueNAS keeps about the last thousand. */
const KEEP_FINISHED = 1000;

/**
 * The daemon's view of every job: creates records, hands work to a backend, merges what the
 * backend reports and tells subscribers. The job's owner is whoever queued it.
 */
export class JobManager implements Jobs, JobSink {
  private readonly records = new Map<number, JobRecord>();
  private readonly owners = new Map<number, string>();
  private readonly emitter = new EventEmitter();

  /** Runs the jobs that must stay in the daemon, whatever the backend. */
  private readonly local = new InProcessBackend();

  constructor(
    private readonly environment: JobEnvironment,
    readonly backend: JobBackend,
  ) {
    this.emitter.setMaxListeners(0);
  }

  get backendName(): JobBackend['name'] {
    return this.backend.name;
  }

  get schedule(): JobSchedule | null {
    return isSchedule(this.backend) ? this.backend : null;
  }

  async start(): Promise<void> {
    await this.local.start(this.environment, this);
    if (this.backend !== this.local) await this.backend.start(this.environment, this);
  }

  onEvent(listener: (event: JobEvent) => void): void {
    this.emitter.on('event', listener);
  }

  offEvent(listener: (event: JobEvent) => void): void {
    this.emitter.off('event', listener);
  }

  /** Queues a job. The "added" event is emitted before this resolves, so it precedes any reply. */
  async submit(method: string, args: unknown[], caller: Caller | null, messageId?: string | number | null): Promise<JobRecord> {
    const options = this.environment.methods.options(method, args);
    if (!options) throw new CallError(`${method} is not a job method`, 'ENOMETHOD');
    const id = await this.backend.allocateId();
    const record = newJobRecord(id, method, redactSecrets(args) as unknown[], caller, options.abortable);
    if (messageId !== undefined && messageId !== null) record.message_ids.push(messageId);
    this.records.set(id, record);
    if (caller) this.owners.set(id, caller.username);
    this.emit('added', record);
    const backend = options.inDaemon ? this.local : this.backend;
    await backend.enqueue({ id, method, args, caller, lock: options.lock }, record);
    return record;
  }

  update(id: number, patch: JobPatch): void {
    const record = this.records.get(id);
    if (!record || TERMINAL_STATES.has(record.state)) return;
    Object.assign(record, patch);
    if (patch.state === 'SUCCESS' && record.progress.percent !== 100) {
      record.progress = { ...record.progress, percent: 100 };
    }
    this.emit('changed', record);
    if (TERMINAL_STATES.has(record.state)) this.forgetOldJobs();
  }

  adopt(record: JobRecord): void {
    if (this.records.has(record.id)) return;
    this.records.set(record.id, record);
    if (record.credentials) this.owners.set(record.id, record.credentials.data.username);
    this.emit('added', record);
  }

  has(id: number): boolean {
    return this.records.has(id);
  }

  async get(id: number): Promise<JobRecord | undefined> {
    return this.records.get(id);
  }

  /** Whether `caller` may see or abort a job: its owner, or a full admin. */
  canAccess(caller: Caller | null, record: JobRecord): boolean {
    if (!caller) return false;
    return expandRoles(caller.roles).has('FULL_ADMIN') || this.owners.get(record.id) === caller.username;
  }

  async query(caller: Caller | null, filters: unknown, options: unknown): Promise<unknown> {
    return filterListAsync([...this.records.values()].filter((record) => this.canAccess(caller, record)), filters, options);
  }

  async abort(id: number, caller: Caller | null): Promise<void> {
    const record = this.records.get(id);
    if (!record) throw new CallError('Job does not exist', 'ENOENT');
    if (!this.canAccess(caller, record)) throw new CallError('Job is not owned by current session', 'EPERM');
    if (TERMINAL_STATES.has(record.state)) return;
    if (record.state === 'RUNNING' && !record.abortable) throw new CallError('Job is not abortable', 'EINVAL');
    await Promise.all([this.local.abort(id), this.backend.abort(id)]);
  }

  /** Resolves with the record once the job is SUCCESS, FAILED or ABORTED. */
  wait(id: number): Promise<JobRecord> {
    const record = this.records.get(id);
    if (!record) return Promise.reject(new CallError('Job does not exist', 'ENOENT'));
    if (TERMINAL_STATES.has(record.state)) return Promise.resolve(record);
    return new Promise((resolve) => {
      const listener = (event: JobEvent) => {
        if (event.record.id === id && TERMINAL_STATES.has(event.record.state)) {
          this.offEvent(listener);
          resolve(event.record);
        }
      };
      this.onEvent(listener);
    });
  }

  async close(graceMs?: number): Promise<void> {
    await Promise.all([this.local.close(graceMs), this.backend.close(graceMs)]);
    this.emitter.removeAllListeners();
  }

  private emit(msg: JobEvent['msg'], record: JobRecord): void {
    this.emitter.emit('event', { msg, record } satisfies JobEvent);
  }

  private forgetOldJobs(): void {
    const finished = [...this.records.values()].filter((r) => TERMINAL_STATES.has(r.state));
    for (const record of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) {
      this.records.delete(record.id);
      this.owners.delete(record.id);
    }
  }
}

function isSchedule(backend: JobBackend): backend is JobBackend & JobSchedule {
  return 'every' in backend;
}
