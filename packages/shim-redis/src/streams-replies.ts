import type { PulledMessage } from './pull-subscriber.js';

/**
 * What an entry without the data field is delivered as: no bytes, which no decoder accepts, so
 * the consumer reports it (`DecodeError`) like any other malformed message instead of it
 * vanishing.
 */
const MALFORMED = Buffer.alloc(0);

/** Messages of a stream reply, the ids of entries without a message, and the last id seen. */
export interface ParsedEntries {
  /**
   * Entries in reply order. One that has fields but not the data field (written by a broken
   * producer or another application) is a message of zero bytes: malformed, for the consumer to report.
   */
  readonly messages: PulledMessage[];
  /** Entries that carry no fields at all: deleted by trimming while pending (`[id, null]`). */
  readonly skipped: string[];
  /** Id of the last entry in the reply, if any. */
  readonly lastId: string | undefined;
}

function parseEntries(entries: unknown, field: string): ParsedEntries {
  const messages: PulledMessage[] = [];
  const skipped: string[] = [];
  let lastId: string | undefined;
  if (!Array.isArray(entries)) return { messages, skipped, lastId };
  for (const entry of entries as unknown[]) {
    if (!Array.isArray(entry)) continue;
    const id = String(entry[0]);
    lastId = id;
    const fields = entry[1];
    if (!Array.isArray(fields)) {
      skipped.push(id);
      continue;
    }
    let data: Buffer = MALFORMED;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (String(fields[i]) === field && Buffer.isBuffer(fields[i + 1])) {
        data = fields[i + 1] as Buffer;
        break;
      }
    }
    messages.push({ id, data });
  }
  return { messages, skipped, lastId };
}

/**
 * Parses an `XREADGROUP` reply for one stream. RESP2 nests `[[key, entries]]`; RESP3 sends a map,
 * which ioredis flattens to `[key, entries]`. `null` means nothing arrived.
 */
export function parseReadReply(reply: unknown, field: string): ParsedEntries {
  if (!Array.isArray(reply) || reply.length === 0) return parseEntries(undefined, field);
  const first = reply[0] as unknown;
  const entries = Array.isArray(first) ? (first as unknown[])[1] : reply[1];
  return parseEntries(entries, field);
}

/**
 * The `lag` of consumer group `group` in an `XINFO GROUPS` reply (a list of flat field-value
 * lists in RESP2, of maps that ioredis flattens in RESP3): `undefined` when the group is not
 * listed or the server does not report a lag (before Redis 7.0, or `nil` when it cannot tell,
 * e.g. after `XDEL` of entries the group has not read).
 */
export function parseGroupLag(reply: unknown, group: string): number | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const fields of reply as unknown[]) {
    if (!Array.isArray(fields)) continue;
    let name: string | undefined;
    let lag: unknown;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const key = String(fields[i]);
      if (key === 'name') name = String(fields[i + 1]);
      else if (key === 'lag') lag = fields[i + 1];
    }
    if (name !== group) continue;
    const value =
      typeof lag === 'number' ? lag : typeof lag === 'string' ? Number(lag) : Number.NaN;
    return Number.isInteger(value) && value >= 0 ? value : undefined;
  }
  return undefined;
}

/** Parses an `XAUTOCLAIM` reply: `[cursor, entries, deletedIds]`. */
export function parseClaimReply(reply: unknown, field: string): ParsedEntries & { cursor: string } {
  if (!Array.isArray(reply)) return { ...parseEntries(undefined, field), cursor: '0-0' };
  const parsed = parseEntries(reply[1], field);
  // Redis 6.2 lists deleted entries as [id, null] (skipped above); 7.0 lists their ids apart and
  // has already removed them from the pending list.
  return { ...parsed, cursor: String(reply[0]) };
}
