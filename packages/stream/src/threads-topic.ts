import type { Capabilities, MessagingAttributes } from '@proxystream/protocols';

/**
 * What the worker-threads shim ({@link ThreadsBroker}, {@link ThreadsPublisher},
 * {@link ThreadsSubscriber}) guarantees: every subscriber of a topic gets every message (fan-out),
 * the members of a group share them (competing consumers), messages of one publisher to one topic
 * arrive in order, nothing is kept for subscribers that do not exist yet, and a slow subscriber
 * makes `send` wait (credits over the port) instead of losing messages. No size limit of its own:
 * a message is one `ArrayBuffer`, bounded by memory.
 */
export const threadsCapabilities: Capabilities = Object.freeze({
  fanOut: true,
  competingConsumers: true,
  persistent: false,
  ordered: true,
  acknowledged: false,
  maxMessageSize: Number.POSITIVE_INFINITY,
  slowConsumer: 'backpressure',
});

/**
 * What the worker-threads shim's publishers and subscribers tell traces and metrics
 * (`messaging.system`); a subscriber of a group adds it.
 */
export const threadsMessaging: MessagingAttributes = Object.freeze({
  system: 'proxystream.threads',
});

/** Checks a topic of the worker-threads shim: the rule of the brokers inside one process. */
export { assertLocalTopic as assertValidTopic } from './local-topic.js';
