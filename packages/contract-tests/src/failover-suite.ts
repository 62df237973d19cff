import type { ShimDescriptor, ShimEnvironment } from '@proxystream/protocols/kit';
import { describe, expect, it } from 'vitest';
import { type ClusterNodes, localClusterNodes } from './scenarios/cluster-node.js';
import { type RestartFigures, restartScenario } from './scenarios/restart.js';
import type { StreamModule } from './stream-module.js';

/** Options of {@link failoverSuite}. */
export interface FailoverSuiteOptions {
  /** `@proxystream/stream` (the sources in tests): `import * as stream from '@proxystream/stream'`. */
  stream: StreamModule;
  /** Where the clusters are. Default `process.env`. */
  env?: ShimEnvironment;
  /** Kills and restarts the nodes. Default {@link localClusterNodes} (`scripts/clusters.sh`). */
  nodes?: ClusterNodes;
  /** Objects per case. Default 3 000. */
  events?: number;
  /** Longest silence of the consumer, in ms. Default 60 000. */
  inactivityMs?: number;
  /** Where each case's figures go. Default: one JSON line on `console.info`. */
  report?(figures: object): void;
}

/** What one failover case reports: the restart scenario's figures and the node it killed. */
export interface FailoverFigures extends RestartFigures {
  role: string;
  node: string;
}

/**
 * Registers the failover cases of the descriptors that run on a cluster (those with `failover`):
 * for each node role the descriptor names (the node holding the topic, the node the clients are
 * connected to…), a stream of objects `StreamProducer` → shim → `StreamConsumer` during which that
 * node is SIGKILLed a third of the way in. The sender goes on during the failover (those sends
 * are the shim's to carry across it) and holds at two thirds until the cluster serves again, so
 * that the last third measures the recovery. The node is started again after the case. Every case requires that no `send` and no `close` of the
 * producer throws (a failover is the shim's business while its time budget lasts) and that the
 * consumer reads to the end of the stream; persistent shims then lose and duplicate nothing,
 * fan-out shims report every object they did not deliver.
 *
 * @example
 * ```ts
 * import { failoverSuite } from '@proxystream/contract-tests';
 * import { clusterDescriptors } from '@proxystream/shim-redis/testing';
 * import * as stream from '@proxystream/stream';
 *
 * failoverSuite(clusterDescriptors, { stream });
 * ```
 */
export function failoverSuite(
  descriptors: readonly ShimDescriptor[],
  options: FailoverSuiteOptions,
): void {
  const env = options.env ?? process.env;
  const nodes = options.nodes ?? localClusterNodes;
  const events = options.events ?? 3_000;
  const report = options.report ?? ((figures: object) => console.info(JSON.stringify(figures)));
  describe('a cluster node killed with SIGKILL in the middle of a stream', () => {
    for (const descriptor of descriptors) {
      const failover = descriptor.failover;
      if (failover === undefined) {
        throw new TypeError(
          `descriptor ${descriptor.name} has no failover: it is not on a cluster`,
        );
      }
      const { persistent } = descriptor.capabilities;
      const promise = persistent
        ? 'the consumer gets every object once, in order'
        : 'the consumer reports every object it did not get';
      for (const role of failover.roles) {
        it(`${descriptor.name}: the ${role} node killed; no send throws and ${promise}`, async () => {
          let killed: string | undefined;
          try {
            const figures = await restartScenario({
              descriptor,
              env,
              stream: options.stream,
              events,
              batchSize: persistent ? 10 : 1,
              inactivityMs: options.inactivityMs ?? 60_000,
              restart: async (topic) => {
                const node = await failover.node(env, topic, role);
                killed = node;
                await nodes.kill(failover.cluster, node, env);
                await nodes.wait(failover.cluster, env);
              },
            });
            const result: FailoverFigures = { ...figures, role, node: killed ?? '' };
            report(result);
            expect(killed, 'a node was killed').toBeDefined();
            expect(figures.sendRetries, 'sends or closes that threw').toBe(0);
            expect(figures.ended).toBe('done');
            expect(figures.duplicates).toBe(0);
            if (persistent) {
              expect(figures).toMatchObject({ lost: 0, lossErrors: 0, otherErrors: [] });
              expect(figures.reordered).toBeLessThanOrEqual(descriptor.restart?.maxReordered ?? 0);
              // What the cluster kept, read again by a new group: every object survived the node.
              if (figures.stored !== undefined) expect(figures.stored.missing).toBe(0);
            } else {
              expect(figures.received + figures.missingReported).toBe(events);
              expect(figures).toMatchObject({ unreported: 0, reordered: 0 });
            }
            // Objects sent after the failover arrived: the stream went on.
            expect(figures.recoveryMs).toBeDefined();
          } finally {
            if (killed !== undefined) await nodes.restart(failover.cluster, killed, env);
          }
        });
      }
    }
  });
}
