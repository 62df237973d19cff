import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type LocalServer, startLocalServer } from '@proxystream/contract-tests';
import { Redis, type RedisOptions } from 'ioredis';

/** The server the tests use: `REDIS_URL`, or the one `scripts/brokers.sh` starts. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Restarts the local redis-server keeping its data (the contract's `restartBroker` hook). */
export async function restartRedis(): Promise<void> {
  await promisify(execFile)('bash', ['scripts/brokers.sh', 'restart', 'redis'], { cwd: root });
}

/** A client for test bookkeeping; fails loudly when Redis is missing. */
export async function adminClient(): Promise<Redis> {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 3, lazyConnect: true });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${REDIS_URL}: start it with \`bash scripts/brokers.sh start redis\``,
      { cause: error },
    );
  }
  return client;
}

/** Deletes every key matching `pattern` (the tests' topics and stores), so runs leave nothing behind. */
export async function deleteKeys(pattern: string): Promise<void> {
  const client = await adminClient();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** Id of the connection named `name` in CLIENT LIST. */
export async function clientIdByName(admin: Redis, name: string): Promise<string | undefined> {
  const list = (await admin.client('LIST')) as string;
  for (const line of list.split('\n')) {
    if (line.includes(` name=${name} `)) return /(?:^|\s)id=(\d+)/.exec(line)?.[1];
  }
  return undefined;
}

/** Polls the async `condition` every 20 ms until it holds or `ms` pass; returns whether it held. */
export async function eventually(condition: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Whether a Redis server answers PING with `options` (a readiness probe for a server a test starts). */
export async function answersPing(options: RedisOptions): Promise<boolean> {
  const probe = new Redis({ ...options, lazyConnect: true, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * A redis-server of the test file's own on a free port, without persistence (`extra` adds
 * arguments): killing or freezing it disturbs no shared broker.
 */
export function privateRedis(extra: string[] = []): Promise<LocalServer> {
  return startLocalServer({
    command: 'redis-server',
    args: ({ port }) => [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      ...extra,
    ],
    ready: (port) => answersPing({ host: '127.0.0.1', port }),
  });
}
