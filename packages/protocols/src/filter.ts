import type { Metadata } from './events.js';

/**
 * Decides from an object's metadata whether to drop it: `true` drops the event (the ProxyStore
 * convention). Filters are plain functions; combinators live in `@proxystream/stream`.
 */
export type Filter = (metadata: Metadata) => boolean;
