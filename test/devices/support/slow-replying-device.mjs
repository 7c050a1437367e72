/**
 * The far end of a pty pair, acting like a board that reads slowly and answers only when a whole
 * command has arrived: it drains at most 512 bytes every 2 ms (so the host's writes keep meeting a
 * full buffer), checks that byte i of the stream is (i % 251), and after every `block` bytes answers
 * '.' followed, a fraction of a millisecond later, by a ' ' of log noise. A wrong byte is answered
 * with '!'. The noise is what makes the host's reader re-arm while its next write waits.
 *
 *   node slow-replying-device.mjs <device-path> <block>
 */
import fs from 'node:fs';

const [path, blockArg] = process.argv.slice(2);
const block = Number(blockArg);
const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
const buf = Buffer.alloc(512);
let position = 0;
let inBlock = 0;
let broken = false;

function send(text) {
  try {
    fs.writeSync(fd, Buffer.from(text, 'latin1'));
  } catch {
    // the host went away
  }
}

setInterval(() => {
  let n = 0;
  try {
    n = fs.readSync(fd, buf, 0, buf.length, null);
  } catch {
    return; // EAGAIN: nothing yet
  }
  for (let i = 0; i < n; i++) {
    if (buf[i] !== position % 251 && !broken) {
      broken = true;
      send('!');
    }
    position++;
    if (++inBlock === block) {
      inBlock = 0;
      send('.');
      setTimeout(() => send(' '), Math.random());
    }
  }
}, 2);
console.log('READY');
