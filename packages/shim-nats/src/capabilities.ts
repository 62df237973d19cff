import type { Capabilities, MessagingAttributes } from '@proxystream/protocols';
import { DEFAULT_MAX_PAYLOAD } from './connection.js';

/**
 * Bytes of `max_payload` kept for the headers JetStream messages carry (the `Nats-Msg-Id`
 * deduplication header): a JetStream message may hold `max_payload - JETSTREAM_HEADER_RESERVE`
 * bytes of data.
 */
export const JETSTREAM_HEADER_RESERVE = 256;

/**
 * What core NATS ({@link NatsPublisher} / {@link NatsSubscriber}) guarantees, for a server whose
 * `max_payload` is `maxPayload` (default 1 MiB).
 *
 * - fan-out: every subscriber without a group gets every message;
 * - competing consumers: subscribers of one `group` (a NATS queue group) share the messages;
 * - not persistent: nothing is kept for a subscriber that does not exist yet or is disconnected;
 * - ordered: messages from one publisher (one connection) arrive in the order they were sent;
 * - not acknowledged: a message handed to a subscriber that dies is gone;
 * - slow consumers lose messages, and the subscriber reports it ({@link MessagesLostError}).
 */
export function natsCoreCapabilities(maxPayload = DEFAULT_MAX_PAYLOAD): Capabilities {
  return Object.freeze({
    fanOut: true,
    competingConsumers: true,
    persistent: false,
    ordered: true,
    acknowledged: false,
    maxMessageSize: maxPayload,
    slowConsumer: 'drops-reported',
  });
}

/**
 * What JetStream ({@link JetStreamPublisher} / {@link JetStreamSubscriber}) guarantees on a
 * stream with `limits` retention, for a server whose `max_payload` is `maxPayload`.
 *
 * - fan-out: every group, and every subscriber without a group, reads the whole topic;
 * - competing consumers: members of a group share one durable consumer;
 * - persistent: messages are kept in the stream; a new group starts from the oldest one;
 * - ordered: in stream order, except that a redelivered message comes after later ones;
 * - acknowledged: a message a group member did not acknowledge is delivered again;
 * - slow consumers: the stream buffers; subscribers fetch only what they have room for.
 */
export function jetStreamCapabilities(maxPayload = DEFAULT_MAX_PAYLOAD): Capabilities {
  return Object.freeze({
    fanOut: true,
    competingConsumers: true,
    persistent: true,
    ordered: true,
    acknowledged: true,
    maxMessageSize: maxPayload - JETSTREAM_HEADER_RESERVE,
    slowConsumer: 'broker-buffers',
  });
}

/**
 * What every NATS publisher and subscriber, core and JetStream, tells traces and metrics
 * (`messaging.system`); a subscriber of a group (a queue group, a JetStream durable) adds it.
 */
export const NATS_MESSAGING: MessagingAttributes = Object.freeze({ system: 'nats' });

/** {@link natsCoreCapabilities} for a server with the default 1 MiB `max_payload`. */
export const NATS_CORE_CAPABILITIES: Capabilities = natsCoreCapabilities();

/** {@link jetStreamCapabilities} for a server with the default 1 MiB `max_payload`. */
export const JETSTREAM_CAPABILITIES: Capabilities = jetStreamCapabilities();
