import { connect, type Socket } from 'node:net';
import {
  assertAllReceived,
  closeAfterEach,
  collect,
  drain,
  label,
  labels,
  uniqueTopic,
  within,
} from '@proxystream/contract-tests';
import { type ISocketFactory, Kafka } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createKafkaTopics,
  KafkaPublisher,
  KafkaSubscriber,
  type KafkaSubscriberOptions,
  quietLogCreator,
} from '../src/index.js';
import {
  assertKafkaRunning,
  brokers,
  publisherOptions,
  subscriberOptions,
  texts,
} from './kafka-env.js';

beforeAll(assertKafkaRunning);

const { track } = closeAfterEach();
const delay = (ms: number) =>
  new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms));

async function publisher(): Promise<KafkaPublisher> {
  const made = await KafkaPublisher.create(publisherOptions);
  return track(made);
}

async function subscriber(
  topic: string,
  options: KafkaSubscriberOptions = {},
): Promise<KafkaSubscriber> {
  const made = await KafkaSubscriber.create(topic, { ...subscriberOptions, ...options });
  return track(made);
}

async function sendAll(
  pub: KafkaPublisher,
  topic: string,
  items: readonly string[],
): Promise<void> {
  for (const item of items) await pub.send(topic, label(item));
}

/** A kafkajs client whose connections the test controls. */
interface ControlledClient {
  readonly kafka: Kafka;
  /**
   * Cuts every connection; reconnects are refused from then on: to the broker, its consumer is
   * a member that died without a word.
   */
  kill(): void;
  /** Holds everything it writes and reads nothing: a member gone silent. */
  freeze(): void;
  /** Writes what it held, in order, and reads on. */
  thaw(): void;
}

function controlledClient(clientId: string): ControlledClient {
  const sockets = new Set<Socket>();
  const held: Array<() => void> = [];
  let dead = false;
  let frozen = false;
  const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
    // Port 1 on loopback refuses at once: reconnects fail fast instead of reaching the broker.
    const socket = dead
      ? connect({ host: '127.0.0.1', port: 1 })
      : connect({ host, port }, onConnect);
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = ((...args: unknown[]) => {
      if (!frozen) return write(...args);
      held.push(() => write(...args));
      return true;
    }) as typeof socket.write;
    if (frozen) socket.pause();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    return socket;
  };
  const kafka = new Kafka({ brokers, clientId, socketFactory, logCreator: quietLogCreator });
  return {
    kafka,
    kill() {
      dead = true;
      for (const socket of sockets) socket.destroy(new Error('killed'));
    },
    freeze() {
      frozen = true;
      for (const socket of sockets) socket.pause();
    },
    thaw() {
      frozen = false;
      for (const send of held.splice(0)) send();
      for (const socket of sockets) socket.resume();
    },
  };
}

describe('kafka consumer groups', () => {
  it('redelivers the messages a dead subscriber had not moved past to the next member of its group', async () => {
    const topic = uniqueTopic('kafka-dead');
    const group = `${topic}-group`;
    const pub = await publisher();
    const sent = labels('job', 10);
    await sendAll(pub, topic, sent);

    const doomed = controlledClient('doomed');
    const first = await KafkaSubscriber.create(topic, {
      ...subscriberOptions,
      connection: doomed.kafka,
      group,
    });
    expect(texts(await collect(first, 6))).toEqual(sent.slice(0, 6));
    await first.ack(); // job-0 … job-5 committed
    expect(texts(await collect(first, 1))).toEqual(['job-6']); // yielded, never moved past
    // Give a wrong commit of job-6 (one not moved past) time to reach the broker before the death.
    await new Promise((resolve) => setTimeout(resolve, 500));
    doomed.kill();

    // The group hands the partition over once the broker gave up on the dead member's session.
    const second = await subscriber(topic, { group });
    const received = texts(await collect(second, 3, { inactivityMs: 30_000 }));
    expect(received).toEqual(['job-6', 'job-7', 'job-8']);
    expect(texts(await drain(second, 500))).toEqual(['job-9']);
    await within(first.close(), 5_000, 'closing the dead subscriber');
  });

  it('a subscriber closed without moving past a message leaves it to the next member', async () => {
    const topic = uniqueTopic('kafka-close');
    const group = `${topic}-group`;
    const pub = await publisher();
    await sendAll(pub, topic, labels('task', 5));
    const first = await subscriber(topic, { group });
    expect(texts(await collect(first, 3))).toEqual(['task-0', 'task-1', 'task-2']);
    await first.close();
    const second = await subscriber(topic, { group });
    expect(texts(await collect(second, 3))).toEqual(['task-2', 'task-3', 'task-4']);
  });

  it('ack() commits the message just yielded', async () => {
    const topic = uniqueTopic('kafka-ack');
    const group = `${topic}-group`;
    const pub = await publisher();
    await sendAll(pub, topic, labels('acked', 4));
    const first = await subscriber(topic, { group });
    expect(texts(await collect(first, 2))).toEqual(['acked-0', 'acked-1']);
    await first.ack();
    await first.close();
    const second = await subscriber(topic, { group });
    expect(texts(await collect(second, 2))).toEqual(['acked-2', 'acked-3']);
  });

  it('ack() after the member was dropped from its group waits for the rejoin and commits', async () => {
    const topic = uniqueTopic('kafka-ack-stale');
    const group = `${topic}-group`;
    const pub = await publisher();
    await sendAll(pub, topic, labels('kept', 3));
    const frozen = controlledClient('freezable');
    const first = await subscriber(topic, { group, connection: frozen.kafka });
    expect(texts(await collect(first, 3))).toEqual(labels('kept', 3));
    // Nothing reaches the coordinator for longer than the session timeout (6 s): it drops the
    // member and moves the group to a new generation. The commit sent right after the thaw
    // carries the old one (UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION).
    frozen.freeze();
    await delay(8_000);
    frozen.thaw();
    await first.ack();
    await first.close();
    // The commit took: the group's next member starts after the three messages.
    await pub.send(topic, label('after'));
    const second = await subscriber(topic, { group });
    expect(texts(await collect(second, 1))).toEqual(['after']);
  });

  it('two groups each receive every message, in order', async () => {
    const topic = uniqueTopic('kafka-groups');
    const one = await subscriber(topic, { group: `${topic}-one` });
    const two = await subscriber(topic, { group: `${topic}-two` });
    const pub = await publisher();
    const sent = labels('both', 100);
    await Promise.all(sent.map((item) => pub.send(topic, label(item))));
    expect(texts(await collect(one, sent.length))).toEqual(sent);
    expect(texts(await collect(two, sent.length))).toEqual(sent);
  });

  it('two members of one group share two partitions without duplicates', async () => {
    const topic = uniqueTopic('kafka-shared');
    await createKafkaTopics({ brokers }, [topic], { numPartitions: 2 });
    const group = `${topic}-group`;
    const members = [await subscriber(topic, { group }), await subscriber(topic, { group })];
    const pub = await publisher();
    const sent = labels('share', 200);
    // Keys spread the messages over both partitions deterministically.
    await Promise.all(sent.map((item) => pub.send(topic, label(item), { key: item })));
    const received = await Promise.all(members.map((member) => drain(member, 1_500)));
    assertAllReceived(texts(received.flat()), sent);
    expect(received[0]!.length).toBeGreaterThan(0);
    expect(received[1]!.length).toBeGreaterThan(0);
  });

  it('one key keeps every message on one partition, so one member of the group gets them all', async () => {
    const topic = uniqueTopic('kafka-keyed');
    await createKafkaTopics({ brokers }, [topic], { numPartitions: 2 });
    const group = `${topic}-group`;
    const members = [await subscriber(topic, { group }), await subscriber(topic, { group })];
    const pub = await KafkaPublisher.create({ ...publisherOptions, key: () => 'one-key' });
    track(pub);
    const sent = labels('keyed', 50);
    await Promise.all(sent.map((item) => pub.send(topic, label(item))));
    const received = (await Promise.all(members.map((member) => drain(member, 1_500)))).map(texts);
    const counts = received.map((items) => items.length).sort((a, b) => a - b);
    expect(counts).toEqual([0, sent.length]);
    expect(received.find((items) => items.length > 0)).toEqual(sent);
  });
});
