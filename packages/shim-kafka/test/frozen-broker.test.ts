import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { frozenBrokerCase } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { beforeAll, describe } from 'vitest';
import { KafkaPublisher, KafkaSubscriber } from '../src/index.js';
import { assertKafkaRunning, publisherOptions, subscriberOptions } from './kafka-env.js';

// The broker scripts/kafka.sh runs: its process is frozen and thawed (its data is untouched).
const pidFile = fileURLToPath(new URL('../../../.cache/kafka/run/kafka.pid', import.meta.url));

async function signalBroker(signal: NodeJS.Signals): Promise<void> {
  const pid = Number(
    (
      await readFile(pidFile, 'utf8').catch((error: unknown) => {
        throw new Error(`no local Kafka to freeze (${pidFile}): start it with scripts/kafka.sh`, {
          cause: error,
        });
      })
    ).trim(),
  );
  process.kill(pid, signal);
}

beforeAll(assertKafkaRunning);

describe('Kafka shim against a frozen broker', () => {
  frozenBrokerCase({
    name: 'Kafka',
    stream,
    freeze: () => signalBroker('SIGSTOP'),
    thaw: () => signalBroker('SIGCONT'),
    createPublisher: () => KafkaPublisher.create(publisherOptions),
    createSubscriber: (topic) => KafkaSubscriber.create(topic, subscriberOptions),
  });
});
