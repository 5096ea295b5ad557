/** Maps any error thrown in a route to a status, a message safe to show, and an optional Retry-After. */
export interface ErrorStatus {
  status: number;
  message: string;
  retryAfter?: number;
}

interface Shaped {
  statusCode?: number;
  retryAfterS?: number;
  code?: string;
  validation?: unknown;
  message?: string;
}

export function errorStatus(err: unknown): ErrorStatus {
  const e = (err ?? {}) as Shaped;
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500;
  if (status >= 500 && e.retryAfterS === undefined) {
    // 5xx details can leak internals; the log has them.
    return { status, message: 'internal error' };
  }
  let message = e.message ?? 'error';
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = 'request body is larger than the limit (ROOTLINE_MAX_BODY_BYTES)';
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') message = `unsupported Content-Type; ${message}`;
  return { status, message, ...(e.retryAfterS !== undefined ? { retryAfter: e.retryAfterS } : {}) };
}
