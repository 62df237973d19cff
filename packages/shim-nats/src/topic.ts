import { InvalidArgumentError, InvalidTopicError } from '@proxystream/protocols';

/** Longest topic accepted, in UTF-16 code units; the server's protocol line limit is 4 KiB. */
export const MAX_TOPIC_LENGTH = 1024;

// Whitespace and control characters would break the NATS text protocol line.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const FORBIDDEN = /[\s\u0000-\u001f\u007f]/;

function reasonToReject(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.length > MAX_TOPIC_LENGTH) return `it is longer than ${MAX_TOPIC_LENGTH} characters`;
  if (FORBIDDEN.test(name)) return 'it contains whitespace or a control character';
  if (name.includes('*') || name.includes('>')) {
    return 'it contains a NATS wildcard (* or >); subscribe to each topic by its exact name';
  }
  if (name.startsWith('.') || name.endsWith('.') || name.includes('..')) {
    return 'it has an empty token (a leading, trailing or doubled dot)';
  }
  return undefined;
}

/**
 * Checks that `topic` is a NATS subject every shim of this package can carry: not empty, no
 * wildcards (`*`, `>`), no whitespace or control characters, no empty tokens (leading, trailing
 * or doubled dots), at most {@link MAX_TOPIC_LENGTH} characters. Dots are allowed and separate
 * subject tokens as usual.
 *
 * @throws {@link InvalidTopicError} naming what is wrong.
 */
export function assertValidTopic(topic: string): void {
  const reason = typeof topic === 'string' ? reasonToReject(topic) : 'it is not a string';
  if (reason !== undefined) throw new InvalidTopicError(String(topic), reason);
}

/**
 * Checks a name that becomes one subject token or a queue group name (a subject prefix,
 * a group): the topic rules, and for `singleToken` no dots.
 *
 * @throws {@link InvalidArgumentError}
 */
export function assertValidName(what: string, name: string, singleToken = false): void {
  const reason =
    typeof name !== 'string'
      ? 'it is not a string'
      : (reasonToReject(name) ??
        (singleToken && name.includes('.') ? 'it must not contain dots' : undefined));
  if (reason !== undefined) {
    throw new InvalidArgumentError(`invalid ${what} ${JSON.stringify(name)}: ${reason}`);
  }
}
