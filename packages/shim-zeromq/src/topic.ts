import { InvalidTopicError } from '@proxystream/protocols';

/** Longest topic name, in UTF-8 bytes. */
export const MAX_TOPIC_LENGTH = 255;

/**
 * Throws {@link InvalidTopicError} unless `topic` is a valid ZeroMQ shim topic: 1 to
 * {@link MAX_TOPIC_LENGTH} UTF-8 bytes without a NUL character (the shim ends the topic frame
 * with NUL, which makes ZeroMQ's prefix subscriptions match whole topics only).
 */
export function assertValidTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0) {
    throw new InvalidTopicError(String(topic), 'a topic must be a non-empty string');
  }
  if (topic.includes('\0')) {
    throw new InvalidTopicError(topic, 'a topic must not contain NUL');
  }
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_LENGTH) {
    throw new InvalidTopicError(topic, `a topic has at most ${MAX_TOPIC_LENGTH} UTF-8 bytes`);
  }
}
