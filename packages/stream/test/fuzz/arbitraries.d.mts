/** Types of arbitraries.mjs, for the TypeScript fuzz tests that import it. */
import type { EventBatch, StoreConfig, StreamEvent } from '@proxystream/protocols';
import type fastCheck from 'fast-check';
import type { Arbitrary } from 'fast-check';

export const fc: typeof fastCheck;

export const DEFAULT_SEED: number;
export const streamEvent: Arbitrary<StreamEvent>;
export const eventBatch: Arbitrary<EventBatch>;
export const serializable: Arbitrary<unknown>;
export const HEX32: RegExp;
export const hex32: Arbitrary<string>;
export const SENTINEL_TEXT: string;
export function isOutside(root: string, directory: string): boolean;

export interface FuzzSandbox {
  sandbox: string;
  storeDir: string;
  sibling: string;
  allowed: string;
  sentinels: string[];
  pathLike: Arbitrary<string>;
  storeKey(kept: string): Arbitrary<string>;
  storeConfig(): Arbitrary<StoreConfig | { kind: string; name: string; directory: unknown }>;
  damage(kept: string): Promise<string[]>;
  remove(): Promise<void>;
}
export function fuzzSandbox(): Promise<FuzzSandbox>;
