import { InvalidTopicError } from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';
import { assertValidTopic, MAX_TOPIC_BYTES } from '../src/index.js';

describe('topic validation', () => {
  it.each(['frames', 'app:frames.left', 'a-b_c/d', 'émission', '📷', 'x'.repeat(MAX_TOPIC_BYTES)])(
    'accepts %j',
    (topic) => {
      expect(() => assertValidTopic(topic)).not.toThrow();
    },
  );

  it.each([
    ['', 'empty'],
    ['a b', 'space'],
    ['a\tb', 'tab'],
    ['a\nb', 'newline'],
    ['a\u0000b', 'NUL'],
    ['a\u200bb', 'zero-width space'],
    ['a\u00a0b', 'no-break space'],
    ['news.*', 'glob star'],
    ['what?', 'glob question mark'],
    ['[abc]', 'glob class'],
    ['a\\b', 'backslash'],
    ['{tag}x', 'hash tag'],
    ['\ud800', 'lone surrogate'],
    ['é'.repeat(MAX_TOPIC_BYTES / 2 + 1), 'too many UTF-8 bytes'],
  ])('rejects %j (%s) with InvalidTopicError', (topic) => {
    expect(() => assertValidTopic(topic)).toThrow(InvalidTopicError);
  });
});
