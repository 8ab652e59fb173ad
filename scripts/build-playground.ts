/**
 * Builds the playground page served at `/` (src/server/playground-route.ts) into
 * `dist/playground/`: `playground/src/main.ts` bundled by esbuild with CodeMirror and connect-web
 * into `app.js` and the chunks it loads, next to the page's HTML, style sheet and icon. Run by
 * `npm run build`.
 */
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { repositoryRoot } from "../src/config/repository.js";

const root = repositoryRoot();
const source = join(root, "playground");
const output = join(root, "dist", "playground");

rmSync(output, { recursive: true, force: true });
mkdirSync(output, { recursive: true });
await build({
  entryPoints: { app: join(source, "src", "main.ts") },
  outdir: output,
  // Each language's highlighting is a chunk of its own, loaded when first shown; the names carry
  // a hash of the content, so the server lets browsers keep them.
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  // The bundled packages' license notices stay in the script, at its end.
  legalComments: "eof",
  logLevel: "warning",
});
for (const file of ["index.html", "app.css", "favicon.svg"]) copyFileSync(join(source, file), join(output, file));
