/** Input that breaks a rule: the whole request is refused with this status and nothing of it is written. */
export class InvalidInputError extends Error {
  constructor(
    message: string,
    readonly statusCode: 400 | 413 | 415 | 422 = 400,
  ) {
    super(message);
    this.name = 'InvalidInputError';
  }
}
