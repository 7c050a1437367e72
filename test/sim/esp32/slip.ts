/** SLIP framing (RFC 1055) as the ESP32 serial bootloader uses it: 0xC0 ends, 0xDB escapes. */
export const END = 0xc0;
export const ESC = 0xdb;
export const ESC_END = 0xdc;
export const ESC_ESC = 0xdd;

export function slipEncode(payload: Uint8Array): Uint8Array {
  const out: number[] = [END];
  for (const b of payload) {
    if (b === END) out.push(ESC, ESC_END);
    else if (b === ESC) out.push(ESC, ESC_ESC);
    else out.push(b);
  }
  out.push(END);
  return Uint8Array.from(out);
}

/**
 * Streaming SLIP decoder. Bytes outside a frame are ignored (a real ROM sees line noise there);
 * an invalid escape drops the frame being decoded.
 */
export class SlipDecoder {
  private frame: number[] | undefined;
  private escaped = false;

  constructor(private readonly onFrame: (frame: Uint8Array) => void) {}

  push(chunk: Uint8Array): void {
    for (const b of chunk) {
      if (this.frame === undefined) {
        if (b === END) this.frame = [];
        continue;
      }
      if (this.escaped) {
        this.escaped = false;
        if (b === ESC_END) this.frame.push(END);
        else if (b === ESC_ESC) this.frame.push(ESC);
        else this.frame = undefined; // invalid escape: drop
        continue;
      }
      if (b === ESC) this.escaped = true;
      else if (b === END) {
        // C0 C0 = end of one frame and start of the next; empty frames are ignored.
        if (this.frame.length > 0) this.onFrame(Uint8Array.from(this.frame));
        this.frame = [];
      } else this.frame.push(b);
    }
  }

  reset(): void {
    this.frame = undefined;
    this.escaped = false;
  }
}
