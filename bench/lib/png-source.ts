// A PNG remembers what it was drawn from: a tEXt chunk holding the SHA-256 of its source
// file, so `npm test` can tell a chart that no longer matches its report.
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";

const KEYWORD = "source-sha256";
const SIGNATURE_BYTES = 8;

export const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");

/** The PNG with a tEXt chunk naming its source's hash, inserted before IEND. */
export function withSourceHash(png: Buffer, hash: string): Buffer {
  const data = Buffer.from(`${KEYWORD}\0${hash}`, "latin1");
  const typeAndData = Buffer.concat([Buffer.from("tEXt", "latin1"), data]);
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  typeAndData.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(typeAndData), 8 + data.length);
  const iend = png.length - 12;
  return Buffer.concat([png.subarray(0, iend), chunk, png.subarray(iend)]);
}

/** The source hash a PNG carries, or undefined. */
export function sourceHashOf(png: Buffer): string | undefined {
  for (let at = SIGNATURE_BYTES; at + 12 <= png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString("latin1", at + 4, at + 8);
    if (type === "tEXt") {
      const [keyword, value] = png.toString("latin1", at + 8, at + 8 + length).split("\0");
      if (keyword === KEYWORD) return value;
    }
    at += 12 + length;
  }
  return undefined;
}
