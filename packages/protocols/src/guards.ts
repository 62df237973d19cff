import type {
  AcknowledgingSubscriber,
  EventPublisher,
  EventSubscriber,
  Publisher,
  Subscriber,
} from './messaging.js';

function hasMethod(value: unknown, name: string): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>)[name] === 'function'
  );
}

/** True when `value` sends bytes ({@link Publisher}). */
export function isPublisher(value: unknown): value is Publisher {
  return hasMethod(value, 'send') && hasMethod(value, 'close');
}

/** True when `value` sends structured batches ({@link EventPublisher}). */
export function isEventPublisher(value: unknown): value is EventPublisher {
  return hasMethod(value, 'sendEvents') && hasMethod(value, 'close');
}

/** True when `value` yields structured batches ({@link EventSubscriber}); such subscribers carry a brand. */
export function isEventSubscriber(value: unknown): value is EventSubscriber {
  return (
    hasMethod(value, 'close') &&
    (value as { [eventSubscriberBrand]?: unknown })[eventSubscriberBrand] === true
  );
}

/** True when `value` yields bytes ({@link Subscriber}) rather than event batches. */
export function isSubscriber(value: unknown): value is Subscriber {
  return (
    hasMethod(value, 'close') &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function' &&
    !isEventSubscriber(value)
  );
}

/** True when `value` acknowledges messages ({@link AcknowledgingSubscriber}). */
export function isAcknowledgingSubscriber(value: unknown): value is AcknowledgingSubscriber {
  return isSubscriber(value) && hasMethod(value, 'ack');
}

/**
 * Brand an {@link EventSubscriber} sets to `true` so that {@link isEventSubscriber} can tell it from
 * a byte {@link Subscriber} (both are async iterables with `close`).
 */
export const eventSubscriberBrand: unique symbol = Symbol.for('proxystream.eventSubscriber');
