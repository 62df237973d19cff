import { InvalidTopicError } from '@proxystream/protocols';

const MAX_TOPIC_LENGTH = 1024;
// Control characters make topics unreadable in logs and unportable to real brokers.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to match them
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * Checks a topic of the brokers inside one process (the in-process broker and the worker-threads
 * shim): a non-empty string of at most 1 024 characters without control characters, so that a
 * topic that works here also reads well in logs and works on a real broker.
 * @throws {@link InvalidTopicError} otherwise.
 */
export function assertLocalTopic(topic: string): void {
  // A producer sends to the same few topics over and over: the last one that passed is checked
  // by identity (a string never changes), not scanned again for every message.
  if (topic === lastValid) return;
  if (typeof topic !== 'string' || topic.length === 0) {
    throw new InvalidTopicError(String(topic), 'a topic is a non-empty string');
  }
  if (topic.length > MAX_TOPIC_LENGTH) {
    throw new InvalidTopicError(topic, `longer than ${MAX_TOPIC_LENGTH} characters`);
  }
  if (CONTROL_CHARACTERS.test(topic)) {
    throw new InvalidTopicError(topic, 'control characters are not allowed');
  }
  lastValid = topic;
}

/** The topic {@link assertLocalTopic} passed last. */
let lastValid: string | undefined;
