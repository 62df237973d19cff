import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import type { BenchConfig } from './config.js';
import { bytes, table } from './format.js';

const require = createRequire(import.meta.url);

function packageVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    // Packages whose exports map hides package.json: walk up from the entry point.
    try {
      let dir = dirname(require.resolve(name));
      for (let i = 0; i < 5; i++, dir = dirname(dir)) {
        const file = join(dir, 'package.json');
        if (existsSync(file)) {
          const manifest = JSON.parse(readFileSync(file, 'utf8')) as {
            name?: string;
            version?: string;
          };
          if (manifest.name === name) return manifest.version ?? 'unknown';
        }
      }
    } catch {}
    return 'not installed';
  }
}

/**
 * The version of a cluster's servers as read when the run begins; a cluster that is not running
 * then is started by the bench for its rows (cluster-lifecycle.ts) from the same binary as the
 * single server, whose version `single` is.
 */
function clusterVersion(read: string, single: string): string {
  return read.startsWith('unreachable') ? `${single} (started by the bench for its rows)` : read;
}

async function redisVersion(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  // A refused connection is reported by connect() below, not as an unhandled error event.
  client.on('error', () => undefined);
  try {
    await client.connect();
    const info = await client.info('server');
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  } finally {
    client.disconnect();
  }
}

async function natsVersion(url: string): Promise<string> {
  try {
    const connection = await connect({ servers: url });
    const version = connection.info?.version ?? 'unknown';
    await connection.close();
    return version;
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  }
}

function kafkaVersion(root: string): string {
  if (process.env.KAFKA_BROKERS !== undefined) return 'external (KAFKA_BROKERS)';
  try {
    const script = readFileSync(join(root, 'scripts', 'kafka.sh'), 'utf8');
    return `${/^KAFKA_VERSION=(\S+)/m.exec(script)?.[1] ?? 'unknown'} (KRaft, single node)`;
  } catch {
    return 'unknown';
  }
}

/** The machine and version table at the top of the report. */
export async function environment(
  config: BenchConfig,
): Promise<(extra: readonly [string, string][]) => string> {
  const cpu = cpus();
  const redis = await redisVersion(config.redisUrl);
  const nats = await natsVersion(config.natsUrl);
  const rows: [string, string][] = [
    ['date', new Date().toISOString()],
    ['command', `\`${config.command}\``],
    ['CPU', `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown'}`],
    ['RAM', bytes(totalmem())],
    ['OS', `${process.platform} ${release()}`],
    ['Node.js', process.version],
    ['Redis server', redis],
    ['NATS server', nats],
    [
      'NATS cluster servers',
      clusterVersion(
        await natsVersion(process.env.NATS_CLUSTER_URLS?.split(',')[0] ?? 'nats://127.0.0.1:4250'),
        nats,
      ),
    ],
    [
      'Redis Cluster servers',
      clusterVersion(
        await redisVersion(
          process.env.REDIS_CLUSTER_URLS?.split(',')[0] ?? 'redis://127.0.0.1:7000',
        ),
        redis,
      ),
    ],
    ['Kafka broker', kafkaVersion(config.root)],
    ['ioredis', packageVersion('ioredis')],
    ['@nats-io/transport-node', packageVersion('@nats-io/transport-node')],
    [
      '@nats-io/jetstream / obj',
      `${packageVersion('@nats-io/jetstream')} / ${packageVersion('@nats-io/obj')}`,
    ],
    ['kafkajs', packageVersion('kafkajs')],
    ['@proxystream/stream', packageVersion('@proxystream/stream')],
  ];
  return (extra) => table(['', ''], [...rows, ...extra]);
}
