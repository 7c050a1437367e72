// Entry of the station core's own process: an Electron utilityProcess (the app) or a Node child
// started with child_process.fork (web mode). Serial ports, esptool-js, ssh2 and SQLite live here,
// so a native crash or a hang in device code cannot freeze or kill the UI's process.
import { runCore, type CoreChannel } from './core-runtime.js';

/** Electron gives a utility process `process.parentPort`; a forked Node child has `process.send`. */
interface ParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
}

function channel(): CoreChannel | undefined {
  const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
  if (parentPort) {
    return {
      send: (m) => parentPort.postMessage(m),
      onMessage: (l) => parentPort.on('message', (e) => l(e.data)),
      // Electron ends its utility processes with the app; nothing to watch.
      onDisconnect: () => undefined,
    };
  }
  if (process.send) {
    return {
      send: (m) => {
        // The host may be gone already (then 'disconnect' stops this process).
        if (process.connected) process.send!(m);
      },
      onMessage: (l) => process.on('message', l),
      onDisconnect: (l) => process.on('disconnect', l),
    };
  }
  return undefined;
}

const ch = channel();
if (!ch) {
  console.error('the station core runs under its host (tds-station serve, or the app); it has no channel to one here');
  process.exit(2);
} else {
  // Ctrl+C in a terminal reaches the whole process group: the host stops this core in order (jobs
  // cancelled, database closed); dying on the signal first would look like a crash to the host.
  process.on('SIGINT', () => undefined);
  runCore(ch, (code) => process.exit(code));
}
