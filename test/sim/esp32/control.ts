/**
 * The simulator's control channel: a Unix socket taking one command per line, answering each with
 * one line `OK …` or `ERR …`. A connection that sent `EVENTS` also receives `EVENT <name> <json>`
 * lines. This is the side channel for what a pseudo-terminal cannot carry (DTR/RTS) and for the
 * test's hands (buttons, USB cable, faults). Protocol: docs/esp32-simulator.md.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import type { Board } from './board.js';

function bool01(v: string, key: string): boolean {
  if (v === '1' || v.toLowerCase() === 'true') return true;
  if (v === '0' || v.toLowerCase() === 'false') return false;
  throw new Error(`${key} takes 0 or 1`);
}

export async function handleControlLine(board: Board, line: string, subscribe: () => void, stop: () => void): Promise<string> {
  const tokens = line.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) return 'ERR empty command';
  const verb = tokens[0]!.toUpperCase();
  if (tokens[0]!.includes('=')) {
    // Assignments, applied left to right: DTR=1 RTS=0 BAUD=921600 HOST=open BOOT=hold
    const lines: { dtr?: boolean; rts?: boolean } = {};
    for (const t of tokens) {
      const [k = '', v = ''] = t.split('=', 2);
      switch (k.toUpperCase()) {
        case 'DTR':
          lines.dtr = bool01(v, 'DTR');
          break;
        case 'RTS':
          lines.rts = bool01(v, 'RTS');
          break;
        case 'BAUD': {
          const baud = Number(v);
          if (!Number.isInteger(baud) || baud <= 0) throw new Error('BAUD takes a positive integer');
          board.setHostBaud(baud);
          break;
        }
        case 'HOST':
          if (v !== 'open' && v !== 'closed') throw new Error('HOST takes open or closed');
          board.setHostOpen(v === 'open');
          break;
        case 'BOOT':
          if (v !== 'hold' && v !== 'release') throw new Error('BOOT takes hold or release');
          board.setBootButton(v === 'hold');
          break;
        default:
          throw new Error(`unknown setting ${k}`);
      }
    }
    if (lines.dtr !== undefined || lines.rts !== undefined) board.setLines(lines);
    return 'OK';
  }
  switch (verb) {
    case 'PING':
      return 'OK pong';
    case 'STATUS':
      return `OK ${JSON.stringify(board.status())}`;
    case 'RESET': {
      const ms = tokens[1] ? Number(tokens[1]) : 100;
      await board.pressReset(ms);
      return 'OK';
    }
    case 'UNPLUG':
      board.unplug('control');
      return 'OK';
    case 'PLUG':
      await board.plug();
      return 'OK';
    case 'FAULT': {
      if (tokens.length < 2) return 'ERR FAULT needs a fault, e.g. FAULT unplug-at-byte=100000';
      if (tokens[1]!.toLowerCase() === 'clear') {
        board.clearFault(tokens[2] ?? 'all');
        return 'OK';
      }
      for (const spec of tokens.slice(1)) board.fault(spec);
      return 'OK';
    }
    case 'EVENTS':
      subscribe();
      return 'OK';
    case 'STOP':
      setImmediate(stop);
      return 'OK';
    default:
      return `ERR unknown command ${tokens[0]} (DTR=/RTS=/BAUD=/HOST=/BOOT=, RESET, UNPLUG, PLUG, FAULT, STATUS, EVENTS, PING, STOP)`;
  }
}

export function startControlServer(board: Board, path: string, stop: () => void): Promise<net.Server> {
  rmSync(path, { force: true });
  const subscribers = new Set<net.Socket>();
  board.onEvent((name, detail) => {
    const line = `EVENT ${name}${detail === undefined ? '' : ` ${JSON.stringify(detail)}`}\n`;
    for (const s of subscribers) s.write(line);
  });
  const server = net.createServer((socket) => {
    socket.setEncoding('utf8');
    let buffer = '';
    let chain = Promise.resolve();
    socket.on('data', (text: string) => {
      buffer += text;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        // Commands from one connection are applied in order (a reset sequence depends on it).
        chain = chain.then(async () => {
          let answer: string;
          try {
            answer = await handleControlLine(board, line, () => subscribers.add(socket), stop);
          } catch (err) {
            answer = `ERR ${(err as Error).message}`;
          }
          if (!socket.destroyed) socket.write(`${answer}\n`);
        });
      }
    });
    socket.on('close', () => subscribers.delete(socket));
    socket.on('error', () => subscribers.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}
