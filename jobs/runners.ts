import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import type { DataSource, Repository } from 'typeorm';
import { transaction } from '../src/db/transaction.js';
import type { JobRunnerInfo } from '../src/api/jobs.js';
import type { Logger } from '../src/logger.js';
import { JobRunnerEntity, type JobRunnerRow } from './job-entity.js';
import type { JobFeed } from './job-feed.js';
import type { JobStore } from './job-store.js';

/** A runner is dead once it has missed this many heartbeats. */
export const MISSED_BEATS = 3;

/** Finished jobs kept listed, as TrueNAS keeps about the last thousand; older ones are deleted. */
export const KEEP_FINISHED = 1000;


/** Runner ids alive in this process (tests run several daemons in one). */
const LIVE_HERE = new Set<string>();

/**
 * The process-id space this process lives in: the boot and the pid namespace. Two runners in the
 * same space are on the same machine and see the same pids, so one can tell by pid whether the
 * other still runs. Null where /proc does not say.
 */
function processSpace(): string | null {
  try {
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${boot}/${fs.readlinkSync('/proc/self/ns/pid')}`.slice(0, 128);
  } catch {
    return null;
  }
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RunnerSettings {
  kind: 'daemon' | 'worker';
  name: string;
  heartbeatMs: number;
}

/**
 * This process as a job runner, and the watch over every other: each runner records a heartbeat;
 * each sweep ends the jobs of runners that stopped (FAILED, interrupted) and deletes their rows. A
 * runner on this machine is known dead at once when its pid is gone (a daemon restarted after a
 * crash finds its earlier jobs before it serves anyone); elsewhere after MISSED_BEATS beats.
 */
export class Runners {
  readonly id = randomUUID();
  private readonly space = processSpace();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private sweeping: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: DataSource,
    private readonly store: JobStore,
    private readonly feed: JobFeed,
    private readonly logger: Logger,
    private readonly settings: RunnerSettings,
  ) {}

  /** Records this runner, ends the jobs of dead ones, and keeps beating and sweeping until `close`. */
  async start(): Promise<void> {
    LIVE_HERE.add(this.id);
    await this.write((repository) => repository.insert(this.row()));
    await this.sweep();
    this.timer = setInterval(() => void this.tick(), this.settings.heartbeatMs);
  }

  /** Every runner, dead ones not yet swept included, with the jobs each is running. */
  async list(): Promise<JobRunnerInfo[]> {
    const [rows, counts] = await Promise.all([this.db.getRepository(JobRunnerEntity).find({ order: { started_at: 'ASC' } }), this.store.runningCounts()]);
    const now = Date.now();
    return rows.map((row) => ({
      id: row.id,
      kind: row.kind,
      name: row.name,
      host: row.host,
      pid: row.pid,
      started: row.started_at,
      last_heartbeat: row.heartbeat_at,
      alive: !this.isDead(row, now),
      jobs_running: counts.get(row.id) ?? 0,
    }));
  }

  /** How many workers are alive. */
  async liveWorkers(): Promise<number> {
    return (await this.liveWorkerRows()).length;
  }

  /** The names of the workers that are alive (a BullMQ worker's name is its runner's). */
  async liveWorkerNames(): Promise<Set<string>> {
    return new Set((await this.liveWorkerRows()).map((row) => row.name));
  }

  private async liveWorkerRows(): Promise<JobRunnerRow[]> {
    const rows = await this.db.getRepository(JobRunnerEntity).findBy({ kind: 'worker' });
    const now = Date.now();
    return rows.filter((row) => !this.isDead(row, now));
  }

  /** Ends the jobs of every dead runner and forgets it; prunes old finished jobs. One sweep at a time. */
  sweep(): Promise<void> {
    this.sweeping = this.sweeping.then(() => this.sweepOnce()).catch((error: unknown) => this.logger.warn({ err: error }, 'job runner sweep failed'));
    return this.sweeping;
  }

  /** Stops beating and removes this runner's row (its jobs ended already). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.sweeping;
    LIVE_HERE.delete(this.id);
    await this.write((repository) => repository.delete({ id: this.id })).catch((error: unknown) => this.logger.warn({ err: error }, 'job runner row not removed'));
  }

  private async tick(): Promise<void> {
    try {
      await this.beat();
    } catch (error) {
      this.logger.warn({ err: error }, 'job runner heartbeat failed');
    }
    await this.sweep();
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    const result = await this.write((repository) => repository.update({ id: this.id }, { heartbeat_at: new Date() }));
    if ((result.affected ?? 0) > 0 || this.closed) return;
    // Another process found this one silent for too long (a stalled event loop) and ended its jobs.
    this.logger.warn({ runner: this.id }, 'this runner was taken for dead; its running jobs were ended as interrupted');
    await this.write((repository) => repository.insert(this.row()));
  }

  private async sweepOnce(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    const dead = (await this.db.getRepository(JobRunnerEntity).find()).filter((row) => this.isDead(row, now));
    for (const runner of dead) {
      const ended = await this.store.interruptJobsOf(runner.id);
      for (const record of ended) this.feed.publish({ msg: 'changed', record });
      await this.write((repository) => repository.delete({ id: runner.id }));
      if (ended.length > 0) {
        this.logger.warn({ runner: runner.name, host: runner.host, pid: runner.pid, jobs: ended.map((record) => record.id) }, 'jobs of a runner that stopped ended as interrupted');
      }
    }
    // Jobs of a runner whose row is gone (a sweep elsewhere raced with this one, or a stop that could not end them).
    const orphans = await this.store.interruptJobsOf(null);
    for (const record of orphans) this.feed.publish({ msg: 'changed', record });
    await this.store.prune(KEEP_FINISHED);
  }

  private isDead(row: JobRunnerRow, now: number): boolean {
    if (row.id === this.id || LIVE_HERE.has(row.id)) return false;
    // Same pid space: a pid that is gone, or that is this process (an earlier life of it), is dead.
    if (this.space !== null && row.process_space === this.space && (row.pid === process.pid || !processRuns(row.pid))) return true;
    return now - row.heartbeat_at.getTime() > MISSED_BEATS * row.heartbeat_interval_ms;
  }

  private row(): JobRunnerRow {
    const now = new Date();
    return {
      id: this.id,
      kind: this.settings.kind,
      name: this.settings.name.slice(0, 512),
      host: os.hostname().slice(0, 255),
      pid: process.pid,
      process_space: this.space,
      started_at: now,
      heartbeat_at: now,
      heartbeat_interval_ms: Math.round(this.settings.heartbeatMs),
    };
  }

  private write<T>(work: (repository: Repository<JobRunnerRow>) => Promise<T>): Promise<T> {
    return transaction(this.db, (manager) => work(manager.getRepository(JobRunnerEntity)));
  }
}
