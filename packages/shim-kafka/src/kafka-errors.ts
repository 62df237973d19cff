import {
  BrokerError,
  InvalidTopicError,
  MessageTooLargeError,
  ProxyStreamError,
} from '@proxystream/protocols';

/** Broker error types meaning "this record batch is too big". */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/**
 * The kafkajs protocol error type (`'MESSAGE_TOO_LARGE'`, `'UNKNOWN_TOPIC_OR_PARTITION'`…) inside
 * `error`, looking through the retry wrapper's `cause` and an aggregate's `errors`.
 */
export function kafkaErrorType(error: unknown, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 5) return undefined;
  const { type, cause, errors } = error as { type?: unknown; cause?: unknown; errors?: unknown };
  if (typeof type === 'string') return type;
  if (Array.isArray(errors)) {
    for (const inner of errors) {
      const found = kafkaErrorType(inner, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return kafkaErrorType(cause, depth + 1);
}

/** Error types of an offset commit made by a member the group has moved on from. */
const STALE_MEMBERSHIP = new Set([
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'REBALANCE_IN_PROGRESS',
]);

/**
 * True when the coordinator refused a request because the member's generation is not the
 * group's (a rebalance the member has not rejoined yet, or a session that expired): kafkajs
 * rejoins by itself, and the request can be made again in the new generation.
 */
export function isStaleMembership(error: unknown): boolean {
  const type = kafkaErrorType(error);
  return type !== undefined && STALE_MEMBERSHIP.has(type);
}

/** True when the broker rejected a record batch as larger than `message.max.bytes`. */
export function isTooLarge(error: unknown): boolean {
  const type = kafkaErrorType(error);
  return type !== undefined && TOO_LARGE.has(type);
}

/**
 * Turns a kafkajs error into the shim's typed errors: an invalid topic into
 * {@link InvalidTopicError}, anything else into {@link BrokerError} with the client error as
 * `cause`. Errors that are already typed pass through.
 */
export function brokerError(what: string, error: unknown, topic?: string): ProxyStreamError {
  if (error instanceof ProxyStreamError) return error;
  const type = kafkaErrorType(error);
  if (
    topic !== undefined &&
    (type === 'INVALID_TOPIC_EXCEPTION' || type === 'TOPIC_AUTHORIZATION_FAILED')
  ) {
    return new InvalidTopicError(topic, `the broker rejected it (${type})`, { cause: error });
  }
  const reason = error instanceof Error ? error.message : String(error);
  const hint =
    type === 'UNKNOWN_TOPIC_OR_PARTITION'
      ? '; create the topic first (createKafkaTopics) or pass createTopics: true'
      : '';
  return new BrokerError(`${what}: ${reason}${type ? ` (${type})` : ''}${hint}`, { cause: error });
}

/** A {@link MessageTooLargeError} for a batch the broker refused, or `undefined` for other errors. */
export function tooLargeError(
  error: unknown,
  size: number,
  limit: number,
): MessageTooLargeError | undefined {
  return isTooLarge(error) ? new MessageTooLargeError(size, limit, { cause: error }) : undefined;
}
