import { expect } from 'vitest';
import { ApiError } from '@tds/server';

/** The ApiError a refused call rejects with (fails the test when the call succeeds or fails otherwise). */
export async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}
