// Command lines of `npm run race` and `npm run bench`: node:util's parseArgs for the
// flags, zod for the values, and one clear UsageError line for anything wrong.
import { parseArgs, type ParseArgsConfig } from "node:util";
import type { z } from "zod";
import { UsageError } from "./target";

export type FlagValues = Record<string, string | boolean | undefined>;

/** The flags given (`--help`/`-h` is added), or "help". */
export function readFlags(
  argv: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  allowNegative = false,
): FlagValues | "help" {
  let values: FlagValues;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      allowNegative,
      options: { ...options, help: { type: "boolean", short: "h" } },
    }).values as FlagValues;
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see --help)`);
  }
  return values.help ? "help" : values;
}

export function validate<S extends z.ZodType>(schema: S, raw: unknown): z.infer<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new UsageError(parsed.error.issues[0]?.message ?? "invalid options");
  return parsed.data;
}
