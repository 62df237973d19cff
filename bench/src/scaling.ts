import type { BenchConfig } from './config.js';
import type { SectionResult } from './report.js';

/** Section 4 (ProxyStore's stream-scaling experiment with worker_threads): not written yet. */
export async function scaling(_config: BenchConfig): Promise<SectionResult> {
  return {
    title: "Stream scaling (ProxyStore's experiment): not measured yet",
    body:
      'Not written yet: generator → dispatcher → 8 `worker_threads` resolving references, direct vs ' +
      'store-backed vs `inlineBelow`, 10 kB…100 MB. No figures rather than made-up ones.',
    highlights: ['scaling: not measured yet (section not written)'],
  };
}
