// The operator page in real Chromium against a real `wrangler dev`: sign-in with the
// ADMIN_TOKEN, live per-mode figures and heal chart, flag changes (whole-document
// PUT) with their audit, a kv→do flip that the chat page picks up, and deleting a
// message (confirmed) that an open chat page removes at once.
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import type { FlagsResponse } from "../../src/shared/api";
import { api, listRoom, messageRow, postMessage, putFlags } from "./support/browser";
import { useBrowserHarness } from "./support/browser-harness";

// An operator migrating from the first version's KV design: every room starts on the kv path.
const harness = useBrowserHarness({ vars: { CACHE_MODE: "kv" } });

async function openPage(path: string) {
  const opened = await harness.newPage();
  await opened.page.goto(`${harness.worker.url}${path}`);
  return opened;
}

async function signIn(page: Page, token = harness.worker.adminToken): Promise<void> {
  await page.getByLabel("Admin token").fill(token);
  await page.getByLabel(/Your name/).fill("test-operator");
  await page.getByRole("button", { name: "Sign in" }).click();
}

const figure = (page: Page, label: string, mode: "kv" | "do") =>
  page.locator(`#stats tr[data-figure="${label}"] td[data-mode="${mode}"]`);

describe("operator page", () => {
  it("refuses a wrong token and keeps a good one for the tab only", async () => {
    const { page } = await openPage("/admin");
    await signIn(page, "not-the-token");
    await page.getByRole("alert").filter({ hasText: "refused" }).waitFor();
    expect(await page.locator("#dashboard").isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem("adminToken"))).toBeNull();

    await signIn(page);
    await page.locator("#stats tbody tr").first().waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem("adminToken"))).toBe(harness.worker.adminToken);
    expect(await page.evaluate(() => localStorage.getItem("adminToken"))).toBeNull();
    await page.reload();
    await page.locator("#stats tbody tr").first().waitFor();
  });

  it("shows per-mode figures and heals per minute, refreshed live", async () => {
    const { page, seen } = await openPage("/admin");
    await signIn(page);
    await figure(page, "Heal requests", "kv").waitFor();
    const before = Number(await figure(page, "Heal requests", "kv").textContent());

    // A real heal request on a kv room (the message is there, so nothing is re-added).
    const message = await postMessage(harness.worker, "stats-room", "count me");
    const heal = await api<{ readded: boolean }>(harness.worker, "/api/admin/add-to-cache", {
      method: "POST",
      body: { messageId: message.id, room: "stats-room" },
    });
    expect(heal.status).toBe(200);

    await figure(page, "Heal requests", "kv")
      .filter({ hasText: String(before + 1) })
      .waitFor({ timeout: 15_000 });
    expect(Number(await figure(page, "Heal requests", "do").textContent())).toBe(0);
    await page.locator("#chart svg rect.chart__bar--kv").first().waitFor();
    expect(seen.errors).toEqual([]);
  });

  it("saves the whole flag document from the form", async () => {
    const { page } = await openPage("/admin");
    await signIn(page);
    await page.locator("#audit li").first().waitFor();
    await page.getByLabel("Default mode").selectOption("do");
    await page.getByLabel("do percent").fill("30");
    await page.getByLabel("Room for a new override").fill("Form-Room");
    await page.getByLabel("Mode for the new override").selectOption("kv");
    await page.getByRole("button", { name: "Add override" }).click();
    await page.getByRole("button", { name: "Save flag" }).click();
    await page.getByRole("status").filter({ hasText: "Saved." }).waitFor();

    const { body } = await api<FlagsResponse>(harness.worker, "/api/admin/flags", { token: harness.worker.adminToken });
    expect(body.flags).toMatchObject({ defaultMode: "do", doPercent: 30, rooms: { "form-room": "kv" } });
    expect(body.audit[0]?.who).toBe("test-operator");
    await page.locator("#audit li.audit-entry").first().filter({ hasText: "default mode kv → do" }).waitFor();
    // Back to the defaults for the next test.
    await putFlags(harness.worker, { defaultMode: "kv", doPercent: 0, rooms: {} });
  });

  it("flips a room kv→do: the chat page shows do after its next update, and the audit lists it", async () => {
    await postMessage(harness.worker, "flip-room", "a message so the room is listed");
    const chat = await openPage("/r/flip-room?poll=1000");
    await chat.page.locator("#mode", { hasText: "kv" }).waitFor();

    const admin = await openPage("/admin");
    await signIn(admin.page);
    await admin.page.getByRole("button", { name: "Switch flip-room to do" }).click();
    await admin.page
      .locator("#audit li.audit-entry")
      .first()
      .filter({ hasText: "room flip-room: no override → do" })
      .waitFor();
    await admin.page.locator('#rooms li[data-room="flip-room"] .mode', { hasText: "do" }).waitFor();

    await chat.page.locator("#mode", { hasText: "do" }).waitFor({ timeout: 15_000 });
    await chat.page.locator("#delivery", { hasText: "live" }).waitFor({ timeout: 15_000 });
    // Now in do mode, the next message arrives by push.
    await postMessage(harness.worker, "flip-room", "pushed after the flip");
    await messageRow(chat.page, "pushed after the flip").waitFor({ timeout: 5_000 });

    // And back: the room's socket says the room left do mode, and the page polls again.
    await admin.page.getByRole("button", { name: "Switch flip-room to kv" }).click();
    await chat.page.locator("#mode", { hasText: "kv" }).waitFor({ timeout: 15_000 });
    await chat.page.locator("#delivery", { hasText: "polling" }).waitFor();
    await postMessage(harness.worker, "flip-room", "polled after flipping back");
    await messageRow(chat.page, "polled after flipping back").waitFor({ timeout: 15_000 });
    expect(chat.seen.errors).toEqual([]);
    expect(admin.seen.errors).toEqual([]);
  });

  it("deletes a message after a confirm: an open chat page removes it at once, and the audit shows who deleted what", async () => {
    const room = "mod-room";
    await putFlags(harness.worker, { defaultMode: "kv", doPercent: 0, rooms: { [room]: "do" } });
    const keep = await postMessage(harness.worker, room, "a friendly message");
    const spam = await postMessage(harness.worker, room, "buy cheap spam now");
    const chat = await openPage(`/r/${room}`);
    await chat.page.locator("#delivery", { hasText: "live" }).waitFor({ timeout: 15_000 });
    await messageRow(chat.page, "buy cheap spam now").waitFor();

    const admin = await openPage("/admin");
    await signIn(admin.page);
    await admin.page.getByRole("button", { name: `Open the messages of ${room}` }).click({ timeout: 15_000 });
    const deleteSpam = admin.page.getByRole("button", { name: `Delete message ${spam.id} by node` });

    // Cancelled (the page watcher dismisses every dialog): nothing is deleted.
    const asked = admin.page.waitForEvent("dialog");
    await deleteSpam.click();
    expect((await asked).message()).toContain("Delete this message by node from #mod-room?");
    expect((await listRoom(harness.worker, room)).comments.map((m) => m.id)).toEqual([keep.id, spam.id]);

    // Confirmed: deleted for everyone.
    admin.page.removeAllListeners("dialog");
    admin.page.once("dialog", (dialog) => void dialog.accept());
    await deleteSpam.click();
    await messageRow(chat.page, "buy cheap spam now").waitFor({ state: "detached", timeout: 5_000 });
    expect(await messageRow(chat.page, "a friendly message").count()).toBe(1);
    await admin.page.locator(`#room-messages li[data-id="${spam.id}"]`).waitFor({ state: "detached" });
    await admin.page
      .locator("#audit li.audit-entry--deletion")
      .filter({ hasText: `deleted human message ${spam.id} in #${room}` })
      .filter({ hasText: "test-operator" })
      .waitFor();
    expect((await listRoom(harness.worker, room)).comments.map((m) => m.id)).toEqual([keep.id]);
    expect(chat.seen.errors).toEqual([]);
    expect(admin.seen.errors).toEqual([]);
    await putFlags(harness.worker, { defaultMode: "kv", doPercent: 0, rooms: {} });
  });

  it("says a room is near its cap when it is opened, and not once the operator raised the cap", async () => {
    const room = "near-cap-room";
    await putFlags(harness.worker, { defaultMode: "kv", doPercent: 0, rooms: { [room]: "do" } });
    for (const text of ["one", "two", "three"]) await postMessage(harness.worker, room, text);
    const capped = await api(harness.worker, `/api/admin/rooms/${room}/limits`, {
      method: "PUT",
      body: { maxMessages: 3 },
      token: harness.worker.adminToken,
    });
    expect(capped.status).toBe(200);

    const admin = await openPage("/admin");
    await signIn(admin.page);
    await admin.page.getByRole("button", { name: `Open the messages of ${room}` }).click({ timeout: 15_000 });
    const size = admin.page.locator("#room-size");
    await size.filter({ hasText: `#${room} holds 3 messages of its cap of 3. Near its cap` }).waitFor();
    expect(await size.getAttribute("data-near-cap")).toBe("true");

    const raised = await api(harness.worker, `/api/admin/rooms/${room}/limits`, {
      method: "PUT",
      body: { maxMessages: 1000 },
      token: harness.worker.adminToken,
    });
    expect(raised.status).toBe(200);
    await admin.page.getByRole("button", { name: "Reload" }).click();
    await size.filter({ hasText: `#${room} holds 3 messages of its cap of 1,000.` }).waitFor();
    expect(await size.getAttribute("data-near-cap")).toBe("false");
    expect(admin.seen.errors).toEqual([]);
    await putFlags(harness.worker, { defaultMode: "kv", doPercent: 0, rooms: {} });
  });
});
