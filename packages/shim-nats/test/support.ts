import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type LocalServer, startLocalServer } from '@proxystream/contract-tests';

/** The server the tests use: `NATS_URL`, or the one `scripts/brokers.sh start nats` runs. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

/** Restarts the local nats-server, keeping its JetStream data (the contract's fault hook). */
export async function restartNats(): Promise<void> {
  await run('bash', ['scripts/brokers.sh', 'restart', 'nats'], { cwd: root, timeout: 60_000 });
}

/** A nats-server -js of the test file's own on a free port: killing or freezing it disturbs no shared broker. */
export function privateNats(): Promise<LocalServer> {
  return startLocalServer({
    command: 'nats-server',
    args: ({ port, directory }) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', directory],
  });
}
