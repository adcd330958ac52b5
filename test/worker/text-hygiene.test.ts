// The name and text cleaner (src/shared/text-hygiene.ts) and the schemas that apply it
// to every name and text that enters (HTTP posts, socket sends, bot replies).
import { describe, expect, it } from "vitest";
import { cleanName, cleanText } from "../../src/shared/text-hygiene";
import { authorSchema, describeZodError, sendFrameSchema, textSchema } from "../../src/shared/schemas";

const BIDI = [
  "\u202a",
  "\u202b",
  "\u202c",
  "\u202d",
  "\u202e",
  "\u2066",
  "\u2067",
  "\u2068",
  "\u2069",
  "\u200e",
  "\u200f",
  "\u061c",
];
const ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"];
const C0 = Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(i));
const C1_AND_DEL = Array.from({ length: 0x21 }, (_, i) => String.fromCharCode(0x7f + i));

describe("cleanName", () => {
  it.each(
    [...BIDI, ...ZERO_WIDTH, ...C0, ...C1_AND_DEL].map((c) => [
      `U+${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
      c,
    ]),
  )("removes %s from inside a name", (_, c) => {
    expect(cleanName(`ad${c}min`)).toBe("admin");
  });

  it("undoes a right-to-left override that would show 'admin' from 'nimda'", () => {
    expect(cleanName("\u202enimda")).toBe("nimda");
  });

  it("keeps letters of every script, spaces between words, and emoji sequences", () => {
    expect(cleanName("  Zoë 李 محمد  ")).toBe("Zoë 李 محمد");
    expect(cleanName("dev 👩\u200d💻 and 🏳\ufe0f\u200d🌈")).toBe("dev 👩\u200d💻 and 🏳\ufe0f\u200d🌈");
    expect(cleanName("a\u200d💻")).toBe("a💻");
  });

  it("leaves nothing of a name made only of invisible characters", () => {
    expect(cleanName(["\u200b", "\u202e", "\t", "\n", "\u0000", "\u0085", "\ufeff", " "].join(""))).toBe("");
  });
});

describe("cleanText", () => {
  it("keeps tab and newline, drops carriage return and every other control", () => {
    expect(cleanText("line 1\r\nline\t2\u0007\u0000\u009b")).toBe("line 1\nline\t2");
  });

  it("removes bidi and zero-width marks but keeps emoji sequences", () => {
    expect(cleanText("pay \u202eRLO\u202c here\u200b now 👨\u200d👩\u200d👧")).toBe(
      "pay RLO here now 👨\u200d👩\u200d👧",
    );
  });
});

describe("schemas apply the cleaner", () => {
  it("refuse a name or text empty once cleaned, with a clear error", () => {
    const name = authorSchema.safeParse("\u200b\u202e\u2066");
    expect(name.success).toBe(false);
    expect(describeZodError(name.error!)).toBe(
      "author must not be empty (control and invisible characters are removed)",
    );
    const text = textSchema.safeParse("\u200b\r\n\u0000");
    expect(text.success).toBe(false);
    expect(describeZodError(text.error!)).toBe("text must not be empty (control and invisible characters are removed)");
  });

  it("count the limits on the cleaned value", () => {
    expect(authorSchema.parse(`${"a".repeat(40)}${"\u200b".repeat(10)}`)).toBe("a".repeat(40));
    expect(authorSchema.safeParse("a".repeat(41)).success).toBe(false);
  });

  it("clean a socket send frame's text and author", () => {
    const frame = sendFrameSchema.parse({
      type: "send",
      id: "1761938419272-bkf6kq2ca",
      text: "hi\u202e",
      author: "bob\u200b",
    });
    expect(frame).toMatchObject({ text: "hi", author: "bob" });
  });
});
