/**
 * The smallest CRI client that runs a pod as the kubelet does, for tests:
 * gRPC over containerd's socket (`node:http2`) with messages encoded by
 * hand (field numbers of `runtime.v1` from cri-api's api.proto). It asks
 * for a runtime handler by name, as a RuntimeClass does.
 *
 * @module
 */
import http2 from "node:http2";
import net from "node:net";

/** A protobuf field: its number and value (a nested message is a list of fields). */
export type Field = [number, string | number | boolean | Field[]];

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n > 127; n = Math.floor(n / 128)) out.push((n % 128) | 128);
  out.push(n);
  return out;
}

/**
 * Encodes a message (varints for numbers and booleans, length-delimited
 * for strings and nested messages; repeat a field number for a list).
 *
 * @param fields The fields in order.
 * @returns The wire bytes.
 *
 * @example
 * ```ts
 * import { encode } from "./cri.ts";
 * if (encode([[1, "a"]]).join() !== "10,1,97") throw new Error();
 * ```
 */
export function encode(fields: Field[]): Uint8Array {
  const out: number[] = [];
  for (const [num, value] of fields) {
    if (typeof value === "number" || typeof value === "boolean") {
      out.push(...varint(num * 8), ...varint(Number(value)));
      continue;
    }
    const bytes = typeof value === "string" ? new TextEncoder().encode(value) : encode(value);
    out.push(...varint(num * 8 + 2), ...varint(bytes.length), ...bytes);
  }
  return new Uint8Array(out);
}

/**
 * Decodes one level of a message: each field number's values (numbers for
 * varints, bytes for length-delimited fields, to decode again if nested).
 *
 * @param bytes The wire bytes.
 * @returns Values by field number.
 *
 * @example
 * ```ts
 * import { decode, encode } from "./cri.ts";
 * if (decode(encode([[7, 3]])).get(7)?.[0] !== 3) throw new Error();
 * ```
 */
export function decode(bytes: Uint8Array): Map<number, Array<number | Uint8Array>> {
  const fields = new Map<number, Array<number | Uint8Array>>();
  let at = 0;
  const readVarint = () => {
    let n = 0;
    for (let scale = 1;; scale *= 128) {
      const b = bytes[at++]!;
      n += (b & 127) * scale;
      if (b < 128) return n;
    }
  };
  while (at < bytes.length) {
    const key = readVarint();
    const list = fields.get(Math.floor(key / 8)) ?? [];
    fields.set(Math.floor(key / 8), list);
    if (key % 8 === 0) list.push(readVarint());
    else if (key % 8 === 2) {
      const length = readVarint();
      list.push(bytes.subarray(at, at + length));
      at += length;
    } else if (key % 8 === 1) at += 8;
    else if (key % 8 === 5) at += 4;
    else throw new Error(`Unexpected protobuf wire type ${key % 8}`);
  }
  return fields;
}

/** A connection to a CRI endpoint (containerd's gRPC socket). */
export class CriClient {
  #session: http2.ClientHttp2Session;

  /**
   * Connects.
   *
   * @param socket The unix socket's path.
   */
  constructor(socket: string) {
    this.#session = http2.connect("http://localhost", {
      createConnection: () => net.connect(socket),
    });
    this.#session.on("error", () => {});
  }

  /**
   * Calls a RuntimeService method.
   *
   * @param method Its name (`RunPodSandbox`).
   * @param request The request's fields.
   * @returns The response's bytes.
   * @throws {Error} With the gRPC status message when the call fails.
   */
  call(method: string, request: Field[]): Promise<Uint8Array> {
    const body = encode(request);
    const frame = new Uint8Array(5 + body.length);
    new DataView(frame.buffer).setUint32(1, body.length);
    frame.set(body, 5);
    return new Promise((resolve, reject) => {
      const req = this.#session.request({
        ":method": "POST",
        ":path": `/runtime.v1.RuntimeService/${method}`,
        "content-type": "application/grpc",
        te: "trailers",
      });
      const chunks: Uint8Array[] = [];
      let status: Record<string, unknown> = {};
      req.on("response", (h) => status = h);
      req.on("trailers", (h) => status = h);
      req.on("data", (c: Uint8Array) => chunks.push(c));
      req.on("error", reject);
      req.on("end", () => {
        if (status["grpc-status"] !== "0") {
          const why = decodeURIComponent(String(status["grpc-message"] ?? ""));
          reject(new Error(`${method}: ${why || `grpc-status ${status["grpc-status"]}`}`));
          return;
        }
        const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        chunks.reduce((at, c) => (all.set(c, at), at + c.length), 0);
        resolve(all.subarray(5));
      });
      req.end(frame);
    });
  }

  /** Closes the connection. */
  close(): void {
    this.#session.close();
  }
}
