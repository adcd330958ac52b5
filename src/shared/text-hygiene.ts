// What an author name or a message text may carry. Control characters and invisible
// direction/zero-width marks let a name impersonate another ("admin" + U+200B, a
// right-to-left override that reverses what follows) and let text hide or reorder
// itself, so both are removed wherever a name or text enters. No dependencies: the
// Worker's schemas and the bot both use it.

/** C0 and C1 controls and DEL; text keeps \t and \n (see cleanText). */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const CONTROLS_BUT_TAB_NEWLINE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
/** Bidi embeddings, overrides and isolates, LRM/RLM, the Arabic letter mark. */
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;
/** Zero-width space and non-joiner, word joiner, BOM / zero-width no-break space. */
const ZERO_WIDTH = /[\u200b\u200c\u2060\ufeff]/g;
/**
 * A zero-width joiner, except inside an emoji sequence (👩‍💻, 🏳️‍🌈): there it draws one
 * glyph, not an invisible mark, and removing it would split the emoji.
 */
const STRAY_JOINER =
  /(?<![\p{Extended_Pictographic}\p{Emoji_Modifier}\ufe0f])\u200d|\u200d(?!\p{Extended_Pictographic})/gu;

const stripInvisible = (value: string): string =>
  value.replace(BIDI, "").replace(ZERO_WIDTH, "").replace(STRAY_JOINER, "");

/** An author name: no controls at all (a name is one line), no invisible marks, trimmed. */
export function cleanName(value: string): string {
  return stripInvisible(value.replace(CONTROLS, "")).trim();
}

/** A message text: no controls but tab and newline (\r\n becomes \n), no invisible marks, trimmed. */
export function cleanText(value: string): string {
  return stripInvisible(value.replace(CONTROLS_BUT_TAB_NEWLINE, "")).trim();
}
