import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { progress } from './report.js';

const run = promisify(execFile);

/** Longest wait for `scripts/clusters.sh start` of one cluster (three Kafka JVMs take the longest). */
const START_TIMEOUT_MS = 5 * 60_000;

/**
 * The clusters of the cluster rows (`scripts/clusters.sh`), started when the first row that needs
 * one runs and stopped at the end of its section, so that no cluster runs while the single-broker
 * rows are measured. On a machine of two cores the three Kafka JVMs, three NATS nodes and six
 * Redis nodes of the clusters take turns with the brokers under test, and the single-broker p99s
 * of the latency section came out 1.5 to 3 times higher with them running. A cluster that was
 * already running (the user's, or one named by its URL variable) is used as it is and left running.
 */
export class ClusterLifecycle {
  readonly #script: string;
  readonly #started = new Set<string>();

  /** Clusters of the repository at `root`. */
  constructor(root: string) {
    this.#script = join(root, 'scripts', 'clusters.sh');
  }

  /**
   * Makes sure cluster `name` (`redis`, `nats`, `kafka`) runs. A start that fails is logged and
   * left to the rows' reachability check, which marks them "not available" with the reason.
   */
  async ensure(name: string): Promise<void> {
    if (this.#started.has(name) || (await this.#running(name))) return;
    progress(`starting the ${name} cluster`);
    this.#started.add(name);
    try {
      await run('bash', [this.#script, 'start', name], { timeout: START_TIMEOUT_MS });
    } catch (error) {
      progress(`the ${name} cluster did not start: ${(error as Error).message.split('\n')[0]}`);
    }
  }

  /** Stops the clusters {@link ensure} started; the next {@link ensure} starts them again. */
  async stopStarted(): Promise<void> {
    if (this.#started.size === 0) return;
    const names = [...this.#started];
    this.#started.clear();
    progress(`stopping the clusters this section started: ${names.join(' ')}`);
    await run('bash', [this.#script, 'stop', ...names]).catch((error: Error) => {
      progress(`stopping the clusters failed: ${error.message.split('\n')[0]}`);
    });
  }

  async #running(name: string): Promise<boolean> {
    return run('bash', [this.#script, 'running', name]).then(
      () => true,
      () => false,
    );
  }
}

const lifecycles = new Map<string, ClusterLifecycle>();

/** The one {@link ClusterLifecycle} of the repository at `root` in this process. */
export function clusterLifecycle(root: string): ClusterLifecycle {
  let lifecycle = lifecycles.get(root);
  if (lifecycle === undefined) {
    lifecycle = new ClusterLifecycle(root);
    lifecycles.set(root, lifecycle);
  }
  return lifecycle;
}
