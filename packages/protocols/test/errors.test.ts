import {
  ClosedError,
  DecodeError,
  eventSubscriberBrand,
  InvalidStoreKeyError,
  InvalidTopicError,
  isAcknowledgingSubscriber,
  isEventPublisher,
  isEventSubscriber,
  isPublisher,
  isSubscriber,
  ObjectNotFoundError,
  ProxyStreamError,
  SequenceGapError,
  STORE_KEY_EXCERPT_LENGTH,
  storeKeyExcerpt,
  TopicClosedError,
} from '@proxystream/protocols';
import { describe, expect, it } from 'vitest';

describe('errors', () => {
  it('carry a stable code, their class name and the cause', () => {
    const cause = new Error('socket closed');
    const error = new DecodeError('bad envelope', { cause });
    expect(error).toBeInstanceOf(ProxyStreamError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('DECODE_FAILED');
    expect(error.name).toBe('DecodeError');
    expect(error.cause).toBe(cause);
  });

  it('name what to do in the message', () => {
    expect(new TopicClosedError('frames').message).toContain('frames');
    expect(new InvalidTopicError('a b', 'whitespace').message).toContain('whitespace');
    expect(new ObjectNotFoundError('k1').code).toBe('OBJECT_NOT_FOUND');
    expect(new ClosedError('publisher').code).toBe('CLOSED');
  });

  it('a sequence gap tells lost batches from duplicates', () => {
    const lost = new SequenceGapError('t', 'p', 3, 7);
    expect(lost.missing).toBe(4);
    expect(lost.message).toContain('4 batch(es) lost');
    const duplicate = new SequenceGapError('t', 'p', 3, 2);
    expect(duplicate.missing).toBe(-1);
    expect(duplicate.message).toContain('duplicate');
  });
});

describe('type guards', () => {
  const close = async () => {};
  const bytesSubscriber = { close, [Symbol.asyncIterator]: () => ({}) };
  const eventSubscriber = { ...bytesSubscriber, [eventSubscriberBrand]: true };

  it('tell the publisher variants apart', () => {
    expect(isPublisher({ send: close, close })).toBe(true);
    expect(isEventPublisher({ send: close, close })).toBe(false);
    expect(isEventPublisher({ sendEvents: close, close })).toBe(true);
    expect(isPublisher(null)).toBe(false);
  });

  it('tell the subscriber variants apart', () => {
    expect(isSubscriber(bytesSubscriber)).toBe(true);
    expect(isEventSubscriber(bytesSubscriber)).toBe(false);
    expect(isEventSubscriber(eventSubscriber)).toBe(true);
    expect(isSubscriber(eventSubscriber)).toBe(false);
    expect(isAcknowledgingSubscriber(bytesSubscriber)).toBe(false);
    expect(isAcknowledgingSubscriber({ ...bytesSubscriber, ack: close })).toBe(true);
  });
});

describe('InvalidStoreKeyError', () => {
  it('repeats only the start of a long key, escaped, and says how long it was', () => {
    const error = new InvalidStoreKeyError(`start-${'\0'.repeat(10_000)}`, 'not a key');
    expect(error.message.length).toBeLessThan(200);
    expect(error.message).toContain('"start-\\u0000');
    expect(error.message).toContain('(10006 characters): not a key');
    expect(error.key.startsWith('start-\0')).toBe(true);
    expect(error.key.length).toBeLessThanOrEqual(STORE_KEY_EXCERPT_LENGTH);
  });

  it('repeats a short key whole', () => {
    const error = new InvalidStoreKeyError('../etc/passwd', 'not a key');
    expect(error.message).toBe('invalid store key "../etc/passwd": not a key');
    expect(error.key).toBe('../etc/passwd');
    expect(storeKeyExcerpt('../etc/passwd')).toEqual({
      text: '../etc/passwd',
      key: '../etc/passwd',
      cut: false,
      length: 13,
    });
  });
});
