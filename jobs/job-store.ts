import { In, LessThan, type DataSource, type EntityManager } from 'typeorm';
import type { Caller, CredentialType } from '../src/api/caller.js';
import { rememberResultText, TERMINAL_STATES, type JobProgress, type JobRecord, type JobState } from '../src/api/jobs.js';
import { parse, stringify } from '../src/client/ejson.js';
import { insertRow, updateWhere } from '../src/db/row-statements.js';
import { bookkeepingTransaction } from '../src/db/transaction.js';
import type { Logger } from '../src/logger.js';
import type { SqlQuerySpec } from '../src/query/sql-query.js';
import type { SecretBox } from '../src/secrets.js';
import { JobEntity, type JobBackendName, type JobRow } from './job-entity.js';
import { effectSavedPatch, interruptedPatch, type FinalPatch } from './job-outcome.js';

export type { FinalPatch } from './job-outcome.js';

/** The states a job can still leave. */
export const ACTIVE_STATES: readonly JobState[] = ['WAITING', 'RUNNING'];

const FINAL_STATES: readonly JobState[] = [...TERMINAL_STATES];

/** Progress of a job that has not reported any. */
export const INITIAL_PROGRESS: JobProgress = { percent: 0, description: '', extra: null };

/** `parse(text)` for a record's result, its text remembered for whoever writes the record out again. */
function parseResult(text: string): unknown {
  const result = parse(text);
  rememberResultText(result, text);
  return result;
}

/** A job about to be queued. */
export interface JobDraft {
  method: string;
  /** With secrets replaced by "********". */
  redactedArguments: unknown[];
  abortable: boolean;
  caller: Caller | null;
  backend: JobBackendName;
  /** The runner that holds it from the start (the daemon, for in-process jobs). */
  runner: string | null;
  progress?: JobProgress;
}


/**
 * The job table. Every change of state is conditional on the state it leaves, so whoever ends a job
 * first (its runner, an abort, the sweep that finds its runner dead) decides, and the others learn
 * that it had ended. Writes queue behind this process's other transactions (SQLite has one connection)
 * and do not wait for the disk: a job's effect is recorded in its own durable transaction
 * (`commitEffect`), which makes every earlier write of the job durable too; a job whose end was lost
 * to a power cut is ended by the sweep for interrupted jobs, or as SUCCESS by its effect flag.
 */
export class JobStore {
  constructor(
    private readonly db: DataSource,
    private readonly secrets: SecretBox,
    private readonly logger: Logger,
  ) {}

  /**
   * Records a new WAITING job; the database gives its id, so ids never repeat. With `startsNow`
   * (a runner of this process that starts it before anything else can run, see `InProcessRunner`),
   * the row is RUNNING from the start, one write instead of two; the record returned is still the
   * job as queued, WAITING, as its "added" event shows it.
   */
  async insert(draft: JobDraft, startsNow = false): Promise<JobRecord> {
    const row: Omit<JobRow, 'id'> = {
      method: draft.method,
      arguments: draft.redactedArguments,
      state: 'WAITING',
      progress: draft.progress ?? INITIAL_PROGRESS,
      result: null,
      error: null,
      exception: null,
      exc_info: null,
      abortable: draft.abortable,
      time_started: new Date(),
      time_finished: null,
      owner: draft.caller?.username ?? null,
      credential_type: draft.caller?.credentialType ?? null,
      login_at: draft.caller ? new Date(draft.caller.loginAt) : null,
      backend: draft.backend,
      runner: draft.runner,
      effect_committed: false,
    };
    const stored = startsNow ? { ...row, state: 'RUNNING' as const, progress: INITIAL_PROGRESS } : row;
    const id = await this.write((manager) => insertRow(manager, JobEntity, stored as never));
    return this.toRecord({ ...row, id });
  }

  async get(id: number): Promise<JobRecord | undefined> {
    const row = await this.db.getRepository(JobEntity).findOneBy({ id });
    return row ? this.toRecord(row) : undefined;
  }

  /** The jobs among `ids` that have ended. */
  async finishedAmong(ids: readonly number[]): Promise<JobRecord[]> {
    if (ids.length === 0) return [];
    const rows = await this.db.getRepository(JobEntity).findBy({ id: In([...ids]), state: In(FINAL_STATES) });
    return rows.map((row) => this.toRecord(row));
  }

  /**
   * WAITING → RUNNING on `runner`; null when the job is no longer WAITING (aborted, failed or lost
   * meanwhile). A runner that holds the record the job was queued with (`queued`) gets the running
   * record made from it, not read back: only a change of state, which this update then loses,
   * touches a waiting in-process job.
   */
  async start(id: number, runner: string, queued?: JobRecord): Promise<JobRecord | null> {
    const changed = await this.update(id, ['WAITING'], { state: 'RUNNING', runner, progress: INITIAL_PROGRESS });
    if (!changed) return null;
    return queued ? { ...queued, state: 'RUNNING', progress: INITIAL_PROGRESS } : ((await this.get(id)) ?? null);
  }

  /** Stores a running job's progress (callers coalesce: live events carry every step). */
  async saveProgress(id: number, progress: JobProgress): Promise<void> {
    await this.update(id, ['RUNNING'], { progress });
  }

  /** Sets the progress of a job still waiting (to say why it waits). */
  async describeWaiting(id: number, progress: JobProgress): Promise<JobRecord | null> {
    const changed = await this.update(id, ['WAITING'], { progress });
    return changed ? ((await this.get(id)) ?? null) : null;
  }

  /**
   * Ends a job that is still in one of `from`; null when it had ended already (or left `from`).
   * Only SUCCESS ends a job whose effect committed. A SUCCESS gets progress 100, as on TrueNAS.
   */
  async finish(id: number, patch: FinalPatch, from: readonly JobState[] = ACTIVE_STATES): Promise<JobRecord | null> {
    const changed = await this.update(id, from, this.finalColumns(patch), undefined, patch.state !== 'SUCCESS');
    return changed ? ((await this.get(id)) ?? null) : null;
  }

  /**
   * `finish` for the runner that holds the job, whose `record` is current: the final record is made
   * from it rather than read back (the result decrypted and parsed again), since only an update
   * conditional on the state, which this one then loses, changes a job held by its runner.
   */
  async finishHeld(record: JobRecord, patch: FinalPatch): Promise<JobRecord | null> {
    const resultText = patch.state === 'SUCCESS' ? stringify(patch.result ?? null) : null;
    const columns = this.finalColumns(patch, resultText);
    if (!(await this.update(record.id, ACTIVE_STATES, columns, undefined, patch.state !== 'SUCCESS'))) return null;
    return {
      ...record,
      state: patch.state,
      progress: columns.progress ?? record.progress,
      // As read back: the stored text parsed, so the record equals what `get` returns.
      result: resultText === null ? null : parseResult(resultText),
      result_encoding_error: null,
      error: columns.error!,
      exception: columns.exception!,
      exc_info: columns.exc_info!,
      time_finished: columns.time_finished!,
    };
  }

  /**
   * Records, inside the transaction `manager` belongs to, that job `id`'s effect is made; false
   * (the caller then rolls back) when the job is no longer RUNNING on `runner`.
   */
  commitEffect(manager: EntityManager, id: number, runner: string): Promise<boolean> {
    return this.update(id, ['RUNNING'], { effect_committed: true }, manager, false, runner);
  }

  /**
   * Ends a job its runner will not end: with `patch`, or SUCCESS without a result when its effect
   * had committed. Null when it had ended already.
   */
  async abandon(id: number, patch: FinalPatch): Promise<JobRecord | null> {
    return (await this.finish(id, patch)) ?? (await this.finish(id, effectSavedPatch()));
  }

  /** Ends a job whose runner stopped: FAILED (interrupted), unless its effect had committed. */
  interrupt(id: number): Promise<JobRecord | null> {
    return this.abandon(id, interruptedPatch());
  }

  /** Ends every job `runner` holds (every job held by a runner no longer recorded, when null), because it stopped. */
  async interruptJobsOf(runner: string | null): Promise<JobRecord[]> {
    const query = this.db
      .getRepository(JobEntity)
      .createQueryBuilder('job')
      .select('job.id', 'id')
      .where('job.state IN (:...active)', { active: [...ACTIVE_STATES] });
    if (runner === null) query.andWhere('job.runner IS NOT NULL').andWhere('job.runner NOT IN (SELECT live.id FROM job_runner live)');
    else query.andWhere('job.runner = :runner', { runner });
    const ids = (await query.getRawMany<{ id: number | string }>()).map((row) => Number(row.id));
    const ended: JobRecord[] = [];
    for (const id of ids) {
      const record = await this.interrupt(id);
      if (record) ended.push(record);
    }
    return ended;
  }

  /** Jobs of `backend` waiting since before `before`, oldest first. */
  async waitingSince(backend: JobBackendName, before: Date): Promise<JobRecord[]> {
    const rows = await this.db.getRepository(JobEntity).find({
      where: { backend, state: 'WAITING', time_started: LessThan(before) },
      order: { id: 'ASC' },
      take: 1000,
    });
    return rows.map((row) => this.toRecord(row));
  }

  /** How many jobs each runner is running. */
  async runningCounts(): Promise<Map<string, number>> {
    const rows: Array<{ runner: string; count: string | number }> = await this.db
      .getRepository(JobEntity)
      .createQueryBuilder('job')
      .select('job.runner', 'runner')
      .addSelect('COUNT(*)', 'count')
      .where('job.state = :state', { state: 'RUNNING' })
      .groupBy('job.runner')
      .getRawMany();
    return new Map(rows.map((row) => [row.runner, Number(row.count)]));
  }

  /** Deletes finished jobs beyond the newest `keep` (TrueNAS keeps about a thousand). */
  async prune(keep: number): Promise<number> {
    const [boundary] = await this.db
      .getRepository(JobEntity)
      .find({ select: { id: true }, where: { state: In(FINAL_STATES) }, order: { id: 'DESC' }, skip: keep, take: 1 });
    if (!boundary) return 0;
    const result = await this.write((manager) =>
      manager.getRepository(JobEntity).delete({ state: In(FINAL_STATES), id: LessThan(boundary.id + 1) }),
    );
    return result.affected ?? 0;
  }

  /** The query spec of `core.get_jobs`: stored columns filter in SQL, the rest in memory on `toEntry`'s records. */
  querySpec(toEntry: (record: JobRecord) => JobRecord): SqlQuerySpec<JobRow, JobRecord> {
    return {
      dataSource: this.db,
      entity: JobEntity,
      columns: {
        id: { column: 'id', kind: 'number' },
        method: { column: 'method', kind: 'string' },
        state: { column: 'state', kind: 'string' },
        abortable: { column: 'abortable', kind: 'boolean' },
        time_started: { column: 'time_started', kind: 'date' },
        'credentials.data.username': { column: 'owner', kind: 'string' },
      },
      toEntry: (row) => toEntry(this.toRecord(row)),
    };
  }

  /** The record `core.get_jobs` shows for a row: the result opened, the caller as TrueNAS shows it. */
  toRecord(row: JobRow): JobRecord {
    const { result, result_encoding_error } = this.openResult(row);
    return {
      id: row.id,
      method: row.method,
      arguments: row.arguments,
      transient: false,
      description: null,
      abortable: row.abortable,
      logs_path: null,
      logs_excerpt: null,
      progress: row.progress,
      result,
      result_encoding_error,
      error: row.error,
      exception: row.exception,
      exc_info: row.exc_info,
      state: row.state,
      time_started: row.time_started,
      time_finished: row.time_finished,
      credentials:
        row.owner === null
          ? null
          : { type: (row.credential_type ?? 'LOGIN_PASSWORD') as CredentialType, data: { username: row.owner, login_at: row.login_at ?? row.time_started } },
      message_ids: [],
    };
  }

  private openResult(row: JobRow): { result: unknown; result_encoding_error: string | null } {
    if (row.result === null) return { result: null, result_encoding_error: null };
    try {
      return { result: parseResult(this.secrets.decrypt(row.result)), result_encoding_error: null };
    } catch (error) {
      this.logger.warn({ err: error, job: row.id }, 'job result cannot be opened; do all daemons and workers share one master key?');
      return { result: null, result_encoding_error: 'The result cannot be opened with this daemon\'s master key' };
    }
  }

  private finalColumns(patch: FinalPatch, resultText = patch.state === 'SUCCESS' ? stringify(patch.result ?? null) : null): Partial<JobRow> {
    const columns: Partial<JobRow> = {
      state: patch.state,
      time_finished: patch.time_finished ?? new Date(),
      error: patch.error ?? null,
      exception: patch.exception ?? null,
      exc_info: patch.exc_info ?? null,
      result: resultText === null ? null : this.secrets.encrypt(resultText),
    };
    if (patch.progress) columns.progress = patch.progress;
    if (patch.state === 'SUCCESS' && patch.progress && patch.progress.percent !== 100) columns.progress = { ...patch.progress, percent: 100 };
    return columns;
  }

  /**
   * Sets `values` on job `id` if it is in one of `from` (and, when asked, its effect has not
   * committed, or `runner` holds it); whether it was.
   */
  private async update(
    id: number,
    from: readonly JobState[],
    values: Partial<JobRow>,
    manager?: EntityManager,
    withoutEffect = false,
    runner?: string,
  ): Promise<boolean> {
    const conditions = ['"id" = ?', `"state" IN (${from.map(() => '?').join(', ')})`];
    const parameters: unknown[] = [id, ...from];
    if (withoutEffect) {
      conditions.push('"effect_committed" = ?');
      parameters.push(false);
    }
    if (runner !== undefined) {
      conditions.push('"runner" = ?');
      parameters.push(runner);
    }
    const run = async (m: EntityManager) => (await updateWhere(m, JobEntity, values, conditions.join(' AND '), parameters)) > 0;
    return manager ? run(manager) : this.write(run);
  }

  private write<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return bookkeepingTransaction(this.db, work);
  }
}
