import { utilityProcess } from 'electron';
import type { CoreLauncher } from '../core/supervisor.js';
import type { HostToCore } from '../core/protocol.js';

/**
 * The app's launcher: the station core in an Electron utility process (a Node.js child that
 * Electron owns), so a native crash or a hang in device code cannot take the window with it.
 * Only the entry path goes into its argv; its configuration comes in the first message.
 */
export function utilityLauncher(entry: string, env: NodeJS.ProcessEnv): CoreLauncher {
  return () => {
    const child = utilityProcess.fork(entry, [], { serviceName: 'TDS station core', stdio: 'inherit', env });
    let spawned = false;
    let exited = false;
    const queued: HostToCore[] = [];
    child.once('spawn', () => {
      spawned = true;
      for (const m of queued.splice(0)) child.postMessage(m);
    });
    child.once('exit', () => {
      exited = true;
    });
    return {
      get pid() {
        return child.pid;
      },
      send(message) {
        if (exited) return;
        if (spawned) child.postMessage(message);
        else queued.push(message);
      },
      onMessage(listener) {
        child.on('message', listener);
      },
      onExit(listener) {
        // Electron reports the exit code only; a signal shows as that code.
        child.once('exit', (code) => listener(code, null));
      },
      kill(signal) {
        if (signal === 'SIGKILL' && child.pid !== undefined) {
          try {
            process.kill(child.pid, 'SIGKILL');
            return;
          } catch {
            /* already gone */
          }
        }
        child.kill();
      },
    };
  };
}
