import { InvalidInputError } from './errors.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- wire objects from protobufjs or JSON, checked as read */
/** A repeated field: absent is empty, anything but an array is refused. */
export function list(v: unknown, what: string): any[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidInputError(`${what} must be a list`);
  return v;
}
