// Thinking models (qwen3, deepseek-r1, gpt-oss, …) reason before they answer. Ollama sends the
// reasoning apart (`message.thinking`) when it knows the model's format, and inside the content
// as <think>…</think> when it does not. Either way it reaches the room only when asked for.
import { MAX_TEXT } from "../src/shared/message";
import { cleanText } from "../src/shared/text-hygiene";

/** BOT_THINK: off (the default) sends `think: false`; on, or a level for models that take one. */
export type ThinkSetting = "off" | "on" | "low" | "medium" | "high";
export const THINK_SETTINGS: readonly ThinkSetting[] = ["off", "on", "low", "medium", "high"];

/** The `think` value of an Ollama chat request for a model that can (or cannot) think. */
export function thinkParameter(setting: ThinkSetting, canThink: boolean): boolean | "low" | "medium" | "high" {
  // `think: true` on a model without the capability is a 400; `false` is accepted by every model.
  if (setting === "off" || !canThink) return false;
  return setting === "on" ? true : setting;
}

const THINK_BLOCK = /<think>([\s\S]*?)(?:<\/think>|$)/g;

/** Splits reasoning written into the content as <think>…</think> (an unclosed one runs to the end) from the answer. */
export function splitThinking(content: string): { thinking: string; answer: string } {
  const thinking: string[] = [];
  const answer = content.replace(THINK_BLOCK, (_block, inner: string) => {
    thinking.push(inner.trim());
    return "";
  });
  return { thinking: thinking.filter(Boolean).join("\n\n"), answer: answer.trim() };
}

/**
 * The text posted to the room: the answer alone, or (BOT_THINK on) the reasoning first,
 * cut short so the answer always fits in one message.
 */
export function replyText(answer: string, thinking: string, showThinking: boolean): string {
  if (!showThinking || !thinking) return clip(answer, MAX_TEXT);
  const tail = `\n\nAnswer:\n${answer}`;
  const room = MAX_TEXT - "Thinking:\n".length - tail.length;
  if (room < 20) return clip(answer, MAX_TEXT);
  return `Thinking:\n${clip(thinking, room)}${tail}`;
}

/** The end of the content when it may be a <think> or </think> tag still arriving: held back until the next chunk says. */
const PARTIAL_TAG = /<(\/?(t(h(i(nk?)?)?)?)?)?$/;

/**
 * The reply as viewers see it while the model writes (streaming): the answer so far, cleaned
 * like the reply, or (BOT_THINK on) the reasoning so far and then the answer, as `replyText`
 * lays them out. It only grows while the model writes (a tag arriving in pieces is held back).
 */
export function textSoFar(content: string, thinking: string, showThinking: boolean): string {
  const split = splitThinking(content.replace(PARTIAL_TAG, ""));
  const answer = cleanText(split.answer);
  const reasoning = showThinking ? cleanText([thinking.trim(), split.thinking].filter(Boolean).join("\n\n")) : "";
  if (!reasoning) return answer;
  return answer ? `Thinking:\n${reasoning}\n\nAnswer:\n${answer}` : `Thinking:\n${reasoning}`;
}

export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
