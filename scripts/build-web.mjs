// Bundles the page (src/web) into dist/web; wrangler runs this before `dev` and `deploy`.
import { build } from "esbuild";
import { cpSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

const src = "src/web";
const out = "dist/web";
mkdirSync(out, { recursive: true });

const entryPoints = readdirSync(src).filter((f) => /\.entry\.ts$/.test(f)).map((f) => join(src, f));
if (entryPoints.length) {
  await build({
    entryPoints,
    outdir: out,
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: true,
    entryNames: "[name]",
    logLevel: "warning",
  });
}
for (const file of readdirSync(src)) {
  if (/\.(html|css|svg|ico|png)$/.test(file)) cpSync(join(src, file), join(out, file));
}
