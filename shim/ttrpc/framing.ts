// ttrpc's frame: a 10-byte header, then the message.
//
//   0        4        8    9    10
//   +--------+--------+----+----+-------------
//   | length | stream |type|flag| message (length bytes, protobuf)
//   +--------+--------+----+----+-------------
//   length, stream: big-endian uint32.  Clients use odd stream ids, one per
//   call.  type: 1 request, 2 response, 3 data (streams; not used here).
import { ChunkQueue } from '../framing/chunk-queue.js';

export const HEADER_SIZE = 10;
export const MAX_MESSAGE = 4 << 20;

export const enum FrameType {
  Request = 1,
  Response = 2,
  Data = 3,
}

export interface Frame {
  stream: number;
  type: number;
  flags: number;
  payload: Buffer;
}

export function encodeFrame(stream: number, type: FrameType, payload: Buffer, flags = 0): Buffer {
  if (payload.length > MAX_MESSAGE) throw new Error(`ttrpc: message of ${payload.length} bytes is over the ${MAX_MESSAGE}-byte limit`);
  const head = Buffer.alloc(HEADER_SIZE);
  head.writeUInt32BE(payload.length, 0);
  head.writeUInt32BE(stream >>> 0, 4);
  head.writeUInt8(type, 8);
  head.writeUInt8(flags, 9);
  return Buffer.concat([head, payload]);
}

/** Splits a byte stream into frames; push() returns the whole frames received so far. */
export class FrameReader {
  readonly #bytes = new ChunkQueue();

  /** Bytes held for frames not yet whole. */
  get buffered(): number {
    return this.#bytes.length;
  }

  push(chunk: Buffer): Frame[] {
    const q = this.#bytes;
    q.push(chunk);
    const frames: Frame[] = [];
    while (q.length >= HEADER_SIZE) {
      const length = q.front(HEADER_SIZE).readUInt32BE(0);
      if (length > MAX_MESSAGE) throw new Error(`ttrpc: peer sent a frame of ${length} bytes, over the ${MAX_MESSAGE}-byte limit`);
      if (q.length < HEADER_SIZE + length) break;
      const whole = q.front(HEADER_SIZE + length);
      frames.push({
        stream: whole.readUInt32BE(4),
        type: whole.readUInt8(8),
        flags: whole.readUInt8(9),
        payload: whole.subarray(HEADER_SIZE),
      });
      q.consume(HEADER_SIZE + length);
    }
    return frames;
  }
}
