// The bot cleans a model's reply as the Worker will (src/shared/text-hygiene.ts): bidi
// and zero-width marks and controls are gone before it posts, and a reply made only of
// them is a failed generation (the message is marked failed), never a post refused with 400.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OllamaResponder } from "../../bot/responder";
import { startOllamaStub, type OllamaStub } from "./support/ollama-stub";

let reply = "";
let stub: OllamaStub;
beforeAll(async () => {
  stub = await startOllamaStub({ model: "evil\u202emodel", reply: () => reply });
});
afterAll(() => stub.stop());

const turns = [{ role: "user" as const, content: "ann: hi" }];
const options = { think: "off" as const, canThink: false, pull: false, log: () => {} };

describe("the bot's replies", () => {
  it("are cleaned of controls and invisible marks before they are posted", async () => {
    reply = "hello\u200b \u202ethere\u202c\r\nsecond\u0007 line";
    const responder = new OllamaResponder(stub.url, stub.model, options);
    expect(await responder.reply(turns, new AbortController().signal)).toBe("hello there\nsecond line");
    expect(responder.author).toBe("bot (evilmodel)");
  });

  it("fail as empty when nothing visible is left", async () => {
    reply = "\u200b\u202e\u2066\u0000\r\n";
    const responder = new OllamaResponder(stub.url, stub.model, options);
    await expect(responder.reply(turns, new AbortController().signal)).rejects.toThrow("returned an empty reply");
  });
});
