/** Client side of the simulator's control channel (see control.ts / docs/esp32-simulator.md). */
import net from 'node:net';

export class ControlClient {
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private readonly pending: { resolve(line: string): void; reject(err: Error): void }[] = [];
  private readonly eventListeners = new Set<(name: string, detail: unknown) => void>();
  private subscribed = false;
  private buffer = '';

  constructor(readonly path: string) {}

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(this.path);
      s.setEncoding('utf8');
      s.once('connect', () => {
        this.socket = s;
        this.connecting = undefined;
        resolve(s);
      });
      s.once('error', (err) => {
        this.connecting = undefined;
        reject(new Error(`simulator control channel ${this.path}: ${err.message}`));
      });
      s.on('data', (text: string) => this.onData(text));
      s.on('close', () => {
        this.socket = undefined;
        this.subscribed = false;
        for (const p of this.pending.splice(0)) p.reject(new Error('simulator control channel closed'));
      });
    });
    return this.connecting;
  }

  private onData(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.startsWith('EVENT ')) {
        const m = /^EVENT (\S+)(?: (.*))?$/.exec(line);
        if (m) {
          let detail: unknown;
          try {
            detail = m[2] === undefined ? undefined : JSON.parse(m[2]);
          } catch {
            detail = m[2];
          }
          for (const l of this.eventListeners) l(m[1]!, detail);
        }
        continue;
      }
      this.pending.shift()?.resolve(line);
    }
  }

  /** Sends one command; resolves with the text after `OK`, rejects with the `ERR` message. */
  async request(line: string): Promise<string> {
    if (line.includes('\n')) throw new Error('one command per request');
    const socket = await this.connect();
    const answer = await new Promise<string>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      socket.write(`${line}\n`);
    });
    if (answer.startsWith('OK')) return answer.slice(2).trim();
    throw new Error(`simulator refused "${line}": ${answer.replace(/^ERR\s*/, '')}`);
  }

  /** Board events (plugged, unplugged, mode, mqtt, …); subscribes on first use. */
  async onEvent(listener: (name: string, detail: unknown) => void): Promise<() => void> {
    this.eventListeners.add(listener);
    if (!this.subscribed) {
      this.subscribed = true;
      await this.request('EVENTS');
    }
    return () => this.eventListeners.delete(listener);
  }

  close(): void {
    this.socket?.end();
    this.socket = undefined;
  }
}
