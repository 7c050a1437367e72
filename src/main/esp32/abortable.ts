/** Racing esptool-js calls against cancel and unplug, and bounding calls that have no limit of their own. */

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** Races an esptool operation against unplug and cancel; on cancel, `onAbort` closes the port so esptool gives up. */
export function race<T>(p: Promise<T>, unplugged: Promise<never>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  p.catch(() => undefined); // the loser may reject later
  if (signal.aborted) {
    onAbort();
    return Promise.reject(abortError());
  }
  return new Promise<T>((resolve, reject) => {
    const abort = (): void => {
      onAbort();
      reject(abortError());
    };
    signal.addEventListener('abort', abort, { once: true });
    Promise.race([p, unplugged]).then(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(e);
      },
    );
  });
}

export function abortError(): Error {
  const e = new Error('cancelled');
  e.name = 'AbortError';
  return e;
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref())]);
}
