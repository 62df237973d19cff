import { AbortedError, InvalidArgumentError, TimeoutError } from '@proxystream/protocols';
import {
  abortable,
  brokerAddress,
  nonNegative,
  oneOf,
  positiveInteger,
  positiveNumber,
  redactedJson,
  redactUrls,
  settledWithin,
  settleWithin,
  throwIfAborted,
  withoutUserInfo,
  withTimeout,
} from '@proxystream/protocols/kit';
import { describe, expect, it } from 'vitest';

const never = new Promise<never>(() => {});

describe('option checks', () => {
  it('return the value or the fallback, and name the option when they refuse', () => {
    expect(positiveInteger(undefined, 'maxInFlightMessages', 16)).toBe(16);
    expect(positiveInteger(3, 'maxInFlightMessages', 16)).toBe(3);
    for (const bad of [0, -1, 1.5, Number.NaN, '3', Number.POSITIVE_INFINITY]) {
      expect(() => positiveInteger(bad, 'maxInFlightMessages', 16)).toThrow(InvalidArgumentError);
    }
    expect(() => positiveInteger(0, 'maxInFlightMessages', 16)).toThrow(/maxInFlightMessages/);
    expect(positiveNumber(0.5, 'lingerMs', 1)).toBe(0.5);
    expect(() => positiveNumber(0, 'lingerMs', 1)).toThrow(InvalidArgumentError);
    expect(nonNegative(0, 'timeoutMs', 5)).toBe(0);
    expect(nonNegative(undefined, 'timeoutMs', undefined)).toBeUndefined();
    expect(() => nonNegative(-1, 'timeoutMs', 5)).toThrow(/timeoutMs must be a number >= 0/);
    expect(oneOf(undefined, 'start', ['beginning', 'now'] as const, 'now')).toBe('now');
    expect(() => oneOf('end', 'start', ['beginning', 'now'] as const, 'now')).toThrow(
      "start must be one of 'beginning', 'now', got end",
    );
  });
});

describe('timeouts', () => {
  it('withTimeout passes the outcome through, or rejects with TimeoutError', async () => {
    expect(await withTimeout(Promise.resolve(1), 1000, 'x')).toBe(1);
    await expect(withTimeout(Promise.reject(new Error('no')), 1000, 'x')).rejects.toThrow('no');
    const late = withTimeout(never, 10, 'the flush').catch((error: unknown) => error);
    const error = await late;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).message).toBe('the flush did not finish within 10 ms');
  });

  it('settleWithin says why a wait ended; settledWithin never rejects', async () => {
    expect(await settleWithin(Promise.resolve(), 1000)).toBeUndefined();
    expect(await settleWithin(never, 10)).toBe('timeout');
    const controller = new AbortController();
    const waiting = settleWithin(never, 10_000, controller.signal);
    controller.abort();
    expect(await waiting).toBe('aborted');
    await expect(settleWithin(Promise.reject(new Error('bad')), 1000)).rejects.toThrow('bad');
    expect(await settledWithin(Promise.reject(new Error('bad')), 1000)).toBe(true);
    expect(await settledWithin(never, 10)).toBe(false);
  });
});

describe('signals', () => {
  it('throwIfAborted and abortable reject with AbortedError', async () => {
    expect(() => throwIfAborted(AbortSignal.abort())).toThrow(AbortedError);
    expect(() => throwIfAborted(undefined)).not.toThrow();
    await expect(abortable(never, AbortSignal.abort())).rejects.toBeInstanceOf(AbortedError);
    const controller = new AbortController();
    const waiting = abortable(never, controller.signal);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    expect(await abortable(Promise.resolve(2), new AbortController().signal)).toBe(2);
  });
});

describe('redaction', () => {
  it('removes user information from URLs and from text that holds them', () => {
    expect(withoutUserInfo('redis://app:s3cret@127.0.0.1:6380/0')).toBe('redis://127.0.0.1:6380/0');
    expect(withoutUserInfo('token@127.0.0.1:4223')).toBe('127.0.0.1:4223');
    expect(redactUrls('connect to nats://u:p@127.0.0.1:4224 failed')).toBe(
      'connect to nats://127.0.0.1:4224 failed',
    );
    const json = redactedJson({ servers: ['nats://u:pw@127.0.0.1:4222'] });
    expect(json).toBe('{"servers":["nats://127.0.0.1:4222"]}');
    expect(json).not.toContain('pw');
  });

  it('brokerAddress reads the variable, else the local default', () => {
    const broker = {
      name: 'redis',
      variable: 'REDIS_URL',
      defaultAddress: 'redis://127.0.0.1:6379',
    };
    expect(brokerAddress(broker, {})).toBe('redis://127.0.0.1:6379');
    expect(brokerAddress(broker, { REDIS_URL: 'redis://127.0.0.1:7000' })).toBe(
      'redis://127.0.0.1:7000',
    );
  });
});
