// Bundles the page (src/web) into dist/web; wrangler runs this before `dev` and `deploy`.
// Every src/web/<name>.entry.ts becomes dist/web/<name>.js; html, css and icons are copied.
// Several `wrangler dev` instances may share this checkout (tests, `npm start`), so the
// build happens in a private staging directory and each file is renamed into place
// (atomic): a running instance never serves a half-written or missing file.
import { build } from "esbuild";
import { cpSync, mkdirSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

const src = "src/web";
const out = "dist/web";
const staging = `dist/.web-build-${process.pid}`;
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
mkdirSync(out, { recursive: true });

try {
  const entryPoints = Object.fromEntries(
    readdirSync(src)
      .filter((f) => f.endsWith(".entry.ts"))
      .map((f) => [f.slice(0, -".entry.ts".length), join(src, f)]),
  );
  if (Object.keys(entryPoints).length) {
    const result = await build({
      entryPoints,
      outdir: staging,
      bundle: true,
      format: "esm",
      target: "es2022",
      minify: true,
      sourcemap: true,
      logLevel: "warning",
      metafile: true,
    });
    // The page must stay small and validator-free: zod belongs to the Worker.
    const zod = Object.keys(result.metafile.inputs).find((path) => path.includes("node_modules/zod"));
    if (zod)
      throw new Error(`the page bundle pulled in zod (${zod}); import only types and zod-free modules from src/shared`);
  }
  for (const file of readdirSync(src)) {
    if (/\.(html|css|svg|ico|png)$/.test(file)) cpSync(join(src, file), join(staging, file));
  }
  const built = new Set(readdirSync(staging));
  for (const file of built) renameSync(join(staging, file), join(out, file));
  for (const file of readdirSync(out)) if (!built.has(file)) rmSync(join(out, file), { recursive: true, force: true });
} finally {
  rmSync(staging, { recursive: true, force: true });
}
