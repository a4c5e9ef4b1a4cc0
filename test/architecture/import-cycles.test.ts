import { describe, expect, it } from 'vitest';
import { importCycles, importGraph } from '../helpers/import-graph.js';

/**
 * The job code depends on small interfaces the core owns (src/api/jobs.ts) and is composed with it
 * in one place (src/bootstrap.ts), so neither side needs the other to be read or tested.
 */
describe('import direction', () => {
  const graph = importGraph();
  const cycles = importCycles(graph);

  it('finds the modules and their imports', () => {
    expect(graph.get('src/bootstrap.ts')).toContain('src/app.ts');
    expect(graph.size).toBeGreaterThan(100);
  });

  it('puts no module of jobs/, src/events/ or src/rpc/ in an import cycle', () => {
    const inCycles = cycles.flat().filter((module) => /^(jobs|src\/events|src\/rpc)\//.test(module));
    expect(inCycles).toEqual([]);
  });

  it('keeps jobs/ away from App, the server and the plugins', () => {
    const jobModules = [...graph.keys()].filter((module) => module.startsWith('jobs/') && module !== 'jobs/worker.ts');
    for (const module of jobModules) {
      const imports = graph.get(module)!;
      expect(imports.filter((target) => /^(src\/app|src\/bootstrap|src\/daemon|src\/rpc\/|plugins\/)/.test(target)), module).toEqual([]);
    }
  });

  it('keeps the core (src/api, src/rpc, src/events, src/app.ts) from importing jobs/', () => {
    const core = [...graph.keys()].filter((module) => /^src\/(api|rpc|events|core)\/|^src\/app\.ts$/.test(module));
    for (const module of core) expect(graph.get(module)!.filter((target) => target.startsWith('jobs/')), module).toEqual([]);
  });
});
