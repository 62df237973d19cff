import { type LocalServer, startLocalServer } from '@proxystream/contract-tests';
import { jetStreamDescriptor, TEST_STREAM } from '../src/testing.js';

/** The server the tests use: `NATS_URL`, or the one `scripts/brokers.sh start nats` runs. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** The stream the JetStream tests use, apart from the default one (the descriptor's). */
export { TEST_STREAM };

/** Makes sure the test stream exists (file storage, limits retention, messages kept 15 minutes). */
export async function ensureTestStream(): Promise<void> {
  await jetStreamDescriptor.prepare?.(process.env);
}

/** A nats-server -js of the test file's own on a free port: killing or freezing it disturbs no shared broker. */
export function privateNats(): Promise<LocalServer> {
  return startLocalServer({
    command: 'nats-server',
    args: ({ port, directory }) => ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', directory],
  });
}
