/** What replaces a credential in text that may reach a log. */
export const REDACTED = '[redacted]';

const USER_INFO = /^((?:[a-z][a-z0-9+.-]*:\/\/)?)[^/@\s]*@/i;
const USER_INFO_ANYWHERE = /\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi;

/**
 * `server` (a URL or `host:port`) without its `user:password@` or `token@` part, for error
 * messages and for store configs that travel over the wire.
 *
 * @example
 * ```ts
 * withoutUserInfo('redis://app:s3cret@127.0.0.1:6380/0'); // 'redis://127.0.0.1:6380/0'
 * ```
 */
export function withoutUserInfo(server: string): string {
  return server.replace(USER_INFO, '$1');
}

/** `text` with the user information of every URL in it removed (a message, a client's error text). */
export function redactUrls(text: string): string {
  return text.replace(USER_INFO_ANYWHERE, '$1');
}

/**
 * `value` as JSON for an error message, with the user information of every URL in its strings
 * removed.
 */
export function redactedJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'string' ? redactUrls(withoutUserInfo(item)) : item,
  );
}
