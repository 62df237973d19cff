import { InvalidTopicError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { assertValidTopic, MAX_TOPIC_LENGTH } from '../src/index.js';

describe('topic validation', () => {
  it('accepts plain and dotted topics', () => {
    for (const topic of ['frames', 'camera.left', 'a-b_c.d1', 'x'.repeat(MAX_TOPIC_LENGTH)]) {
      expect(() => assertValidTopic(topic)).not.toThrow();
    }
  });

  const bad: Array<[string, string]> = [
    ['', 'empty'],
    ['a*', 'a wildcard'],
    ['a.*.b', 'a token wildcard'],
    ['a.>', 'a tail wildcard'],
    ['a b', 'a space'],
    ['a\tb', 'a tab'],
    ['a\r\nPUB x 1', 'a protocol injection'],
    ['.a', 'a leading dot'],
    ['a.', 'a trailing dot'],
    ['a..b', 'a doubled dot'],
    ['x'.repeat(MAX_TOPIC_LENGTH + 1), 'too long'],
  ];
  for (const [topic, what] of bad) {
    it(`rejects a topic with ${what}`, () => {
      expect(() => assertValidTopic(topic)).toThrow(InvalidTopicError);
    });
  }
});
