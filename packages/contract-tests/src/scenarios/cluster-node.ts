import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ShimEnvironment } from '@proxystream/protocols/kit';
import { repositoryRoot } from './local-broker.js';

const run = promisify(execFile);

/**
 * Kills, restarts and waits for the nodes of a cluster: what the failover cases do to the
 * cluster a descriptor's `failover` names. {@link localClusterNodes} does it with
 * `scripts/clusters.sh`.
 */
export interface ClusterNodes {
  /** SIGKILLs `node` (its client port) of `cluster`, keeping its data. */
  kill(cluster: string, node: string, env: ShimEnvironment): Promise<void>;
  /** Until the cluster serves again without the killed node (a replica took over). */
  wait(cluster: string, env: ShimEnvironment): Promise<void>;
  /** Starts the killed `node` again on its data; resolves when the cluster is whole. */
  restart(cluster: string, node: string, env: ShimEnvironment): Promise<void>;
}

async function clusters(env: ShimEnvironment, ...args: string[]): Promise<void> {
  await run('bash', ['scripts/clusters.sh', ...args], {
    cwd: repositoryRoot(process.cwd()),
    timeout: 180_000,
    env: env as NodeJS.ProcessEnv,
  });
}

/**
 * The clusters `bash scripts/clusters.sh start` runs in the repository holding the current
 * directory (a cluster given by its URL variable is the user's: the script refuses to kill it).
 *
 * @example
 * ```ts
 * failoverSuite(clusterDescriptors, { stream, nodes: localClusterNodes });
 * ```
 */
export const localClusterNodes: ClusterNodes = Object.freeze({
  kill: (cluster: string, node: string, env: ShimEnvironment) =>
    clusters(env, 'kill', cluster, node),
  wait: (cluster: string, env: ShimEnvironment) => clusters(env, 'wait', cluster),
  restart: (cluster: string, node: string, env: ShimEnvironment) =>
    clusters(env, 'restart', cluster, node),
});
