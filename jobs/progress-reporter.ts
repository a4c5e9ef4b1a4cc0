import type { JobProgress, JobReporter } from '../src/api/jobs.js';

/** Turns `progress(...)` calls into whole progress objects, dropping calls that change nothing. */
export function progressReporter(
  id: number,
  signal: AbortSignal,
  onChange: (progress: JobProgress) => void,
  commitEffect: JobReporter['commitEffect'],
): JobReporter {
  let current: JobProgress = { percent: 0, description: '', extra: null };
  return {
    id,
    signal,
    commitEffect,
    progress(percent, description, extra) {
      const next: JobProgress = {
        percent: percent === null || percent === undefined ? current.percent : Math.max(current.percent, Math.min(100, Math.floor(percent))),
        description: description ?? current.description,
        extra: extra === undefined ? current.extra : extra,
      };
      if (next.percent === current.percent && next.description === current.description && next.extra === current.extra) return;
      current = next;
      onChange(current);
    },
  };
}
