import { describe, expect, it } from 'vitest';
import { JobFiles } from './job-files.js';

describe('JobFiles', () => {
  it('gives a job no input at once when no upload is on its way', async () => {
    expect(await new JobFiles().takeInput(1)).toBeNull();
  });

  it('lets a job wait for the upload being queued, whichever comes first', async () => {
    const files = new JobFiles();
    const ticket = files.announceInput();
    const taken = files.takeInput(7);
    ticket.bind(7, Buffer.from('file'));
    expect((await taken)?.toString()).toBe('file');
    // Taken once.
    expect(await files.takeInput(7)).toBeNull();
  });

  it('tells a job waiting on another upload that none came for it', async () => {
    const files = new JobFiles();
    const ticket = files.announceInput();
    const taken = files.takeInput(1);
    ticket.cancel();
    expect(await taken).toBeNull();
  });

  it('hands an output over once', () => {
    const files = new JobFiles();
    files.writeOutput(3, Buffer.from('out'));
    expect(files.takeOutput(3)?.toString()).toBe('out');
    expect(files.takeOutput(3)).toBeUndefined();
  });
});
