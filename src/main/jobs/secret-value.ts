import { inspect } from 'node:util';

/**
 * A secret the operator typed in answer to a job's question (e.g. a sudo password). It prints,
 * serialises and inspects as `[secret]`, so logging or snapshotting the answer by mistake cannot
 * leak it; the asking step calls `reveal()` where the value is needed.
 */
export class SecretValue {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  get length(): number {
    return this.#value.length;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [inspect.custom](): string {
    return '[secret]';
  }
}
