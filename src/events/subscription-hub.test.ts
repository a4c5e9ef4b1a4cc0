import { describe, expect, it } from 'vitest';
import { rememberResultText, type JobRecord } from '../api/jobs.js';
import { parse, stringify } from '../client/ejson.js';
import { JSON_RPC_FORM, jsonRpcNotification } from '../rpc/session.js';
import { JobNotification } from './subscription-hub.js';

const started = new Date('2026-05-04T03:02:01.789Z');

/** A job record as the store makes it, with `changes` applied. */
function jobRecord(changes: Partial<JobRecord> = {}): JobRecord {
  return {
    id: 41,
    method: 'certificate.create',
    arguments: [{ name: 'web', san: ['web.example'], lifetime: 397, when: new Date('2026-01-02T03:04:05Z'), tags: new Set(['a']), note: 'quote " and \u2028 and \\' }],
    transient: false,
    description: null,
    abortable: true,
    logs_path: null,
    logs_excerpt: null,
    progress: { percent: 60, description: 'Signing with root', extra: null },
    result: null,
    result_encoding_error: null,
    error: null,
    exception: null,
    exc_info: null,
    state: 'RUNNING',
    time_started: started,
    time_finished: null,
    credentials: { type: 'LOGIN_PASSWORD', data: { username: 'admin', login_at: started } },
    message_ids: ['request-1', 7],
    ...changes,
  };
}

/** What every session of the JSON-RPC protocol gets, as the generic notification writes it. */
const writtenWhole = (notification: JobNotification) => Buffer.from(stringify(jsonRpcNotification(notification))).toString();
const written = (notification: JobNotification) => notification.frame(JSON_RPC_FORM, jsonRpcNotification).toString();

describe('JobNotification', () => {
  it('writes the JSON-RPC frame of a job event as stringify writes the whole notification', () => {
    const running = jobRecord();
    expect(written(new JobNotification({ msg: 'added', record: running }))).toBe(writtenWhole(new JobNotification({ msg: 'added', record: running })));
    // A later event of the same job reuses its arguments' text: still the same frame.
    const later = { ...running, progress: { percent: 90, description: 'Finalizing changes', extra: { step: 3 } } };
    expect(written(new JobNotification({ msg: 'changed', record: later }))).toBe(writtenWhole(new JobNotification({ msg: 'changed', record: later })));
  });

  it('splices a result parsed from stored text, and writes one that was not', () => {
    const text = stringify({ id: 9, name: 'web', until: new Date('2027-01-01T00:00:00Z'), chain_list: ['-----BEGIN CERTIFICATE-----\n'], nested: { revoked: false } });
    const stored = parse(text);
    rememberResultText(stored, text);
    const finished = jobRecord({ state: 'SUCCESS', result: stored, time_finished: new Date('2026-05-04T03:02:03.5Z'), progress: { percent: 100, description: 'Done', extra: null } });
    const frame = written(new JobNotification({ msg: 'changed', record: finished }));
    expect(frame).toBe(writtenWhole(new JobNotification({ msg: 'changed', record: finished })));
    expect(frame).toContain(`"result":${text},`);
    const unknown = jobRecord({ state: 'SUCCESS', result: { id: 10, list: [1, 2] } });
    expect(written(new JobNotification({ msg: 'changed', record: unknown }))).toBe(writtenWhole(new JobNotification({ msg: 'changed', record: unknown })));
  });

  it('leaves out fields that JSON leaves out', () => {
    const sparse = { ...jobRecord(), description: undefined } as unknown as JobRecord;
    const frame = written(new JobNotification({ msg: 'changed', record: sparse }));
    expect(frame).toBe(writtenWhole(new JobNotification({ msg: 'changed', record: sparse })));
    expect(frame).toContain('"transient":false,"abortable":true');
  });
});
