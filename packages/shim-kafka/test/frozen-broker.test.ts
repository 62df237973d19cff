import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { freezeProcess, frozenBrokerCase, thawProcess } from '@proxystream/contract-tests';
import * as stream from '@proxystream/stream';
import { beforeAll, describe } from 'vitest';
import { KafkaPublisher, KafkaSubscriber } from '../src/index.js';
import { assertKafkaRunning, publisherOptions, subscriberOptions } from './kafka-env.js';

// The broker scripts/kafka.sh runs: its process is frozen and thawed (its data is untouched).
const pidFile = fileURLToPath(new URL('../../../.cache/kafka/run/kafka.pid', import.meta.url));

async function brokerPid(): Promise<number> {
  return Number(
    (
      await readFile(pidFile, 'utf8').catch((error: unknown) => {
        throw new Error(`no local Kafka to freeze (${pidFile}): start it with scripts/kafka.sh`, {
          cause: error,
        });
      })
    ).trim(),
  );
}

beforeAll(assertKafkaRunning);

describe('Kafka shim against a frozen broker', () => {
  frozenBrokerCase({
    name: 'Kafka',
    stream,
    freeze: async () => freezeProcess(await brokerPid()),
    thaw: async () => thawProcess(await brokerPid()),
    createPublisher: () => KafkaPublisher.create(publisherOptions),
    createSubscriber: (topic) => KafkaSubscriber.create(topic, subscriberOptions),
  });
});
