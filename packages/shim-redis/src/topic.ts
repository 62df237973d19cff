import { InvalidTopicError } from '@proxystream/protocols';

/** Longest topic name the Redis shims accept, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 1024;

// Whitespace and control characters break `redis-cli` and log lines; `*?[]\` are PSUBSCRIBE /
// SCAN glob syntax, so a pattern subscriber or key scan would match more than meant; `{}` are
// Redis Cluster hash tags, which the queue shim uses to keep a topic's companion keys in its slot.
// Lone surrogates (\p{Cs}) would not survive the UTF-8 round trip to Redis and back.
const FORBIDDEN = /[\s\p{Cc}\p{Cf}\p{Cs}*?[\]\\{}]/u;

/**
 * Checks that `topic` is safe as a Redis channel, list key and stream key, so that a topic valid
 * on one Redis shim is valid on all three: 1 to {@link MAX_TOPIC_BYTES} UTF-8 bytes, no
 * whitespace or control characters, none of the glob characters `*?[]\` and no braces `{}`.
 * @throws {@link InvalidTopicError} naming the reason.
 *
 * @example
 * ```ts
 * assertValidTopic('frames.camera-1'); // passes
 * assertValidTopic('frames.*'); // throws InvalidTopicError: glob characters are not allowed
 * ```
 */
export function assertValidTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length === 0) {
    throw new InvalidTopicError(String(topic), 'a topic must be a non-empty string');
  }
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) {
    throw new InvalidTopicError(
      topic.length > 64 ? `${topic.slice(0, 64)}…` : topic,
      `longer than ${MAX_TOPIC_BYTES} UTF-8 bytes`,
    );
  }
  const match = FORBIDDEN.exec(topic);
  if (match !== null) {
    throw new InvalidTopicError(
      topic,
      `character ${JSON.stringify(match[0])} is not allowed (no whitespace, control characters, glob characters *?[]\\ or braces {})`,
    );
  }
}
